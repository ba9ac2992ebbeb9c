//! Key-account plan queries, always scoped to one tenant.

use std::collections::HashMap;

use guanxi_entity::key_account_plan::{self, Column, Entity};
use guanxi_entity::plan_action;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::error::Result;

fn in_tenant(tenant_id: Uuid) -> sea_orm::Select<Entity> {
    Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// The newest ACTIVE plan of each customer (360° pages), in one statement.
///
/// # Errors
/// Database failures.
pub async fn active_of_customers(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<HashMap<Uuid, key_account_plan::Model>> {
    let rows = in_tenant(tenant_id)
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(Column::Status.eq("ACTIVE"))
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?;
    // Later rows replace earlier ones: the newest active plan wins.
    Ok(rows.into_iter().map(|p| (p.customer_id, p)).collect())
}

/// # Errors
/// Database failures.
pub async fn insert_action(conn: &impl ConnectionTrait, action: &plan_action::Model) -> Result<()> {
    plan_action::Entity::insert(action.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// How many actions a plan holds.
///
/// # Errors
/// Database failures.
pub async fn count_actions(conn: &impl ConnectionTrait, tenant_id: Uuid, plan_id: Uuid) -> Result<u64> {
    use plan_action::Column as A;
    Ok(plan_action::Entity::find().filter(A::TenantId.eq(tenant_id)).filter(A::PlanId.eq(plan_id)).count(conn).await?)
}

/// # Errors
/// Database failures.
pub async fn find_action(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<plan_action::Model>> {
    use plan_action::Column as A;
    Ok(plan_action::Entity::find().filter(A::TenantId.eq(tenant_id)).filter(A::Id.eq(id)).one(conn).await?)
}

/// # Errors
/// Database failures.
pub async fn update_action(conn: &impl ConnectionTrait, action: &plan_action::Model) -> Result<()> {
    use plan_action::Column as A;
    plan_action::Entity::update_many()
        .set(action.clone().into_active_model().reset_all())
        .filter(A::TenantId.eq(action.tenant_id))
        .filter(A::Id.eq(action.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Actions of many plans, in creation order (loaders).
///
/// # Errors
/// Database failures.
pub async fn actions_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    plan_ids: &[Uuid],
) -> Result<Vec<plan_action::Model>> {
    use plan_action::Column as A;
    Ok(plan_action::Entity::find()
        .filter(A::TenantId.eq(tenant_id))
        .filter(A::PlanId.is_in(plan_ids.iter().copied()))
        .order_by_asc(A::Id)
        .all(conn)
        .await?)
}

/// Deletes a customer's plans and their actions (when the customer is deleted).
///
/// # Errors
/// Database failures.
pub async fn delete_of_customer(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    use plan_action::Column as A;
    let plans: Vec<Uuid> = in_tenant(tenant_id)
        .filter(Column::CustomerId.eq(customer_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    plan_action::Entity::delete_many()
        .filter(A::TenantId.eq(tenant_id))
        .filter(A::PlanId.is_in(plans))
        .exec(conn)
        .await?;
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}
