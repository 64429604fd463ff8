#!/usr/bin/env bash
# Runs every benchmark of both workspaces and prints its figures:
#   bash benches/run.sh            everything (about ten minutes once built)
#   bash benches/run.sh --quick    the fan-out without its 100k cases
# Benchmarks print figures; none fails because a machine is slow.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(-- --quick)

bash tests/tools.sh >/dev/null
echo "== release zips (provided.al2023, arm64)"
bash handlers/build.sh --locked >/dev/null
zips="${CARGO_TARGET_DIR:-handlers/target}/lambda"
for zip in "$zips"/*/bootstrap.zip; do
  printf '| %s | %s bytes |\n' "$(basename "$(dirname "$zip")")" "$(stat -c %s "$zip")"
done
echo "== synth"
cargo bench --locked --bench synth
echo "== local"
cargo bench --locked --bench local
echo "== handlers: fan-out, cold start and warm invocations, history against moto"
(cd handlers && cargo bench --locked -p chat-core --bench fanout "${quick[@]}" && cargo bench --locked -p chat-core --bench functions && cargo bench --locked -p chat-core --bench history)
