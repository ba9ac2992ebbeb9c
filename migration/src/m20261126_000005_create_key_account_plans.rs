//! Key-account plans and their planned actions.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000005_create_key_account_plans"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .col(ColumnDef::new(Plans::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Plans::Id).uuid().not_null())
                    .col(ColumnDef::new(Plans::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Plans::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Plans::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Plans::PeriodStart).date().not_null())
                    .col(ColumnDef::new(Plans::PeriodEnd).date().not_null())
                    .col(ColumnDef::new(Plans::RevenueTarget).string_len(40))
                    .col(ColumnDef::new(Plans::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Plans::PlannedVisits).integer().not_null())
                    .col(ColumnDef::new(Plans::Objectives).json_binary().not_null())
                    .col(ColumnDef::new(Plans::Team).json_binary().not_null())
                    .col(ColumnDef::new(Plans::OwnerId).uuid())
                    .col(ColumnDef::new(Plans::Version).integer().not_null())
                    .col(ColumnDef::new(Plans::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Plans::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Plans::TenantId).col(Plans::Id))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("key_account_plans_customer_idx", vec![Plans::TenantId, Plans::CustomerId, Plans::CreatedAt, Plans::Id]),
            ("key_account_plans_created_idx", vec![Plans::TenantId, Plans::CreatedAt, Plans::Id]),
            ("key_account_plans_status_idx", vec![Plans::TenantId, Plans::Status, Plans::CreatedAt, Plans::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Plans::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Actions::Table)
                    .col(ColumnDef::new(Actions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Actions::Id).uuid().not_null())
                    .col(ColumnDef::new(Actions::PlanId).uuid().not_null())
                    .col(ColumnDef::new(Actions::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Actions::DueDate).date())
                    .col(ColumnDef::new(Actions::AssigneeId).uuid())
                    .col(ColumnDef::new(Actions::Done).boolean().not_null())
                    .col(ColumnDef::new(Actions::DoneAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Actions::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Actions::TenantId).col(Actions::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plan_actions_plan_idx")
                    .table(Actions::Table)
                    .col(Actions::TenantId)
                    .col(Actions::PlanId)
                    .col(Actions::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Actions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Plans::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Plans {
    #[sea_orm(iden = "key_account_plans")]
    Table,
    TenantId,
    Id,
    CustomerId,
    Title,
    Status,
    PeriodStart,
    PeriodEnd,
    RevenueTarget,
    Currency,
    PlannedVisits,
    Objectives,
    Team,
    OwnerId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Actions {
    #[sea_orm(iden = "plan_actions")]
    Table,
    TenantId,
    Id,
    PlanId,
    Title,
    DueDate,
    AssigneeId,
    Done,
    DoneAt,
    CreatedAt,
}
