//! Sweeps: a whole tenant scored again, stretch by stretch in id order, from one row per tenant
//! instead of a queue row per customer; claimed by one worker at a time under a lease, taking
//! turns with the other tenants' sweeps.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};
use uuid::Uuid;

use super::sql::{Count, count_of_tenant, param, skip_locked};
use crate::error::Result;

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
    let skip_locked = skip_locked(backend);
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

#[cfg(test)]
mod tests {
    use sea_orm::DatabaseConnection;

    use super::*;
    use crate::store::scoring::pending;

    async fn customers(db: &DatabaseConnection, tenant_id: Uuid, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let (id, now) = (Uuid::now_v7(), crate::clock::now());
            let customer = guanxi_entity::customer::Model {
                tenant_id,
                id,
                kind: "INDIVIDUAL".into(),
                name: format!("Customer {i}"),
                tags: serde_json::json!([]),
                status: "PROSPECT".into(),
                custom_fields: serde_json::json!({}),
                version: 1,
                created_at: now,
                updated_at: now,
                ..Default::default()
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
        let now = crate::clock::now();
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
