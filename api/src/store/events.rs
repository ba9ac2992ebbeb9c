//! The outbox table: events appended inside the write that caused them.

use chrono::{DateTime, Utc};
use guanxi_entity::event::{self, Column, Entity};
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::error::Result;

/// Appends `event` (its `id` and `txid` are the database's to set). Call inside the change's
/// transaction.
///
/// # Errors
/// Database failures.
pub async fn append(conn: &impl ConnectionTrait, event: event::Model) -> Result<()> {
    let mut row: event::ActiveModel = event.into();
    row.id = ActiveValue::NotSet;
    row.txid = ActiveValue::NotSet;
    Entity::insert(row).exec_without_returning(conn).await?;
    Ok(())
}

/// Deletes the events older than `cutoff`; run periodically.
///
/// # Errors
/// Database failures.
pub async fn purge_before(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64> {
    let delete = Entity::delete_many().filter(Column::At.lt(cutoff));
    Ok(super::in_write(db, async |txn| Ok(delete.exec(txn).await?)).await?.rows_affected)
}
