//! The pieces the scoring tables' statements share beside the store's placeholders
//! ([`crate::store::sql`]): VALUES lists of customers with the tenant's parameter, and counts of
//! a tenant's rows.

use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use crate::error::Result;

pub(super) use crate::store::sql::{param, skip_locked, typed_param};

/// `(customer id, value)` rows of a VALUES list and their parameters: the tenant first, then
/// each row's. `ty` types the value on PostgreSQL (`Some("jsonb")`, or `None` for text).
pub(super) fn id_tuples(
    backend: DatabaseBackend,
    tenant_id: Uuid,
    ty: Option<&str>,
    rows: impl Iterator<Item = (Uuid, Value)>,
) -> (Vec<Value>, String) {
    let mut values: Vec<Value> = vec![tenant_id.into()];
    let tuples: Vec<String> = rows
        .map(|(customer_id, value)| {
            values.extend([customer_id.into(), value]);
            let n = values.len();
            format!("({}, {})", typed_param(backend, n - 1, Some("uuid")), typed_param(backend, n, ty))
        })
        .collect();
    (values, tuples.join(", "))
}

/// Moves the first parameter (the tenant, as [`id_tuples`] places it) to the end.
pub(super) fn tenant_last(mut values: Vec<Value>) -> Vec<Value> {
    let tenant = values.remove(0);
    values.push(tenant);
    values
}

/// A `COUNT(*) AS n`.
#[derive(FromQueryResult)]
pub(super) struct Count {
    pub(super) n: i64,
}

/// `SELECT COUNT(*)` of a tenant's rows in `table`, narrowed by at most one `column op` bound.
/// Both names are written into the SQL, so they are the scoring store's constants, never input.
pub(super) async fn count_of_tenant(
    conn: &impl ConnectionTrait,
    table: &'static str,
    tenant_id: Uuid,
    bound: Option<(&'static str, Uuid)>,
) -> Result<i64> {
    let backend = conn.get_database_backend();
    let mut sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = {}", param(backend, 1));
    let mut values: Vec<Value> = vec![tenant_id.into()];
    if let Some((column_op, value)) = bound {
        sql.push_str(&format!(" AND {column_op} {}", param(backend, 2)));
        values.push(value.into());
    }
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(Count::find_by_statement(stmt).one(conn).await?.map_or(0, |c| c.n))
}
