//! Tenants, created on first sight of their slug.

use guanxi_entity::tenant::{self, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The tenant with `slug`, created if new, and whether this call created it. Safe under
/// concurrent first requests: only one of them creates it.
///
/// # Errors
/// Database failures.
pub async fn get_or_create(conn: &impl ConnectionTrait, slug: &str) -> Result<(tenant::Model, bool)> {
    if let Some(t) = find_by_slug(conn, slug).await? {
        return Ok((t, false));
    }
    let model = tenant::Model {
        id: Uuid::now_v7(),
        slug: slug.to_owned(),
        name: slug.to_owned(),
        schema_version: 1,
        settings: serde_json::json!({}),
        created_at: crate::clock::now(),
    };
    let inserted = Entity::insert(model.into_active_model().reset_all())
        .on_conflict(OnConflict::column(Column::Slug).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    let t = find_by_slug(conn, slug)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("tenant {slug} vanished after insert")))?;
    Ok((t, inserted == 1))
}

/// # Errors
/// Database failures.
pub async fn find_by_slug(conn: &impl ConnectionTrait, slug: &str) -> Result<Option<tenant::Model>> {
    Ok(Entity::find().filter(Column::Slug.eq(slug)).one(conn).await?)
}

/// Renames a tenant (demo seeding gives the demo tenant a readable name).
///
/// # Errors
/// Database failures.
pub async fn rename(conn: &impl ConnectionTrait, id: Uuid, name: &str) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::Name, sea_orm::sea_query::Expr::value(name.to_owned()))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<tenant::Model>> {
    Ok(Entity::find_by_id(id).one(conn).await?)
}

/// Replaces the tenant's settings object.
///
/// # Errors
/// Database failures.
pub async fn set_settings(conn: &impl ConnectionTrait, id: Uuid, settings: &serde_json::Value) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::Settings, sea_orm::sea_query::Expr::value(settings.clone()))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The tenant's advisory lock on PostgreSQL: taken shared by entity writes and exclusively by
/// definition changes. The tenant row's lock alone is not enough: a row locked shared takes in
/// new shared lockers while an update waits, so under steady writes a change waited until the
/// writes stopped. An advisory lock queues in order: writes that come after a waiting change
/// wait behind it.
async fn advisory_lock(conn: &impl ConnectionTrait, id: Uuid, shared: bool) -> Result<()> {
    let (high, low) = id.as_u64_pair();
    let key = i64::from_ne_bytes((high ^ low).to_ne_bytes());
    let function = if shared { "pg_advisory_xact_lock_shared" } else { "pg_advisory_xact_lock" };
    let sql = format!("SELECT {function}($1)");
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, [key.into()]))
        .await?;
    Ok(())
}

/// Bumps the tenant's schema version. Run first in a definition change: the locks it takes
/// make entity writes (which hold them shared, see [`lock_shared`]) wait until the change
/// commits.
///
/// # Errors
/// Database failures.
pub async fn bump_schema_version(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    use sea_orm::sea_query::ExprTrait;
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        advisory_lock(conn, id, false).await?;
    }
    Entity::update_many()
        .col_expr(Column::SchemaVersion, sea_orm::sea_query::Expr::col(Column::SchemaVersion).add(1))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Delivered at commit to every replica listening (see `store::notifications`).
        conn.execute_unprepared(&format!("NOTIFY {}, '{id}'", super::notifications::SCHEMA_CHANNEL)).await?;
    }
    Ok(())
}

/// Holds the tenant's advisory lock exclusively until the transaction ends (PostgreSQL; SQLite's
/// write transaction already excludes every other writer): a settings change reads the settings
/// it replaces after this, so two changes cannot lose one another, and waits its turn among the
/// tenant's writes rather than outwaiting them.
///
/// # Errors
/// Database failures.
pub async fn lock_exclusive(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        advisory_lock(conn, id, false).await?;
    }
    Ok(())
}

/// Holds the tenant's advisory lock and row shared until the transaction ends (PostgreSQL;
/// SQLite's write transaction already excludes every other writer).
///
/// # Errors
/// Database failures.
pub async fn lock_shared(conn: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    use sea_orm::QuerySelect;
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        advisory_lock(conn, id, true).await?;
        Entity::find_by_id(id).select_only().column(Column::Id).lock_shared().into_tuple::<Uuid>().one(conn).await?;
    }
    Ok(())
}

/// The tenant's current schema version.
///
/// # Errors
/// Database failures.
pub async fn schema_version(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<i64>> {
    use sea_orm::QuerySelect;
    Ok(Entity::find_by_id(id).select_only().column(Column::SchemaVersion).into_tuple::<i64>().one(conn).await?)
}
