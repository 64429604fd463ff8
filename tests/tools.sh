#!/usr/bin/env bash
# Installs the pinned Python tools the tests need into a venv, once, and
# prints the venv's bin directory:
#   tests/tools.sh          tests/requirements.txt          -> <tools>/venv
#   tests/tools.sh checkov  tests/requirements-checkov.txt  -> <tools>/checkov-venv
# (checkov pins an older boto3 than moto, so it cannot share a venv.)
# The venv lives beside the build output so CI runs that share a target dir
# share it too; CHATSTACK_TOOLS_DIR overrides the location.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${CHATSTACK_TOOLS_DIR:-${CARGO_TARGET_DIR:-$root/target}/tools}"
case "${1:-}" in
  "") venv="$tools_dir/venv"; requirements="$root/tests/requirements.txt" ;;
  checkov) venv="$tools_dir/checkov-venv"; requirements="$root/tests/requirements-checkov.txt" ;;
  *) echo "usage: tests/tools.sh [checkov]" >&2; exit 2 ;;
esac

command -v python3 >/dev/null || {
  echo "tests/tools.sh: python3 (with venv and pip) is needed to install the test tools" >&2
  exit 1
}

mkdir -p "$tools_dir"
# Tests run in parallel and may all ask at once: install under a lock.
exec 9>"$tools_dir/.lock"
flock 9

stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "tests/tools.sh: installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv" >&2
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$stamp"
fi
echo "$venv/bin"
