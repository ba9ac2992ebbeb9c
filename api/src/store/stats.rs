//! The maintained customer figures.

use std::collections::HashMap;

use guanxi_entity::customer_stats::{self, Column, Entity};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel, Iterable, QueryFilter,
    QuerySelect, Select,
};
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
    read_many(conn, Entity::find(), tenant_id, customer_ids).await
}

async fn read_many(
    conn: &impl ConnectionTrait,
    select: Select<Entity>,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<HashMap<Uuid, customer_stats::Model>> {
    let rows = select
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_model::<super::rows::Positional<customer_stats::Model>>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|super::rows::Positional(r)| (r.customer_id, r)).collect())
}

/// [`find_many`] for pages that show the figures: the latest interaction of each kind (a
/// scoring snapshot's, a JSON object of a dozen times per customer) is left unread, as `{}`. A
/// 360° page reads 50 customers' figures; parsing those objects cost it several percent.
///
/// # Errors
/// Database failures.
pub async fn figures_many(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<HashMap<Uuid, customer_stats::Model>> {
    // Every column in its declared place, as the positional reader expects, that one as a
    // constant of its type.
    let empty = match conn.get_database_backend() {
        DatabaseBackend::Postgres => "'{}'::jsonb",
        _ => "'{}'",
    };
    let mut select = Entity::find().select_only();
    for column in Column::iter() {
        select = if matches!(column, Column::LastInteractionAtByKind) {
            select.column_as(Expr::cust(empty), "last_interaction_at_by_kind")
        } else {
            select.column(column)
        };
    }
    read_many(conn, select, tenant_id, customer_ids).await
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
