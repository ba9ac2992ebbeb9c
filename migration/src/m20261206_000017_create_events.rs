//! The outbox: one row per committed change, written in the change's own transaction, numbered
//! per tenant in commit order, for whatever tells others of changes. A purge keeps a few days.
//!
//! `event_counters` holds each tenant's last number. A write takes the next one as its last
//! statement, so the counter row is locked only from there to the commit, and two changes of one
//! tenant can never commit in the opposite order of their numbers: a reader that has seen
//! number n has seen every earlier one.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000017_create_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventCounters::Table)
                    .col(ColumnDef::new(EventCounters::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(EventCounters::LastId).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Events::Id).big_integer().not_null())
                    .col(ColumnDef::new(Events::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Entity).string_len(32).not_null())
                    .col(ColumnDef::new(Events::EntityId).uuid().not_null())
                    .col(ColumnDef::new(Events::CustomerId).uuid())
                    .col(ColumnDef::new(Events::ActorId).uuid())
                    .col(ColumnDef::new(Events::ChangedFields).json_binary().not_null())
                    .col(ColumnDef::new(Events::At).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Events::TenantId).col(Events::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("events_at_idx").table(Events::Table).col(Events::At).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Events::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EventCounters::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum EventCounters {
    Table,
    TenantId,
    LastId,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    TenantId,
    Id,
    Name,
    Entity,
    EntityId,
    CustomerId,
    ActorId,
    ChangedFields,
    At,
}
