//! The audit trail's table: appended to, read newest first.

use guanxi_entity::audit_entry::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use super::filter;
use crate::error::Result;
use crate::query::{FieldSpec, OrderKey, Page, PageRequest};

/// Audit entries are read newest first; their v7 ids order them by time.
pub static ID_FIELD: FieldSpec = FieldSpec::id("AuditEntry");

/// The one order of the audit log.
#[must_use]
pub fn order() -> [OrderKey; 1] {
    [OrderKey::by(&ID_FIELD, true)]
}

fn column_of(name: &str) -> Option<Expr> {
    (name == "id").then(|| Expr::col((Entity, Column::Id)))
}

/// # Errors
/// Database failures.
pub async fn insert(conn: &impl ConnectionTrait, entry: &audit_entry::Model) -> Result<()> {
    Entity::insert(entry.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    entity_id: Option<Uuid>,
    page: &PageRequest,
) -> Result<Page<audit_entry::Model>> {
    let mut select = Entity::find().filter(Column::TenantId.eq(tenant_id));
    if let Some(id) = entity_id {
        select = select.filter(Column::EntityId.eq(id));
    }
    let rows = filter::page(select, &order(), page, column_of, db.get_database_backend()).all(db).await?;
    Ok(filter::finish_page(rows, page))
}

/// # Errors
/// Database failures.
pub async fn count(db: &DatabaseConnection, tenant_id: Uuid, entity_id: Option<Uuid>) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    let mut select = Entity::find().filter(Column::TenantId.eq(tenant_id));
    if let Some(id) = entity_id {
        select = select.filter(Column::EntityId.eq(id));
    }
    Ok(select.count(db).await?)
}
