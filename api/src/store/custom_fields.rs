//! Custom field definitions, the values they govern in each entity's `custom_fields` column, and
//! the SQL expressions that filter, sort and index those values.
//!
//! The expressions never fail on another tenant's values (whose same key may hold another type):
//! numbers are cast only when their text is a number, booleans only when JSON says boolean. So
//! one expression index serves every tenant that indexes the same key with the same kind.

use guanxi_entity::custom_field_definition::{self as model, Column, Entity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::custom_fields::{Definition, EntityKind, FieldType, Source};
use crate::domain::query::CustomKey;
use crate::error::Result;

/// The name every entity's `column_of` gives its `custom_fields` column.
pub const CUSTOM_COLUMN: &str = "customFields";

/// The name under which `column_of` gives the object of values plugins compute (Customer
/// only: `customer_scores.computed`). Filters and orders on a computed field read it.
pub const COMPUTED_COLUMN: &str = "$computed";

/// How a custom value is compared: as text, as a number or as a boolean; lists and JSON only
/// by presence (and lists by containment, elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    Text,
    Number,
    Boolean,
    Raw,
}

fn compared(ty: FieldType) -> Compared {
    match ty {
        FieldType::Int | FieldType::Decimal => Compared::Number,
        FieldType::Boolean => Compared::Boolean,
        FieldType::MultiEnum | FieldType::Json => Compared::Raw,
        _ => Compared::Text,
    }
}

/// The SQL of a value's expression over column `col` (already quoted). Keys are
/// `[a-z][a-z0-9_]*`, checked at definition, so they are safe inside literals; they must be
/// literals for PostgreSQL to match an expression index.
fn template(backend: DatabaseBackend, col: &str, key: &str, ty: FieldType) -> String {
    match (backend, compared(ty)) {
        // Code-point order, like SQLite's BINARY and the cursor comparison.
        (DatabaseBackend::Postgres, Compared::Text) => format!("(({col} ->> '{key}') COLLATE \"C\")"),
        (DatabaseBackend::Postgres, Compared::Number) => format!(
            "(CASE WHEN ({col} ->> '{key}') ~ '^-?[0-9]+(\\.[0-9]+)?\\Z' THEN ({col} ->> '{key}')::numeric END)"
        ),
        (DatabaseBackend::Postgres, Compared::Boolean) => {
            format!("(CASE WHEN jsonb_typeof({col} -> '{key}') = 'boolean' THEN ({col} ->> '{key}')::boolean END)")
        }
        (DatabaseBackend::Postgres, Compared::Raw) => format!("({col} -> '{key}')"),
        // SQLite: json_extract yields INTEGER for ints and 1/0 for booleans; decimals are exact
        // strings, compared as REAL.
        (_, Compared::Number) if ty == FieldType::Decimal => format!("CAST(json_extract({col}, '$.{key}') AS REAL)"),
        _ => format!("json_extract({col}, '$.{key}')"),
    }
}

/// The SQL of custom field `key` of type `ty` over column `col`, as filters and indexes use it.
#[must_use]
pub fn sql_of(backend: DatabaseBackend, col: &str, key: &str, ty: FieldType) -> String {
    template(backend, col, key, ty)
}

/// The expression of custom field `key` over the stored column expression `stored`.
#[must_use]
pub fn value_expr(backend: DatabaseBackend, stored: Expr, key: &CustomKey) -> Expr {
    let placeholder = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    Expr::cust_with_exprs(template(backend, placeholder, &key.key, key.ty), [stored])
}

/// The table and JSON column holding a field's values: a plugin's computed values are in the
/// customers' scores rows, the rest in the entity's own rows.
fn storage(def: &Definition) -> (&'static str, &'static str) {
    if def.source == Source::Plugin { ("customer_scores", "computed") } else { (def.entity.table(), "custom_fields") }
}

fn index_name(def: &Definition) -> String {
    let (table, col) = storage(def);
    let expr = template(DatabaseBackend::Postgres, col, &def.key, def.ty);
    let digest = Sha256::digest(format!("{table}:{expr}"));
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{table}_cf_{hex}_idx")
}

/// Creates the expression index an indexed, live definition needs, and drops the one it needed
/// before if no definition of any tenant uses it any more. The index leads with `tenant_id`, as
/// every query does. (SQLite matches expression indexes too; the name comes from PostgreSQL's
/// expression on both, so it is the same everywhere.)
///
/// # Errors
/// Database failures.
pub async fn sync_index(conn: &impl ConnectionTrait, def: &Definition, before: Option<&Definition>) -> Result<()> {
    let backend = conn.get_database_backend();
    let wants = |d: &Definition| d.indexed && !d.archived && d.ty.indexable();
    let name = index_name(def);
    if let Some(old) = before.filter(|b| wants(b)) {
        let old_name = index_name(old);
        if old_name == name && wants(def) {
            // The same index serves on (a label or default changed): nothing to build or analyse.
            return Ok(());
        }
        if !index_in_use(conn, old).await? {
            conn.execute_unprepared(&format!("DROP INDEX IF EXISTS {old_name}")).await?;
        }
    }
    if wants(def) {
        let (table, col) = storage(def);
        let expr = template(backend, col, &def.key, def.ty);
        conn.execute_unprepared(&format!("CREATE INDEX IF NOT EXISTS {name} ON {table} (tenant_id, {expr})")).await?;
        // Statistics for the new index: without them SQLite took it for the most selective
        // index of the table and dropped the name index for plain lists (measured 2 → 120 ms).
        super::analyze(conn, if backend == DatabaseBackend::Postgres { table } else { name.as_str() }).await?;
    }
    Ok(())
}

/// Does any live, indexed definition (of any tenant) still use `old`'s index? Only a count
/// crosses tenants here; no tenant data is read.
async fn index_in_use(conn: &impl ConnectionTrait, old: &Definition) -> Result<bool> {
    let same_kind: Vec<&str> =
        FieldType::ALL.iter().filter(|t| compared(**t) == compared(old.ty)).map(|t| t.as_str()).collect();
    let users = Entity::find()
        .filter(Column::Entity.eq(old.entity.as_str()))
        .filter(Column::Key.eq(&old.key))
        .filter(Column::Type.is_in(same_kind))
        .filter(if old.source == Source::Plugin {
            Column::Source.eq(Source::Plugin.as_str())
        } else {
            Column::Source.ne(Source::Plugin.as_str())
        })
        .filter(Column::Indexed.eq(true))
        .filter(Column::Archived.eq(false))
        .count(conn)
        .await?;
    Ok(users > 0)
}

/// # Errors
/// Database failures.
pub async fn all(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Vec<model::Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .order_by_asc(Column::Entity)
        .order_by_asc(Column::Position)
        .all(conn)
        .await?)
}

/// # Errors
/// Database failures.
pub async fn of_entity(conn: &impl ConnectionTrait, tenant_id: Uuid, entity: EntityKind) -> Result<Vec<model::Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Entity.eq(entity.as_str()))
        .order_by_asc(Column::Position)
        .all(conn)
        .await?)
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<model::Model>> {
    Ok(Entity::find().filter(Column::TenantId.eq(tenant_id)).filter(Column::Id.eq(id)).one(conn).await?)
}

/// # Errors
/// Database failures, including the unique key on (tenant, entity, key).
pub async fn insert(conn: &impl ConnectionTrait, m: &model::Model) -> Result<()> {
    Entity::insert(m.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, m: &model::Model) -> Result<()> {
    Entity::update_many()
        .set(m.clone().into_active_model().reset_all())
        .filter(Column::TenantId.eq(m.tenant_id))
        .filter(Column::Id.eq(m.id))
        .exec(conn)
        .await?;
    Ok(())
}

fn has_value(backend: DatabaseBackend, key: &str) -> Expr {
    let any = CustomKey { key: key.to_owned(), ty: FieldType::Json, computed: false };
    value_expr(backend, Expr::col(Alias::new("custom_fields")), &any).is_not_null()
}

/// How many rows of the entity have no value for `key`.
///
/// # Errors
/// Database failures.
pub async fn count_missing(conn: &impl ConnectionTrait, tenant_id: Uuid, entity: EntityKind, key: &str) -> Result<u64> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let backend = conn.get_database_backend();
    let query = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from(Alias::new(entity.table()))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(has_value(backend, key).not())
        .to_owned();
    let n = Count::find_by_statement(backend.build(&query)).one(conn).await?.map_or(0, |c| c.n);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Gives every row of the entity lacking a value for `key` the value `default`, in one statement.
///
/// # Errors
/// Database failures.
pub async fn fill_missing(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: EntityKind,
    key: &str,
    default: &serde_json::Value,
) -> Result<()> {
    let backend = conn.get_database_backend();
    let set = match backend {
        DatabaseBackend::Postgres => Expr::cust_with_exprs(
            format!("custom_fields || jsonb_build_object('{key}', CAST($1 AS jsonb))"),
            [Expr::val(default.to_string())],
        ),
        _ => Expr::cust_with_exprs(
            format!("json_set(custom_fields, '$.{key}', json(?))"),
            [Expr::val(default.to_string())],
        ),
    };
    let query = Query::update()
        .table(Alias::new(entity.table()))
        .value(Alias::new("custom_fields"), set)
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(has_value(backend, key).not())
        .to_owned();
    conn.execute(&query).await?;
    Ok(())
}

/// Every row's id and custom object that holds a value for `key` (for converting them).
///
/// # Errors
/// Database failures.
pub async fn values_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: EntityKind,
    key: &str,
) -> Result<Vec<(Uuid, serde_json::Value)>> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        custom_fields: serde_json::Value,
    }
    let backend = conn.get_database_backend();
    let query = Query::select()
        .columns([Alias::new("id"), Alias::new("custom_fields")])
        .from(Alias::new(entity.table()))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(has_value(backend, key))
        .to_owned();
    let rows = Row::find_by_statement(backend.build(&query)).all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.custom_fields)).collect())
}

/// Replaces one row's custom object (value conversion; the row's version is not a user edit).
///
/// # Errors
/// Database failures.
pub async fn set_values(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    entity: EntityKind,
    id: Uuid,
    values: &serde_json::Value,
) -> Result<()> {
    let query = Query::update()
        .table(Alias::new(entity.table()))
        .value(Alias::new("custom_fields"), values.clone())
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(&query).await?;
    Ok(())
}
