//! The outbox table: events appended inside the write that caused them.

use chrono::{DateTime, Utc};
use guanxi_entity::event::{self, Column, Entity};
use sea_orm::{
    AccessMode, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement, TransactionTrait,
    sea_query::ExprTrait,
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

/// Appends `events`, a few hundred per statement (see [`append`]).
///
/// # Errors
/// Database failures.
pub async fn append_all(conn: &impl ConnectionTrait, events: Vec<event::Model>) -> Result<()> {
    let rows = events.into_iter().map(|event| {
        let mut row: event::ActiveModel = event.into();
        row.id = ActiveValue::NotSet;
        row.txid = ActiveValue::NotSet;
        row
    });
    super::insert_all(conn, rows.collect(), 500).await
}

/// Where a reader of the outbox stands: what it has read, so the next read returns each event
/// committed since exactly once.
#[derive(Debug, Clone)]
pub enum Position {
    /// SQLite commits one write at a time, so ids follow commits: every event up to this id.
    Sqlite { last_id: i64 },
    /// PostgreSQL: the last read's snapshot. Every transaction below `xmax` and not listed in
    /// `in_progress` had ended by then, so all its events were read; the events still to come are
    /// those of the transactions then in progress or not yet begun.
    Postgres { xmax: i64, in_progress: Vec<i64> },
}

impl Position {
    /// The position as `outbox_readers` keeps it: `sqlite:<last id>` or
    /// `pg:<xmax>:<in-progress ids, comma-separated>`.
    #[must_use]
    pub fn to_text(&self) -> String {
        match self {
            Self::Sqlite { last_id } => format!("sqlite:{last_id}"),
            Self::Postgres { xmax, in_progress } => {
                let listed: Vec<String> = in_progress.iter().map(i64::to_string).collect();
                format!("pg:{xmax}:{}", listed.join(","))
            }
        }
    }

    /// Reads what [`Position::to_text`] wrote.
    ///
    /// # Errors
    /// `INTERNAL` for anything else (a damaged row).
    pub fn from_text(text: &str) -> Result<Self> {
        let damaged = || crate::Error::Internal(anyhow::anyhow!("an outbox position that cannot be read: {text:?}"));
        let number = |s: &str| s.parse::<i64>().map_err(|_| damaged());
        match text.split(':').collect::<Vec<_>>().as_slice() {
            ["sqlite", last] => Ok(Self::Sqlite { last_id: number(last)? }),
            ["pg", xmax, listed] => Ok(Self::Postgres {
                xmax: number(xmax)?,
                in_progress: listed.split(',').filter(|x| !x.is_empty()).map(number).collect::<Result<_>>()?,
            }),
            _ => Err(damaged()),
        }
    }
}

/// The position of a reader that starts now: it will read the events committed from now on.
///
/// # Errors
/// Database failures.
pub async fn start(db: &DatabaseConnection) -> Result<Position> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let txn = db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?;
        let position = snapshot(&txn).await?;
        txn.commit().await?;
        return Ok(position);
    }
    Ok(Position::Sqlite { last_id: newest_id(db).await? })
}

/// The id of the newest event (0 without events).
pub(crate) async fn newest_id(db: &impl ConnectionTrait) -> Result<i64> {
    let last =
        Entity::find().select_only().column_as(Column::Id.max(), "max").into_tuple::<Option<i64>>().one(db).await?;
    Ok(last.flatten().unwrap_or(0))
}

/// The transaction snapshot `conn` reads with, as a position (PostgreSQL).
pub(crate) async fn snapshot(conn: &impl ConnectionTrait) -> Result<Position> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_snapshot_xmax(s)::text::bigint AS xmax, \
                    (SELECT COALESCE(string_agg(x::text, ','), '') FROM pg_snapshot_xip(s) AS x) AS in_progress \
             FROM pg_current_snapshot() AS s",
        ))
        .await?
        .ok_or_else(|| crate::Error::Internal(anyhow::anyhow!("pg_current_snapshot() returned no row")))?;
    let listed: String = row.try_get("", "in_progress")?;
    let in_progress = listed
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| crate::Error::Internal(anyhow::anyhow!("a transaction id from pg_snapshot_xip: {e}")))?;
    Ok(Position::Postgres { xmax: row.try_get("", "xmax")?, in_progress })
}

/// Tenants a read names at most; beyond that it reads every tenant's events.
const TENANTS_NAMED: usize = 1_000;

/// The events of `tenants` committed since `position`, in id order (which is commit order for
/// the events of one record), and the position after them; those of other tenants are passed
/// over.
///
/// # Errors
/// Database failures.
pub async fn read_since(
    db: &DatabaseConnection,
    position: &Position,
    tenants: &[uuid::Uuid],
) -> Result<(Vec<event::Model>, Position)> {
    let of_tenants = |select: sea_orm::Select<Entity>| {
        if tenants.len() <= TENANTS_NAMED {
            select.filter(Column::TenantId.is_in(tenants.iter().copied()))
        } else {
            select
        }
    };
    match position {
        Position::Sqlite { last_id } => {
            // Every id up to the newest committed one belongs to a committed write (one writer at
            // a time), so the position moves there, past the other tenants' events too.
            let newest = newest_id(db).await?;
            let rows = of_tenants(Entity::find().filter(Column::Id.gt(*last_id)).filter(Column::Id.lte(newest)))
                .order_by_asc(Column::Id)
                .all(db)
                .await?;
            Ok((rows, Position::Sqlite { last_id: std::cmp::max(newest, *last_id) }))
        }
        Position::Postgres { xmax, in_progress } => {
            // One snapshot for both statements: the rows read are exactly those the new position
            // counts as read.
            let txn = db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?;
            let next = snapshot(&txn).await?;
            let rows = of_tenants(Entity::find().filter(committed_after(*xmax, in_progress)))
                .order_by_asc(Column::Id)
                .all(&txn)
                .await?;
            txn.commit().await?;
            Ok((rows, next))
        }
    }
}

/// The events of the transactions a PostgreSQL snapshot (`xmax`, `in_progress`) had not seen
/// end: read in a later snapshot, exactly those committed since.
pub(crate) fn committed_after(xmax: i64, in_progress: &[i64]) -> sea_orm::sea_query::Expr {
    let mut pending = Column::Txid.gte(xmax);
    if !in_progress.is_empty() {
        pending = pending.or(Column::Txid.is_in(in_progress.iter().copied()));
    }
    pending
}

/// An event the server makes itself (no user acted, no owner is kept): `name` of the record
/// `entity` `entity_id` of customer `customer_id`, naming `field`, at `at`. Append it with
/// [`append`].
#[must_use]
pub fn by_the_server(
    tenant_id: uuid::Uuid,
    name: &str,
    (entity, entity_id): (&str, uuid::Uuid),
    customer_id: uuid::Uuid,
    field: &str,
    at: DateTime<Utc>,
) -> event::Model {
    event::Model {
        id: 0,
        tenant_id,
        name: name.to_owned(),
        entity: entity.to_owned(),
        entity_id,
        customer_id: Some(customer_id),
        actor_id: None,
        owner_id: None,
        changed_fields: serde_json::json!([field]),
        at,
        txid: None,
    }
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
            owner_id: ActiveValue::Set(None),
            changed_fields: ActiveValue::Set(serde_json::json!(["name"])),
            at: ActiveValue::Set(at),
            txid: ActiveValue::NotSet,
        }
    }

    #[test]
    fn positions_are_kept_as_text_and_read_back() {
        for position in [
            Position::Sqlite { last_id: 42 },
            Position::Postgres { xmax: 900, in_progress: vec![] },
            Position::Postgres { xmax: 900, in_progress: vec![897, 899] },
        ] {
            let text = position.to_text();
            let back = Position::from_text(&text).expect("readable");
            assert_eq!(back.to_text(), text);
        }
        assert!(Position::from_text("pg:x:").is_err());
        assert!(Position::from_text("").is_err());
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
