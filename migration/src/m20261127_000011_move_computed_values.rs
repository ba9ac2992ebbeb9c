//! Computed values and tiers move from the customer row to `customer_scores`, beside the score
//! details: every customer gets a row there, holding `computed` (the values of the fields
//! plugins compute, a JSON object keyed like `custom_fields`) and `tier`.
//!
//! A first scoring wrote every customer row twice (its values, then its tier after ranking),
//! and each write rewrote the whole row and every index of `customers`: 70 % of the database's
//! work in a first scoring (BENCHMARKS.md, session 7). The same writes to a narrow row with a
//! few indexes were measured 6–7× cheaper. Customer reads join the row by primary key.
//!
//! The expression indexes of computed number fields move with their values. Their names are
//! computed as `api`'s `store::custom_fields::index_name` computed them when this migration was
//! written; a migration keeps its own copy so that later changes there cannot change history.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{self, DatabaseBackend, FromQueryResult, Statement};
use sha2::{Digest, Sha256};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000011_move_computed_values"
    }
}

const OLD_TIER_INDEX: &str = "customers_tenant_tier_idx";
const NEW_TIER_INDEX: &str = "customer_scores_tenant_tier_idx";

/// The PostgreSQL and SQLite expressions of a DECIMAL custom value `key` in column `col`.
fn decimal_expr(backend: DatabaseBackend, col: &str, key: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            "(CASE WHEN ({col} ->> '{key}') ~ '^-?[0-9]+(\\.[0-9]+)?\\Z' THEN ({col} ->> '{key}')::numeric END)"
        ),
        _ => format!("CAST(json_extract({col}, '$.{key}') AS REAL)"),
    }
}

/// The name of the expression index of DECIMAL `key` in `table.col`.
fn index_name(table: &str, col: &str, key: &str) -> String {
    let expr = decimal_expr(DatabaseBackend::Postgres, col, key);
    let digest = Sha256::digest(format!("{table}:{expr}"));
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{table}_cf_{hex}_idx")
}

/// A definition of a field a plugin computes.
#[derive(FromQueryResult)]
struct Computed {
    tenant_id: sea_orm::prelude::Uuid,
    key: String,
    indexed: bool,
    archived: bool,
}

async fn computed_fields(manager: &SchemaManager<'_>) -> Result<Vec<Computed>, DbErr> {
    let backend = manager.get_database_backend();
    let stmt = Statement::from_string(
        backend,
        "SELECT tenant_id, key, indexed, archived FROM custom_field_definitions \
         WHERE entity = 'CUSTOMER' AND source = 'PLUGIN'",
    );
    Computed::find_by_statement(stmt).all(manager.get_connection()).await
}

/// Keys whose DECIMAL expression index a live, indexed computed field needs.
fn indexed_keys(fields: &[Computed]) -> std::collections::BTreeSet<&str> {
    fields.iter().filter(|f| f.indexed && !f.archived).map(|f| f.key.as_str()).collect()
}

/// Does a live, indexed ADMIN number field of some tenant share `key`'s index on `customers`?
async fn used_by_admin_fields(manager: &SchemaManager<'_>, key: &str) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let backend = manager.get_database_backend();
    let p = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    let stmt = Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT COUNT(*) AS n FROM custom_field_definitions WHERE entity = 'CUSTOMER' AND source = 'USER' \
             AND key = {p} AND type IN ('INT', 'DECIMAL') AND indexed AND NOT archived"
        ),
        [key.into()],
    );
    Ok(Count::find_by_statement(stmt).one(manager.get_connection()).await?.is_some_and(|c| c.n > 0))
}

/// The tier column, as migration 4 made it on `customers`.
async fn add_tier(manager: &SchemaManager<'_>, table: Alias) -> Result<(), DbErr> {
    let column = ColumnDef::new(Alias::new("tier")).string_len(16).to_owned();
    manager.alter_table(Table::alter().table(table).add_column(column).to_owned()).await
}

/// The index of a table's tiers, led by the tenant as every query is.
async fn index_tier(manager: &SchemaManager<'_>, name: &str, table: Alias) -> Result<(), DbErr> {
    let index = Index::create().name(name).table(table).col(Alias::new("tenant_id")).col(Alias::new("tier")).to_owned();
    manager.create_index(index).await
}

async fn execute(manager: &SchemaManager<'_>, sql: String, values: Vec<sea_orm::Value>) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    manager.get_connection().execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let pg = backend == DatabaseBackend::Postgres;
        let scores = Alias::new("customer_scores");
        manager
            .alter_table(
                Table::alter()
                    .table(scores.clone())
                    .add_column(ColumnDef::new(Alias::new("computed")).json_binary().not_null().default("{}"))
                    .to_owned(),
            )
            .await?;
        add_tier(manager, scores.clone()).await?;
        let db = manager.get_connection();
        let empty = if pg { "'{}'::jsonb" } else { "'{}'" };
        db.execute_unprepared(&format!(
            "INSERT INTO customer_scores (tenant_id, customer_id, details) \
             SELECT tenant_id, id, {empty} FROM customers c WHERE NOT EXISTS \
             (SELECT 1 FROM customer_scores s WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.id)"
        ))
        .await?;
        db.execute_unprepared(
            "UPDATE customer_scores SET tier = (SELECT c.tier FROM customers c \
             WHERE c.tenant_id = customer_scores.tenant_id AND c.id = customer_scores.customer_id)",
        )
        .await?;
        let fields = computed_fields(manager).await?;
        // The old indexes go first: rewriting every customer row below need not maintain them.
        for key in indexed_keys(&fields) {
            if !used_by_admin_fields(manager, key).await? {
                db.execute_unprepared(&format!(
                    "DROP INDEX IF EXISTS {}",
                    index_name("customers", "custom_fields", key)
                ))
                .await?;
            }
        }
        let mut by_tenant: std::collections::BTreeMap<sea_orm::prelude::Uuid, Vec<&str>> = Default::default();
        for f in &fields {
            by_tenant.entry(f.tenant_id).or_default().push(&f.key);
        }
        for (tenant_id, keys) in by_tenant {
            // Keys are `[a-z][a-z0-9_]*`, checked when the field was defined.
            let list = keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
            let (copy, strip) = if pg {
                (
                    format!(
                        "UPDATE customer_scores s SET computed = s.computed || \
                           (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(c.custom_fields) e WHERE e.key IN ({list})) \
                         FROM customers c WHERE c.tenant_id = s.tenant_id AND c.id = s.customer_id \
                         AND s.tenant_id = $1 AND c.custom_fields ?| ARRAY[{list}]"
                    ),
                    format!(
                        "UPDATE customers SET custom_fields = custom_fields - ARRAY[{list}] \
                         WHERE tenant_id = $1 AND custom_fields ?| ARRAY[{list}]"
                    ),
                )
            } else {
                let has_any = |col: &str| format!("EXISTS (SELECT 1 FROM json_each({col}) e WHERE e.key IN ({list}))");
                let paths = keys.iter().map(|k| format!("'$.{k}'")).collect::<Vec<_>>().join(", ");
                (
                    format!(
                        "UPDATE customer_scores SET computed = json_patch(computed, \
                           (SELECT json_group_object(e.key, e.value) FROM json_each(c.custom_fields) e WHERE e.key IN ({list}))) \
                         FROM customers c WHERE c.tenant_id = customer_scores.tenant_id AND c.id = customer_scores.customer_id \
                         AND customer_scores.tenant_id = ? AND {}",
                        has_any("c.custom_fields")
                    ),
                    format!(
                        "UPDATE customers SET custom_fields = json_remove(custom_fields, {paths}) WHERE tenant_id = ? AND {}",
                        has_any("custom_fields")
                    ),
                )
            };
            execute(manager, copy, vec![tenant_id.into()]).await?;
            execute(manager, strip, vec![tenant_id.into()]).await?;
        }
        for key in indexed_keys(&fields) {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON customer_scores (tenant_id, {})",
                index_name("customer_scores", "computed", key),
                decimal_expr(backend, "computed", key)
            ))
            .await?;
        }
        manager.drop_index(Index::drop().name(OLD_TIER_INDEX).table(Alias::new("customers")).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Alias::new("customers")).drop_column(Alias::new("tier")).to_owned())
            .await?;
        index_tier(manager, NEW_TIER_INDEX, scores).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let pg = backend == DatabaseBackend::Postgres;
        let customers = Alias::new("customers");
        add_tier(manager, customers.clone()).await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE customers SET tier = (SELECT s.tier FROM customer_scores s \
             WHERE s.tenant_id = customers.tenant_id AND s.customer_id = customers.id)",
        )
        .await?;
        index_tier(manager, OLD_TIER_INDEX, customers.clone()).await?;
        let merge = if pg {
            "UPDATE customers c SET custom_fields = c.custom_fields || s.computed FROM customer_scores s \
             WHERE s.tenant_id = c.tenant_id AND s.customer_id = c.id AND s.computed <> '{}'::jsonb"
        } else {
            "UPDATE customers SET custom_fields = json_patch(customers.custom_fields, s.computed) FROM customer_scores s \
             WHERE s.tenant_id = customers.tenant_id AND s.customer_id = customers.id AND s.computed <> '{}'"
        };
        db.execute_unprepared(merge).await?;
        let fields = computed_fields(manager).await?;
        for key in indexed_keys(&fields) {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {}", index_name("customer_scores", "computed", key)))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {} ON customers (tenant_id, {})",
                index_name("customers", "custom_fields", key),
                decimal_expr(backend, "custom_fields", key)
            ))
            .await?;
        }
        let scores = Alias::new("customer_scores");
        manager.drop_index(Index::drop().name(NEW_TIER_INDEX).table(scores.clone()).to_owned()).await?;
        for column in ["computed", "tier"] {
            manager
                .alter_table(Table::alter().table(scores.clone()).drop_column(Alias::new(column)).to_owned())
                .await?;
        }
        Ok(())
    }
}
