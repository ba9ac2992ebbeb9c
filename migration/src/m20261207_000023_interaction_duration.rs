//! How long an interaction took (a visit, a call, a meeting), in minutes.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000023_interaction_duration"
    }
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    DurationMinutes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Interactions::Table)
                    .add_column(ColumnDef::new(Interactions::DurationMinutes).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Interactions::Table).drop_column(Interactions::DurationMinutes).to_owned(),
            )
            .await
    }
}
