#!/usr/bin/env bash
# Webhook deliveries under load, on a fresh database (BENCHMARKS.md): TENANTS tenants with HOOKS
# webhooks each, all pointing at one receiver on loopback that checks every signature;
# interactions recorded at RATE per second for SECONDS. Reports deliveries per second, how long
# each took from its event to its arrival, and any duplicate or badly signed delivery.
#
#   bash tests/load/webhooks.sh [sqlite|postgres]
#   env: TENANTS=10 HOOKS=5 RATE=200 SECONDS_LOAD=20
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-postgres}"
port=18093
source tests/load/common.sh
[ -d tests/clients/node_modules/ws ] || npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error

case "$which" in  # in this shell, not in $(…), so the cleanup knows the database to drop
  sqlite) url="sqlite://$work/webhooks.db?mode=rwc" ;;
  *) new_pg_database "guanxi_webhooks_$$"; url="$pg_url" ;;
esac

# The receiver is on loopback.
export GUANXI_WEBHOOK_ALLOW_PRIVATE=true
serve "$url"
ready
echo "== webhook deliveries ($which)"
BASE="http://127.0.0.1:$port" SECRET="$secret" TENANTS="${TENANTS:-10}" HOOKS="${HOOKS:-5}" \
  RATE="${RATE:-200}" SECONDS="${SECONDS_LOAD:-20}" node tests/clients/webhook-load.mjs | tail -1
stop
