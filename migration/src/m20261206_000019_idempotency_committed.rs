//! When the writes of an `Idempotency-Key` request first committed. Set in each write's own
//! transaction, so a retry after the server died between the commit and storing the answer
//! knows the request's changes are in, and does not make them again.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000019_idempotency_committed"
    }
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    CommittedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyRecords::Table)
                    .add_column(ColumnDef::new(IdempotencyRecords::CommittedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(IdempotencyRecords::Table).drop_column(IdempotencyRecords::CommittedAt).to_owned(),
            )
            .await
    }
}
