//! Indexes that migrations leave to the index builder on PostgreSQL. Migrations run in one
//! transaction (all or nothing), where `CREATE INDEX CONCURRENTLY` cannot run, and a plain
//! `CREATE INDEX` on a table that is already large (the outbox, the complaints) blocks every
//! tenant's writes to it until the build ends. So on PostgreSQL the migrations that add these
//! indexes to existing tables leave them out, and the builder makes each missing one here,
//! without blocking writes; SQLite, one writer at a time, builds them in the migration.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement};

use crate::error::Result;

/// One index: its name, table, and what follows `ON table` in its definition. Each predicate
/// is written as the statements that use the index write theirs, so the planner sees it serves
/// them.
pub struct Deferred {
    pub name: &'static str,
    pub table: &'static str,
    pub definition: &'static str,
}

/// The indexes, with the migration that leaves each here.
pub const DEFERRED: [Deferred; 3] = [
    // Migration 20: each read of new events ranges over `txid`.
    Deferred { name: "events_txid_idx", table: "events", definition: "(txid)" },
    // Migration 21: the SLA check reads only the deadlines still to be told.
    Deferred {
        name: "complaints_response_breach_idx",
        table: "complaints",
        definition: "(response_due_at) WHERE responded_at IS NULL AND response_breach_told = FALSE",
    },
    Deferred {
        name: "complaints_resolution_breach_idx",
        table: "complaints",
        definition: "(resolution_due_at) WHERE resolved_at IS NULL AND resolution_breach_told = FALSE",
    },
];

/// Builds each deferred index PostgreSQL lacks, `CONCURRENTLY`; one a failed concurrent build
/// left invalid is dropped and built again. Does nothing on SQLite. Returns how many it built.
///
/// # Errors
/// Database failures; an index not built is built by a later pass.
pub async fn build_missing(db: &DatabaseConnection) -> Result<usize> {
    #[derive(FromQueryResult)]
    struct Found {
        name: String,
        valid: bool,
    }
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(0);
    }
    let names = DEFERRED.iter().map(|d| format!("'{}'", d.name)).collect::<Vec<_>>().join(", ");
    let found = Found::find_by_statement(Statement::from_string(
        DatabaseBackend::Postgres,
        format!(
            "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname IN ({names})"
        ),
    ))
    .all(db)
    .await?;
    let mut built = 0;
    for index in &DEFERRED {
        match found.iter().find(|f| f.name == index.name) {
            Some(Found { valid: true, .. }) => continue,
            Some(Found { valid: false, .. }) => super::custom_fields::drop_index(db, index.name).await?,
            None => {}
        }
        let started = std::time::Instant::now();
        db.execute_unprepared(&format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} {}",
            index.name, index.table, index.definition
        ))
        .await?;
        tracing::info!(index = index.name, ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "built an index the migrations left to the builder");
        built += 1;
    }
    Ok(built)
}
