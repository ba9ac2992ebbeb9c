#!/usr/bin/env bash
# Subscriptions under load, on a fresh database (BENCHMARKS.md):
#   1. idle: SOCKETS_IDLE sockets, one subscription each, over 10 tenants; the server's resident
#      memory before and after they open;
#   2. latency: SOCKETS sockets over TENANTS tenants (each hearing its tenant's one customer's
#      interactions), while interactions are recorded at RATE per second for SECONDS; how long
#      each change took from its write to its push.
#
#   bash tests/load/subscriptions.sh [sqlite|postgres]
#   env: SOCKETS_IDLE=10000 SOCKETS=1000 TENANTS=100 RATE=500 SECONDS_LOAD=20
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

echo "== write-to-push latency ($which)"
BASE="http://127.0.0.1:$port" SECRET="$secret" SOCKETS="${SOCKETS:-1000}" TENANTS="${TENANTS:-100}" \
  RATE="${RATE:-500}" SECONDS="${SECONDS_LOAD:-20}" node tests/clients/subscribers.mjs latency | tail -1
stop
