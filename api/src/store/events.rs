//! The outbox table: events appended inside the write that caused them, numbered per tenant.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use guanxi_entity::event::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Statement,
};

/// Appends `event` under the tenant's next number, which it returns. Call as the last statement
/// before the commit: the tenant's counter row stays locked until then, so that numbers follow
/// the order in which changes commit.
///
/// # Errors
/// Database failures.
pub async fn append(conn: &impl ConnectionTrait, mut event: event::Model) -> Result<i64> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO event_counters (tenant_id, last_id) VALUES ($1, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_id = event_counters.last_id + 1 RETURNING last_id"
        }
        _ => {
            "INSERT INTO event_counters (tenant_id, last_id) VALUES (?, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_id = event_counters.last_id + 1 RETURNING last_id"
        }
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [event.tenant_id.into()]))
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("the event counter returned no row")))?;
    event.id = row.try_get_by_index::<i64>(0)?;
    let id = event.id;
    event.into_active_model().insert(conn).await?;
    Ok(id)
}

/// Deletes the events older than `cutoff`; run periodically.
///
/// # Errors
/// Database failures.
pub async fn purge_before(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64> {
    let delete = Entity::delete_many().filter(Column::At.lt(cutoff));
    Ok(super::in_write(db, async |txn| Ok(delete.exec(txn).await?)).await?.rows_affected)
}
