#!/usr/bin/env bash
# Load benchmark (see BENCHMARKS.md): custom fields over N customers.
#  1. seeds N customers, defines an indexed INT custom field `level` through the API and gives
#     every customer a value (one SQL UPDATE: a bulk fill, not a benchmark of writes);
#  2. drives filtered lists on that field with wrk;
#  3. times the first request after each of 20 definition changes against a warm request.
#
#   bash tests/load/custom_fields.sh [sqlite|postgres|both]
#   env: CUSTOMERS=100000 DURATION=15s CONNECTIONS=32
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-postgres}"
duration="${DURATION:-15s}"
port=18091
source tests/load/common.sh

timed() { # token query -> seconds
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $1" -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$2")"
}

run_one() { # label body
  echo "--- $1"
  BODY="$2" TOKEN="$TOKEN" wrk -t2 -c"$connections" -d"$duration" --latency -s tests/load/graphql.lua \
    "http://127.0.0.1:$port/graphql" > "$work/wrk.txt"
  grep -E 'Requests/sec|Non-2xx|Socket errors| 50%| 99%' "$work/wrk.txt" | sed 's/^/    /'
}

percentiles() { # stdin: seconds, one per line -> "p50 / max ms"
  python3 -c 'import sys,statistics; v=sorted(float(x)*1e3 for x in sys.stdin); print(f"p50 {statistics.median(v):.2f} ms, max {v[-1]:.2f} ms over {len(v)}")'
}

bench() { # label database_url fill_sql
  local label=$1 url=$2 fill=$3
  echo "=== $label: seeding $customers customers"
  "$bin" seed --tenant bench --customers "$customers" --interactions 0 --seed 1 --database-url "$url" >/dev/null
  serve "$url"
  ready
  wait_scored "$url"
  ADMIN=$("$bin" token --tenant bench --role ADMIN --user admin --secret "$secret")
  TOKEN=$("$bin" token --tenant bench --role MANAGER --user bench --secret "$secret")
  local started; started=$(date +%s.%N)
  def=$(gql "$ADMIN" 'mutation { defineCustomField(input: {entity: CUSTOMER, key: "level", label: "Level", type: INT, indexed: true}) { id } }')
  echo "defineCustomField (indexed, $customers rows): $(python3 -c "print(f'{($(date +%s.%N) - $started) * 1e3:.0f} ms')")"
  def_id=$(echo "$def" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["defineCustomField"]["id"])')
  eval "$fill"
  echo "filled: $(gql "$TOKEN" '{ customers(filter: {custom: {level: {gte: 990}}}) { totalCount } }')"

  run_one "customers(first: 50, custom.level >= 990, ordered by level)" \
    '{"query":"{ customers(first: 50, filter: {custom: {level: {gte: 990}}}, orderBy: [{customField: \"level\"}]) { nodes { id name custom { level } } } }"}'
  run_one "customers(first: 50, custom.level = 500)" \
    '{"query":"{ customers(first: 50, filter: {custom: {level: {eq: 500}}}) { nodes { id name custom { level } } } }"}'

  local probe='{ customers(first: 1) { nodes { custom { level } } } }'
  : > "$work/first"; : > "$work/warm"
  for i in $(seq 20); do
    gql "$ADMIN" "mutation { updateCustomField(id: \"$def_id\", input: {label: \"Level $i\"}) { version } }" >/dev/null
    timed "$TOKEN" "$probe" >> "$work/first"
    timed "$TOKEN" "$probe" >> "$work/warm"
  done
  echo "first request after a definition change: $(percentiles < "$work/first")"
  echo "the request after that (warm schema):     $(percentiles < "$work/warm")"
  stop
}

if [ "$which" = sqlite ] || [ "$which" = both ]; then
  db="$work/bench.db"
  bench "SQLite" "sqlite://$db?mode=rwc" "python3 -c 'import sqlite3; c=sqlite3.connect(\"$db\"); c.execute(\"UPDATE customers SET custom_fields = json_object(\\\"level\\\", abs(random()) % 1000)\"); c.commit(); c.execute(\"ANALYZE\")'"
fi
if [ "$which" = postgres ] || [ "$which" = both ]; then
  new_pg_database "guanxi_cf_bench_$$"
  url=$pg_url
  bench "PostgreSQL" "$url" \
    "psql ${url%%\?*} -qc \"UPDATE customers SET custom_fields = jsonb_build_object('level', abs(hashtext(id::text)) % 1000)\" -c \"VACUUM ANALYZE customers\""
fi
