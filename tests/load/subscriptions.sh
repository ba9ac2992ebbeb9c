#!/usr/bin/env bash
# Subscriptions under load, on a fresh database (BENCHMARKS.md):
#   1. idle: SOCKETS_IDLE sockets, one subscription each, over 10 tenants; the server's resident
#      memory before and after they open;
#   2. latency: SOCKETS sockets over TENANTS tenants (each hearing its tenant's one customer's
#      interactions), while interactions are recorded at RATE per second for SECONDS; how long
#      each change took from its write to its push.
#   3. (PostgreSQL; needs psql and pgbench) the push path alone: the same sockets, while pgbench
#      commits RATE events a second straight into the outbox (each naming one of the tenants'
#      interactions, with a NOTIFY as the server sends after its writes), so the write path's
#      own cost is left out.
#
#   bash tests/load/subscriptions.sh [sqlite|postgres]
#   env: SOCKETS_IDLE=10000 SOCKETS=1000 TENANTS=100 RATE=500 SECONDS_LOAD=20 STAGES="idle latency outbox"
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-postgres}"
port=18092
source tests/load/common.sh
[ -d tests/clients/node_modules/ws ] || npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
ulimit -n "$(ulimit -Hn)"   # 10,000 sockets on each side

case "$which" in  # in this shell, not in $(…), so the cleanup knows the database to drop
  sqlite) url="sqlite://$work/subscriptions.db?mode=rwc" ;;
  *) new_pg_database "guanxi_subscriptions_$$"; url="$pg_url" ;;
esac
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }

serve "$url"
ready
stages="${STAGES:-idle latency outbox}"
if [[ " $stages " == *" idle "* ]]; then
echo "== idle subscriptions ($which)"
before=$(rss_kib)
BASE="http://127.0.0.1:$port" SECRET="$secret" SOCKETS="${SOCKETS_IDLE:-10000}" TENANTS=10 \
  node tests/clients/subscribers.mjs idle > "$work/idle.out" &
holder=$!
until grep -q ready "$work/idle.out" 2>/dev/null; do
  kill -0 "$holder" 2>/dev/null || { echo "the subscribers failed" >&2; exit 1; }
  sleep 0.5
done
sleep 2
after=$(rss_kib)
held=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^subscriptions / {print $2}')
echo "sockets held: $held; RSS before: $((before / 1024)) MiB, after: $((after / 1024)) MiB, per socket: $(( (after - before) / ${held%.*} )) KiB"
kill "$holder"; wait "$holder" 2>/dev/null || true
fi

if [[ " $stages " == *" latency "* ]]; then
echo "== write-to-push latency ($which)"
BASE="http://127.0.0.1:$port" SECRET="$secret" SOCKETS="${SOCKETS:-1000}" TENANTS="${TENANTS:-100}" \
  RATE="${RATE:-500}" SECONDS="${SECONDS_LOAD:-20}" node tests/clients/subscribers.mjs latency | tail -1
fi

if [[ " $stages " == *" outbox "* && "$which" == postgres ]]; then
echo "== commit-to-push latency, events committed straight into the outbox ($which)"
rate="${RATE:-500}"; seconds="${SECONDS_LOAD:-20}"
BASE="http://127.0.0.1:$port" SECRET="$secret" SOCKETS="${SOCKETS:-1000}" TENANTS="${TENANTS:-100}" \
  SECONDS="$seconds" EVENTS_FILE="$work/events" node tests/clients/subscribers.mjs listen > "$work/listen.out" &
listener=$!
until grep -q ready "$work/listen.out" 2>/dev/null; do
  kill -0 "$listener" 2>/dev/null || { echo "the subscribers failed" >&2; exit 1; }
  sleep 0.5
done
db="${url%%\?*}"
# The interaction the listener recorded last in each load tenant (ids follow time), numbered for
# the script: the customers the sockets listen to (an earlier stage's are not).
psql "$db" -qc "CREATE TABLE bench_places AS
  SELECT (row_number() OVER (ORDER BY tenant_id) - 1)::int AS n, tenant_id, id, customer_id
  FROM (SELECT DISTINCT ON (i.tenant_id) i.tenant_id, i.id, i.customer_id
        FROM interactions i JOIN tenants t ON t.id = i.tenant_id WHERE t.slug LIKE 'load-%'
        ORDER BY i.tenant_id, i.id DESC) latest"
cat > "$work/event.sql" <<SQL
\\set n random(0, ${TENANTS:-100} - 1)
BEGIN;
INSERT INTO events (tenant_id, name, entity, entity_id, customer_id, changed_fields, at)
  SELECT tenant_id, 'interaction.recorded', 'Interaction', id, customer_id, '[]', clock_timestamp()
  FROM bench_places WHERE n = :n;
NOTIFY guanxi_events;
COMMIT;
SQL
pgbench -n -c 4 -j 2 -R "$rate" -T "$seconds" -f "$work/event.sql" "$db" > "$work/pgbench.out" 2>&1 \
  || { cat "$work/pgbench.out" >&2; exit 1; }
# The events committed, for the listener's expected pushes.
awk '/^number of transactions actually processed/ {print $NF}' "$work/pgbench.out" | cut -d/ -f1 > "$work/events.part"
mv "$work/events.part" "$work/events"
wait "$listener"
tail -1 "$work/listen.out"
fi
stop
