//! Whole-tenant re-scores as sweeps: one row per tenant with a cursor over its customers in id
//! order, instead of one queue row per customer. Queueing a tenant of 100,000 customers wrote
//! 100,000 queue rows, and the worker then claimed and deleted each of them: a third of the
//! database's work in a re-score that changed nothing.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000012_create_score_sweeps"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sweeps::Table)
                    .col(ColumnDef::new(Sweeps::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sweeps::Ticket).uuid().not_null())
                    .col(ColumnDef::new(Sweeps::FirstTicket).uuid().not_null())
                    .col(ColumnDef::new(Sweeps::ScoredTo).uuid())
                    .col(ColumnDef::new(Sweeps::ClaimedUntil).timestamp_with_time_zone())
                    .col(ColumnDef::new(Sweeps::ClaimedBy).uuid())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sweeps::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Sweeps {
    #[sea_orm(iden = "score_sweeps")]
    Table,
    TenantId,
    /// The latest whole-tenant request; a new one starts the sweep over.
    Ticket,
    /// The first request the sweep answers, kept when it starts over.
    FirstTicket,
    /// The last customer scored, in id order; none before the first round.
    ScoredTo,
    ClaimedUntil,
    ClaimedBy,
}
