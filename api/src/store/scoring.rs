//! The durable queue of customers to score, the scores written into the customers' scores rows,
//! and the ranking of a tenant's customers into value tiers.
//!
//! A queue row carries a ticket (uuid v7) renewed by every enqueue. A worker claims rows for a
//! while (a lease, so a crashed worker's rows come back) and deletes them afterwards only if
//! their ticket is still the one it claimed: a customer changed while it was being scored stays
//! queued and is scored again. On PostgreSQL, replicas share the queue with `SKIP LOCKED`.
//!
//! A whole tenant is not queued customer by customer but swept: one row per tenant with the
//! last customer scored, in id order, claimed by one worker at a time under the same kind of
//! lease. A new whole-tenant request starts the sweep over.

use chrono::{DateTime, Utc};
use guanxi_entity::score_run;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use uuid::Uuid;

use crate::error::Result;
use crate::query::FieldType;

/// One claimed queue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct Claimed {
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub ticket: Uuid,
}

/// `$n` on PostgreSQL, `?` on SQLite.
fn param(backend: DatabaseBackend, n: usize) -> String {
    if backend == DatabaseBackend::Postgres { format!("${n}") } else { "?".to_owned() }
}

const UPSERT: &str =
    "ON CONFLICT (tenant_id, customer_id) DO UPDATE SET ticket = excluded.ticket, claimed_until = NULL";

/// Queues customers whose snapshot changed (in the writing transaction).
///
/// # Errors
/// Database failures.
pub async fn enqueue(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_ids: &[Uuid]) -> Result<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let ticket = Uuid::now_v7();
    let mut values: Vec<Value> = Vec::with_capacity(customer_ids.len() * 3);
    let rows: Vec<String> = customer_ids
        .iter()
        .map(|id| {
            values.extend([tenant_id.into(), (*id).into(), ticket.into()]);
            let n = values.len();
            format!("({}, {}, {}, NULL)", param(backend, n - 2), param(backend, n - 1), param(backend, n))
        })
        .collect();
    let sql = format!(
        "INSERT INTO score_queue (tenant_id, customer_id, ticket, claimed_until) VALUES {} {UPSERT}",
        rows.join(", ")
    );
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// A tenant's sweep: every customer scored again, in id order. One row per tenant stands for
/// all of its customers; queueing each of them wrote, claimed and deleted 100,000 queue rows
/// for a re-score of 100,000 customers, a third of the database's work when nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct Sweep {
    pub tenant_id: Uuid,
    /// The request the sweep is working for; a newer one starts it over.
    pub ticket: Uuid,
    /// The last customer scored; `None` before the first stretch.
    pub scored_to: Option<Uuid>,
}

/// Asks for every customer of the tenant to be scored again under `ticket`: starts the
/// tenant's sweep, or starts it over from its first customer (what scored them changed).
/// Starting over lets go of the worker's claim: that worker finds the ticket changed when it
/// next goes on, and stops.
///
/// # Errors
/// Database failures.
pub async fn sweep_all(conn: &impl ConnectionTrait, tenant_id: Uuid, ticket: Uuid) -> Result<()> {
    start_sweep(
        conn,
        tenant_id,
        ticket,
        "DO UPDATE SET ticket = excluded.ticket, scored_to = NULL, claimed_until = NULL, claimed_by = NULL",
    )
    .await
}

/// Starts the tenant's sweep under `ticket` unless one is under way.
///
/// # Errors
/// Database failures.
pub async fn sweep_unless_sweeping(conn: &impl ConnectionTrait, tenant_id: Uuid, ticket: Uuid) -> Result<()> {
    start_sweep(conn, tenant_id, ticket, "DO NOTHING").await
}

async fn start_sweep(conn: &impl ConnectionTrait, tenant_id: Uuid, ticket: Uuid, on_conflict: &str) -> Result<()> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "INSERT INTO score_sweeps (tenant_id, ticket, first_ticket, scored_to, claimed_until, claimed_by) \
         VALUES ({}, {}, {}, NULL, NULL, NULL) ON CONFLICT (tenant_id) {on_conflict}",
        param(backend, 1),
        param(backend, 2),
        param(backend, 3)
    );
    let values: [Value; 3] = [tenant_id.into(), ticket.into(), ticket.into()];
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// Claims, for `worker` until `lease_until`, the sweep that nobody holds (or whose holder's lease
/// ran out) and that waited longest for a turn: one never claimed first, then the one whose last
/// turn is oldest. With `other_than`, only another tenant's. Sweeps take turns by tenant this
/// way, one stretch each (see [`yield_sweep`]).
///
/// # Errors
/// Database failures.
pub async fn claim_sweep(
    conn: &impl ConnectionTrait,
    worker: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    other_than: Option<Uuid>,
) -> Result<Option<Sweep>> {
    let backend = conn.get_database_backend();
    let skip_locked = if backend == DatabaseBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let mut values: Vec<Value> = vec![lease_until.into(), worker.into(), now.into(), now.into()];
    let other = match other_than {
        Some(tenant_id) => {
            values.push(tenant_id.into());
            format!(" AND tenant_id <> {}", param(backend, 5))
        }
        None => String::new(),
    };
    let sql = format!(
        "UPDATE score_sweeps SET claimed_until = {}, claimed_by = {}, turn_at = {} WHERE tenant_id IN (\
           SELECT tenant_id FROM score_sweeps WHERE (claimed_until IS NULL OR claimed_until < {}){other} \
           ORDER BY turn_at NULLS FIRST, first_ticket LIMIT 1{skip_locked}) \
         RETURNING tenant_id, ticket, scored_to",
        param(backend, 1),
        param(backend, 2),
        param(backend, 3),
        param(backend, 4)
    );
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(Sweep::find_by_statement(stmt).one(conn).await?)
}

/// Lets go of a sweep `worker` holds, at `sweep.scored_to` (where it stands once the stretch
/// being scored is), for the next turn: its last turn stays the time it was claimed, so every
/// sweep waiting now comes first.
///
/// # Errors
/// Database failures.
pub async fn yield_sweep(conn: &impl ConnectionTrait, sweep: &Sweep, worker: Uuid) -> Result<()> {
    let head = "UPDATE score_sweeps SET scored_to = {}, claimed_until = NULL, claimed_by = NULL";
    on_held_sweep(conn, head, Some(sweep.scored_to.into()), sweep, worker).await?;
    Ok(())
}

/// Extends `worker`'s claim on a sweep it holds; false if the sweep started over, ended, or
/// went to another worker meanwhile.
///
/// # Errors
/// Database failures.
pub async fn renew_sweep(
    conn: &impl ConnectionTrait,
    sweep: &Sweep,
    worker: Uuid,
    lease_until: DateTime<Utc>,
) -> Result<bool> {
    let head = "UPDATE score_sweeps SET claimed_until = {}";
    Ok(on_held_sweep(conn, head, Some(lease_until.into()), sweep, worker).await? == 1)
}

/// Runs `head` (an `UPDATE … SET` with at most one `{}` for `value`, or a `DELETE`) on the
/// sweep only while `worker` holds it under the same ticket; returns how many rows it changed.
async fn on_held_sweep(
    conn: &impl ConnectionTrait,
    head: &str,
    value: Option<Value>,
    sweep: &Sweep,
    worker: Uuid,
) -> Result<u64> {
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = value.into_iter().collect();
    let head = head.replace("{}", &param(backend, 1));
    let first = values.len() + 1;
    values.extend([sweep.tenant_id.into(), sweep.ticket.into(), worker.into()]);
    let sql = format!(
        "{head} WHERE tenant_id = {} AND ticket = {} AND claimed_by = {}",
        param(backend, first),
        param(backend, first + 1),
        param(backend, first + 2)
    );
    Ok(conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?.rows_affected())
}

/// The next `n` customers of a sweep, in id order.
///
/// # Errors
/// Database failures.
pub async fn sweep_ids(conn: &impl ConnectionTrait, sweep: &Sweep, n: u64) -> Result<Vec<Uuid>> {
    use guanxi_entity::customer;
    let mut select = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::TenantId.eq(sweep.tenant_id));
    if let Some(after) = sweep.scored_to {
        select = select.filter(customer::Column::Id.gt(after));
    }
    Ok(select.order_by_asc(customer::Column::Id).limit(n).into_tuple().all(conn).await?)
}

/// Records that `worker` scored a sweep up to `scored_to` (if the sweep is still its own and
/// under the same ticket: one started over stays at its start).
///
/// # Errors
/// Database failures.
pub async fn advance_sweep(conn: &impl ConnectionTrait, sweep: &Sweep, worker: Uuid, scored_to: Uuid) -> Result<()> {
    on_held_sweep(conn, "UPDATE score_sweeps SET scored_to = {}", Some(scored_to.into()), sweep, worker).await?;
    Ok(())
}

/// Removes a sweep `worker` took to its end, unless it started over meanwhile.
///
/// # Errors
/// Database failures.
pub async fn end_sweep(conn: &impl ConnectionTrait, sweep: &Sweep, worker: Uuid) -> Result<()> {
    on_held_sweep(conn, "DELETE FROM score_sweeps", None, sweep, worker).await?;
    Ok(())
}

/// Whether the tenant has a sweep under way (or waiting).
///
/// # Errors
/// Database failures.
pub async fn sweeping(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<bool> {
    let backend = conn.get_database_backend();
    let sql = format!("SELECT COUNT(*) AS n FROM score_sweeps WHERE tenant_id = {}", param(backend, 1));
    let stmt = Statement::from_sql_and_values(backend, sql, [tenant_id.into()]);
    Ok(Count::find_by_statement(stmt).one(conn).await?.is_some_and(|c| c.n > 0))
}

/// How many customers the tenant has after `scored_to` in id order (all of them for `None`):
/// a plain count by primary key, where sea-orm's `count()` wraps a select of every column.
///
/// # Errors
/// Database failures.
pub async fn customers_ahead(conn: &impl ConnectionTrait, tenant_id: Uuid, scored_to: Option<Uuid>) -> Result<i64> {
    count_of_tenant(conn, "customers", tenant_id, scored_to.map(|after| ("id >", after))).await
}

/// `SELECT COUNT(*)` of a tenant's rows in `table`, narrowed by at most one `column op` bound.
/// Both names are written into the SQL, so they are this module's constants, never input.
async fn count_of_tenant(
    conn: &impl ConnectionTrait,
    table: &'static str,
    tenant_id: Uuid,
    bound: Option<(&'static str, Uuid)>,
) -> Result<i64> {
    let backend = conn.get_database_backend();
    let mut sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = {}", param(backend, 1));
    let mut values: Vec<Value> = vec![tenant_id.into()];
    if let Some((column_op, value)) = bound {
        sql.push_str(&format!(" AND {column_op} {}", param(backend, 2)));
        values.push(value.into());
    }
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(Count::find_by_statement(stmt).one(conn).await?.map_or(0, |c| c.n))
}

/// Claims up to `limit` unclaimed (or abandoned) rows, oldest ticket first, until `lease_until`.
///
/// # Errors
/// Database failures.
pub async fn claim(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Claimed>> {
    let backend = conn.get_database_backend();
    let skip_locked = if backend == DatabaseBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE score_queue SET claimed_until = {} WHERE (tenant_id, customer_id) IN (\
           SELECT tenant_id, customer_id FROM score_queue \
           WHERE claimed_until IS NULL OR claimed_until < {} ORDER BY ticket LIMIT {limit}{skip_locked}) \
         RETURNING tenant_id, customer_id, ticket",
        param(backend, 1),
        param(backend, 2)
    );
    let stmt = Statement::from_sql_and_values(backend, sql, [lease_until.into(), now.into()]);
    Ok(Claimed::find_by_statement(stmt).all(conn).await?)
}

/// Removes scored rows whose ticket did not change since they were claimed.
///
/// A row goes if its customer was claimed and its ticket is one of the claimed tickets: the
/// same as matching pairs, since a ticket is made by one enqueue that queues all of its
/// customers at once, so a customer queued again after the claim has a ticket no claimed row
/// has. Written this way PostgreSQL finds the rows by primary key; the pairs as a VALUES list
/// were planned as a scan of the whole queue (37 ms per 1,000 rows at 100,000 queued) or, with
/// one ticket for a whole tenant (as whole tenants were once queued), through the ticket index
/// (170 ms).
///
/// # Errors
/// Database failures.
pub async fn done(conn: &impl ConnectionTrait, rows: &[Claimed]) -> Result<()> {
    let backend = conn.get_database_backend();
    let mut by_tenant: std::collections::BTreeMap<Uuid, Vec<&Claimed>> = std::collections::BTreeMap::new();
    for row in rows {
        by_tenant.entry(row.tenant_id).or_default().push(row);
    }
    for (tenant_id, rows) in by_tenant {
        for chunk in rows.chunks(1000) {
            let mut values: Vec<Value> = vec![tenant_id.into()];
            let customers: Vec<String> = chunk
                .iter()
                .map(|r| {
                    values.push(r.customer_id.into());
                    param(backend, values.len())
                })
                .collect();
            let tickets: std::collections::BTreeSet<Uuid> = chunk.iter().map(|r| r.ticket).collect();
            let tickets: Vec<String> = tickets
                .into_iter()
                .map(|t| {
                    values.push(t.into());
                    param(backend, values.len())
                })
                .collect();
            let sql = format!(
                "DELETE FROM score_queue WHERE tenant_id = {} AND customer_id IN ({}) AND ticket IN ({})",
                param(backend, 1),
                customers.join(", "),
                tickets.join(", ")
            );
            conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        }
    }
    Ok(())
}

/// A `COUNT(*) AS n`.
#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// Where a tenant's sweep is, for its progress.
#[derive(FromQueryResult)]
struct SweepRow {
    first_ticket: Uuid,
    scored_to: Option<Uuid>,
}

/// Customers of the tenant still to score: queued, or ahead of its sweep. With `up_to`, only
/// those a request of that ticket (or an earlier one) asked for: queued by then, or ahead of a
/// sweep that began by then (a sweep started over still answers its first request).
///
/// # Errors
/// Database failures.
pub async fn pending(conn: &impl ConnectionTrait, tenant_id: Uuid, up_to: Option<Uuid>) -> Result<i64> {
    let queued = count_of_tenant(conn, "score_queue", tenant_id, up_to.map(|ticket| ("ticket <=", ticket))).await?;
    let backend = conn.get_database_backend();
    let sql = format!("SELECT first_ticket, scored_to FROM score_sweeps WHERE tenant_id = {}", param(backend, 1));
    let stmt = Statement::from_sql_and_values(backend, sql, [tenant_id.into()]);
    let ahead = match SweepRow::find_by_statement(stmt).one(conn).await? {
        Some(SweepRow { first_ticket, scored_to }) if up_to.is_none_or(|ticket| first_ticket <= ticket) => {
            customers_ahead(conn, tenant_id, scored_to).await?
        }
        _ => 0,
    };
    Ok(queued + ahead)
}

/// Whether more than `n` of the tenant's customers are queued: counts no further than `n + 1`,
/// so the worker's check after every batch does not count a whole backlog (28 ms at 100,000).
///
/// # Errors
/// Database failures.
pub async fn queued_more_than(conn: &impl ConnectionTrait, tenant_id: Uuid, n: u64) -> Result<bool> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM score_queue WHERE tenant_id = {} LIMIT {}) AS q",
        param(backend, 1),
        n.saturating_add(1)
    );
    let stmt = Statement::from_sql_and_values(backend, sql, [tenant_id.into()]);
    let counted = Count::find_by_statement(stmt).one(conn).await?.map_or(0, |c| c.n);
    Ok(u64::try_from(counted).unwrap_or(0) > n)
}

/// Cleans the queue and refreshes its statistics on PostgreSQL. A bulk enqueue grows the queue
/// from nothing to a whole tenant faster than autovacuum notices (and some installations run
/// without it): with stale statistics and a queue full of dead rows, each clean-up of a scored
/// batch took 190–360 ms per 1,000 rows instead of 2–8 ms. SQLite plans these statements by
/// index without statistics and reuses the space of deleted rows.
///
/// # Errors
/// Database failures.
pub async fn vacuum(conn: &impl ConnectionTrait) -> Result<()> {
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        conn.execute_unprepared("VACUUM (ANALYZE) score_queue").await?;
    }
    Ok(())
}

/// Scores to write for one customer: the computed custom field values (`None` when they did
/// not change) and the details, each a JSON object keyed by score key, merged over what is
/// stored, and the fingerprints of both, which replace the stored ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreWrite {
    pub customer_id: Uuid,
    pub values: Option<serde_json::Value>,
    pub details: serde_json::Value,
    pub hashes: super::customers::ScoreHashes,
}

/// Gives new customers their (empty) scores rows, which every customer read joins.
///
/// # Errors
/// Database failures.
pub async fn add_rows(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_ids: &[Uuid]) -> Result<()> {
    let backend = conn.get_database_backend();
    let empty = if backend == DatabaseBackend::Postgres { "'{}'::jsonb" } else { "'{}'" };
    for chunk in customer_ids.chunks(1000) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        let rows: Vec<String> = chunk
            .iter()
            .map(|id| {
                values.extend([tenant_id.into(), (*id).into()]);
                let n = values.len();
                format!("({}, {}, {empty})", param(backend, n - 1), param(backend, n))
            })
            .collect();
        let sql = format!("INSERT INTO customer_scores (tenant_id, customer_id, details) VALUES {}", rows.join(", "));
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// Merges scores into the customers' scores rows, a few hundred per statement: the values into
/// `computed`, the details into `details`. The customer row is not touched: neither its
/// version nor its `updated_at` moves, since scores are computed, not edited. A customer
/// deleted meanwhile has no row left and gets none.
///
/// Rows whose values did not change (an explanation that moves with the days) go in
/// statements that do not assign `computed`: SQLite rewrites the entries of every index on a
/// column a statement assigns, even to the value it had, and each computed field has one.
///
/// # Errors
/// Database failures.
pub async fn write_scores(conn: &impl ConnectionTrait, tenant_id: Uuid, writes: &[ScoreWrite]) -> Result<()> {
    let (with_values, details_only): (Vec<&ScoreWrite>, Vec<&ScoreWrite>) =
        writes.iter().partition(|w| w.values.is_some());
    for chunk in with_values.chunks(500) {
        merge(conn, tenant_id, chunk, true).await?;
    }
    for chunk in details_only.chunks(500) {
        merge(conn, tenant_id, chunk, false).await?;
    }
    Ok(())
}

/// One statement of [`write_scores`]: the details and fingerprints of `rows`, and with
/// `values` their computed values too.
async fn merge(conn: &impl ConnectionTrait, tenant_id: Uuid, rows: &[&ScoreWrite], values: bool) -> Result<()> {
    let backend = conn.get_database_backend();
    let pg = backend == DatabaseBackend::Postgres;
    // The columns of the VALUES list, named and typed (types for PostgreSQL), in the order
    // each row's parameters are pushed below.
    let columns: &[(&str, &str)] = if values {
        &[("id", "uuid"), ("d", "jsonb"), ("cf", "jsonb"), ("vh", "bigint"), ("dh", "bigint")]
    } else {
        &[("id", "uuid"), ("d", "jsonb"), ("vh", "bigint"), ("dh", "bigint")]
    };
    let mut params: Vec<Value> = vec![tenant_id.into()];
    let tuples: Vec<String> = rows
        .iter()
        .map(|w| {
            let first = params.len() + 1;
            params.extend([w.customer_id.into(), w.details.to_string().into()]);
            if values {
                params.push(w.values.as_ref().map(serde_json::Value::to_string).into());
            }
            params.extend([w.hashes.values.into(), w.hashes.details.into()]);
            let row: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, (_, cast))| {
                    let p = param(backend, first + i);
                    if pg { format!("{p}::{cast}") } else { p }
                })
                .collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let tuples = tuples.join(", ");
    let sql = if pg {
        let computed = if values { "computed = s.computed || v.cf, " } else { "" };
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        format!(
            "UPDATE customer_scores AS s SET details = s.details || v.d, {computed}values_hash = v.vh, \
             details_hash = v.dh FROM (VALUES {tuples}) AS v({}) WHERE s.tenant_id = $1 AND s.customer_id = v.id",
            names.join(", ")
        )
    } else {
        let computed = if values { "computed = json_patch(computed, v.cf), " } else { "" };
        let names: Vec<String> =
            columns.iter().enumerate().map(|(i, (name, _))| format!("column{} AS {name}", i + 1)).collect();
        format!(
            "UPDATE customer_scores SET details = json_patch(details, v.d), {computed}values_hash = v.vh, \
             details_hash = v.dh FROM (SELECT {} FROM (VALUES {tuples})) AS v \
             WHERE customer_scores.tenant_id = ? AND customer_scores.customer_id = v.id",
            names.join(", ")
        )
    };
    // SQLite binds in order of appearance: the UPDATE's tenant comes after the rows.
    let params = if pg { params } else { tenant_last(params) };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, params)).await?;
    Ok(())
}

/// `(customer id, value)` rows of a VALUES list and their parameters: the tenant first, then
/// each row's. `cast` types the value on PostgreSQL (`"::jsonb"`, or `""` for text).
fn id_tuples(
    backend: DatabaseBackend,
    tenant_id: Uuid,
    cast: &str,
    rows: impl Iterator<Item = (Uuid, Value)>,
) -> (Vec<Value>, String) {
    let mut values: Vec<Value> = vec![tenant_id.into()];
    let tuples: Vec<String> = rows
        .map(|(customer_id, value)| {
            values.extend([customer_id.into(), value]);
            let n = values.len();
            match backend {
                DatabaseBackend::Postgres => format!("(${}::uuid, ${n}{cast})", n - 1),
                _ => "(?, ?)".to_owned(),
            }
        })
        .collect();
    (values, tuples.join(", "))
}

/// Moves the first parameter (the tenant, as [`id_tuples`] places it) to the end.
fn tenant_last(mut values: Vec<Value>) -> Vec<Value> {
    let tenant = values.remove(0);
    values.push(tenant);
    values
}

/// The stored score details of some of a tenant's customers, by customer.
///
/// # Errors
/// Database failures.
pub async fn details_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, serde_json::Value>> {
    use guanxi_entity::customer_score;
    if customer_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(Uuid, serde_json::Value)> = customer_score::Entity::find()
        .select_only()
        .columns([customer_score::Column::CustomerId, customer_score::Column::Details])
        .filter(customer_score::Column::TenantId.eq(tenant_id))
        .filter(customer_score::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Removes a deleted customer's scores row.
///
/// # Errors
/// Database failures.
pub async fn delete_row(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    use guanxi_entity::customer_score;
    customer_score::Entity::delete_many()
        .filter(customer_score::Column::TenantId.eq(tenant_id))
        .filter(customer_score::Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Tier cut points in basis points of the tenant's scored customers, top down: KEY_PRIMARY,
/// KEY_SECONDARY, ORDINARY; the rest are SMALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPoints {
    pub key_primary: u32,
    pub key_secondary: u32,
    pub ordinary: u32,
}

/// A customer whose tier the ranking changes.
#[derive(FromQueryResult)]
struct NewTier {
    id: Uuid,
    tier: String,
}

/// Customers whose tiers one write transaction of [`rank_tiers`] changes.
const TIERS_PER_WRITE: usize = 1_000;

/// Ranks the tenant's customers by the number score `key` (highest first, ties by id) and sets
/// each one's tier; a tier reaches `ceil(share × scored customers)` ranks. Customers without
/// that score keep theirs. Returns how many tiers changed.
///
/// The ranking is one read, outside any write transaction, and only the tiers that change are
/// written, a thousand per transaction: ranking a whole tenant in one `UPDATE` held SQLite's
/// only writer for the whole window computation (0.5 s at 100,000 customers) after every
/// worker round that emptied the queue, and every other write waited. A score written between
/// the read and the writes is ranked the next time.
///
/// # Errors
/// Database failures.
pub async fn rank_tiers(db: &DatabaseConnection, tenant_id: Uuid, key: &str, cuts: CutPoints) -> Result<u64> {
    let backend = db.get_database_backend();
    // A scorer's numbers are indexed computed fields: the ranking reads the index's expression.
    let score = super::custom_fields::sql_of(backend, "computed", key, FieldType::Decimal, true);
    let primary = u64::from(cuts.key_primary);
    let secondary = primary + u64::from(cuts.key_secondary);
    let ordinary = secondary + u64::from(cuts.ordinary);
    let sql = format!(
        "SELECT id, tier FROM (\
           SELECT id, old, CASE \
             WHEN rn <= (n * {primary} + 9999) / 10000 THEN 'KEY_PRIMARY' \
             WHEN rn <= (n * {secondary} + 9999) / 10000 THEN 'KEY_SECONDARY' \
             WHEN rn <= (n * {ordinary} + 9999) / 10000 THEN 'ORDINARY' \
             ELSE 'SMALL' END AS tier \
           FROM (SELECT customer_id AS id, tier AS old, \
                   ROW_NUMBER() OVER (ORDER BY {score} DESC, customer_id) AS rn, COUNT(*) OVER () AS n \
                 FROM customer_scores WHERE tenant_id = {} AND {score} IS NOT NULL) AS ranked) AS r \
         WHERE old IS NULL OR old <> tier",
        param(backend, 1)
    );
    let changes =
        NewTier::find_by_statement(Statement::from_sql_and_values(backend, sql, [tenant_id.into()])).all(db).await?;
    for chunk in changes.chunks(TIERS_PER_WRITE) {
        let (values, tuples) = id_tuples(backend, tenant_id, "", chunk.iter().map(|c| (c.id, c.tier.clone().into())));
        let sql = match backend {
            DatabaseBackend::Postgres => format!(
                "UPDATE customer_scores AS s SET tier = v.tier FROM (VALUES {tuples}) AS v(id, tier) \
                 WHERE s.tenant_id = $1 AND s.customer_id = v.id"
            ),
            _ => format!(
                "UPDATE customer_scores SET tier = v.tier \
                 FROM (SELECT column1 AS id, column2 AS tier FROM (VALUES {tuples})) AS v \
                 WHERE customer_scores.tenant_id = ? AND customer_scores.customer_id = v.id"
            ),
        };
        // SQLite binds in order of appearance: the UPDATE's tenant comes after the rows.
        let values = if backend == DatabaseBackend::Postgres { values } else { tenant_last(values) };
        let stmt = Statement::from_sql_and_values(backend, sql, values);
        super::in_write(db, async |txn| Ok(txn.execute_raw(stmt).await?)).await?;
    }
    Ok(changes.len() as u64)
}

/// # Errors
/// Database failures.
pub async fn insert_run(conn: &impl ConnectionTrait, run: &score_run::Model) -> Result<()> {
    score_run::Entity::insert(run.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn find_run(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<score_run::Model>> {
    Ok(score_run::Entity::find()
        .filter(score_run::Column::TenantId.eq(tenant_id))
        .filter(score_run::Column::Id.eq(id))
        .one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queue's promise: a customer queued again while it was being scored stays queued, the
    /// others go.
    #[tokio::test]
    async fn done_keeps_customers_queued_again_after_the_claim() {
        let db = crate::store::connect("sqlite::memory:", 1).await.expect("database");
        crate::store::migrate(&db).await.expect("migrations");
        let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        enqueue(&db, tenant, &[a, b]).await.unwrap();
        enqueue(&db, other, &[c]).await.unwrap();
        let now = crate::store::now();
        let claimed = claim(&db, now, now + chrono::Duration::minutes(2), 10).await.unwrap();
        assert_eq!(claimed.len(), 3);
        enqueue(&db, tenant, &[a]).await.unwrap(); // a changes while it is scored
        done(&db, &claimed).await.unwrap();
        assert_eq!(pending(&db, tenant, None).await.unwrap(), 1, "a is scored again");
        assert_eq!(pending(&db, other, None).await.unwrap(), 0);
        let again = claim(&db, now, now + chrono::Duration::minutes(2), 10).await.unwrap();
        assert_eq!(again.iter().map(|r| r.customer_id).collect::<Vec<_>>(), [a]);
    }

    async fn customers(db: &DatabaseConnection, tenant_id: Uuid, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let (id, now) = (Uuid::now_v7(), crate::store::now());
            let customer = guanxi_entity::customer::Model {
                tenant_id,
                id,
                kind: "INDIVIDUAL".into(),
                name: format!("Customer {i}"),
                email: None,
                phone: None,
                region: None,
                industry: None,
                credit_code: None,
                channel: None,
                website: None,
                tags: serde_json::json!([]),
                status: "PROSPECT".into(),
                relationship_type: None,
                owner_id: None,
                tier: None,
                custom_fields: serde_json::json!({}),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            crate::store::customers::insert(db, &customer).await.unwrap();
            ids.push(id);
        }
        ids
    }

    /// A sweep goes through the tenant's customers in id order for one worker at a time, starts
    /// over on a new request (its first request stays pending until the end), and a periodic
    /// re-score joins a sweep under way instead of starting it over.
    #[tokio::test]
    async fn a_sweep_goes_in_order_starts_over_and_ends() {
        let db = crate::store::connect("sqlite::memory:", 1).await.expect("database");
        crate::store::migrate(&db).await.expect("migrations");
        let tenant = Uuid::now_v7();
        let ids = customers(&db, tenant, 5).await;
        let (w1, w2) = (Uuid::now_v7(), Uuid::now_v7());
        let now = crate::store::now();
        let lease = now + chrono::Duration::minutes(2);
        let before = Uuid::now_v7();
        let first = Uuid::now_v7();
        sweep_all(&db, tenant, first).await.unwrap();
        assert_eq!(pending(&db, tenant, Some(first)).await.unwrap(), 5);
        assert_eq!(pending(&db, tenant, Some(before)).await.unwrap(), 0, "an earlier request did not ask for it");

        let s = claim_sweep(&db, w1, now, lease, None).await.unwrap().expect("a sweep to claim");
        assert_eq!((s.tenant_id, s.ticket, s.scored_to), (tenant, first, None));
        assert_eq!(claim_sweep(&db, w2, now, lease, None).await.unwrap(), None, "one worker at a time");
        assert_eq!(sweep_ids(&db, &s, 2).await.unwrap(), ids[..2]);
        advance_sweep(&db, &s, w1, ids[1]).await.unwrap();
        assert_eq!(pending(&db, tenant, Some(first)).await.unwrap(), 3);
        let s = Sweep { scored_to: Some(ids[1]), ..s };
        assert!(renew_sweep(&db, &s, w1, lease).await.unwrap());
        assert_eq!(sweep_ids(&db, &s, 2).await.unwrap(), ids[2..4]);
        sweep_unless_sweeping(&db, tenant, Uuid::now_v7()).await.unwrap();
        assert_eq!(pending(&db, tenant, Some(first)).await.unwrap(), 3, "the periodic re-score joins in");

        let second = Uuid::now_v7();
        sweep_all(&db, tenant, second).await.unwrap();
        assert!(!renew_sweep(&db, &s, w1, lease).await.unwrap(), "started over: the old claim is gone");
        advance_sweep(&db, &s, w1, ids[3]).await.unwrap();
        assert_eq!(pending(&db, tenant, Some(first)).await.unwrap(), 5, "the first request waits for the end");
        assert_eq!(pending(&db, tenant, Some(second)).await.unwrap(), 5);

        let s2 = claim_sweep(&db, w2, now, lease, None).await.unwrap().expect("released when it started over");
        assert_eq!((s2.ticket, s2.scored_to), (second, None));
        assert_eq!(sweep_ids(&db, &s2, 10).await.unwrap(), ids);
        end_sweep(&db, &s, w1).await.unwrap();
        assert!(sweeping(&db, tenant).await.unwrap(), "the old ticket cannot end it");
        end_sweep(&db, &s2, w2).await.unwrap();
        assert!(!sweeping(&db, tenant).await.unwrap());
        assert_eq!(pending(&db, tenant, Some(first)).await.unwrap(), 0);
        assert_eq!(customers_ahead(&db, tenant, None).await.unwrap(), 5);
    }
}
