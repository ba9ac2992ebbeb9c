//! Recompute requests (score runs), and how many customers are still to score for one: those
//! queued by then, and those ahead of a sweep that began by then. Apart because it reads the
//! queue and the sweeps together.

use guanxi_entity::score_run;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IntoActiveModel, QueryFilter,
    Statement,
};
use uuid::Uuid;

use super::sql::{count_of_tenant, param};
use super::sweeps::customers_ahead;
use crate::error::Result;

/// Where a tenant's sweep is, for its progress.
#[derive(FromQueryResult)]
struct SweepRow {
    first_ticket: Uuid,
    scored_to: Option<Uuid>,
}

/// Customers of the tenant still to score: queued, or ahead of its sweep. With `up_to`, only
/// those a request of that ticket (or an earlier one) asked for: queued by then, or ahead of a
/// sweep that began by then (a sweep started over still answers its first request).
///
/// # Errors
/// Database failures.
pub async fn pending(conn: &impl ConnectionTrait, tenant_id: Uuid, up_to: Option<Uuid>) -> Result<i64> {
    let queued = count_of_tenant(conn, "score_queue", tenant_id, up_to.map(|ticket| ("ticket <=", ticket))).await?;
    let backend = conn.get_database_backend();
    let sql = format!("SELECT first_ticket, scored_to FROM score_sweeps WHERE tenant_id = {}", param(backend, 1));
    let stmt = Statement::from_sql_and_values(backend, sql, [tenant_id.into()]);
    let ahead = match SweepRow::find_by_statement(stmt).one(conn).await? {
        Some(SweepRow { first_ticket, scored_to }) if up_to.is_none_or(|ticket| first_ticket <= ticket) => {
            customers_ahead(conn, tenant_id, scored_to).await?
        }
        _ => 0,
    };
    Ok(queued + ahead)
}

/// # Errors
/// Database failures.
pub async fn insert_run(conn: &impl ConnectionTrait, run: &score_run::Model) -> Result<()> {
    score_run::Entity::insert(run.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn find_run(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<score_run::Model>> {
    Ok(score_run::Entity::find()
        .filter(score_run::Column::TenantId.eq(tenant_id))
        .filter(score_run::Column::Id.eq(id))
        .one(conn)
        .await?)
}
