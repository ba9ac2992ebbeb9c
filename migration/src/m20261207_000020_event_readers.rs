//! What readers of the outbox need: the owner a customer had when it changed (after a delete,
//! nothing else tells who may hear of it), and on PostgreSQL an index on `txid`, which each
//! read of new events ranges over. The outbox may be large by now, and migrations run in one
//! transaction, where the index could not be built without blocking writes: the server's index
//! builder makes it `CONCURRENTLY` after the migrations (`store::deferred_indexes` in the api
//! crate). A database that ran the first form of this migration has it already.

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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .drop_index(Index::drop().name("events_txid_idx").table(Events::Table).if_exists().to_owned())
                .await?;
        }
        manager.alter_table(Table::alter().table(Events::Table).drop_column(Events::OwnerId).to_owned()).await
    }
}
