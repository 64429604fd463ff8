#!/usr/bin/env bash
# Builds the release zips of the four functions for provided.al2023 on
# arm64, each holding `bootstrap`:
#   <target dir>/lambda/<function>/bootstrap.zip
# cargo-lambda and zig come from PyPI (pinned in tests/requirements.txt) and
# are installed into the tools venv on first use; no other download happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

tools_bin="$(bash ../tests/tools.sh)"
export PATH="$tools_bin:$PATH"

cargo lambda build --release --arm64 --output-format zip "$@"

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
for function in connect disconnect sendmessage default; do
  zip="$target_dir/lambda/$function/bootstrap.zip"
  [ -f "$zip" ] || { echo "build.sh: $zip was not produced" >&2; exit 1; }
  printf '%-12s %8d bytes  %s\n' "$function" "$(stat -c %s "$zip")" "$zip"
done
