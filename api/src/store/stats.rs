//! The maintained customer figures.

use std::collections::HashMap;

use guanxi_entity::customer_stats::{self, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use crate::error::Result;

/// Writes a customer's figures, replacing what was there.
///
/// # Errors
/// Database failures.
pub async fn upsert(conn: &impl ConnectionTrait, stats: &customer_stats::Model) -> Result<()> {
    upsert_many(conn, vec![stats.clone()]).await
}

/// Writes many customers' figures in one statement (seeding).
///
/// # Errors
/// Database failures.
pub async fn upsert_many(conn: &impl ConnectionTrait, rows: Vec<customer_stats::Model>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let update: Vec<Column> = [
        Column::PurchaseCount,
        Column::PurchaseTotals,
        Column::FirstPurchaseAt,
        Column::LastPurchaseAt,
        Column::InteractionCount,
        Column::InteractionCounts,
        Column::LastInteractionAt,
        Column::LastInteractionAtByKind,
        Column::SatisfactionSum,
        Column::SatisfactionCount,
        Column::WouldBuyAgainYes,
        Column::WouldBuyAgainCount,
        Column::ComplaintsOpen,
        Column::ComplaintsTotal,
    ]
    .into();
    Entity::insert_many(rows.into_iter().map(|r| r.into_active_model().reset_all()))
        .on_conflict(OnConflict::columns([Column::TenantId, Column::CustomerId]).update_columns(update).to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Figures of many customers at once (loaders); customers with none recorded are absent.
///
/// # Errors
/// Database failures.
pub async fn find_many(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<HashMap<Uuid, customer_stats::Model>> {
    let rows = Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_model::<super::rows::Positional<customer_stats::Model>>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|super::rows::Positional(r)| (r.customer_id, r)).collect())
}

/// # Errors
/// Database failures.
pub async fn delete(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}
