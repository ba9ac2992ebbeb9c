//! Webhooks, their deliveries and attempts, and the durable outbox reader that makes the
//! deliveries. (Over 600 lines on purpose: the three steps below share the delivery row's states
//! and leases, and each statement is read against the others.)
//!
//! Three steps move an event to a receiver, each safe on any number of replicas:
//! 1. [`dispatch`] reads the outbox from where the webhook reader stands and makes one PENDING
//!    delivery per (webhook, event), moving the position in the same transaction. One replica
//!    reads at a time (the position's row lock, skipped by the others); the unique key on
//!    (webhook, event) makes a read twice harmless.
//! 2. [`claim`] leases due deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL): each goes to one
//!    sender, and comes back when its lease runs out (its sender died).
//! 3. [`record`] writes an attempt's outcome, only while the claim is still the sender's own.

use chrono::{DateTime, Utc};
use guanxi_entity::{event, outbox_reader, tenant, webhook, webhook_attempt, webhook_delivery};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    AccessMode, ActiveModelTrait as _, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, FromQueryResult, IntoActiveModel, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::events::Position;
use super::filter;
use crate::error::Result;
use crate::query::{FieldSpec, OrderKey, Page, PageRequest};

/// Delivery states, as stored.
pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";

/// The event name that stands for every event.
pub const ALL_EVENTS: &str = "*";

/// The name of the webhook dispatcher's row in `outbox_readers`.
const READER: &str = "webhooks";

/// # Errors
/// Database failures.
pub async fn all(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<webhook::Model>> {
    Ok(webhook::Entity::find()
        .filter(webhook::Column::TenantId.eq(tenant_id))
        .order_by_asc(webhook::Column::CreatedAt)
        .order_by_asc(webhook::Column::Id)
        .all(conn)
        .await?)
}

/// # Errors
/// Database failures.
pub async fn count(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<u64> {
    Ok(webhook::Entity::find().filter(webhook::Column::TenantId.eq(tenant_id)).count(conn).await?)
}

/// One webhook, its row locked until the transaction ends (on PostgreSQL; SQLite's writer is
/// alone anyway).
///
/// # Errors
/// Database failures.
pub async fn find_for_update(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<webhook::Model>> {
    Ok(webhook::Entity::find_by_id((tenant_id, id)).lock_exclusive().one(conn).await?)
}

/// # Errors
/// Database failures.
pub async fn insert(conn: &impl ConnectionTrait, row: &webhook::Model) -> Result<()> {
    webhook::Entity::insert(row.clone().into_active_model()).exec_without_returning(conn).await?;
    Ok(())
}

/// Writes every column of `row`.
///
/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, row: &webhook::Model) -> Result<()> {
    let mut active = row.clone().into_active_model().reset_all();
    active.tenant_id = ActiveValue::Unchanged(row.tenant_id);
    active.id = ActiveValue::Unchanged(row.id);
    webhook::Entity::update(active).exec(conn).await?;
    Ok(())
}

/// Deletes a webhook with its deliveries and their attempts.
///
/// # Errors
/// Database failures.
pub async fn delete(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let deliveries = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(webhook_delivery::Column::WebhookId.eq(id));
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::TenantId.eq(tenant_id))
        .filter(webhook_attempt::Column::DeliveryId.in_subquery(sea_orm::QueryTrait::into_query(deliveries)))
        .exec(conn)
        .await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .exec(conn)
        .await?;
    webhook::Entity::delete_by_id((tenant_id, id)).exec(conn).await?;
    Ok(())
}

/// Deliveries are read newest first; their v7 ids order them by time.
pub static DELIVERY_ID: FieldSpec = FieldSpec::id("WebhookDelivery");

/// The one order of a webhook's deliveries.
#[must_use]
pub fn delivery_order() -> [OrderKey; 1] {
    [OrderKey::by(&DELIVERY_ID, true)]
}

/// A page of a webhook's deliveries, newest first.
///
/// # Errors
/// Database failures.
pub async fn deliveries(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    webhook_id: Uuid,
    page: &PageRequest,
) -> Result<Page<webhook_delivery::Model>> {
    let select = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    let column =
        |name: &str| (name == "id").then(|| Expr::col((webhook_delivery::Entity, webhook_delivery::Column::Id)));
    let rows = filter::page(select, &delivery_order(), page, column, db.get_database_backend()).all(db).await?;
    Ok(filter::finish_page(rows, page))
}

/// # Errors
/// Database failures.
pub async fn count_deliveries(db: &DatabaseConnection, tenant_id: Uuid, webhook_id: Uuid) -> Result<u64> {
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .count(db)
        .await?)
}

/// One delivery, its row locked until the transaction ends (on PostgreSQL).
///
/// # Errors
/// Database failures.
pub async fn delivery_for_update(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<webhook_delivery::Model>> {
    Ok(webhook_delivery::Entity::find_by_id((tenant_id, id)).lock_exclusive().one(conn).await?)
}

/// The newest `limit` attempts of a delivery, newest first.
///
/// # Errors
/// Database failures.
pub async fn attempts(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    delivery_id: Uuid,
    limit: u64,
) -> Result<Vec<webhook_attempt::Model>> {
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::TenantId.eq(tenant_id))
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_desc(webhook_attempt::Column::Attempt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Does the outbox still hold event `id`?
///
/// # Errors
/// Database failures.
pub async fn event_kept(conn: &impl ConnectionTrait, tenant_id: Uuid, id: i64) -> Result<bool> {
    Ok(event::Entity::find_by_id(id).filter(event::Column::TenantId.eq(tenant_id)).count(conn).await? > 0)
}

/// Sends a delivery again: PENDING and due now, with a fresh window of retries.
///
/// # Errors
/// Database failures.
pub async fn redeliver(
    conn: &impl ConnectionTrait,
    row: &webhook_delivery::Model,
    now: DateTime<Utc>,
    retry_until: DateTime<Utc>,
) -> Result<webhook_delivery::Model> {
    let mut active = row.clone().into_active_model();
    active.status = ActiveValue::Set(PENDING.into());
    active.next_attempt_at = ActiveValue::Set(Some(now));
    active.retry_until = ActiveValue::Set(retry_until);
    active.delivered_at = ActiveValue::Set(None);
    // An attempt in flight no longer holds it: its outcome is not recorded (it is listed as
    // lost), and the delivery is sent again now under its new window.
    active.lease_until = ActiveValue::Set(None);
    active.claim = ActiveValue::Set(None);
    Ok(webhook_delivery::Entity::update(active).exec(conn).await?)
}

/// Is any webhook enabled, in any tenant?
///
/// # Errors
/// Database failures.
pub async fn any_enabled(db: &DatabaseConnection) -> Result<bool> {
    Ok(webhook::Entity::find().filter(webhook::Column::Enabled.eq(true)).one(db).await?.is_some())
}

/// Makes sure the webhook reader has a position: from now, the first time.
///
/// # Errors
/// Database failures.
pub async fn start_reader(db: &DatabaseConnection) -> Result<()> {
    if outbox_reader::Entity::find_by_id(READER).one(db).await?.is_some() {
        return Ok(());
    }
    let position = super::events::start(db).await?;
    let row = outbox_reader::ActiveModel {
        name: ActiveValue::Set(READER.into()),
        position: ActiveValue::Set(position.to_text()),
        updated_at: ActiveValue::Set(crate::clock::now()),
    };
    // Another replica starting at once may have written it: either position is "now".
    outbox_reader::Entity::insert(row)
        .on_conflict(OnConflict::column(outbox_reader::Column::Name).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Rows one statement inserts.
const INSERT_BATCH: usize = 1_000;

/// Events one read of the outbox for webhooks takes at a time.
const EVENTS_PER_PAGE: u64 = 2_000;

/// Reads the events committed since the webhook reader's position and makes a PENDING delivery
/// of each to every enabled webhook of its tenant that asks for it (and existed when it
/// happened), due now and retried until `retry_for` from now; moves the position past them.
/// Returns how many deliveries it made, or `None` when another replica is reading.
///
/// # Errors
/// Database failures; on PostgreSQL also a serialization failure when another replica moved
/// the position since this read began: nothing is made then, and the next read tries again.
pub async fn dispatch(db: &DatabaseConnection, retry_for: chrono::Duration) -> Result<Option<usize>> {
    let enabled_tenants = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::TenantId)
        .filter(webhook::Column::Enabled.eq(true));
    let enabled_tenants = sea_orm::QueryTrait::into_query(enabled_tenants);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // One snapshot for the position's row, the events and the next position: the events
        // read are exactly those the next position counts as read.
        let txn = db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadWrite)).await?;
        let Some(reader) = outbox_reader::Entity::find_by_id(READER)
            .lock_with_behavior(sea_orm::sea_query::LockType::Update, sea_orm::sea_query::LockBehavior::SkipLocked)
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let Position::Postgres { xmax, in_progress } = Position::from_text(&reader.position)? else {
            return Err(crate::Error::Internal(anyhow::anyhow!("a SQLite outbox position on PostgreSQL")));
        };
        let next = super::events::snapshot(&txn).await?;
        let mut made = 0;
        let mut after = 0;
        // A page at a time, all in the one snapshot: memory stays bounded after a backlog.
        loop {
            let events = event::Entity::find()
                .filter(super::events::committed_after(xmax, &in_progress))
                .filter(event::Column::TenantId.in_subquery(enabled_tenants.clone()))
                .filter(event::Column::Id.gt(after))
                .order_by_asc(event::Column::Id)
                .limit(EVENTS_PER_PAGE)
                .all(&txn)
                .await?;
            made += make_deliveries(&txn, &events, retry_for).await?;
            match events.last() {
                Some(last) if events.len() as u64 == EVENTS_PER_PAGE => after = last.id,
                _ => break,
            }
        }
        let text = next.to_text();
        if text != reader.position {
            move_reader(&txn, text).await?;
        }
        txn.commit().await?;
        return Ok(Some(made));
    }
    // Nothing new is the common case: it is found without taking the one writer's turn.
    if sqlite_position(db).await? >= super::events::newest_id(db).await? {
        return Ok(Some(0));
    }
    // A page per transaction: the one writer is held briefly, whatever the backlog.
    let mut made = 0;
    loop {
        let txn = super::begin_write(db).await?;
        let last_id = sqlite_position(&txn).await?;
        // One writer at a time: every id up to the newest belongs to a committed write.
        let newest = super::events::newest_id(&txn).await?;
        let events = event::Entity::find()
            .filter(event::Column::Id.gt(last_id))
            .filter(event::Column::Id.lte(newest))
            .filter(event::Column::TenantId.in_subquery(enabled_tenants.clone()))
            .order_by_asc(event::Column::Id)
            .limit(EVENTS_PER_PAGE)
            .all(&txn)
            .await?;
        made += make_deliveries(&txn, &events, retry_for).await?;
        let full = events.len() as u64 == EVENTS_PER_PAGE;
        let read_to = match events.last() {
            Some(last) if full => last.id,
            _ => newest,
        };
        move_reader(&txn, Position::Sqlite { last_id: read_to }.to_text()).await?;
        txn.commit().await?;
        if !full {
            return Ok(Some(made));
        }
        tokio::task::yield_now().await;
    }
}

/// The webhook reader's position on SQLite: the last event id it read.
async fn sqlite_position(conn: &impl ConnectionTrait) -> Result<i64> {
    let reader = outbox_reader::Entity::find_by_id(READER).one(conn).await?;
    match reader.map(|r| Position::from_text(&r.position)).transpose()? {
        Some(Position::Sqlite { last_id }) => Ok(last_id),
        _ => Err(crate::Error::Internal(anyhow::anyhow!("the webhook reader has no SQLite position"))),
    }
}

async fn move_reader(conn: &impl ConnectionTrait, position: String) -> Result<()> {
    outbox_reader::Entity::update_many()
        .col_expr(outbox_reader::Column::Position, Expr::value(position))
        .col_expr(outbox_reader::Column::UpdatedAt, Expr::value(crate::clock::now()))
        .filter(outbox_reader::Column::Name.eq(READER))
        .exec(conn)
        .await?;
    Ok(())
}

/// Does `hook` ask for events named `name`?
#[must_use]
pub fn wants(hook: &webhook::Model, name: &str) -> bool {
    hook.events.as_array().is_some_and(|names| names.iter().any(|n| n == ALL_EVENTS || n == name))
}

async fn make_deliveries(
    conn: &impl ConnectionTrait,
    events: &[event::Model],
    retry_for: chrono::Duration,
) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::TenantId.is_in(tenants))
        .filter(webhook::Column::Enabled.eq(true))
        .all(conn)
        .await?;
    let now = crate::clock::now();
    let rows: Vec<webhook_delivery::ActiveModel> = events
        .iter()
        .flat_map(|e| {
            hooks.iter().filter(move |h| h.tenant_id == e.tenant_id && h.created_at <= e.at && wants(h, &e.name)).map(
                move |h| {
                    webhook_delivery::Model {
                        tenant_id: e.tenant_id,
                        id: Uuid::now_v7(),
                        webhook_id: h.id,
                        event_id: e.id,
                        event: e.name.clone(),
                        attempt: 0,
                        status: PENDING.into(),
                        response_status: None,
                        error: None,
                        next_attempt_at: Some(now),
                        retry_until: now + retry_for,
                        lease_until: None,
                        claim: None,
                        delivered_at: None,
                        created_at: now,
                    }
                    .into_active_model()
                },
            )
        })
        .collect();
    let made = rows.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_BATCH).collect();
        webhook_delivery::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([webhook_delivery::Column::WebhookId, webhook_delivery::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(made)
}

#[derive(FromQueryResult)]
struct TenantRow {
    tenant_id: Uuid,
}

/// Up to `limit` tenants with PENDING deliveries, in id order after `after` (each found with one
/// probe of the pending index, however many deliveries a tenant has waiting).
///
/// # Errors
/// Database failures.
pub async fn tenants_with_pending(db: &DatabaseConnection, after: Uuid, limit: u32) -> Result<Vec<Uuid>> {
    let backend = db.get_database_backend();
    let p = |n| super::sql::param(backend, n);
    // `status = 'PENDING'` as the partial index says it, so both databases use it.
    let sql = format!(
        "WITH RECURSIVE t(tenant_id, n) AS (\
           SELECT (SELECT tenant_id FROM webhook_deliveries WHERE status = 'PENDING' AND tenant_id > {} \
                   ORDER BY tenant_id LIMIT 1), 1 \
           UNION ALL \
           SELECT (SELECT d.tenant_id FROM webhook_deliveries d \
                   WHERE d.status = 'PENDING' AND d.tenant_id > t.tenant_id ORDER BY d.tenant_id LIMIT 1), t.n + 1 \
           FROM t WHERE t.tenant_id IS NOT NULL AND t.n < {}) \
         SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL",
        p(1),
        p(2),
    );
    let stmt = Statement::from_sql_and_values(backend, sql, [after.into(), i64::from(limit).into()]);
    Ok(TenantRow::find_by_statement(stmt).all(db).await?.into_iter().map(|r| r.tenant_id).collect())
}

/// Leases up to `limit` of `tenant`'s due deliveries to enabled webhooks until `lease_until`
/// under `claim`, counting an attempt for each; PostgreSQL replicas skip the rows another
/// holds.
///
/// # Errors
/// Database failures.
pub async fn claim(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    claim: Uuid,
    limit: usize,
) -> Result<Vec<webhook_delivery::Model>> {
    let backend = db.get_database_backend();
    let p = |n| super::sql::param(backend, n);
    let skip_locked = super::sql::skip_locked(backend);
    let sql = format!(
        "UPDATE webhook_deliveries SET attempt = attempt + 1, lease_until = {lease}, claim = {claim} \
         WHERE (tenant_id, id) IN (\
           SELECT d.tenant_id, d.id FROM webhook_deliveries d \
           WHERE d.tenant_id = {tenant} AND d.status = 'PENDING' AND d.next_attempt_at <= {now} \
             AND (d.lease_until IS NULL OR d.lease_until <= {now2}) \
             AND EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = d.tenant_id AND w.id = d.webhook_id \
                         AND w.enabled = TRUE) \
           ORDER BY d.next_attempt_at LIMIT {limit}{skip_locked}) \
         RETURNING *",
        lease = p(1),
        claim = p(2),
        tenant = p(3),
        now = p(4),
        now2 = p(5),
    );
    let values = [lease_until.into(), claim.into(), tenant_id.into(), now.into(), now.into()];
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    // On SQLite a write takes its turn at the one writer.
    super::in_write(db, async |txn| Ok(webhook_delivery::Model::find_by_statement(stmt).all(txn).await?)).await
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    /// DELIVERED, PENDING (to be tried again at `next_attempt_at`) or FAILED.
    pub status: &'static str,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records the outcome of the attempt `delivery` was claimed for; false (and nothing written)
/// when the claim is no longer its sender's (the lease ran out and another claimed it).
///
/// # Errors
/// Database failures.
pub async fn record(db: &DatabaseConnection, delivery: &webhook_delivery::Model, outcome: &Outcome) -> Result<bool> {
    super::in_write(db, async |txn| {
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(outcome.status))
            .col_expr(webhook_delivery::Column::ResponseStatus, Expr::value(outcome.response_status))
            .col_expr(webhook_delivery::Column::Error, Expr::value(outcome.error.clone()))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(outcome.next_attempt_at))
            .col_expr(webhook_delivery::Column::LeaseUntil, Expr::value(None::<DateTime<Utc>>))
            .col_expr(webhook_delivery::Column::Claim, Expr::value(None::<Uuid>));
        if outcome.status == DELIVERED {
            update = update.col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(Some(outcome.at)));
        }
        let done = update
            .filter(webhook_delivery::Column::TenantId.eq(delivery.tenant_id))
            .filter(webhook_delivery::Column::Id.eq(delivery.id))
            .filter(webhook_delivery::Column::Claim.eq(delivery.claim))
            .exec(txn)
            .await?;
        if done.rows_affected == 0 {
            return Ok(false);
        }
        if delivery.attempt > 1 {
            lost_attempts(txn, delivery, outcome.at).await?;
        }
        let attempt = webhook_attempt::Model {
            tenant_id: delivery.tenant_id,
            delivery_id: delivery.id,
            attempt: delivery.attempt,
            at: outcome.at,
            response_status: outcome.response_status,
            error: outcome.error.clone(),
            duration_ms: outcome.duration_ms,
        };
        webhook_attempt::Entity::insert(attempt.into_active_model())
            .on_conflict(
                OnConflict::columns([
                    webhook_attempt::Column::TenantId,
                    webhook_attempt::Column::DeliveryId,
                    webhook_attempt::Column::Attempt,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        Ok(true)
    })
    .await
}

/// Records the earlier attempts of `delivery` that left no outcome (their sender stopped, or its
/// lease ran out, before it recorded one), so the list of attempts has no holes. When such an
/// attempt was made is not known: it is recorded at `found`, when the next attempt ended.
async fn lost_attempts(
    conn: &impl ConnectionTrait,
    delivery: &webhook_delivery::Model,
    found: DateTime<Utc>,
) -> Result<()> {
    let recorded: Vec<i32> = webhook_attempt::Entity::find()
        .select_only()
        .column(webhook_attempt::Column::Attempt)
        .filter(webhook_attempt::Column::TenantId.eq(delivery.tenant_id))
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery.id))
        .into_tuple()
        .all(conn)
        .await?;
    let lost: Vec<_> = (1..delivery.attempt)
        .filter(|n| !recorded.contains(n))
        .map(|attempt| {
            webhook_attempt::Model {
                tenant_id: delivery.tenant_id,
                delivery_id: delivery.id,
                attempt,
                at: found,
                response_status: None,
                error: Some("no outcome was recorded: its sender stopped before an answer came".into()),
                duration_ms: 0,
            }
            .into_active_model()
        })
        .collect();
    if !lost.is_empty() {
        webhook_attempt::Entity::insert_many(lost).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Fails the PENDING deliveries whose window of retries closed while nothing held them (their
/// webhook was disabled meanwhile, or every attempt's sender died). Returns how many.
///
/// # Errors
/// Database failures.
pub async fn expire(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    let done = super::in_write(db, async |txn| {
        Ok(webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(FAILED))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(None::<DateTime<Utc>>))
            .col_expr(webhook_delivery::Column::Error, Expr::value("no attempt succeeded before retries ran out"))
            .filter(Expr::cust("status = 'PENDING'"))
            .filter(webhook_delivery::Column::RetryUntil.lt(now))
            .filter(webhook_delivery::Column::LeaseUntil.is_null().or(webhook_delivery::Column::LeaseUntil.lte(now)))
            .exec(txn)
            .await?)
    })
    .await?;
    Ok(done.rows_affected)
}

/// What a sender needs beside the delivery: the event, the webhook and the tenant's slug.
pub struct ToSend {
    pub events: Vec<event::Model>,
    pub webhooks: Vec<webhook::Model>,
    pub tenants: Vec<tenant::Model>,
}

/// The events, webhooks and tenants of `deliveries`, three statements for any number.
///
/// # Errors
/// Database failures.
pub async fn to_send(db: &DatabaseConnection, deliveries: &[webhook_delivery::Model]) -> Result<ToSend> {
    let events =
        event::Entity::find().filter(event::Column::Id.is_in(deliveries.iter().map(|d| d.event_id))).all(db).await?;
    let webhooks = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(deliveries.iter().map(|d| d.webhook_id)))
        .all(db)
        .await?;
    let tenants =
        tenant::Entity::find().filter(tenant::Column::Id.is_in(deliveries.iter().map(|d| d.tenant_id))).all(db).await?;
    Ok(ToSend { events, webhooks, tenants })
}

/// Rows one purge transaction deletes (see `events::purge_before`).
const PURGE_BATCH: u64 = 5_000;

/// Deletes the finished deliveries made before `cutoff` with their attempts, a batch per
/// transaction. A PENDING delivery keeps its attempts until it ends, however long it retries.
///
/// # Errors
/// Database failures.
pub async fn purge_before(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64> {
    let backend = db.get_database_backend();
    let p = super::sql::param(backend, 1);
    // Found through the index on created_at; deleted through the primary keys.
    let finished = format!(
        "SELECT tenant_id, id FROM webhook_deliveries WHERE created_at < {p} AND status <> 'PENDING' \
         ORDER BY created_at LIMIT {PURGE_BATCH}"
    );
    let attempts = format!(
        "DELETE FROM webhook_attempts WHERE (tenant_id, delivery_id) IN (SELECT tenant_id, id FROM ({finished}) AS f)"
    );
    let deliveries = format!(
        "DELETE FROM webhook_deliveries WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM ({finished}) AS f)"
    );
    let mut purged = 0;
    loop {
        let n = super::in_write(db, async |txn| {
            txn.execute_raw(Statement::from_sql_and_values(backend, attempts.clone(), [cutoff.into()])).await?;
            let done =
                txn.execute_raw(Statement::from_sql_and_values(backend, deliveries.clone(), [cutoff.into()])).await?;
            Ok(done.rows_affected())
        })
        .await?;
        purged += n;
        if n < PURGE_BATCH {
            return Ok(purged);
        }
        tokio::task::yield_now().await;
    }
}
