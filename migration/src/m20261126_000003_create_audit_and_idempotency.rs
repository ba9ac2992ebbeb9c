//! The append-only audit trail and the remembered responses of `Idempotency-Key` requests.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000003_create_audit_and_idempotency"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .col(ColumnDef::new(AuditEntries::TenantId).uuid().not_null())
                    .col(ColumnDef::new(AuditEntries::Id).uuid().not_null())
                    .col(ColumnDef::new(AuditEntries::ActorId).uuid())
                    .col(ColumnDef::new(AuditEntries::EntityKind).string_len(32).not_null())
                    .col(ColumnDef::new(AuditEntries::EntityId).uuid().not_null())
                    .col(ColumnDef::new(AuditEntries::Action).string_len(16).not_null())
                    .col(ColumnDef::new(AuditEntries::Changes).json_binary().not_null())
                    .col(ColumnDef::new(AuditEntries::At).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(AuditEntries::TenantId).col(AuditEntries::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_entries_tenant_entity_idx")
                    .table(AuditEntries::Table)
                    .col(AuditEntries::TenantId)
                    .col(AuditEntries::EntityId)
                    .col(AuditEntries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecords::Table)
                    .col(ColumnDef::new(IdempotencyRecords::TenantId).uuid().not_null())
                    .col(ColumnDef::new(IdempotencyRecords::UserId).uuid().not_null())
                    .col(ColumnDef::new(IdempotencyRecords::Key).string_len(255).not_null())
                    .col(ColumnDef::new(IdempotencyRecords::RequestHash).string_len(64).not_null())
                    .col(ColumnDef::new(IdempotencyRecords::ResponseStatus).integer())
                    .col(ColumnDef::new(IdempotencyRecords::ResponseBody).text())
                    .col(ColumnDef::new(IdempotencyRecords::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(IdempotencyRecords::TenantId)
                            .col(IdempotencyRecords::UserId)
                            .col(IdempotencyRecords::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_records_created_idx")
                    .table(IdempotencyRecords::Table)
                    .col(IdempotencyRecords::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyRecords::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEntries::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    TenantId,
    Id,
    ActorId,
    EntityKind,
    EntityId,
    Action,
    Changes,
    At,
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    TenantId,
    UserId,
    Key,
    RequestHash,
    ResponseStatus,
    ResponseBody,
    CreatedAt,
}
