//! Custom field definitions, the values they govern in each entity's `custom_fields` column, and
//! the SQL expressions that filter, sort and index those values.
//!
//! The expressions never fail on another tenant's values (whose same key may hold another type):
//! numbers are cast only when their text is a number, booleans only when JSON says boolean. So
//! one expression index serves every tenant that indexes the same key with the same kind.

use guanxi_entity::custom_field_definition::{self as model, Column, Entity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::Result;
use crate::query::CustomKey;
use crate::query::{EntityKind, FieldType};

pub use crate::query::COMPUTED_COLUMN;

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

/// Bytes of a value in an indexed field: a PostgreSQL b-tree entry must fit a third of a page.
pub const MAX_INDEXED_BYTES: usize = 2_000;

/// The SQL of a value's expression over column `col` (already quoted). Keys are
/// `[a-z][a-z0-9_]*`, checked at definition, so they are safe inside literals; they must be
/// literals for PostgreSQL to match an expression index.
///
/// `indexed`: the expression an index is built on, which every tenant's rows enter, whatever
/// they hold under the same key. On PostgreSQL it leaves out text too long for an index entry
/// (a btree entry holds about 2,700 bytes): another tenant's long value under the key must not
/// fail the build, nor that tenant's own writes once the index exists. For the indexed field's
/// own tenant this changes nothing: its values are checked to fit (`MAX_INDEXED_BYTES`).
fn template(backend: DatabaseBackend, col: &str, key: &str, ty: FieldType, indexed: bool) -> String {
    let fits =
        |limit: usize| if indexed { format!("octet_length({col} ->> '{key}') <= {limit} AND ") } else { String::new() };
    match (backend, compared(ty)) {
        // Code-point order, like SQLite's BINARY and the cursor comparison.
        (DatabaseBackend::Postgres, Compared::Text) if indexed => {
            format!("((CASE WHEN {}TRUE THEN ({col} ->> '{key}') END) COLLATE \"C\")", fits(MAX_INDEXED_BYTES))
        }
        (DatabaseBackend::Postgres, Compared::Text) => format!("(({col} ->> '{key}') COLLATE \"C\")"),
        (DatabaseBackend::Postgres, Compared::Number) => format!(
            "(CASE WHEN {}({col} ->> '{key}') ~ '^-?[0-9]+(\\.[0-9]+)?\\Z' THEN ({col} ->> '{key}')::numeric END)",
            fits(MAX_INDEXED_NUMBER_BYTES)
        ),
        (DatabaseBackend::Postgres, Compared::Boolean) => {
            format!("(CASE WHEN jsonb_typeof({col} -> '{key}') = 'boolean' THEN ({col} ->> '{key}')::boolean END)")
        }
        (DatabaseBackend::Postgres, Compared::Raw) => format!("({col} -> '{key}')"),
        // SQLite: json_extract yields INTEGER for ints and 1/0 for booleans; decimals are exact
        // strings, compared as REAL. SQLite has no entry size limit.
        (_, Compared::Number) if ty == FieldType::Decimal => format!("CAST(json_extract({col}, '$.{key}') AS REAL)"),
        _ => format!("json_extract({col}, '$.{key}')"),
    }
}

/// The longest number text an indexed numeric expression reads: longer than any INT, DECIMAL or
/// a plugin's number written out (an f64 is at most 309 digits before the point).
const MAX_INDEXED_NUMBER_BYTES: usize = 400;

/// The SQL of custom field `key` of type `ty` over column `col`; `indexed` as its definition
/// is, so that PostgreSQL matches the field's index.
#[must_use]
pub fn sql_of(backend: DatabaseBackend, col: &str, key: &str, ty: FieldType, indexed: bool) -> String {
    template(backend, col, key, ty, indexed)
}

/// The expression of custom field `key` over the stored column expression `stored`.
#[must_use]
pub fn value_expr(backend: DatabaseBackend, stored: Expr, key: &CustomKey) -> Expr {
    let placeholder = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    Expr::cust_with_exprs(template(backend, placeholder, &key.key, key.ty, key.indexed), [stored])
}

/// The table and JSON column holding a field's values: a plugin's computed values are in the
/// customers' scores rows, the rest in the entity's own rows.
fn storage(entity: EntityKind, computed: bool) -> (&'static str, &'static str) {
    if computed { ("customer_scores", "computed") } else { (entity.table(), "custom_fields") }
}

/// The expression index a definition asks for. One index serves every tenant that indexes the
/// same key with the same kind of value (it leads with `tenant_id`, as every query does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIndex {
    /// Named after the table and PostgreSQL's expression, so the same on both databases.
    pub name: String,
    pub table: &'static str,
    /// The indexed expression for this database.
    expression: String,
}

/// The index of the field `key` of type `ty` of `entity` (`computed`: a plugin's) when it is
/// indexed.
#[must_use]
pub fn index_of(backend: DatabaseBackend, entity: EntityKind, key: &str, ty: FieldType, computed: bool) -> FieldIndex {
    let (table, col) = storage(entity, computed);
    let pg = template(DatabaseBackend::Postgres, col, key, ty, true);
    let digest = Sha256::digest(format!("{table}:{pg}"));
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    FieldIndex {
        name: format!("{table}{INDEX_INFIX}{hex}_idx"),
        table,
        expression: template(backend, col, key, ty, true),
    }
}

/// What every field index's name holds between its table and its digest.
const INDEX_INFIX: &str = "_cf_";

/// The tables field indexes are built on.
const INDEXED_TABLES: [&str; 5] = ["customers", "interactions", "complaints", "key_account_plans", "customer_scores"];

/// Definitions of every tenant whose index is wanted: being built or ready.
///
/// # Errors
/// Database failures.
pub async fn wanting_indexes(conn: &impl ConnectionTrait) -> Result<Vec<model::Model>> {
    Ok(Entity::find()
        .filter(Column::Indexed.eq(true))
        .filter(Column::Archived.eq(false))
        .filter(Column::IndexState.is_in(["BUILDING", "READY"]))
        .all(conn)
        .await?)
}

/// The field indexes the database has, by name, and whether each is usable (PostgreSQL leaves an
/// invalid index behind when a concurrent build fails).
///
/// # Errors
/// Database failures.
pub async fn existing_indexes(conn: &impl ConnectionTrait) -> Result<Vec<(String, &'static str, bool)>> {
    #[derive(FromQueryResult)]
    struct Row {
        name: String,
        table_name: String,
        valid: bool,
    }
    let backend = conn.get_database_backend();
    let tables = INDEXED_TABLES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let sql = if backend == DatabaseBackend::Postgres {
        format!(
            "SELECT c.relname AS name, t.relname AS table_name, i.indisvalid AS valid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname IN ({tables}) AND c.relname LIKE '%\\_cf\\_%\\_idx'"
        )
    } else {
        format!(
            "SELECT name, tbl_name AS table_name, 1 AS valid FROM sqlite_master \
             WHERE type = 'index' AND tbl_name IN ({tables}) AND name LIKE '%\\_cf\\_%\\_idx' ESCAPE '\\'"
        )
    };
    let rows = Row::find_by_statement(sea_orm::Statement::from_string(backend, sql)).all(conn).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| INDEXED_TABLES.iter().find(|t| **t == r.table_name).map(|t| (r.name, *t, r.valid)))
        .collect())
}

/// Builds a field index without blocking writes on PostgreSQL (`CONCURRENTLY`, outside any
/// transaction); SQLite has one writer, whom the build holds as any write does. Then gathers
/// statistics: without them SQLite took a new index for the most selective of its table and
/// dropped the name index for plain lists (measured 2 → 120 ms).
///
/// # Errors
/// Database failures (the index then is absent, or invalid on PostgreSQL).
pub async fn build_index(db: &DatabaseConnection, index: &FieldIndex) -> Result<()> {
    let create = |concurrently: &str| {
        format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {} (tenant_id, {})",
            index.name, index.table, index.expression
        )
    };
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&create("CONCURRENTLY ")).await?;
        super::analyze(db, index.table).await?;
        return Ok(());
    }
    super::in_write(db, async |txn| {
        txn.execute_unprepared(&create("")).await?;
        super::analyze(txn, &index.name).await?;
        Ok(())
    })
    .await
}

/// Drops a field index, without blocking reads or writes on PostgreSQL.
///
/// # Errors
/// Database failures.
pub async fn drop_index(db: &DatabaseConnection, name: &str) -> Result<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).await?;
        return Ok(());
    }
    super::in_write(db, async |txn| {
        txn.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}")).await?;
        Ok(())
    })
    .await
}

/// Records where a definition's index stands, unless the definition changed since it was read
/// (its new version has an index state of its own).
///
/// # Errors
/// Database failures.
pub async fn mark_index(db: &DatabaseConnection, def: &model::Model, state: &str, error: Option<String>) -> Result<()> {
    super::in_write(db, async |txn| mark_index_in(txn, def, state, error).await).await
}

async fn mark_index_in(
    conn: &impl ConnectionTrait,
    def: &model::Model,
    state: &str,
    error: Option<String>,
) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::IndexState, Expr::value(state))
        .col_expr(Column::IndexError, Expr::value(error))
        .filter(Column::TenantId.eq(def.tenant_id))
        .filter(Column::Id.eq(def.id))
        .filter(Column::Version.eq(def.version))
        .filter(Column::IndexState.eq(def.index_state.as_str()))
        .exec(conn)
        .await?;
    Ok(())
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
    let any = CustomKey { key: key.to_owned(), ty: FieldType::Json, computed: false, indexed: false };
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
