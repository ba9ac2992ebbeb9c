//! The outbox: one row per committed change, written in the change's own transaction, for
//! whatever tells others of changes. A purge keeps a few days.
//!
//! Ids come from one sequence, so they increase but have gaps, and two writes of one tenant may
//! commit in the opposite order of their ids: an id is no cursor. On PostgreSQL each event keeps
//! its transaction's id (`txid`), and a reader keeps the snapshot of its last read instead
//! (`api/src/store/events.rs`, `Position`): the next read takes the events of the transactions
//! that snapshot saw in progress or not yet begun. Changes of one record take its row lock, so
//! its events are numbered in the order they committed. On SQLite, writes are one at a time and
//! ids follow commits.
//!
//! A per-tenant counter row would number events in commit order without gaps, but every write of
//! a tenant would then hold that row through its commit: commits could no longer share a disk
//! flush, and `recordInteraction` at 8 connections lost 13-17 % (BENCHMARKS.md).

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
        let mut txid = ColumnDef::new(Events::Txid);
        txid.big_integer();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            txid.not_null().default(Expr::cust("(pg_current_xact_id()::text::bigint)"));
        }
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Events::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Events::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Events::Entity).string_len(32).not_null())
                    .col(ColumnDef::new(Events::EntityId).uuid().not_null())
                    .col(ColumnDef::new(Events::CustomerId).uuid())
                    .col(ColumnDef::new(Events::ActorId).uuid())
                    .col(ColumnDef::new(Events::ChangedFields).json_binary().not_null())
                    .col(ColumnDef::new(Events::At).timestamp_with_time_zone().not_null())
                    .col(&mut txid)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("events_tenant_id_idx")
                    .table(Events::Table)
                    .col(Events::TenantId)
                    .col(Events::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("events_at_idx").table(Events::Table).col(Events::At).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Events::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    TenantId,
    Name,
    Entity,
    EntityId,
    CustomerId,
    ActorId,
    ChangedFields,
    At,
    Txid,
}
