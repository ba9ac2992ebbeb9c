//! Persisted documents by tenant and SHA-256: the ones clients registered (automatic persisted
//! queries) and the ones the tenant's ADMIN trusted.

use guanxi_entity::persisted_document::{self, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::Result;

/// The document of `sha256`, if the tenant has one.
///
/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, sha256: &str) -> Result<Option<String>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Document)
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Sha256.eq(sha256))
        .into_tuple::<String>()
        .one(conn)
        .await?)
}

/// Registers a client's document, then evicts the tenant's oldest registered ones beyond `keep`
/// (trusted ones are never evicted).
///
/// # Errors
/// Database failures.
pub async fn register(conn: &impl ConnectionTrait, tenant_id: Uuid, sha256: &str, document: &str, keep: u64) -> Result<()> {
    let row = persisted_document::ActiveModel {
        tenant_id: sea_orm::Set(tenant_id),
        sha256: sea_orm::Set(sha256.to_owned()),
        document: sea_orm::Set(document.to_owned()),
        trusted: sea_orm::Set(false),
        created_at: sea_orm::Set(crate::clock::now()),
    };
    let inserted = Entity::insert(row)
        .on_conflict(OnConflict::columns([Column::TenantId, Column::Sha256]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    if inserted == 0 {
        return Ok(());
    }
    let evicted: Vec<String> = Entity::find()
        .select_only()
        .column(Column::Sha256)
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Trusted.eq(false))
        .order_by_desc(Column::CreatedAt)
        .offset(keep)
        .limit(64)
        .into_tuple()
        .all(conn)
        .await?;
    if !evicted.is_empty() {
        Entity::delete_many()
            .filter(Column::TenantId.eq(tenant_id))
            .filter(Column::Trusted.eq(false))
            .filter(Column::Sha256.is_in(evicted))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Makes `documents` (SHA-256, text) the tenant's trusted ones, in place of those trusted
/// before (which are deleted: a list replaced again and again leaves nothing behind).
///
/// # Errors
/// Database failures.
pub async fn trust(conn: &impl ConnectionTrait, tenant_id: Uuid, documents: &[(String, String)]) -> Result<()> {
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Trusted.eq(true))
        .exec(conn)
        .await?;
    let now = crate::clock::now();
    // A few hundred rows a statement keeps each under the databases' parameter limits.
    for chunk in documents.chunks(200) {
        let rows = chunk.iter().map(|(sha256, document)| persisted_document::ActiveModel {
            tenant_id: sea_orm::Set(tenant_id),
            sha256: sea_orm::Set(sha256.clone()),
            document: sea_orm::Set(document.clone()),
            trusted: sea_orm::Set(true),
            created_at: sea_orm::Set(now),
        });
        Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::TenantId, Column::Sha256])
                    .update_columns([Column::Trusted, Column::Document])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// The hashes of the tenant's trusted documents.
///
/// # Errors
/// Database failures.
pub async fn trusted(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<String>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Sha256)
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Trusted.eq(true))
        .into_tuple()
        .all(conn)
        .await?)
}
