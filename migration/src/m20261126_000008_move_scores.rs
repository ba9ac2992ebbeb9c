//! Score details move from a column of `customers` to a table of their own. Every customer read
//! decoded them (about 1 KB of JSON per customer, a tenth of the 360° page's server time) though
//! only `Customer.scores` and `score(key)` show them; those now load them in batches. The
//! computed values stay in `customers.custom_fields`, where filters and orders use them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000008_move_scores"
    }
}

#[derive(DeriveIden)]
enum CustomerScores {
    Table,
    TenantId,
    CustomerId,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomerScores::Table)
                    .col(ColumnDef::new(CustomerScores::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomerScores::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerScores::Details).json_binary().not_null())
                    .primary_key(Index::create().col(CustomerScores::TenantId).col(CustomerScores::CustomerId))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let empty = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "'{}'::jsonb",
            _ => "'{}'",
        };
        db.execute_unprepared(&format!(
            "INSERT INTO customer_scores (tenant_id, customer_id, details) \
             SELECT tenant_id, id, scores FROM customers WHERE scores <> {empty}"
        ))
        .await?;
        manager
            .alter_table(Table::alter().table(Alias::new("customers")).drop_column(Alias::new("scores")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("customers"))
                    .add_column(ColumnDef::new(Alias::new("scores")).json_binary().not_null().default("{}"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE customers SET scores = (SELECT s.details FROM customer_scores s \
                 WHERE s.tenant_id = customers.tenant_id AND s.customer_id = customers.id) \
                 WHERE EXISTS (SELECT 1 FROM customer_scores s \
                 WHERE s.tenant_id = customers.tenant_id AND s.customer_id = customers.id)",
            )
            .await?;
        manager.drop_table(Table::drop().table(CustomerScores::Table).to_owned()).await
    }
}
