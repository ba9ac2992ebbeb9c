//! Interaction queries, always scoped to one tenant.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use guanxi_entity::interaction::{self, Column, Entity};
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::error::Result;

fn in_tenant(tenant_id: Uuid) -> sea_orm::Select<Entity> {
    Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// Every interaction of one customer (for its figures).
///
/// # Errors
/// Database failures.
pub async fn all_of_customer(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<interaction::Model>> {
    Ok(in_tenant(tenant_id).filter(Column::CustomerId.eq(customer_id)).all(conn).await?)
}

/// The newest `n` interactions of each customer, in one statement (over the `(tenant, customer,
/// occurred_at)` index), newest first.
///
/// # Errors
/// Database failures.
pub async fn latest_per_customer(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    n: u64,
) -> Result<HashMap<Uuid, Vec<interaction::Model>>> {
    let order = [("occurred_at", true), ("id", true)];
    super::records::first_per_customer::<Entity>(db, tenant_id, customer_ids, Condition::all(), &order, n).await
}

/// Purchases of each customer in the 90 and 365 days before `now`, in one statement.
///
/// # Errors
/// Database failures.
pub async fn purchase_windows(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, (i64, i64)>> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64, i64)> = windows_select(tenant_id, customer_ids, now).into_tuple().all(db).await?;
    Ok(rows.into_iter().map(|(id, d90, d365)| (id, (d90, d365))).collect())
}

/// The statement [`purchase_windows`] runs, for `EXPLAIN` (tests checking index use).
#[cfg(feature = "internals")]
#[must_use]
pub fn purchase_windows_statement(
    backend: sea_orm::DatabaseBackend,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    windows_select(tenant_id, customer_ids, now).build(backend)
}

fn windows_select(tenant_id: Uuid, customer_ids: &[Uuid], now: DateTime<Utc>) -> sea_orm::Select<Entity> {
    let since_90 = now - chrono::Duration::days(90);
    let since_365 = now - chrono::Duration::days(365);
    in_tenant(tenant_id)
        .select_only()
        .column(Column::CustomerId)
        // SUM of INTEGER and COUNT are BIGINT on PostgreSQL (SUM of BIGINT would be NUMERIC) and
        // INTEGER on SQLite: both read as i64.
        .expr(Func::sum(Expr::case(Expr::col((Entity, Column::OccurredAt)).gte(since_90), 1i32).finally(0i32)))
        // COUNT(*): every column the statement reads is in the purchases' partial index
        // (migration 10), so PostgreSQL can answer from the index alone.
        .expr(Expr::col(Asterisk).count())
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(Column::Kind.eq("PURCHASE"))
        .filter(Column::OccurredAt.gte(since_365))
        .filter(Column::OccurredAt.lte(now))
        .group_by(Column::CustomerId)
        .order_by_asc(Column::CustomerId)
}

/// One kind of a customer's interactions in the year up to some `now`: how many in its last 30,
/// 90 and 365 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindWindows {
    pub kind: String,
    pub last_30_days: i64,
    pub last_90_days: i64,
    pub last_365_days: i64,
}

/// Each customer's interactions per kind in the 30, 90 and 365 days up to `now` ([`KindWindows`],
/// kinds with any, in no order), in one statement: one pass over the customers' last year
/// through the `(tenant, customer, occurred_at)` index, grouped by customer and kind with the
/// shorter windows as conditional sums. The purchase windows are its PURCHASE rows.
///
/// # Errors
/// Database failures.
pub async fn windows_per_kind(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Vec<KindWindows>>> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String, i64, i64, i64)> =
        windows_per_kind_select(tenant_id, customer_ids, now).into_tuple().all(db).await?;
    let mut out: HashMap<Uuid, Vec<KindWindows>> = HashMap::new();
    for (customer, kind, last_30_days, last_90_days, last_365_days) in rows {
        out.entry(customer).or_default().push(KindWindows { kind, last_30_days, last_90_days, last_365_days });
    }
    Ok(out)
}

/// The statement [`windows_per_kind`] runs, for `EXPLAIN` (tests checking index use).
#[cfg(feature = "internals")]
#[must_use]
pub fn windows_per_kind_statement(
    backend: sea_orm::DatabaseBackend,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    windows_per_kind_select(tenant_id, customer_ids, now).build(backend)
}

fn windows_per_kind_select(tenant_id: Uuid, customer_ids: &[Uuid], now: DateTime<Utc>) -> sea_orm::Select<Entity> {
    // SUM of INTEGER and COUNT are BIGINT on PostgreSQL and INTEGER on SQLite: both read as i64.
    let within = |days: i64| {
        let since = now - chrono::Duration::days(days);
        Func::sum(Expr::case(Expr::col((Entity, Column::OccurredAt)).gte(since), 1i32).finally(0i32))
    };
    in_tenant(tenant_id)
        .select_only()
        .column(Column::CustomerId)
        .column(Column::Kind)
        .expr(within(30))
        .expr(within(90))
        .expr(Expr::col(Asterisk).count())
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(Column::OccurredAt.gte(now - chrono::Duration::days(365)))
        .filter(Column::OccurredAt.lte(now))
        .group_by(Column::CustomerId)
        .group_by(Column::Kind)
}

/// VISIT and PURCHASE interactions of customers between two instants (plan progress).
///
/// # Errors
/// Database failures.
pub async fn visits_and_purchases(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<interaction::Model>> {
    Ok(in_tenant(tenant_id)
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(Column::Kind.is_in(["VISIT", "PURCHASE"]))
        .filter(Column::OccurredAt.gte(from))
        .filter(Column::OccurredAt.lt(until))
        .all(db)
        .await?)
}
