//! The latest interaction of each kind, kept with a customer's figures (`customer_stats`), so a
//! scoring snapshot's days since the last interaction of each kind cost no read of the timeline:
//! a customer's whole history per kind, grouped for every batch of a scoring sweep, cost about 10
//! ms per 200 customers on PostgreSQL and 15 ms on SQLite (against 1–2 ms for the other figures),
//! where the row is read anyway. Existing rows are filled from the interactions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000025_last_interaction_by_kind"
    }
}

#[derive(DeriveIden)]
enum CustomerStats {
    Table,
    LastInteractionAtByKind,
}

/// Fills every row from its customer's interactions: `{ kind: latest occurred_at }`, times as
/// RFC 3339 text (what the server writes and reads back).
fn fill(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            "UPDATE customer_stats s SET last_interaction_at_by_kind = k.latest \
             FROM (SELECT tenant_id, customer_id, \
                          jsonb_object_agg(kind, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) AS latest \
                   FROM (SELECT tenant_id, customer_id, kind, max(occurred_at) AS at FROM interactions \
                         GROUP BY tenant_id, customer_id, kind) per_kind \
                   GROUP BY tenant_id, customer_id) k \
             WHERE s.tenant_id = k.tenant_id AND s.customer_id = k.customer_id"
        }
        _ => {
            "UPDATE customer_stats SET last_interaction_at_by_kind = COALESCE(( \
               SELECT json_group_object(kind, at) FROM ( \
                 SELECT kind, max(occurred_at) AS at FROM interactions i \
                 WHERE i.tenant_id = customer_stats.tenant_id AND i.customer_id = customer_stats.customer_id \
                 GROUP BY kind)), '{}')"
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerStats::Table)
                    .add_column(
                        ColumnDef::new(CustomerStats::LastInteractionAtByKind).json_binary().not_null().default("{}"),
                    )
                    .to_owned(),
            )
            .await?;
        manager.get_connection().execute_unprepared(fill(manager.get_database_backend())).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerStats::Table)
                    .drop_column(CustomerStats::LastInteractionAtByKind)
                    .to_owned(),
            )
            .await
    }
}
