#!/usr/bin/env bash
# What a change costs: two builds of the server, each on a database of its own seeded alike,
# driven in turns with one request. Figures of one run are comparable; see BENCHMARKS.md.
#
#   BEFORE=/path/to/old/guanxi bash tests/load/compare.sh [sqlite|postgres]
#   env: PAGE=write (default: `recordInteraction` at 8 connections: the row, the customer's
#        figures, the audit entry, the event) or PAGE=360 (the 360° page of 50 customers at 32),
#        AFTER (default: this tree's release build), CUSTOMERS=10000 INTERACTIONS=5 ROUNDS=3
#        DURATION=15s
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-postgres}"
export CUSTOMERS="${CUSTOMERS:-10000}"
interactions="${INTERACTIONS:-5}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-15s}"
port=18091
page="${PAGE:-write}"
source tests/load/common.sh
before="${BEFORE:?BEFORE names the server binary to compare with}"
after="${AFTER:-$bin}"
case "$page" in
  write)
    connections=8
    body=$record_purchase
    ;;
  360)
    body=$page_360
    ;;
  *) echo "PAGE is write or 360" >&2; exit 2 ;;
esac

database() { # label: sets db_url to a fresh database for it. Not called in $(…): the database
  # must be recorded in this shell for the cleanup to drop it.
  case "$which" in
    sqlite) db_url="sqlite://$work/$1.db?mode=rwc" ;;
    *) new_pg_database "guanxi_writes_$1_$$"; db_url="$pg_url" ;;
  esac
}

round() { # label binary database_url
  local label=$1 url=$3
  bin=$2
  serve "$url"
  ready
  wait_scored "$url"
  local token; token=$("$bin" token --tenant bench --role MANAGER --user bench --secret "$secret")
  gql "$token" '{ customers(first: 100) { nodes { id } } }' |
    python3 -c 'import json,sys; [print(n["id"]) for n in json.load(sys.stdin)["data"]["customers"]["nodes"]]' > "$work/ids"
  BODY="$body" IDS_FILE="$work/ids" TOKEN="$token" wrk -t2 -c"$connections" -d"$duration" --latency -s tests/load/graphql.lua \
    "http://127.0.0.1:$port/graphql" > "$work/wrk.txt"
  local rate p99
  rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  echo "$label: $rate req/s, p99 $p99$(grep -E 'Non-2xx' "$work/wrk.txt" | sed 's/^ */, /')"
  stop
}

declare -A urls
for label in before after; do
  database "$label"
  urls[$label]=$db_url
  binary=$before; [ "$label" = after ] && binary=$after
  "$binary" seed --tenant bench --customers "$CUSTOMERS" --interactions "$interactions" --seed 1 \
    --database-url "${urls[$label]}" > /dev/null
done
echo "=== $page, $connections connections, $duration a turn, $rounds rounds ($which)"
for r in $(seq "$rounds"); do
  round "before (round $r)" "$before" "${urls[before]}"
  round "after  (round $r)" "$after" "${urls[after]}"
done
