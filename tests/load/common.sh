# Shared set-up of the load scripts (sourced): the release binary, wrk, a work dir cleaned on
# exit, and the settings every script reads from the environment. GUANXI_BIN names a server
# binary to drive instead of this tree's release build (another commit's, built with
# `git worktree add /tmp/old <commit> && cd /tmp/old && cargo build --release`).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/guanxi-target}"
customers="${CUSTOMERS:-100000}"
connections="${CONNECTIONS:-32}"
pg_admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
secret="load-test-secret-0123456789abcdef"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
if [ -n "${GUANXI_BIN:-}" ]; then
  bin="$GUANXI_BIN"
else
  cargo build --release --bin guanxi -q
  bin="$CARGO_TARGET_DIR/release/guanxi"
fi
work=$(mktemp -d)
pg_databases=()
cleanup() { # the server, the PostgreSQL databases a script made, the work dir: also on failure
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  for db in "${pg_databases[@]}"; do psql "$pg_admin" -qc "drop database if exists $db with (force)" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

new_pg_database() { # name: creates it, dropped on exit; sets pg_url (loopback without TLS, which
  # would only measure rustls)
  psql "$pg_admin" -qc "create database $1"
  pg_databases+=("$1")
  pg_url="${pg_admin%/*}/$1?sslmode=disable"
}

serve() { # database_url: starts the release server on $port in the background, sets server_pid
  # One token drives the whole load: rate limits off, the cost limit still on.
  GUANXI_DATABASE_URL="$1" GUANXI_JWT_SECRET="$secret" GUANXI_LISTEN="127.0.0.1:$port" GUANXI_LOG="${GUANXI_LOG:-warn}" \
    GUANXI_RATE_LIMITS=off GUANXI_PLUGIN_CACHE_DIR="$work/plugin-cache" "$bin" serve > "$work/server.log" 2>&1 &
  server_pid=$!
}

ready() { # waits until the server answers
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.2; done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

gql() { # token query [variables-json] -> JSON
  curl -s "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $1" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' "$2" "${3:-{\}}")"
}

queued() { # database_url -> customers waiting in the score queue, plus tenants being swept
  local sql='select (select count(*) from score_queue) + (select count(*) from score_sweeps)'
  case "$1" in
    sqlite:*) local f="${1#sqlite://}"; sqlite3 "${f%%\?*}" "$sql" ;;
    *) psql "${1%%\?*}" -Atqc "$sql" ;;
  esac
}

wait_scored() { # database_url: waits until the server's scoring worker has emptied the queue and
  # ended every sweep
  # `guanxi seed` queues every customer it makes for the tenant's default scorers; benchmarks of
  # other things wait for that to finish rather than measure beside it.
  while [ "$(queued "$1")" != 0 ]; do sleep 0.2; done
}

settle() { # database_url: what autovacuum does after scoring rewrote every customer row
  # Autovacuum is off on some machines (this project's machine kind among them); without it,
  # counts after a bulk rewrite read every heap page again and the queue's plans go stale.
  case "$1" in
    postgres*) psql "${1%%\?*}" -qc 'VACUUM ANALYZE' ;;
  esac
}

# Request bodies more than one script drives.
# The 360° page: 50 customers with owner, latest interactions, open complaints, active plan, figures.
page_360='{"query":"{ customers(first: 50, filter: {status: {eq: ACTIVE}}, orderBy: [{field: NAME}]) { nodes { id name owner { name } interactions(first: 5) { nodes { kind occurredAt amount } } openComplaints { title severity slaBreached } activePlan { title progress { visitsDone visitsPlanned revenueActual revenueTarget actionsDone actionsDue openComplaints } } stats { purchaseCount purchaseTotal lastPurchaseAt purchasesLast90Days averageSatisfaction openComplaints } } } }"}'
# A purchase recorded on the customer whose id replaces $ID: the row, the customer's figures,
# the audit entry, the event.
record_purchase='{"query":"mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: PURCHASE, occurredAt: \"2026-01-15T08:00:00Z\", amount: \"99.50\", currency: \"CNY\"}) { id } }","variables":{"c":"$ID"}}'
