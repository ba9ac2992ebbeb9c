//! Webhooks: the addresses a tenant's ADMIN registers, one delivery per (webhook, event) with
//! the record of each attempt, and the outbox readers' positions.
//!
//! A delivery is made from an outbox event by whichever replica reads the outbox for webhooks
//! first (`outbox_readers` keeps where that reading stands, so a restart misses nothing and
//! reads nothing twice), and is sent by whichever replica claims it: a claim is a lease
//! (`lease_until`), so a delivery whose sender died is sent again once the lease runs out. The
//! pending deliveries have a partial index of their own: the claims read only those.

use sea_orm_migration::prelude::*;

use crate::partial_index::PartialIndex;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000022_create_webhooks"
    }
}

const PENDING: PartialIndex = PartialIndex {
    name: "webhook_deliveries_pending_idx",
    table: "webhook_deliveries",
    columns: &["tenant_id", "next_attempt_at"],
    only: ("status", "PENDING"),
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(ColumnDef::new(Webhooks::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Webhooks::Id).uuid().not_null())
                    .col(ColumnDef::new(Webhooks::Url).string_len(2048).not_null())
                    .col(ColumnDef::new(Webhooks::Events).json_binary().not_null())
                    .col(ColumnDef::new(Webhooks::Enabled).boolean().not_null())
                    .col(ColumnDef::new(Webhooks::Secret).string_len(128).not_null())
                    .col(ColumnDef::new(Webhooks::PreviousSecret).string_len(128))
                    .col(ColumnDef::new(Webhooks::PreviousSecretUntil).timestamp_with_time_zone())
                    .col(ColumnDef::new(Webhooks::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Webhooks::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Webhooks::TenantId).col(Webhooks::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(ColumnDef::new(Deliveries::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::Id).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::WebhookId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::EventId).big_integer().not_null())
                    .col(ColumnDef::new(Deliveries::Event).string_len(64).not_null())
                    .col(ColumnDef::new(Deliveries::Attempt).integer().not_null())
                    .col(ColumnDef::new(Deliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Deliveries::ResponseStatus).integer())
                    .col(ColumnDef::new(Deliveries::Error).text())
                    .col(ColumnDef::new(Deliveries::NextAttemptAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Deliveries::RetryUntil).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Deliveries::LeaseUntil).timestamp_with_time_zone())
                    .col(ColumnDef::new(Deliveries::Claim).uuid())
                    .col(ColumnDef::new(Deliveries::DeliveredAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Deliveries::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Deliveries::TenantId).col(Deliveries::Id))
                    .to_owned(),
            )
            .await?;
        // One delivery per webhook and event, whichever replica reads the event.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_event_idx")
                    .table(Deliveries::Table)
                    .col(Deliveries::WebhookId)
                    .col(Deliveries::EventId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A webhook's deliveries, newest first (v7 ids follow time).
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_webhook_idx")
                    .table(Deliveries::Table)
                    .col(Deliveries::WebhookId)
                    .col(Deliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_created_idx")
                    .table(Deliveries::Table)
                    .col(Deliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        PENDING.create(manager).await?;
        manager
            .create_table(
                Table::create()
                    .table(Attempts::Table)
                    .col(ColumnDef::new(Attempts::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Attempts::DeliveryId).uuid().not_null())
                    .col(ColumnDef::new(Attempts::Attempt).integer().not_null())
                    .col(ColumnDef::new(Attempts::At).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Attempts::ResponseStatus).integer())
                    .col(ColumnDef::new(Attempts::Error).text())
                    .col(ColumnDef::new(Attempts::DurationMs).integer().not_null())
                    .primary_key(
                        Index::create().col(Attempts::TenantId).col(Attempts::DeliveryId).col(Attempts::Attempt),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxReaders::Table)
                    .col(ColumnDef::new(OutboxReaders::Name).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(OutboxReaders::Position).text().not_null())
                    .col(ColumnDef::new(OutboxReaders::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OutboxReaders::Table.into_iden(),
            Attempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    TenantId,
    Id,
    Url,
    Events,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    #[sea_orm(iden = "webhook_deliveries")]
    Table,
    TenantId,
    Id,
    WebhookId,
    EventId,
    Event,
    Attempt,
    Status,
    ResponseStatus,
    Error,
    NextAttemptAt,
    RetryUntil,
    LeaseUntil,
    Claim,
    DeliveredAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Attempts {
    #[sea_orm(iden = "webhook_attempts")]
    Table,
    TenantId,
    DeliveryId,
    Attempt,
    At,
    ResponseStatus,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
enum OutboxReaders {
    Table,
    Name,
    Position,
    UpdatedAt,
}
