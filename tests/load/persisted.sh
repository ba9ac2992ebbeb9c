#!/usr/bin/env bash
# What persisted queries save: the bytes of the 360° page's request and answer with and without
# APQ, and q1 (one customer by id, 10 fields) sent as its full document, as a hash alone (POST)
# and as a hash alone by GET, in turns on one server. See BENCHMARKS.md.
#
#   bash tests/load/persisted.sh     env: CUSTOMERS=10000 ROUNDS=3 DURATION=15s, GUANXI_BIN
set -euo pipefail
cd "$(dirname "$0")/../.."
export CUSTOMERS="${CUSTOMERS:-10000}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-15s}"
port=18093
source tests/load/common.sh
new_pg_database "guanxi_persisted_$$"
"$bin" seed --tenant bench --customers "$CUSTOMERS" --interactions 5 --seed 1 --database-url "$pg_url" > /dev/null
serve "$pg_url"
ready
wait_scored "$pg_url"
token=$("$bin" token --tenant bench --role MANAGER --user bench --secret "$secret")
gql "$token" '{ customers(first: 100) { nodes { id } } }' |
  python3 -c 'import json,sys; [print(n["id"]) for n in json.load(sys.stdin)["data"]["customers"]["nodes"]]' > "$work/ids"

# Bytes on the wire of one request and its answer, headers included, as curl counts them.
BASE="http://127.0.0.1:$port/graphql" TOKEN="$token" PAGE="$page_360" python3 - <<'PY'
import hashlib, json, os, urllib.parse, urllib.request
base, token = os.environ["BASE"], os.environ["TOKEN"]
query = json.loads(os.environ["PAGE"])["query"]
sha = hashlib.sha256(query.encode()).hexdigest()
ext = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
def send(method, body=None, url=base, headers={}):
    h = {"Authorization": "Bearer " + token, **headers}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        res = urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        res = e
    answer = res.read()
    line = f"{method} {urllib.parse.urlsplit(url).path}{'?' + urllib.parse.urlsplit(url).query if urllib.parse.urlsplit(url).query else ''} HTTP/1.1\r\n"
    sent = len(line) + sum(len(k) + len(v) + 4 for k, v in h.items()) + len(data or b"")
    got = len(answer) + sum(len(k) + len(v) + 4 for k, v in res.headers.items())
    return res.status, sent, got, res.headers.get("ETag")
full = send("POST", {"query": query, "extensions": ext})
hashed = send("POST", {"extensions": ext})
get_url = base + "?" + urllib.parse.urlencode({"extensions": json.dumps(ext, separators=(",", ":"))})
got = send("GET", url=get_url)
unchanged = send("GET", url=get_url, headers={"If-None-Match": got[3]})
print("=== the 360° page: bytes sent / received (headers included)")
for label, (status, sent, received, _) in [("full document, POST", full), ("hash alone, POST", hashed),
                                           ("hash alone, GET", got), ("hash alone, GET, unchanged (304)", unchanged)]:
    print(f"{label}: HTTP {status}, {sent} sent, {received} received")
PY

q1=$(grep -v '^#' tests/load/peers/queries/guanxi/q1_customer_by_id.graphql | tr '\n' ' ' | sed 's/  */ /g')
query_json=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$q1")
hash=$(printf '%s' "$q1" | sha256sum | cut -d' ' -f1)
id=$(head -1 "$work/ids")
curl -s "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d "{\"query\":$query_json,\"variables\":{\"id\":\"$id\"},\"extensions\":{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"$hash\"}}}" |
  grep -q '"customer":{' || { echo "q1 did not register" >&2; exit 1; }
echo "=== q1, $connections connections, $duration a turn, $rounds rounds"
for r in $(seq "$rounds"); do
  for mode in full hash get; do
    MODE=$mode QUERY="$query_json" HASH="$hash" TOKEN="$token" IDS_FILE="$work/ids" \
      wrk -t2 -c"$connections" -d"$duration" --latency -s tests/load/persisted.lua "http://127.0.0.1:$port" > "$work/wrk.txt"
    rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
    echo "$mode (round $r): $rate req/s, p99 $p99$(grep -E 'Non-2xx' "$work/wrk.txt" | sed 's/^ */, /')"
  done
done
stop
