//! The customers' scores rows: created empty with each customer, merged into by the scoring
//! worker (computed values and details, a few hundred customers per statement), read for the
//! details, and removed with the customer.

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Statement, Value};
use uuid::Uuid;

use super::sql::{param, tenant_last, typed_param};
use crate::error::Result;

/// Scores to write for one customer: the computed custom field values (`None` when they did
/// not change) and the details, each a JSON object keyed by score key, merged over what is
/// stored, and the fingerprints of both, which replace the stored ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreWrite {
    pub customer_id: Uuid,
    pub values: Option<serde_json::Value>,
    pub details: serde_json::Value,
    pub hashes: crate::store::customers::ScoreHashes,
    /// The customer's lifecycle stage moved (or was first set): the write is told as an event.
    pub stage_moved: bool,
}

/// Gives new customers their (empty) scores rows, which every customer read joins.
///
/// # Errors
/// Database failures.
pub async fn add_rows(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_ids: &[Uuid]) -> Result<()> {
    let backend = conn.get_database_backend();
    let empty = if backend == DatabaseBackend::Postgres { "'{}'::jsonb" } else { "'{}'" };
    for chunk in customer_ids.chunks(1000) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        let rows: Vec<String> = chunk
            .iter()
            .map(|id| {
                values.extend([tenant_id.into(), (*id).into()]);
                let n = values.len();
                format!("({}, {}, {empty})", param(backend, n - 1), param(backend, n))
            })
            .collect();
        let sql = format!("INSERT INTO customer_scores (tenant_id, customer_id, details) VALUES {}", rows.join(", "));
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// Merges scores into the customers' scores rows, a few hundred per statement: the values into
/// `computed`, the details into `details`. The customer row is not touched: neither its
/// version nor its `updated_at` moves, since scores are computed, not edited. A customer
/// deleted meanwhile has no row left and gets none.
///
/// Rows whose values did not change (an explanation that moves with the days) go in
/// statements that do not assign `computed`: SQLite rewrites the entries of every index on a
/// column a statement assigns, even to the value it had, and each computed field has one.
///
/// # Errors
/// Database failures.
pub async fn write_scores(conn: &impl ConnectionTrait, tenant_id: Uuid, writes: &[ScoreWrite]) -> Result<()> {
    let (with_values, details_only): (Vec<&ScoreWrite>, Vec<&ScoreWrite>) =
        writes.iter().partition(|w| w.values.is_some());
    for chunk in with_values.chunks(500) {
        merge(conn, tenant_id, chunk, true).await?;
    }
    for chunk in details_only.chunks(500) {
        merge(conn, tenant_id, chunk, false).await?;
    }
    Ok(())
}

/// One statement of [`write_scores`]: the details and fingerprints of `rows`, and with
/// `values` their computed values too.
async fn merge(conn: &impl ConnectionTrait, tenant_id: Uuid, rows: &[&ScoreWrite], values: bool) -> Result<()> {
    let backend = conn.get_database_backend();
    let pg = backend == DatabaseBackend::Postgres;
    // The columns of the VALUES list, named and typed (types for PostgreSQL), in the order
    // each row's parameters are pushed below.
    let columns: &[(&str, &str)] = if values {
        &[("id", "uuid"), ("d", "jsonb"), ("cf", "jsonb"), ("vh", "bigint"), ("dh", "bigint")]
    } else {
        &[("id", "uuid"), ("d", "jsonb"), ("vh", "bigint"), ("dh", "bigint")]
    };
    let mut params: Vec<Value> = vec![tenant_id.into()];
    let tuples: Vec<String> = rows
        .iter()
        .map(|w| {
            let first = params.len() + 1;
            params.extend([w.customer_id.into(), w.details.to_string().into()]);
            if values {
                params.push(w.values.as_ref().map(serde_json::Value::to_string).into());
            }
            params.extend([w.hashes.values.into(), w.hashes.details.into()]);
            let row: Vec<String> =
                columns.iter().enumerate().map(|(i, (_, cast))| typed_param(backend, first + i, Some(cast))).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let tuples = tuples.join(", ");
    let sql = if pg {
        let computed = if values { "computed = s.computed || v.cf, " } else { "" };
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        format!(
            "UPDATE customer_scores AS s SET details = s.details || v.d, {computed}values_hash = v.vh, \
             details_hash = v.dh FROM (VALUES {tuples}) AS v({}) WHERE s.tenant_id = $1 AND s.customer_id = v.id",
            names.join(", ")
        )
    } else {
        let computed = if values { "computed = json_patch(computed, v.cf), " } else { "" };
        let names: Vec<String> =
            columns.iter().enumerate().map(|(i, (name, _))| format!("column{} AS {name}", i + 1)).collect();
        format!(
            "UPDATE customer_scores SET details = json_patch(details, v.d), {computed}values_hash = v.vh, \
             details_hash = v.dh FROM (SELECT {} FROM (VALUES {tuples})) AS v \
             WHERE customer_scores.tenant_id = ? AND customer_scores.customer_id = v.id",
            names.join(", ")
        )
    };
    // SQLite binds in order of appearance: the UPDATE's tenant comes after the rows.
    let params = if pg { params } else { tenant_last(params) };
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, params)).await?;
    Ok(())
}

/// The stored score details of some of a tenant's customers, by customer.
///
/// # Errors
/// Database failures.
pub async fn details_of(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, serde_json::Value>> {
    use guanxi_entity::customer_score;
    if customer_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let rows: Vec<(Uuid, serde_json::Value)> = customer_score::Entity::find()
        .select_only()
        .columns([customer_score::Column::CustomerId, customer_score::Column::Details])
        .filter(customer_score::Column::TenantId.eq(tenant_id))
        .filter(customer_score::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Removes a deleted customer's scores row.
///
/// # Errors
/// Database failures.
pub async fn delete_row(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    use guanxi_entity::customer_score;
    customer_score::Entity::delete_many()
        .filter(customer_score::Column::TenantId.eq(tenant_id))
        .filter(customer_score::Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}
