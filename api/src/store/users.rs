//! Users of a tenant, created or refreshed from their tokens.

use guanxi_entity::user::{self, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result};

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<user::Model>> {
    Ok(Entity::find().filter(Column::TenantId.eq(tenant_id)).filter(Column::Id.eq(id)).one(conn).await?)
}

/// Users of many ids at once (for loaders).
///
/// # Errors
/// Database failures.
pub async fn find_many(conn: &impl ConnectionTrait, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<user::Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?)
}

/// # Errors
/// Database failures.
pub async fn find_by_subject(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    subject: &str,
) -> Result<Option<user::Model>> {
    Ok(Entity::find().filter(Column::TenantId.eq(tenant_id)).filter(Column::Subject.eq(subject)).one(conn).await?)
}

/// Who a token says its bearer is.
#[derive(Debug, Clone, Copy)]
pub struct Claimed<'a> {
    pub subject: &'a str,
    /// The role's name (`ADMIN`, …).
    pub role: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// The user a token names, created on first sight and refreshed when its name, e-mail or role
/// changed. Safe under concurrent first requests.
///
/// # Errors
/// Database failures.
pub async fn upsert(conn: &impl ConnectionTrait, tenant_id: Uuid, token: Claimed<'_>) -> Result<user::Model> {
    if let Some(existing) = find_by_subject(conn, tenant_id, token.subject).await? {
        let fresh = user::Model {
            name: token.name.map(str::to_owned).or_else(|| existing.name.clone()),
            email: token.email.map(str::to_owned).or_else(|| existing.email.clone()),
            role: token.role.to_owned(),
            ..existing.clone()
        };
        if fresh != existing {
            Entity::update_many()
                .set(fresh.clone().into_active_model().reset_all())
                .filter(Column::TenantId.eq(tenant_id))
                .filter(Column::Id.eq(existing.id))
                .exec(conn)
                .await?;
        }
        return Ok(fresh);
    }
    let model = user::Model {
        tenant_id,
        id: Uuid::now_v7(),
        subject: token.subject.to_owned(),
        name: token.name.map(str::to_owned),
        email: token.email.map(str::to_owned),
        role: token.role.to_owned(),
        created_at: crate::clock::now(),
    };
    Entity::insert(model.into_active_model().reset_all())
        .on_conflict(OnConflict::columns([Column::TenantId, Column::Subject]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    find_by_subject(conn, tenant_id, token.subject)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("user {} vanished after insert", token.subject)))
}
