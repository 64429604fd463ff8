#!/usr/bin/env bash
# Builds the Lambda zips and deploys one stage of the chat app:
#   ./deploy.sh dev
#   ./deploy.sh prod --region eu-west-1 --profile work --yes
# Extra flags go to `chatstack deploy` (see `cargo run -- deploy --help`).
set -euo pipefail

usage() {
  cat <<USAGE
usage: ./deploy.sh STAGE [chatstack deploy flags...]

Builds the handlers' release zips (handlers/build.sh), then runs
  chatstack deploy --stage STAGE --no-build [flags...]
which creates or updates the stack chatstack-STAGE in your AWS account
(region and credentials from --region/--profile or the AWS_* variables).
USAGE
}

if [ $# -lt 1 ]; then
  usage >&2
  exit 2
fi
case "$1" in
  -h | --help) usage; exit 0 ;;
  -*) echo "deploy.sh: the first argument is the stage, not $1" >&2; usage >&2; exit 2 ;;
esac
stage="$1"
shift

cd "$(dirname "${BASH_SOURCE[0]}")"
bash handlers/build.sh
cargo run --release --locked --quiet -- deploy --stage "$stage" --no-build "$@"
