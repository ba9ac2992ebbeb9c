#!/usr/bin/env bash
# Fair sharing between tenants on PostgreSQL (see BENCHMARKS.md):
#  1. tenant B's `customer(id)` and `recordInteraction` throughput alone, then while tenant A's
#     users send the heaviest queries their buckets allow (rate limits on; A's clients honour
#     Retry-After), and while A's users flood the server regardless (refused, 429);
#  2. the p99 of tenant B's writes alone, then while tenant A builds an index over its N customers.
#
#   bash tests/load/fairness.sh
#   env: CUSTOMERS=100000 DURATION=10s CONNECTIONS=32 A_USERS=8 A_WARMUP=10 (seconds A runs
#        before B is measured)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${DURATION:-10s}"
a_users="${A_USERS:-8}"
a_warmup="${A_WARMUP:-10}"
port=18093
source tests/load/common.sh

new_pg_database "guanxi_fair_bench_$$"
url=$pg_url
echo "=== seeding tenant a ($customers customers) and tenant b (1000)"
"$bin" seed --tenant a --customers "$customers" --interactions 2 --seed 1 --database-url "$url" >/dev/null
"$bin" seed --tenant b --customers 1000 --interactions 2 --seed 2 --database-url "$url" >/dev/null
psql "${url%%\?*}" -qc "UPDATE customers SET custom_fields = jsonb_build_object('level', abs(hashtext(id::text)) % 1000)" -c 'VACUUM ANALYZE'

# Rate limits on, with their defaults for tenant A (its users are ADMINs). B is sized apart with
# roomy buckets, so that B's figure is what the server gives it, not what its bucket allows.
GUANXI_DATABASE_URL="$url" GUANXI_JWT_SECRET="$secret" GUANXI_LISTEN="127.0.0.1:$port" GUANXI_LOG=warn \
  GUANXI_RATE_LIMITS=on GUANXI_RATE_TENANTS=b=100000000/100000000 GUANXI_RATE_ROLES=MANAGER=100000000/100000000 \
  GUANXI_PLUGIN_CACHE_DIR="$work/plugin-cache" "$bin" serve > "$work/server.log" 2>&1 &
server_pid=$!
ready
wait_scored "$url"

B=$("$bin" token --tenant b --role MANAGER --user b-bench --secret "$secret")
B_ADMIN=$("$bin" token --tenant b --role ADMIN --user b-admin --secret "$secret")
A_ADMIN=$("$bin" token --tenant a --role ADMIN --user a-admin --secret "$secret")
# B's requests go round its 1,000 customers, as its users' would (one customer's ever longer
# timeline would make each write's scoring dearer and the figures drift).
: > "$work/b-ids.txt"; after=null
for _ in $(seq 10); do
  page=$(gql "$B" "{ customers(first: 100, after: $after) { nodes { id } pageInfo { endCursor } } }")
  echo "$page" | python3 -c 'import json,sys; [print(n["id"]) for n in json.load(sys.stdin)["data"]["customers"]["nodes"]]' >> "$work/b-ids.txt"
  after=$(echo "$page" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["customers"]["pageInfo"]["endCursor"]))')
done
q1='{"query":"{ customer(id: \"$ID\") { id name email phone status tier version createdAt updatedAt } }"}'
write='{"query":"mutation { recordInteraction(input: {customerId: \"$ID\", kind: CALL, occurredAt: \"2026-01-05T10:00:00Z\", summary: \"fair\"}) { id } }"}'
heavy='{"query":"{ customers(first: 100) { nodes { id name interactions(first: 100) { nodes { id amount summary } } complaints(first: 20) { nodes { id title } } keyAccountPlans(first: 20) { nodes { id title } } } } }"}'

b_load() { # label body -> prints req/s and p99
  BODY="$2" TOKEN="$B" IDS_FILE="$work/b-ids.txt" wrk -t2 -c"$connections" -d"$duration" --latency -s tests/load/graphql.lua \
    "http://127.0.0.1:$port/graphql" > "$work/wrk-b.txt"
  echo "  $1: $(grep 'Requests/sec' "$work/wrk-b.txt" | awk '{print $2}') req/s, p99 $(grep ' 99%' "$work/wrk-b.txt" | awk '{print $2}'), non-2xx: $(grep -c 'Non-2xx' "$work/wrk-b.txt" || true)"
}

a_flood() { # script: starts A's users sending the heavy page (paced.lua: as their buckets allow;
  # graphql.lua: as fast as the server answers); sets a_pids
  a_pids=()
  for i in $(seq "$a_users"); do
    local t; t=$("$bin" token --tenant a --role ADMIN --user "a-user-$i" --secret "$secret")
    BODY="$heavy" TOKEN="$t" wrk -t1 -c4 -d"$(( ${duration%s} + a_warmup + 2 ))s" --latency -s "tests/load/$1" \
      "http://127.0.0.1:$port/graphql" > "$work/wrk-a-$i.txt" &
    a_pids+=($!)
  done
  # B is measured once A has spent its tenant bucket's first fill and runs at its steady rate.
  sleep "$a_warmup"
}

a_wait() {
  wait "${a_pids[@]}" 2>/dev/null || true
  local ok=0 refused=0
  for i in $(seq "$a_users"); do
    local total non2xx
    total=$(grep -E 'requests in' "$work/wrk-a-$i.txt" | awk '{print $1}')
    non2xx=$(grep -E 'Non-2xx' "$work/wrk-a-$i.txt" | awk '{print $NF}' || true)
    ok=$(( ok + total - ${non2xx:-0} )); refused=$(( refused + ${non2xx:-0} ))
  done
  echo "  tenant A's $a_users users: $ok answered, $refused refused (429)"
}

echo "=== 1. tenant B alone, then beside tenant A's heaviest queries"
b_load "B customer(id), alone" "$q1"
a_flood paced.lua
b_load "B customer(id), beside A using its buckets" "$q1"
a_wait
a_flood graphql.lua
b_load "B customer(id), beside A flooding regardless" "$q1"
a_wait
# Writes slow down as B's timeline grows and its scoring catches up, so B's figure alone is taken
# on both sides of the one beside A, each after the scoring queue has drained.
wait_scored "$url"
b_load "B recordInteraction, alone" "$write"
wait_scored "$url"
a_flood paced.lua
b_load "B recordInteraction, beside A using its buckets" "$write"
a_wait
wait_scored "$url"
b_load "B recordInteraction, alone again" "$write"

echo "=== 2. tenant B's writes while tenant A builds an index over $customers customers"
wait_scored "$url"
b_load "B recordInteraction, no build" "$write"
( sleep 2
  started=$(date +%s.%N)
  gql "$A_ADMIN" 'mutation { defineCustomField(input: {entity: CUSTOMER, key: "level", label: "Level", type: INT, indexed: true}) { indexState } }' >/dev/null
  committed=$(date +%s.%N)
  while [ "$(gql "$A_ADMIN" '{ customFieldDefinitions { indexState } }' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["customFieldDefinitions"][0]["indexState"])')" = BUILDING ]; do sleep 0.05; done
  echo "  A's defineCustomField answered in $(python3 -c "print(f'{($committed - $started) * 1e3:.0f} ms')"), index READY after $(python3 -c "print(f'{($(date +%s.%N) - $started) * 1e3:.0f} ms')")"
) &
builder=$!
b_load "B recordInteraction, during A's build" "$write"
wait "$builder"
stop
