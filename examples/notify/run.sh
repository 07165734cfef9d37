#!/usr/bin/env bash
# Runs examples/notify against a fauxqs (SNS and SQS) and a DynamoDB Local
# started for it on free ports of 127.0.0.1, and stops both afterwards.
# Installs them with scripts/install-tools.sh if no .tools folder of the
# repository or a parent has them.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
findcli() {
  local dir="$root"
  while :; do
    [ -f "$dir/.tools/node_modules/fauxqs/dist/cli.js" ] && { echo "$dir/.tools/node_modules/fauxqs/dist/cli.js"; return; }
    [ "$dir" = / ] && return
    dir=$(dirname "$dir")
  done
}
cli=$(findcli)
[ -n "$cli" ] || { bash "$root/scripts/install-tools.sh" >&2; cli=$(findcli); }
[ -n "$cli" ] || { echo "notify: fauxqs not found after scripts/install-tools.sh" >&2; exit 1; }
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp -t fauxqs.XXXXXX)
FAUXQS_PORT="$port" FAUXQS_LOGGER=false node "$cli" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
cd "$root"
SNS_ENDPOINT="http://127.0.0.1:$port" bash scripts/with-dynamodb.sh go run ./examples/notify
