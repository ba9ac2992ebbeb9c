//! The outbox table: events appended inside the write that caused them.

use chrono::{DateTime, Utc};
use guanxi_entity::event::{self, Column, Entity};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};

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

/// Events one purge transaction deletes: on SQLite a purge holds the only writer, so it goes in
/// bites other writes can pass between.
const PURGE_BATCH: u64 = 5_000;

/// Deletes the events older than `cutoff`, a batch per transaction; run periodically.
///
/// # Errors
/// Database failures.
pub async fn purge_before(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64> {
    let mut purged = 0;
    loop {
        let oldest = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::At.lt(cutoff))
            .order_by_asc(Column::Id)
            .limit(PURGE_BATCH);
        let delete = Entity::delete_many().filter(Column::Id.in_subquery(oldest.into_query()));
        let n = super::in_write(db, async |txn| Ok(delete.exec(txn).await?)).await?.rows_affected;
        purged += n;
        if n < PURGE_BATCH {
            return Ok(purged);
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue, PaginatorTrait};
    use uuid::Uuid;

    use super::*;

    fn event(tenant_id: Uuid, at: DateTime<Utc>) -> event::ActiveModel {
        event::ActiveModel {
            id: ActiveValue::NotSet,
            tenant_id: ActiveValue::Set(tenant_id),
            name: ActiveValue::Set("customer.updated".into()),
            entity: ActiveValue::Set("Customer".into()),
            entity_id: ActiveValue::Set(Uuid::now_v7()),
            customer_id: ActiveValue::Set(None),
            actor_id: ActiveValue::Set(None),
            changed_fields: ActiveValue::Set(serde_json::json!(["name"])),
            at: ActiveValue::Set(at),
            txid: ActiveValue::NotSet,
        }
    }

    #[tokio::test]
    async fn a_purge_deletes_what_is_past_retention_in_batches_and_keeps_the_rest() {
        let db = crate::store::connect("sqlite::memory:", 1).await.expect("database");
        crate::store::migrate(&db).await.expect("migrations");
        let (now, tenant) = (Utc::now(), Uuid::now_v7());
        let old: Vec<_> = (0..2 * PURGE_BATCH + 7).map(|_| event(tenant, now - chrono::Duration::days(8))).collect();
        let recent: Vec<_> = (0..10).map(|_| event(tenant, now - chrono::Duration::days(6))).collect();
        crate::store::insert_all(&db, old, 500).await.expect("old events");
        crate::store::insert_all(&db, recent, 500).await.expect("recent events");
        let purged = purge_before(&db, now - chrono::Duration::days(7)).await.expect("purge");
        assert_eq!(purged, 2 * PURGE_BATCH + 7);
        assert_eq!(Entity::find().count(&db).await.expect("count"), 10, "the last week stays");
    }
}
