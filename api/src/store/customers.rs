//! Customer queries, always scoped to one tenant.

use guanxi_entity::customer::{self, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::filter;
use crate::domain::query::{Filter, OrderKey, Page, PageRequest};
use crate::error::Result;

/// The column behind each filterable field of `domain::customers::FIELDS`.
fn column_of(name: &str) -> Option<Expr> {
    let col = match name {
        "id" => Column::Id,
        "kind" => Column::Kind,
        "name" => Column::Name,
        "email" => Column::Email,
        "phone" => Column::Phone,
        "region" => Column::Region,
        "industry" => Column::Industry,
        "creditCode" => Column::CreditCode,
        "channel" => Column::Channel,
        "tags" => Column::Tags,
        "version" => Column::Version,
        "tier" => Column::Tier,
        "status" => Column::Status,
        "relationshipType" => Column::RelationshipType,
        "ownerId" => Column::OwnerId,
        "createdAt" => Column::CreatedAt,
        "updatedAt" => Column::UpdatedAt,
        "customFields" => Column::CustomFields,
        _ => return None,
    };
    Some(Expr::col((Entity, col)))
}

fn in_tenant(tenant_id: Uuid) -> sea_orm::Select<Entity> {
    Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<customer::Model>> {
    Ok(in_tenant(tenant_id).filter(Column::Id.eq(id)).one(conn).await?)
}

/// Reads a row and, on PostgreSQL, locks it until the transaction ends (SQLite's write
/// transaction already excludes other writers).
///
/// # Errors
/// Database failures.
pub async fn find_for_update(txn: &DatabaseTransaction, tenant_id: Uuid, id: Uuid) -> Result<Option<customer::Model>> {
    Ok(in_tenant(tenant_id).filter(Column::Id.eq(id)).lock_exclusive().one(txn).await?)
}

/// Customers of many ids at once (for loaders).
///
/// # Errors
/// Database failures.
pub async fn find_many(conn: &impl ConnectionTrait, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<customer::Model>> {
    Ok(in_tenant(tenant_id).filter(Column::Id.is_in(ids.iter().copied())).all(conn).await?)
}

/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<customer::Model>> {
    filter::list(db, in_tenant(tenant_id), filter, order, page, column_of).await
}

/// The statement [`list`] runs, for `EXPLAIN` (tests and operators checking index use).
#[must_use]
pub fn list_statement(
    backend: sea_orm::DatabaseBackend,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    let select = in_tenant(tenant_id).filter(filter::condition(filter, column_of, backend));
    filter::page(select, order, page, column_of, backend).build(backend)
}

/// # Errors
/// Database failures.
pub async fn count(db: &DatabaseConnection, tenant_id: Uuid, filter: &Filter) -> Result<u64> {
    filter::count(db, in_tenant(tenant_id), filter, column_of).await
}

/// Is `code` used by a customer other than `except`?
///
/// # Errors
/// Database failures.
pub async fn credit_code_taken(conn: &impl ConnectionTrait, tenant_id: Uuid, code: &str, except: Uuid) -> Result<bool> {
    Ok(in_tenant(tenant_id).filter(Column::CreditCode.eq(code)).filter(Column::Id.ne(except)).count(conn).await? > 0)
}

/// # Errors
/// Database failures, including a unique-key violation on the credit code.
pub async fn insert(conn: &impl ConnectionTrait, model: &customer::Model) -> Result<()> {
    Entity::insert(model.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// Inserts many rows in one statement (seeding).
///
/// # Errors
/// Database failures.
pub async fn insert_many(conn: &impl ConnectionTrait, models: Vec<customer::Model>) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    Entity::insert_many(models.into_iter().map(|m| m.into_active_model().reset_all()))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes `model` if the stored version is still `old_version`; false if it is not.
///
/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, model: &customer::Model, old_version: i32) -> Result<bool> {
    let result = Entity::update_many()
        .set(model.clone().into_active_model().reset_all())
        .filter(Column::TenantId.eq(model.tenant_id))
        .filter(Column::Id.eq(model.id))
        .filter(Column::Version.eq(old_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// # Errors
/// Database failures.
pub async fn delete(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<()> {
    Entity::delete_many().filter(Column::TenantId.eq(tenant_id)).filter(Column::Id.eq(id)).exec(conn).await?;
    Ok(())
}

/// How many customers matching `filter` are in each tier (`None`: not yet ranked).
///
/// # Errors
/// Database failures.
pub async fn count_by_tier(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
) -> Result<Vec<(Option<String>, i64)>> {
    Ok(in_tenant(tenant_id)
        .filter(filter::condition(filter, column_of, db.get_database_backend()))
        .select_only()
        .column(Column::Tier)
        .expr(Expr::col((Entity, Column::Id)).count())
        .group_by(Column::Tier)
        .into_tuple()
        .all(db)
        .await?)
}
