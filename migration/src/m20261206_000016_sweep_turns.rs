//! Sweeps take turns by tenant: each records when it last had a turn, and the worker gives the
//! next stretch to the sweep that waited longest, so a tenant that keeps asking for re-scores
//! cannot keep the worker on its own sweep.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000016_sweep_turns"
    }
}

#[derive(DeriveIden)]
enum ScoreSweeps {
    Table,
    TurnAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ScoreSweeps::Table)
                    .add_column(ColumnDef::new(ScoreSweeps::TurnAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(ScoreSweeps::Table).drop_column(ScoreSweeps::TurnAt).to_owned()).await
    }
}
