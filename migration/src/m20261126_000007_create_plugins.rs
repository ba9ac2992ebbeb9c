//! WebAssembly plugins per tenant: their bytes (shared by sha256, so every replica can load them),
//! installations, validator attachments, run records, the durable queue of customers to score,
//! recompute requests, and the scores kept on each customer.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000007_create_plugins"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Binaries::Table)
                    .col(ColumnDef::new(Binaries::Sha256).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Binaries::Bytes).blob().not_null())
                    .col(ColumnDef::new(Binaries::Size).integer().not_null())
                    .col(ColumnDef::new(Binaries::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Plugins::Table)
                    .col(ColumnDef::new(Plugins::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Plugins::Id).uuid().not_null())
                    .col(ColumnDef::new(Plugins::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Plugins::Version).string_len(64).not_null())
                    .col(ColumnDef::new(Plugins::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(Plugins::Capabilities).json_binary().not_null())
                    .col(ColumnDef::new(Plugins::ScoreKeys).json_binary().not_null())
                    .col(ColumnDef::new(Plugins::Config).json_binary())
                    .col(ColumnDef::new(Plugins::Limits).json_binary().not_null())
                    .col(ColumnDef::new(Plugins::Enabled).boolean().not_null())
                    .col(ColumnDef::new(Plugins::Revision).integer().not_null())
                    .col(ColumnDef::new(Plugins::InstalledAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Plugins::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Plugins::TenantId).col(Plugins::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plugins_tenant_name")
                    .table(Plugins::Table)
                    .col(Plugins::TenantId)
                    .col(Plugins::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Validators::Table)
                    .col(ColumnDef::new(Validators::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Validators::Entity).string_len(32).not_null())
                    .col(ColumnDef::new(Validators::Field).string_len(63).not_null())
                    .col(ColumnDef::new(Validators::PluginId).uuid().not_null())
                    .col(ColumnDef::new(Validators::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Validators::TenantId)
                            .col(Validators::Entity)
                            .col(Validators::Field)
                            .col(Validators::PluginId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Runs::Table)
                    .col(ColumnDef::new(Runs::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Runs::Id).uuid().not_null())
                    .col(ColumnDef::new(Runs::PluginId).uuid().not_null())
                    .col(ColumnDef::new(Runs::Version).string_len(64).not_null())
                    .col(ColumnDef::new(Runs::Call).string_len(16).not_null())
                    .col(ColumnDef::new(Runs::Items).integer().not_null())
                    .col(ColumnDef::new(Runs::Outcome).string_len(32).not_null())
                    .col(ColumnDef::new(Runs::Error).text())
                    .col(ColumnDef::new(Runs::FuelUsed).big_integer().not_null())
                    .col(ColumnDef::new(Runs::MemoryPeakBytes).big_integer().not_null())
                    .col(ColumnDef::new(Runs::DurationUs).big_integer().not_null())
                    .col(ColumnDef::new(Runs::Logs).text().not_null())
                    .col(ColumnDef::new(Runs::At).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Runs::TenantId).col(Runs::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plugin_runs_plugin")
                    .table(Runs::Table)
                    .col(Runs::TenantId)
                    .col(Runs::PluginId)
                    .col(Runs::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Queue::Table)
                    .col(ColumnDef::new(Queue::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Queue::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Queue::Ticket).uuid().not_null())
                    .col(ColumnDef::new(Queue::ClaimedUntil).timestamp_with_time_zone())
                    .primary_key(Index::create().col(Queue::TenantId).col(Queue::CustomerId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("score_queue_ticket").table(Queue::Table).col(Queue::Ticket).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScoreRuns::Table)
                    .col(ColumnDef::new(ScoreRuns::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ScoreRuns::Id).uuid().not_null())
                    .col(ColumnDef::new(ScoreRuns::PluginId).uuid())
                    .col(ColumnDef::new(ScoreRuns::Total).big_integer().not_null())
                    .col(ColumnDef::new(ScoreRuns::StartedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(ScoreRuns::TenantId).col(ScoreRuns::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("customers"))
                    .add_column(ColumnDef::new(Alias::new("scores")).json_binary().not_null().default("{}"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Alias::new("customers")).drop_column(Alias::new("scores")).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(ScoreRuns::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Queue::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Runs::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Validators::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Plugins::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Binaries::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Binaries {
    #[sea_orm(iden = "plugin_binaries")]
    Table,
    Sha256,
    Bytes,
    Size,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Plugins {
    #[sea_orm(iden = "plugins")]
    Table,
    TenantId,
    Id,
    Name,
    Version,
    Sha256,
    Capabilities,
    ScoreKeys,
    Config,
    Limits,
    Enabled,
    Revision,
    InstalledAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Validators {
    #[sea_orm(iden = "plugin_validators")]
    Table,
    TenantId,
    Entity,
    Field,
    PluginId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Runs {
    #[sea_orm(iden = "plugin_runs")]
    Table,
    TenantId,
    Id,
    PluginId,
    Version,
    Call,
    Items,
    Outcome,
    Error,
    FuelUsed,
    MemoryPeakBytes,
    DurationUs,
    Logs,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Queue {
    #[sea_orm(iden = "score_queue")]
    Table,
    TenantId,
    CustomerId,
    Ticket,
    ClaimedUntil,
}

#[derive(DeriveIden, Clone, Copy)]
enum ScoreRuns {
    #[sea_orm(iden = "score_runs")]
    Table,
    TenantId,
    Id,
    PluginId,
    Total,
    StartedAt,
}
