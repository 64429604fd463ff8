#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the pinned test
# tools (tests/tools.sh) and the browser (tests/browser-tools.sh) while the
# tests build, runs the tests of the chatstack package and of the handlers
# workspace, and cross-builds a Lambda zip the way users' deploys do beside
# them.
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

# The release cross build, as users' deploys run it (cargo-lambda, zig,
# arm64, fat LTO), for one function: the functions share the toolchain, the
# dependencies and chat-core, and differ only in their main (all of which
# the debug build above compiled), while each one's LTO link costs about a
# minute. It needs the CPU the tests mostly leave idle (they wait on servers
# and clients): it runs beside them at the lowest priority, its output after
# theirs, in a session of its own so a failed test ends it, zig included.
zips_log="$(mktemp)"
setsid nice -n 19 bash handlers/build.sh --locked --function sendmessage >"$zips_log" 2>&1 &
zips=$!
# (Under set -e a failing command in the trap sets the exit status: the
# group has usually ended by then, so its kill failing must not count.)
trap 'kill -- -"$zips" 2>/dev/null || true; rm -f "$install_log" "$zips_log"' EXIT

echo "== chatstack (root package)"
cargo test --locked

echo "== handlers workspace"
(cd handlers && cargo test --locked)

echo "== handlers release zip (provided.al2023, arm64): sendmessage"
if ! wait "$zips"; then
  cat "$zips_log" >&2
  echo "tests/all.sh: building the release zips failed (see above)" >&2
  exit 1
fi
grep -v '^\s*Compiling ' "$zips_log"
