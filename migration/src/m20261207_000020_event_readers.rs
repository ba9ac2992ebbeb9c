//! What readers of the outbox need: the owner a customer had when it changed (after a delete,
//! nothing else tells who may hear of it), and on PostgreSQL an index on `txid`, which each
//! read of new events ranges over.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000020_event_readers"
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    OwnerId,
    Txid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::OwnerId).uuid().null())
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .create_index(Index::create().name("events_txid_idx").table(Events::Table).col(Events::Txid).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.drop_index(Index::drop().name("events_txid_idx").table(Events::Table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Events::Table).drop_column(Events::OwnerId).to_owned()).await
    }
}
