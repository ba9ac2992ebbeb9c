# Shared set-up of the load scripts (sourced): the release binary, wrk, a work dir cleaned on
# exit, and the settings every script reads from the environment.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/guanxi-target}"
customers="${CUSTOMERS:-100000}"
connections="${CONNECTIONS:-32}"
pg_admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
secret="load-test-secret-0123456789abcdef"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin guanxi -q
bin="$CARGO_TARGET_DIR/release/guanxi"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

queued() { # database_url -> customers waiting in the score queue
  case "$1" in
    sqlite:*) local f="${1#sqlite://}"; sqlite3 "${f%%\?*}" 'select count(*) from score_queue' ;;
    *) psql "${1%%\?*}" -Atqc 'select count(*) from score_queue' ;;
  esac
}

wait_scored() { # database_url: waits until the server's scoring worker has emptied the queue
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
