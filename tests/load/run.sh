#!/usr/bin/env bash
# Load benchmark (see BENCHMARKS.md): seeds N customers into one tenant, starts the
# release server, and drives three queries with wrk on loopback, on SQLite and on PostgreSQL.
#
#   bash tests/load/run.sh [sqlite|postgres|both]
#   env: CUSTOMERS=100000 INTERACTIONS=20 DURATION=20s CONNECTIONS=32
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-both}"
interactions="${INTERACTIONS:-20}"
duration="${DURATION:-20s}"
port=18090
source tests/load/common.sh

run_one() { # label body [ids_file]
  local label=$1 body=$2 ids=${3:-}
  echo "--- $label"
  BODY="$body" IDS_FILE="$ids" TOKEN="$TOKEN" wrk -t2 -c"$connections" -d"$duration" --latency -s tests/load/graphql.lua \
    "http://127.0.0.1:$port/graphql" > "$work/wrk.txt" &
  local wrk_pid=$!
  sleep 5
  local rss_kb; rss_kb=$(ps -o rss= -p "$server_pid" | tr -d ' ')
  wait $wrk_pid
  grep -E 'Requests/sec|Non-2xx|Socket errors| 50%| 99%' "$work/wrk.txt" | sed 's/^/    /'
  echo "    server RSS under load: $((rss_kb / 1024)) MiB"
}

bench() { # label database_url
  local label=$1 url=$2
  echo "=== $label: seeding $customers customers with about $interactions interactions each"
  "$bin" seed --tenant bench --customers "$customers" --interactions "$interactions" --seed 1 --database-url "$url"
  serve "$url"
  ready
  wait_scored "$url"
  settle "$url"
  TOKEN=$("$bin" token --tenant bench --role MANAGER --user bench --secret "$secret")
  # 1,000 ids to rotate through.
  : > "$work/ids"
  local after=null
  for _ in $(seq 10); do
    page=$(gql "$TOKEN" "{ customers(first: 100, after: $after) { nodes { id } pageInfo { endCursor } } }")
    echo "$page" | python3 -c 'import json,sys; [print(n["id"]) for n in json.load(sys.stdin)["data"]["customers"]["nodes"]]' >> "$work/ids"
    after=$(echo "$page" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["customers"]["pageInfo"]["endCursor"]))')
  done
  echo "ids: $(wc -l < "$work/ids")"
  run_one "{ __typename } (auth on)" '{"query":"{ __typename }"}'
  run_one "customer(id)" '{"query":"query($id: ID!) { customer(id: $id) { id name email status createdAt } }","variables":{"id":"$ID"}}' "$work/ids"
  run_one "customers(first: 100, ACTIVE, NAME ASC) + totalCount" \
    '{"query":"{ customers(first: 100, filter: {status: {eq: ACTIVE}}, orderBy: [{field: NAME, direction: ASC}]) { totalCount nodes { id name email status createdAt } } }"}'
  run_one "customer 360 page (first: 50)" \
    "$page_360"
  CONNECTIONS_SAVED=$connections; connections=8
  run_one "recordInteraction (write + stats + audit), 8 connections" \
    "$record_purchase" "$work/ids"
  connections=$CONNECTIONS_SAVED
  stop
}

if [ "$which" = sqlite ] || [ "$which" = both ]; then
  bench "SQLite" "sqlite://$work/bench.db?mode=rwc"
fi
if [ "$which" = postgres ] || [ "$which" = both ]; then
  new_pg_database "guanxi_bench_$$"
  bench "PostgreSQL" "$pg_url"
fi
