//! Complaint queries, always scoped to one tenant.

use std::collections::HashMap;

use guanxi_entity::complaint::{self, Column, Entity};
use guanxi_entity::complaint_transition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::error::Result;

fn in_tenant(tenant_id: Uuid) -> sea_orm::Select<Entity> {
    Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// (severity, status) of every complaint of one customer (for its figures).
///
/// # Errors
/// Database failures.
pub async fn severity_and_status(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_id: Uuid,
) -> Result<Vec<(String, String)>> {
    Ok(in_tenant(tenant_id)
        .select_only()
        .column(Column::Severity)
        .column(Column::Status)
        .filter(Column::CustomerId.eq(customer_id))
        .into_tuple()
        .all(conn)
        .await?)
}

/// The oldest `n` complaints in one of `statuses` of each customer, oldest first, in one
/// statement.
///
/// # Errors
/// Database failures.
pub async fn first_of_customers_in(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    statuses: &[&str],
    n: u64,
) -> Result<HashMap<Uuid, Vec<complaint::Model>>> {
    let condition = Condition::all().add(Column::Status.is_in(statuses.iter().copied()));
    let order = [("created_at", false), ("id", false)];
    super::records::first_per_customer::<Entity>(db, tenant_id, customer_ids, condition, &order, n).await
}

/// Writes `row` over `before`, the complaint as the write read it. The breach flags belong to the
/// SLA checker, which may set them while the write runs: each is written only when the deadline
/// it tells of moved (and the write clears it).
///
/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, row: &complaint::Model, before: &complaint::Model) -> Result<()> {
    let mut active = row.clone().into_active_model().reset_all();
    if row.response_due_at == before.response_due_at {
        active.response_breach_told = sea_orm::ActiveValue::NotSet;
    }
    if row.resolution_due_at == before.resolution_due_at {
        active.resolution_breach_told = sea_orm::ActiveValue::NotSet;
    }
    Entity::update_many()
        .set(active)
        .filter(Column::TenantId.eq(row.tenant_id))
        .filter(Column::Id.eq(row.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn insert_transition(conn: &impl ConnectionTrait, row: &complaint_transition::Model) -> Result<()> {
    complaint_transition::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Transitions of many complaints at once, oldest first (loaders).
///
/// # Errors
/// Database failures.
pub async fn transitions_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    complaint_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<complaint_transition::Model>>> {
    use complaint_transition::Column as T;
    let rows = complaint_transition::Entity::find()
        .filter(T::TenantId.eq(tenant_id))
        .filter(T::ComplaintId.is_in(complaint_ids.iter().copied()))
        .order_by_asc(T::Id)
        .all(conn)
        .await?;
    let mut out: HashMap<Uuid, Vec<complaint_transition::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.complaint_id).or_default().push(row);
    }
    Ok(out)
}

/// How many transitions a complaint's history holds.
///
/// # Errors
/// Database failures.
pub async fn count_transitions(conn: &impl ConnectionTrait, tenant_id: Uuid, complaint_id: Uuid) -> Result<u64> {
    use complaint_transition::Column as T;
    Ok(complaint_transition::Entity::find()
        .filter(T::TenantId.eq(tenant_id))
        .filter(T::ComplaintId.eq(complaint_id))
        .count(conn)
        .await?)
}

/// Deletes a customer's complaints and their histories (when the customer is deleted).
///
/// # Errors
/// Database failures.
pub async fn delete_of_customer(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    use complaint_transition::Column as T;
    let ids: Vec<Uuid> = in_tenant(tenant_id)
        .select_only()
        .column(Column::Id)
        .filter(Column::CustomerId.eq(customer_id))
        .into_tuple()
        .all(conn)
        .await?;
    complaint_transition::Entity::delete_many()
        .filter(T::TenantId.eq(tenant_id))
        .filter(T::ComplaintId.is_in(ids))
        .exec(conn)
        .await?;
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A deadline of a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Response,
    Resolution,
}

impl Deadline {
    /// Its columns: when it is due, when it was met, whether its breach was told.
    const fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Response => ("response_due_at", "responded_at", "response_breach_told"),
            Self::Resolution => ("resolution_due_at", "resolved_at", "resolution_breach_told"),
        }
    }
}

/// A complaint whose deadline passed unmet.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct Breach {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub customer_id: Uuid,
}

/// Marks as told up to `limit` complaints, of every tenant, whose `deadline` passed unmet before
/// `now` and was not told yet, and returns them. Call in the write transaction that records what
/// is told: on PostgreSQL replicas skip the rows another holds (`SKIP LOCKED`) and see them told
/// once it commits, so each breach is told once.
///
/// # Errors
/// Database failures.
pub async fn tell_breaches(
    conn: &impl ConnectionTrait,
    deadline: Deadline,
    now: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<Vec<Breach>> {
    use sea_orm::{FromQueryResult, Statement};
    let (due, done, told) = deadline.columns();
    let backend = conn.get_database_backend();
    let (param, skip_locked) = (super::sql::param(backend, 1), super::sql::skip_locked(backend));
    // `{told} = FALSE` as the partial index on the deadline says it, so both databases use it.
    let sql = format!(
        "UPDATE complaints SET {told} = TRUE WHERE (tenant_id, id) IN (\
           SELECT tenant_id, id FROM complaints WHERE {done} IS NULL AND {told} = FALSE AND {due} < {param} \
           ORDER BY {due} LIMIT {limit}{skip_locked}) \
         RETURNING tenant_id, id, customer_id"
    );
    let stmt = Statement::from_sql_and_values(backend, sql, [now.into()]);
    Ok(Breach::find_by_statement(stmt).all(conn).await?)
}
