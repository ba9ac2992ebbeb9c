//! The index builder: builds and drops the expression indexes custom-field definitions ask for,
//! in the background, so that defining a field never holds a lock on a table every tenant
//! shares. A definition commits at once with `indexState: BUILDING`; the builder then finds its
//! index (another tenant may have asked for the same one) or builds it — `CONCURRENTLY` on
//! PostgreSQL, so that no write waits — and marks it `READY`, or `FAILED` with the reason.
//! Filters work meanwhile, without the index.
//!
//! Each pass compares the indexes the definitions want with those the database has, so a
//! restart, a crash halfway or two replicas at once all end in the same place: indexes no live
//! definition wants are dropped, and an invalid one a failed concurrent build left is rebuilt.
//!
//! On PostgreSQL each pass also builds the indexes migrations leave to it
//! (`store::deferred_indexes`): those on tables already large when the migration runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use guanxi_entity::custom_field_definition as model;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use super::custom_fields::{Definition, IndexState};
use crate::error::Result;
use crate::store;
use crate::store::custom_fields::FieldIndex;
use crate::tasks::Tasks;

static BELL: Notify = Notify::const_new();
static RUNG: AtomicU64 = AtomicU64::new(0);

/// Asks the builder for a pass: a definition's index state changed (and committed).
pub fn wake() {
    RUNG.fetch_add(1, Ordering::SeqCst);
    BELL.notify_waiters();
}

/// How often the builder looks without being woken: other replicas' definitions, and builds a
/// stopped replica left `BUILDING`.
const POLL: Duration = Duration::from_secs(10);

/// How soon a builder looks again when another replica's pass held the turn.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The longest failure message kept on a definition.
const MAX_ERROR_CHARS: usize = 300;

/// The session lock the builders of all replicas take turns at (PostgreSQL).
pub const BUILDERS_LOCK: i64 = 0x6775_616e_7869_0001;

/// Starts the builder on `db` (on PostgreSQL a connection of its own: a build takes as long as
/// the table is large, and must not take one from the requests' pool meanwhile).
pub fn spawn_builder(tasks: &Tasks, db: DatabaseConnection, max_per_table: usize) {
    tasks.spawn("index builder", |stop| async move {
        loop {
            let seen = RUNG.load(Ordering::SeqCst);
            let done = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
                pass_in_turn(&db, max_per_table).await
            } else {
                pass(&db, max_per_table).await.map(Some)
            };
            let wait = match done {
                Ok(Some(_)) => POLL,
                // Another replica's pass is under way: look again soon, for what it did not see.
                Ok(None) => BUSY_RETRY,
                Err(err) => {
                    tracing::warn!(error = %err, "building custom-field indexes");
                    POLL
                }
            };
            let rung = BELL.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            if RUNG.load(Ordering::SeqCst) != seen {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = rung => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// A pass while holding the builders' lock, so that replicas take turns: two concurrent builds
/// of one index wait for each other, and PostgreSQL ended one of them as a deadlock, which
/// marked the definition `FAILED`. The lock is the session's: `db` holds one connection.
///
/// The lock is only tried, never waited for: a replica waiting in `pg_advisory_lock` holds a
/// snapshot, which a `CREATE INDEX CONCURRENTLY` of the holder waits for in turn, and
/// PostgreSQL ended that build as a deadlock after it had read the whole table. `None` when
/// another replica holds the turn.
async fn pass_in_turn(db: &DatabaseConnection, max_per_table: usize) -> Result<Option<usize>> {
    use sea_orm::ConnectionTrait;
    let taken = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT pg_try_advisory_lock({BUILDERS_LOCK}) AS taken"),
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "taken"))
        .transpose()?
        .unwrap_or(false);
    if !taken {
        return Ok(None);
    }
    if let Err(err) = store::deferred_indexes::build_missing(db).await {
        tracing::warn!(error = %err, "building the indexes the migrations left to the builder");
    }
    let done = pass(db, max_per_table).await;
    db.execute_unprepared(&format!("SELECT pg_advisory_unlock({BUILDERS_LOCK})")).await?;
    done.map(Some)
}

/// One pass: drops the field indexes nobody wants, then builds (or finds) each wanted one and
/// marks its definitions. Returns how many definitions it marked.
///
/// # Errors
/// Database failures reading the definitions or the catalog; a failed build is not an error of
/// the pass but a `FAILED` definition.
pub async fn pass(db: &DatabaseConnection, max_per_table: usize) -> Result<usize> {
    let backend = db.get_database_backend();
    let mut wanted: BTreeMap<String, (FieldIndex, Vec<model::Model>)> = BTreeMap::new();
    for m in store::custom_fields::wanting_indexes(db).await? {
        let Ok(def) = Definition::from_model(m.clone()) else { continue };
        if !def.wants_index() {
            continue;
        }
        let index = def.index(backend);
        wanted.entry(index.name.clone()).or_insert_with(|| (index, Vec::new())).1.push(m);
    }
    let mut existing = store::custom_fields::existing_indexes(db).await?;
    for (name, _, _) in existing.iter().filter(|(name, _, _)| !wanted.contains_key(name)) {
        store::custom_fields::drop_index(db, name).await?;
    }
    existing.retain(|(name, _, _)| wanted.contains_key(name));
    let mut marked = 0;
    for (name, (index, defs)) in &wanted {
        let building: Vec<&model::Model> =
            defs.iter().filter(|d| d.index_state == IndexState::Building.as_str()).collect();
        let found = existing.iter().find(|(n, _, _)| n == name);
        if let Some((_, _, true)) = found {
            marked += mark(db, &building, IndexState::Ready, None).await?;
            continue;
        }
        if let Some((_, _, false)) = found {
            // A concurrent build that failed (or was stopped) leaves an invalid index behind.
            store::custom_fields::drop_index(db, name).await?;
        }
        if building.is_empty() {
            // Wanted READY but missing (dropped by hand, or a restored backup): build it again.
            tracing::warn!(index = %name, "a ready custom-field index is missing; building it again");
        }
        let on_table = existing.iter().filter(|(n, table, _)| n != name && *table == index.table).count();
        if found.is_none() && on_table >= max_per_table {
            let reason = format!(
                "this server keeps at most {max_per_table} custom-field indexes on {}, across all tenants, \
                 and has that many; the field works unindexed (its operator can raise GUANXI_MAX_FIELD_INDEXES)",
                index.table
            );
            marked += mark(db, &building, IndexState::Failed, Some(reason)).await?;
            continue;
        }
        let started = std::time::Instant::now();
        match store::custom_fields::build_index(db, index).await {
            Ok(()) => {
                tracing::info!(index = %name, ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "built a custom-field index");
                existing.push((name.clone(), index.table, true));
                marked += mark(db, &building, IndexState::Ready, None).await?;
            }
            Err(err) => {
                // Another replica may have built it meanwhile: only a missing index failed.
                let now = store::custom_fields::existing_indexes(db).await?;
                if now.iter().any(|(n, _, valid)| n == name && *valid) {
                    existing.push((name.clone(), index.table, true));
                    marked += mark(db, &building, IndexState::Ready, None).await?;
                } else {
                    tracing::warn!(index = %name, error = %err, "building a custom-field index");
                    let reason: String = format!("the database could not build the index: {err}")
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .chars()
                        .take(MAX_ERROR_CHARS)
                        .collect();
                    marked += mark(db, &building, IndexState::Failed, Some(reason)).await?;
                }
            }
        }
    }
    Ok(marked)
}

async fn mark(
    db: &DatabaseConnection,
    defs: &[&model::Model],
    state: IndexState,
    error: Option<String>,
) -> Result<usize> {
    for def in defs {
        store::custom_fields::mark_index(db, def, state.as_str(), error.clone()).await?;
    }
    Ok(defs.len())
}
