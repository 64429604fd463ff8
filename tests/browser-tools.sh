#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed, from
# Debian's packages (chromium, chromium-driver), for the browser test, and
# prints chromedriver's path. Browser builds from anywhere else are never
# downloaded.
set -euo pipefail

# Browser tests start at once and apt-get takes no second caller: one
# installs, under the tools' lock dir, while the others wait.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${CHATSTACK_TOOLS_DIR:-${CARGO_TARGET_DIR:-$root/target}/tools}"
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.browser-lock"
flock 9

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "tests/browser-tools.sh: the browser test needs Debian's chromium and chromium-driver:" \
      "run 'sudo apt-get install chromium chromium-driver'" >&2
    exit 1
  fi
  echo "tests/browser-tools.sh: installing chromium and chromium-driver with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium chromium-driver >&2
fi
command -v chromedriver
