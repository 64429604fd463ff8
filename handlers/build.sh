#!/usr/bin/env bash
# Builds the release zip of every function (every binary of this workspace)
# for provided.al2023 on arm64, each holding `bootstrap`:
#   <target dir>/lambda/<function>/bootstrap.zip
# cargo-lambda and zig come from PyPI (pinned in tests/requirements.txt) and
# are installed into the tools venv on first use; no other download happens.
# --function NAME builds that one function's zip only (the test command
# does, to check the cross build without every function's LTO); other
# arguments (--locked, say) go to cargo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

only=""
cargo_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --function) [ $# -ge 2 ] || { echo "build.sh: --function needs a name" >&2; exit 2; }
                only="$2"; shift 2 ;;
    --function=*) only="${1#--function=}"; shift ;;
    *) cargo_args+=("$1"); shift ;;
  esac
done

tools_bin="$(bash ../tests/tools.sh)"
export PATH="$tools_bin:$PATH"

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# zig's caches beside the build output: shared with it, and found even where
# HOME is not set.
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$target_dir/zig-cache}"
export ZIG_LOCAL_CACHE_DIR="${ZIG_LOCAL_CACHE_DIR:-$target_dir/zig-cache}"

# The functions are the workspace's binaries: ask cargo, name none here.
functions="$(cargo metadata --no-deps --format-version 1 "${cargo_args[@]}" | python3 -c '
import json, sys
packages = json.load(sys.stdin)["packages"]
print("\n".join(sorted(t["name"] for p in packages for t in p["targets"] if "bin" in t["kind"])))
')"
[ -n "$functions" ] || { echo "build.sh: the workspace has no binaries" >&2; exit 1; }
if [ -n "$only" ]; then
  grep -qxF -- "$only" <<<"$functions" || {
    echo "build.sh: no function $only; the functions are:" $functions >&2
    exit 2
  }
  functions="$only"
  cargo_args+=(--bin "$only")
fi

cargo lambda build --release --arm64 --output-format zip "${cargo_args[@]}"
for function in $functions; do
  zip="$target_dir/lambda/$function/bootstrap.zip"
  [ -f "$zip" ] || { echo "build.sh: $zip was not produced" >&2; exit 1; }
  printf '%-12s %8d bytes  %s\n' "$function" "$(stat -c %s "$zip")" "$zip"
done
