//! Installed plugins, their bytes, validator attachments and run records.

use guanxi_entity::{plugin, plugin_binary, plugin_run, plugin_validator};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::error::Result;

/// How many run records each plugin keeps; older ones are pruned.
pub const RUNS_KEPT: u64 = 200;

/// Stores a component's bytes once.
///
/// # Errors
/// Database failures.
pub async fn put_binary(conn: &impl ConnectionTrait, sha256: &str, bytes: &[u8]) -> Result<()> {
    let row = plugin_binary::Model {
        sha256: sha256.to_owned(),
        bytes: bytes.to_vec(),
        size: i32::try_from(bytes.len()).unwrap_or(i32::MAX),
        created_at: crate::clock::now(),
    };
    plugin_binary::Entity::insert(row.into_active_model().reset_all())
        .on_conflict(OnConflict::column(plugin_binary::Column::Sha256).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A component's bytes.
///
/// # Errors
/// Database failures.
pub async fn binary(conn: &impl ConnectionTrait, sha256: &str) -> Result<Option<Vec<u8>>> {
    Ok(plugin_binary::Entity::find_by_id(sha256.to_owned())
        .select_only()
        .column(plugin_binary::Column::Bytes)
        .into_tuple::<Vec<u8>>()
        .one(conn)
        .await?)
}

/// Drops a component's bytes when no installation of any tenant uses them (only a count
/// crosses tenants).
///
/// # Errors
/// Database failures.
pub async fn drop_binary_if_unused(conn: &impl ConnectionTrait, sha256: &str) -> Result<()> {
    use sea_orm::PaginatorTrait;
    if plugin::Entity::find().filter(plugin::Column::Sha256.eq(sha256)).count(conn).await? == 0 {
        plugin_binary::Entity::delete_by_id(sha256.to_owned()).exec(conn).await?;
    }
    Ok(())
}

/// The tenants with an enabled scorer (a background job's scan across tenants: only their ids).
///
/// # Errors
/// Database failures.
pub async fn tenants_with_scorers(conn: &impl ConnectionTrait) -> Result<Vec<Uuid>> {
    let rows: Vec<(Uuid, serde_json::Value)> = plugin::Entity::find()
        .select_only()
        .column(plugin::Column::TenantId)
        .column(plugin::Column::Capabilities)
        .filter(plugin::Column::Enabled.eq(true))
        .into_tuple()
        .all(conn)
        .await?;
    let mut tenants: Vec<Uuid> = rows
        .into_iter()
        .filter(|(_, caps)| caps.as_array().is_some_and(|a| a.iter().any(|c| c == "SCORER")))
        .map(|(t, _)| t)
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    Ok(tenants)
}

/// # Errors
/// Database failures.
pub async fn all(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<plugin::Model>> {
    Ok(plugin::Entity::find()
        .filter(plugin::Column::TenantId.eq(tenant_id))
        .order_by_asc(plugin::Column::InstalledAt)
        .order_by_asc(plugin::Column::Id)
        .all(conn)
        .await?)
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<plugin::Model>> {
    Ok(plugin::Entity::find()
        .filter(plugin::Column::TenantId.eq(tenant_id))
        .filter(plugin::Column::Id.eq(id))
        .one(conn)
        .await?)
}

/// The row of `id`, locked until the transaction ends (PostgreSQL; SQLite's write transaction
/// already excludes other writers).
///
/// # Errors
/// Database failures.
pub async fn find_for_update(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<plugin::Model>> {
    let mut select =
        plugin::Entity::find().filter(plugin::Column::TenantId.eq(tenant_id)).filter(plugin::Column::Id.eq(id));
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        select = select.lock_exclusive();
    }
    Ok(select.one(conn).await?)
}

/// # Errors
/// Database failures, including the unique key on (tenant, name).
pub async fn insert(conn: &impl ConnectionTrait, m: &plugin::Model) -> Result<()> {
    plugin::Entity::insert(m.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, m: &plugin::Model) -> Result<()> {
    plugin::Entity::update_many()
        .set(m.clone().into_active_model().reset_all())
        .filter(plugin::Column::TenantId.eq(m.tenant_id))
        .filter(plugin::Column::Id.eq(m.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes an installation with its attachments and run records.
///
/// # Errors
/// Database failures.
pub async fn delete(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<()> {
    plugin_validator::Entity::delete_many()
        .filter(plugin_validator::Column::TenantId.eq(tenant_id))
        .filter(plugin_validator::Column::PluginId.eq(id))
        .exec(conn)
        .await?;
    plugin_run::Entity::delete_many()
        .filter(plugin_run::Column::TenantId.eq(tenant_id))
        .filter(plugin_run::Column::PluginId.eq(id))
        .exec(conn)
        .await?;
    plugin::Entity::delete_many()
        .filter(plugin::Column::TenantId.eq(tenant_id))
        .filter(plugin::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Every attachment of the tenant (or of one entity).
///
/// # Errors
/// Database failures.
pub async fn validators(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: Option<&str>,
) -> Result<Vec<plugin_validator::Model>> {
    let mut select = plugin_validator::Entity::find().filter(plugin_validator::Column::TenantId.eq(tenant_id));
    if let Some(entity) = entity {
        select = select.filter(plugin_validator::Column::Entity.eq(entity));
    }
    Ok(select.order_by_asc(plugin_validator::Column::CreatedAt).all(conn).await?)
}

/// The enabled validator plugins attached to fields of `entity`, with their installations: what
/// a write of that entity must run (one statement when none is attached, two otherwise).
///
/// # Errors
/// Database failures.
pub async fn validators_for_write(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: &str,
) -> Result<Vec<(plugin_validator::Model, plugin::Model)>> {
    let attached = validators(conn, tenant_id, Some(entity)).await?;
    if attached.is_empty() {
        return Ok(Vec::new());
    }
    let plugins = plugin::Entity::find()
        .filter(plugin::Column::TenantId.eq(tenant_id))
        .filter(plugin::Column::Id.is_in(attached.iter().map(|a| a.plugin_id)))
        .filter(plugin::Column::Enabled.eq(true))
        .all(conn)
        .await?;
    Ok(attached
        .into_iter()
        .filter_map(|a| plugins.iter().find(|p| p.id == a.plugin_id).map(|p| (a, p.clone())))
        .collect())
}

/// Attaches a validator; attaching twice changes nothing.
///
/// # Errors
/// Database failures.
pub async fn attach(conn: &impl ConnectionTrait, row: plugin_validator::Model) -> Result<()> {
    plugin_validator::Entity::insert(row.into_active_model().reset_all())
        .on_conflict(
            OnConflict::columns([
                plugin_validator::Column::TenantId,
                plugin_validator::Column::Entity,
                plugin_validator::Column::Field,
                plugin_validator::Column::PluginId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Detaches a validator; false if it was not attached.
///
/// # Errors
/// Database failures.
pub async fn detach(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: &str,
    field: &str,
    plugin_id: Uuid,
) -> Result<bool> {
    let res = plugin_validator::Entity::delete_many()
        .filter(plugin_validator::Column::TenantId.eq(tenant_id))
        .filter(plugin_validator::Column::Entity.eq(entity))
        .filter(plugin_validator::Column::Field.eq(field))
        .filter(plugin_validator::Column::PluginId.eq(plugin_id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Stores run records and prunes each plugin's beyond the newest [`RUNS_KEPT`].
///
/// # Errors
/// Database failures.
pub async fn record_runs(conn: &impl ConnectionTrait, runs: Vec<plugin_run::Model>) -> Result<()> {
    let mut plugins: Vec<(Uuid, Uuid)> = runs.iter().map(|r| (r.tenant_id, r.plugin_id)).collect();
    plugins.sort_unstable();
    plugins.dedup();
    // A call that ended after its plugin was uninstalled has nothing left to be a record of:
    // its runs are dropped, not kept where nothing reaches them. On PostgreSQL the plugin's row
    // is read FOR SHARE, so an uninstall still running is waited for, and seen.
    let mut live = Vec::with_capacity(plugins.len());
    for (tenant_id, plugin_id) in plugins {
        let mut select = plugin::Entity::find()
            .select_only()
            .column(plugin::Column::Id)
            .filter(plugin::Column::TenantId.eq(tenant_id))
            .filter(plugin::Column::Id.eq(plugin_id));
        if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            select = select.lock_shared();
        }
        if select.into_tuple::<Uuid>().one(conn).await?.is_some() {
            live.push((tenant_id, plugin_id));
        }
    }
    let runs: Vec<plugin_run::Model> =
        runs.into_iter().filter(|r| live.binary_search(&(r.tenant_id, r.plugin_id)).is_ok()).collect();
    let plugins = live;
    super::insert_all(conn, runs.into_iter().map(|r| r.into_active_model().reset_all()).collect(), 500).await?;
    for (tenant_id, plugin_id) in plugins {
        let cut = plugin_run::Entity::find()
            .select_only()
            .column(plugin_run::Column::Id)
            .filter(plugin_run::Column::TenantId.eq(tenant_id))
            .filter(plugin_run::Column::PluginId.eq(plugin_id))
            .order_by_desc(plugin_run::Column::Id)
            .offset(RUNS_KEPT - 1)
            .limit(1)
            .into_tuple::<Uuid>()
            .one(conn)
            .await?;
        if let Some(cut) = cut {
            plugin_run::Entity::delete_many()
                .filter(plugin_run::Column::TenantId.eq(tenant_id))
                .filter(plugin_run::Column::PluginId.eq(plugin_id))
                .filter(plugin_run::Column::Id.lt(cut))
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}

/// The newest runs of a plugin, newest first.
///
/// # Errors
/// Database failures.
pub async fn runs(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    plugin_id: Uuid,
    first: u64,
) -> Result<Vec<plugin_run::Model>> {
    Ok(plugin_run::Entity::find()
        .filter(plugin_run::Column::TenantId.eq(tenant_id))
        .filter(plugin_run::Column::PluginId.eq(plugin_id))
        .order_by_desc(plugin_run::Column::Id)
        .limit(first)
        .all(conn)
        .await?)
}
