//! The ranking of a tenant's customers into value tiers by one number score: one read that
//! ranks them all, then writes of only the tiers that change. Apart because it runs after
//! scoring, outside the worker's own writes.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, Statement};
use uuid::Uuid;

use super::sql::{id_tuples, param, tenant_last};
use crate::error::Result;
use crate::query::FieldType;

/// Tier cut points in basis points of the tenant's scored customers, top down: KEY_PRIMARY,
/// KEY_SECONDARY, ORDINARY; the rest are SMALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutPoints {
    pub key_primary: u32,
    pub key_secondary: u32,
    pub ordinary: u32,
}

/// A customer whose tier the ranking changes.
#[derive(FromQueryResult)]
struct NewTier {
    id: Uuid,
    tier: String,
}

/// Customers whose tiers one write transaction of [`rank_tiers`] changes.
const TIERS_PER_WRITE: usize = 1_000;

/// Ranks the tenant's customers by the number score `key` (highest first, ties by id) and sets
/// each one's tier; a tier reaches `ceil(share × scored customers)` ranks. Customers without
/// that score keep theirs. Each tier that moves makes a `customer.scored` event, in the write
/// that moves it. Returns how many tiers changed.
///
/// The ranking is one read, outside any write transaction, and only the tiers that change are
/// written, a thousand per transaction: ranking a whole tenant in one `UPDATE` held SQLite's
/// only writer for the whole window computation (0.5 s at 100,000 customers) after every
/// worker round that emptied the queue, and every other write waited. A score written between
/// the read and the writes is ranked the next time.
///
/// # Errors
/// Database failures.
pub async fn rank_tiers(db: &DatabaseConnection, tenant_id: Uuid, key: &str, cuts: CutPoints) -> Result<u64> {
    let backend = db.get_database_backend();
    // A scorer's numbers are indexed computed fields: the ranking reads the index's expression.
    let score = crate::store::custom_fields::sql_of(backend, "computed", key, FieldType::Decimal, true);
    let primary = u64::from(cuts.key_primary);
    let secondary = primary + u64::from(cuts.key_secondary);
    let ordinary = secondary + u64::from(cuts.ordinary);
    let sql = format!(
        "SELECT id, tier FROM (\
           SELECT id, old, CASE \
             WHEN rn <= (n * {primary} + 9999) / 10000 THEN 'KEY_PRIMARY' \
             WHEN rn <= (n * {secondary} + 9999) / 10000 THEN 'KEY_SECONDARY' \
             WHEN rn <= (n * {ordinary} + 9999) / 10000 THEN 'ORDINARY' \
             ELSE 'SMALL' END AS tier \
           FROM (SELECT customer_id AS id, tier AS old, \
                   ROW_NUMBER() OVER (ORDER BY {score} DESC, customer_id) AS rn, COUNT(*) OVER () AS n \
                 FROM customer_scores WHERE tenant_id = {} AND {score} IS NOT NULL) AS ranked) AS r \
         WHERE old IS NULL OR old <> tier",
        param(backend, 1)
    );
    let changes =
        NewTier::find_by_statement(Statement::from_sql_and_values(backend, sql, [tenant_id.into()])).all(db).await?;
    for chunk in changes.chunks(TIERS_PER_WRITE) {
        let (values, tuples) = id_tuples(backend, tenant_id, None, chunk.iter().map(|c| (c.id, c.tier.clone().into())));
        let sql = match backend {
            DatabaseBackend::Postgres => format!(
                "UPDATE customer_scores AS s SET tier = v.tier FROM (VALUES {tuples}) AS v(id, tier) \
                 WHERE s.tenant_id = $1 AND s.customer_id = v.id RETURNING s.customer_id"
            ),
            _ => format!(
                "UPDATE customer_scores SET tier = v.tier \
                 FROM (SELECT column1 AS id, column2 AS tier FROM (VALUES {tuples})) AS v \
                 WHERE customer_scores.tenant_id = ? AND customer_scores.customer_id = v.id \
                 RETURNING customer_scores.customer_id"
            ),
        };
        // SQLite binds in order of appearance: the UPDATE's tenant comes after the rows.
        let values = if backend == DatabaseBackend::Postgres { values } else { tenant_last(values) };
        let stmt = Statement::from_sql_and_values(backend, sql, values);
        let at = crate::clock::now();
        crate::store::in_write(db, async |txn| {
            // A tier that moves is a change subscribers hear of, told with it; a customer deleted
            // since the ranking's read moves nothing and is not told.
            for moved in txn.query_all_raw(stmt).await? {
                let customer_id: Uuid = moved.try_get("", "customer_id")?;
                let scored = crate::store::events::by_the_server(
                    tenant_id,
                    "customer.scored",
                    ("Customer", customer_id),
                    customer_id,
                    "tier",
                    at,
                );
                crate::store::events::append(txn, scored).await?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(changes.len() as u64)
}
