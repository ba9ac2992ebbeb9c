//! Cross-replica signals over PostgreSQL's LISTEN/NOTIFY. SQLite serves one process, which
//! needs none.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseBackend, DatabaseConnection};
use uuid::Uuid;

use crate::tasks::Tasks;

/// Carries the id of a tenant whose schema version was bumped.
pub const SCHEMA_CHANNEL: &str = "guanxi_schema";

/// Calls `on_change(Some(tenant))` for every schema change any replica commits, and
/// `on_change(None)` when the listening connection was lost and changes may have been missed.
/// Runs until shutdown; does nothing on SQLite.
pub fn listen_for_schema_changes(
    tasks: &Tasks,
    db: &DatabaseConnection,
    on_change: impl Fn(Option<Uuid>) + Send + 'static,
) {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    tasks.spawn("schema listener", |stop| async move {
        let listening = async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(err) = listener.listen(SCHEMA_CHANNEL).await {
                            tracing::warn!(error = %err, "LISTEN {SCHEMA_CHANNEL}");
                        } else {
                            // Whatever changed before we listened is unknown.
                            on_change(None);
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => on_change(Uuid::parse_str(n.payload()).ok()),
                                    Ok(None) => on_change(None),
                                    Err(err) => {
                                        tracing::warn!(error = %err, "schema change notifications");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "connecting to listen for schema changes"),
                }
                on_change(None);
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
