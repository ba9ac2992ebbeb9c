//! Storage: connecting, migrating, transactions, and one module of queries per table.
//!
//! Every function that touches tenant data takes the tenant id and puts it in the `WHERE` clause
//! itself; there is no function here that reads tenant data without one.

pub mod audit;
pub mod complaints;
pub mod custom_fields;
pub mod customers;
pub mod deferred_indexes;
pub mod documents;
pub mod events;
pub mod filter;
pub mod idempotency;
pub mod interactions;
pub mod notifications;
pub mod plans;
pub mod plugins;
pub mod records;
pub mod rows;
pub mod scoring;
mod sql;
pub mod stats;
pub mod tenants;
pub mod users;
pub mod webhooks;

/// Planner statistics: one function for the server and the migrations.
pub use guanxi_migration::statistics::analyze;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context as _;

use guanxi_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;

use crate::clock::{COMMITS, STATEMENTS};
use crate::error::Result;


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
        // With the database down a request fails within these two seconds (the pool keeps trying
        // to connect until then) instead of holding its client; a load balancer can act on that.
        // A healthy pool hands out a connection in microseconds, so only overload waits this long.
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2))
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
        .with_context(|| format!("GUANXI_DATABASE_URL: cannot connect to {}", redact_url(url)))?;
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
    Migrator::up(&*txn, None).await.context("applying migrations")?;
    txn.commit().await.context("applying migrations")
}

/// True when every migration is applied (readiness).
///
/// # Errors
/// The database does not answer.
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// A transaction that will write; see [`begin_write`].
pub struct WriteTxn {
    // Declared first, so dropped first: an uncommitted transaction starts its rollback before
    // the turn at the writer passes on.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits, then lets the next writer go. Under a request's `Idempotency-Key`, marks the
    /// key's claim committed in this same transaction first.
    ///
    /// # Errors
    /// The commit fails.
    pub async fn commit(self) -> std::result::Result<(), DbErr> {
        if let Ok(claim) = idempotency::CLAIM.try_with(Clone::clone) {
            idempotency::mark_committed(&self.txn, &claim).await?;
        }
        self.txn.commit().await?;
        let _ = COMMITS.try_with(|n| n.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        Ok(())
    }

    /// Rolls back, then lets the next writer go.
    ///
    /// # Errors
    /// The rollback fails.
    pub async fn rollback(self) -> std::result::Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> std::result::Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> std::result::Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

/// How long a write waits for its turn at SQLite's writer, as long as SQLite itself would.
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// This process's writers of each SQLite database file, one at a time in the order they came.
/// SQLite's own wait for its lock retries after growing sleeps, so under concurrent writers some
/// waited seconds while others went straight through: `recordInteraction` at 8 connections had
/// p50 2.9 ms and p99 1.36 s (one connection: p99 11.6 ms), for no more throughput.
fn writer_of(db: &DatabaseConnection) -> Arc<tokio::sync::Mutex<()>> {
    static WRITERS: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_owned();
    let mut writers = WRITERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    writers.entry(file).or_default().clone()
}

/// Begins a transaction that will write. On SQLite it first waits for this process's turn at
/// the database's only writer (see `writer_of`), then takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that reads and then writes fails with SQLITE_BUSY when
/// another writer committed in between, instead of waiting.
///
/// # Errors
/// Database failures; on SQLite, `UNAVAILABLE` when the writer stays taken beyond 10 s.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn> {
    let (options, turn) = match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let turn = tokio::time::timeout(WRITER_WAIT, writer_of(db).lock_owned())
                .await
                .map_err(|_| crate::error::Error::unavailable())?;
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            };
            (options, Some(turn))
        }
        _ => (TransactionOptions::default(), None),
    };
    Ok(WriteTxn { txn: db.begin_with_options(options).await?, _turn: turn })
}

/// Runs `write` in a transaction of its own from [`begin_write`] and commits it: for a write of
/// one or two statements that needs no transaction of its caller's, only its turn at SQLite's
/// writer.
///
/// # Errors
/// What `write` returns; database failures.
pub async fn in_write<T>(db: &DatabaseConnection, write: impl AsyncFnOnce(&WriteTxn) -> Result<T>) -> Result<T> {
    let txn = begin_write(db).await?;
    let out = write(&txn).await?;
    txn.commit().await?;
    Ok(out)
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

/// Replaces the password of `scheme://user:password@host` with `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    /// After `analyze`, SQLite keeps row counts per index but no value samples, which would make
    /// it compile statements again on every run.
    #[tokio::test]
    async fn analyze_keeps_counts_and_drops_samples_on_sqlite() {
        let db = super::connect("sqlite::memory:", 1).await.expect("database");
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL)").await.unwrap();
        db.execute_unprepared("CREATE INDEX t_k ON t (k)").await.unwrap();
        let rows: Vec<String> = (0..200).map(|i| format!("('k{}')", i % 7)).collect();
        db.execute_unprepared(&format!("INSERT INTO t (k) VALUES {}", rows.join(", "))).await.unwrap();
        let count = async |table: &str| {
            let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE idx = 't_k'");
            let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            row.expect("a count").try_get::<i64>("", "n").unwrap()
        };
        db.execute_unprepared("ANALYZE t").await.unwrap();
        assert!(count("sqlite_stat4").await > 0, "this SQLite keeps samples: the test would prove nothing");
        super::analyze(&db, "t").await.unwrap();
        assert_eq!(count("sqlite_stat1").await, 1);
        assert_eq!(count("sqlite_stat4").await, 0);
    }
}
