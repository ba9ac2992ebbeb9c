//! Cross-replica signals over PostgreSQL's LISTEN/NOTIFY. SQLite serves one process, which
//! needs none.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use uuid::Uuid;

use crate::error::Result;
use crate::tasks::Tasks;

/// Carries the id of a tenant whose schema version was bumped.
pub const SCHEMA_CHANNEL: &str = "guanxi_schema";

/// Rung after writes commit: there are new events in the outbox. It carries nothing; readers
/// read the outbox.
pub const EVENTS_CHANNEL: &str = "guanxi_events";

/// Calls `on_change(Some(tenant))` for every schema change any replica commits, and
/// `on_change(None)` when the listening connection was lost and changes may have been missed.
/// Runs until shutdown; does nothing on SQLite.
pub fn listen_for_schema_changes(
    tasks: &Tasks,
    db: &DatabaseConnection,
    on_change: impl Fn(Option<Uuid>) + Send + 'static,
) {
    listen(tasks, db, SCHEMA_CHANNEL, move |payload| on_change(payload.and_then(|p| Uuid::parse_str(p).ok())));
}

/// Calls `on_event()` for every notification on [`EVENTS_CHANNEL`], and when the listening
/// connection was lost and notifications may have been missed. Does nothing on SQLite.
pub fn listen_for_events(tasks: &Tasks, db: &DatabaseConnection, on_event: impl Fn() + Send + 'static) {
    listen(tasks, db, EVENTS_CHANNEL, move |_| on_event());
}

/// Tells every replica's listener on [`EVENTS_CHANNEL`]. Sent on its own, after the writes
/// commit: a NOTIFY inside a write would serialize the commits of every writer on the
/// database's notification lock.
///
/// # Errors
/// Database failures.
pub async fn announce_events(db: &DatabaseConnection) -> Result<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("NOTIFY {EVENTS_CHANNEL}")).await?;
    }
    Ok(())
}

/// Calls `on_message(Some(payload))` for every notification on `channel`, and
/// `on_message(None)` when the listening connection was (re)made and notifications may have been
/// missed. Runs until shutdown; does nothing on SQLite.
fn listen(
    tasks: &Tasks,
    db: &DatabaseConnection,
    channel: &'static str,
    on_message: impl Fn(Option<&str>) + Send + 'static,
) {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    tasks.spawn(channel, |stop| async move {
        let listening = async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(err) = listener.listen(channel).await {
                            tracing::warn!(error = %err, "LISTEN {channel}");
                        } else {
                            // Whatever was sent before we listened is unknown.
                            on_message(None);
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => on_message(Some(n.payload())),
                                    Ok(None) => on_message(None),
                                    Err(err) => {
                                        tracing::warn!(error = %err, "notifications on {channel}");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "connecting to listen on {channel}"),
                }
                on_message(None);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        // Listening holds no transaction: it can stop at any point.
        tokio::select! {
            () = stop.cancelled() => {}
            () = listening => {}
        }
    });
}
