#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned test
# tools (tests/tools.sh), then the tests of the chatstack package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/tools.sh >/dev/null

echo "== chatstack (root package)"
cargo test --locked
