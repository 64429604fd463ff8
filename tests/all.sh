#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned test
# tools (tests/tools.sh) and the browser (tests/browser-tools.sh), runs the
# tests of the chatstack package and of the handlers workspace, then builds
# the Lambda zips the way users do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/tools.sh >/dev/null
bash tests/tools.sh checkov >/dev/null
bash tests/browser-tools.sh >/dev/null

echo "== chatstack (root package)"
cargo test --locked

echo "== handlers workspace"
(cd handlers && cargo test --locked)

echo "== handlers release zips (provided.al2023, arm64)"
bash handlers/build.sh --locked
