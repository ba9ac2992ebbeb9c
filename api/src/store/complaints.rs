//! Complaint queries, always scoped to one tenant.

use std::collections::HashMap;

use guanxi_entity::complaint::{self, Column, Entity};
use guanxi_entity::complaint_transition;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::filter;
use crate::error::Result;
use crate::query::{Filter, OrderKey, Page, PageRequest};

fn column_of(name: &str) -> Option<Expr> {
    let col = match name {
        "id" => Column::Id,
        "customerId" => Column::CustomerId,
        "title" => Column::Title,
        "category" => Column::Category,
        "severity" => Column::Severity,
        "status" => Column::Status,
        "assigneeId" => Column::AssigneeId,
        "responseDueAt" => Column::ResponseDueAt,
        "resolutionDueAt" => Column::ResolutionDueAt,
        "respondedAt" => Column::RespondedAt,
        "resolvedAt" => Column::ResolvedAt,
        "createdAt" => Column::CreatedAt,
        "updatedAt" => Column::UpdatedAt,
        "customerOwnerId" => {
            return Some(Expr::cust(
                "(SELECT c.owner_id FROM customers c WHERE c.tenant_id = complaints.tenant_id AND c.id = complaints.customer_id)",
            ));
        }
        "customFields" => Column::CustomFields,
        _ => return None,
    };
    Some(Expr::col((Entity, col)))
}

fn in_tenant(tenant_id: Uuid) -> sea_orm::Select<Entity> {
    Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<complaint::Model>> {
    Ok(in_tenant(tenant_id).filter(Column::Id.eq(id)).one(conn).await?)
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

/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<complaint::Model>> {
    filter::list(db, in_tenant(tenant_id), filter, order, page, column_of).await
}

/// The first page of complaints matching `filter` for each customer, batched (see
/// [`filter::first_pages`]).
///
/// # Errors
/// Database failures.
pub async fn first_pages_per_customer(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
    customers: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Page<complaint::Model>>> {
    let parent = ("customerId", (|r: &complaint::Model| r.customer_id) as fn(&complaint::Model) -> Uuid);
    filter::first_pages(db, in_tenant(tenant_id), filter, order, page, column_of, parent, customers).await
}

/// # Errors
/// Database failures.
pub async fn count(db: &DatabaseConnection, tenant_id: Uuid, filter: &Filter) -> Result<u64> {
    filter::count(db, in_tenant(tenant_id), filter, column_of).await
}

/// # Errors
/// Database failures.
pub async fn insert(conn: &impl ConnectionTrait, row: &complaint::Model) -> Result<()> {
    Entity::insert(row.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, row: &complaint::Model) -> Result<()> {
    Entity::update_many()
        .set(row.clone().into_active_model().reset_all())
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
