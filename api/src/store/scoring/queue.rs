//! The durable queue of single customers to score: queued by the writes that change their
//! snapshots, claimed by a worker under a lease, and removed once scored unless queued again
//! meanwhile (see the module docs of `store::scoring`).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use super::sql::{Count, param, skip_locked};
use crate::error::Result;

/// One claimed queue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct Claimed {
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub ticket: Uuid,
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
    let skip_locked = skip_locked(backend);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::scoring::pending;

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
        let now = crate::clock::now();
        let claimed = claim(&db, now, now + chrono::Duration::minutes(2), 10).await.unwrap();
        assert_eq!(claimed.len(), 3);
        enqueue(&db, tenant, &[a]).await.unwrap(); // a changes while it is scored
        done(&db, &claimed).await.unwrap();
        assert_eq!(pending(&db, tenant, None).await.unwrap(), 1, "a is scored again");
        assert_eq!(pending(&db, other, None).await.unwrap(), 0);
        let again = claim(&db, now, now + chrono::Duration::minutes(2), 10).await.unwrap();
        assert_eq!(again.iter().map(|r| r.customer_id).collect::<Vec<_>>(), [a]);
    }
}
