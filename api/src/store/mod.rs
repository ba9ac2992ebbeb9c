//! Storage: connecting, migrating, transactions, and one module of queries per table.
//!
//! Every function that touches tenant data takes the tenant id and puts it in the `WHERE` clause
//! itself; there is no function here that reads tenant data without one.

pub mod audit;
pub mod complaints;
pub mod custom_fields;
pub mod customers;
pub mod filter;
pub mod idempotency;
pub mod interactions;
pub mod notifications;
pub mod plans;
pub mod plugins;
pub mod scoring;
pub mod stats;
pub mod tenants;
pub mod users;

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SubsecRound, Utc};
use guanxi_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::error::Result;

tokio::task_local! {
    /// Counts the SQL statements of one request: the HTTP layer scopes a counter around each
    /// execution (and its loaders' tasks), the pool's metric callback increments it.
    pub static STATEMENTS: std::sync::Arc<std::sync::atomic::AtomicU64>;
}

/// Opens the pool. SQLite runs in WAL mode so readers never wait for the writer, and waits up
/// to 10 s for the write lock instead of failing at once.
///
/// # Errors
/// The database cannot be reached or opened; the message names the redacted URL.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, max_connections, false).await
}

/// A pool for the scoring worker. Its tables grow from nothing to a whole tenant within one
/// backlog, so a plan PostgreSQL cached for a prepared statement while they were small (a scan
/// of `customer_scores`) stayed while they grew: 150 ms per batch instead of 2 ms on a freshly
/// seeded database. Its connections plan every statement for the values it is given.
///
/// # Errors
/// The database cannot be reached.
pub async fn connect_for_batches(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, max_connections, true).await
}

async fn connect_with(url: &str, max_connections: u32, custom_plans: bool) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    if custom_plans {
        options.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    }
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // sqlx pings a connection before every checkout by default: a second round trip per
        // query. Only connections idle for a while are worth checking.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let mut db = Database::connect(options)
        .await
        .with_context(|| format!("GUANXI_DATABASE_URL: cannot connect to {}", crate::config::redact_url(url)))?;
    db.set_metric_callback(|info| {
        tracing::trace!(target: "guanxi_api::sql", elapsed_us = info.elapsed.as_micros(), "{}", info.statement.sql);
        metrics::counter!("db_statements_total").increment(1);
        let _ = STATEMENTS.try_with(|n| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    });
    Ok(db)
}

/// Applies every pending migration.
///
/// # Errors
/// A migration fails.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    // On one connection, all or nothing (both databases keep DDL in transactions). Spread over a
    // pool, a migration's statements met SQLite connections still reading the schema before the
    // previous migration; and a second server starting at the same time waits here (SQLite:
    // `BEGIN IMMEDIATE`), then finds nothing left to apply.
    let txn = begin_write(db).await.context("applying migrations")?;
    Migrator::up(&txn, None).await.context("applying migrations")?;
    txn.commit().await.context("applying migrations")
}

/// True when every migration is applied (readiness).
///
/// # Errors
/// The database does not answer.
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that reads and then writes fails with SQLITE_BUSY when
/// another writer committed in between, instead of waiting.
///
/// # Errors
/// Database failures.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let options = match db.get_database_backend() {
        DatabaseBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        },
        _ => TransactionOptions::default(),
    };
    Ok(db.begin_with_options(options).await?)
}

/// The current time at the precision both databases keep (microseconds), so a value read back
/// equals the value written and cursors compare exactly.
#[must_use]
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Is this a unique-key violation?
#[must_use]
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Inserts rows in statements of at most `per_statement` rows (bulk loads: bind parameters are
/// limited, 65,535 on PostgreSQL and 32,766 on SQLite).
///
/// # Errors
/// Database failures.
pub async fn insert_all<A>(conn: &impl sea_orm::ConnectionTrait, rows: Vec<A>, per_statement: usize) -> Result<()>
where
    A: sea_orm::ActiveModelTrait + Send,
{
    use sea_orm::EntityTrait;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement.max(1)).collect();
        <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}
