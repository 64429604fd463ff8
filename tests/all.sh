#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned test
# tools (tests/tools.sh) and the browser (tests/browser-tools.sh) while the
# tests build, runs the tests of the chatstack package and of the handlers
# workspace, then builds the Lambda zips the way users do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The installs wait on the network, the builds on the CPU: run them at once.
# (Tests that need a tool also take the install lock, so none starts early.)
install_log="$(mktemp)"
trap 'rm -f "$install_log"' EXIT
( bash tests/tools.sh && bash tests/tools.sh checkov && bash tests/browser-tools.sh ) \
  >/dev/null 2>"$install_log" &
installs=$!

echo "== chatstack (root package): building the tests"
cargo test --locked --no-run
echo "== handlers workspace: building the tests"
(cd handlers && cargo test --locked --no-run)

if ! wait "$installs"; then
  cat "$install_log" >&2
  echo "tests/all.sh: installing the test tools failed (see above)" >&2
  exit 1
fi

echo "== chatstack (root package)"
cargo test --locked

echo "== handlers workspace"
(cd handlers && cargo test --locked)

echo "== handlers release zips (provided.al2023, arm64)"
bash handlers/build.sh --locked
