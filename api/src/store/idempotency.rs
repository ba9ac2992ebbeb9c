//! Remembered responses of `Idempotency-Key` requests.
//!
//! The first request with a key inserts a pending row (the primary key makes concurrent first
//! requests race on the insert, and exactly one wins); it stores its response when done. Retries
//! replay that response, or wait while it is still pending. While the request runs, each of its
//! write transactions marks the row committed before it commits ([`CLAIM`]), so a retry after
//! the server died between a commit and the stored answer is told so instead of writing again.

use chrono::{Duration, Utc};
use guanxi_entity::idempotency_record::{self, Column, Entity};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use uuid::Uuid;

use crate::error::Result;

/// How long a key is remembered (24 h).
pub const RETENTION: Duration = Duration::hours(24);
/// A pending row older than this belongs to a request that died (the request timeout is 30 s
/// by default); the next retry takes it over.
pub const ABANDONED_AFTER: Duration = Duration::seconds(120);

tokio::task_local! {
    /// The key an executing request claimed: every write transaction it commits marks the claim
    /// in the same transaction (see `store::WriteTxn::commit`).
    pub static CLAIM: Claim;
}

/// A claimed key.
#[derive(Debug, Clone)]
pub struct Claim {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub key: String,
}

/// The hash a request is known by under its key: what it asks (document, operation name,
/// variables), not how it was sent, so that a retry by a persisted query's hash is the same
/// request as the first try by text.
#[must_use]
pub fn request_hash(query: &str, operation_name: Option<&str>, variables: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let asked = serde_json::json!({ "query": query, "operationName": operation_name, "variables": variables });
    hex::encode(Sha256::digest(asked.to_string().as_bytes()))
}

/// Marks `claim` committed, inside the transaction about to commit.
///
/// # Errors
/// Database failures.
pub async fn mark_committed(conn: &impl ConnectionTrait, claim: &Claim) -> std::result::Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::CommittedAt, Expr::value(crate::clock::now()))
        .filter(Column::TenantId.eq(claim.tenant_id))
        .filter(Column::UserId.eq(claim.user_id))
        .filter(Column::Key.eq(claim.key.as_str()))
        .filter(Column::CommittedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: run it, then [`complete`].
    Proceed,
    /// Seen and finished: answer with this.
    Replay { status: u16, body: String },
    /// The key was used for another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
    /// The first request's writes committed, but its server stopped before storing the answer:
    /// running it again would write twice.
    Lost,
}

/// Claims `key` for a request whose body hashes to `hash`.
///
/// # Errors
/// Database failures.
pub async fn begin(db: &DatabaseConnection, tenant_id: Uuid, user_id: Uuid, key: &str, hash: &str) -> Result<Begin> {
    super::in_write(db, async |txn| begin_in(txn, tenant_id, user_id, key, hash).await).await
}

async fn begin_in(txn: &super::WriteTxn, tenant_id: Uuid, user_id: Uuid, key: &str, hash: &str) -> Result<Begin> {
    let now = crate::clock::now();
    let this = || {
        Entity::find()
            .filter(Column::TenantId.eq(tenant_id))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Key.eq(key))
    };
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Key.eq(key))
        .filter(Column::CreatedAt.lt(now - RETENTION))
        .exec(txn)
        .await?;
    let pending = idempotency_record::Model {
        tenant_id,
        user_id,
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        response_status: None,
        response_body: None,
        created_at: now,
        committed_at: None,
    };
    let inserted = Entity::insert(pending.into_active_model().reset_all())
        .on_conflict(OnConflict::columns([Column::TenantId, Column::UserId, Column::Key]).do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    if inserted == 1 {
        return Ok(Begin::Proceed);
    }
    let Some(row) = this().one(txn).await? else {
        // Deleted between our insert and read (expired and purged): treat as first.
        return Ok(Begin::InProgress);
    };
    if row.request_hash != hash {
        return Ok(Begin::Mismatch);
    }
    if let (Some(status), Some(body)) = (row.response_status, row.response_body) {
        return Ok(Begin::Replay { status: u16::try_from(status).unwrap_or(200), body });
    }
    if row.created_at < now - ABANDONED_AFTER && row.committed_at.is_some() {
        return Ok(Begin::Lost);
    }
    if row.created_at < now - ABANDONED_AFTER {
        let taken = Entity::update_many()
            .col_expr(Column::CreatedAt, Expr::value(now))
            .filter(Column::TenantId.eq(tenant_id))
            .filter(Column::UserId.eq(user_id))
            .filter(Column::Key.eq(key))
            .filter(Column::CreatedAt.eq(row.created_at))
            .exec(txn)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(Begin::Proceed);
        }
    }
    Ok(Begin::InProgress)
}

/// Stores the response of the request that claimed `key`.
///
/// # Errors
/// Database failures.
pub async fn complete(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    key: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    let update = Entity::update_many()
        .col_expr(Column::ResponseStatus, Expr::value(i32::from(status)))
        .col_expr(Column::ResponseBody, Expr::value(body.to_owned()))
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Key.eq(key));
    super::in_write(db, async |txn| Ok(update.exec(txn).await?)).await?;
    Ok(())
}

/// Forgets a claim whose request failed for reasons a retry may not meet (an internal error).
///
/// # Errors
/// Database failures.
pub async fn abandon(db: &DatabaseConnection, tenant_id: Uuid, user_id: Uuid, key: &str) -> Result<()> {
    let delete = Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Key.eq(key));
    super::in_write(db, async |txn| Ok(delete.exec(txn).await?)).await?;
    Ok(())
}

/// Deletes every record past retention; run periodically.
///
/// # Errors
/// Database failures.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64> {
    let cutoff = Utc::now() - RETENTION;
    let delete = Entity::delete_many().filter(Column::CreatedAt.lt(cutoff));
    Ok(super::in_write(db, async |txn| Ok(delete.exec(txn).await?)).await?.rows_affected)
}
