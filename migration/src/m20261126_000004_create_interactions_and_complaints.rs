//! The CRM timeline and complaint desk: interactions, maintained customer figures, complaints and
//! their transitions; tenant settings; and the customer's value tier.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000004_create_interactions_and_complaints"
    }
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + Clone + 'static,
    cols: &[&'static str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(Alias::new(*col));
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(ColumnDef::new(Tenants::Settings).json_binary().not_null().default("{}"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(ColumnDef::new(Customers::Tier).string_len(16))
                    .to_owned(),
            )
            .await?;
        index(manager, "customers_tenant_tier_idx", Customers::Table, &["tenant_id", "tier"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(Interactions::Table)
                    .col(ColumnDef::new(Interactions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Interactions::Id).uuid().not_null())
                    .col(ColumnDef::new(Interactions::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Interactions::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Interactions::Channel).string_len(200))
                    .col(ColumnDef::new(Interactions::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Interactions::StaffId).uuid())
                    .col(ColumnDef::new(Interactions::Summary).text())
                    .col(ColumnDef::new(Interactions::Outcome).text())
                    .col(ColumnDef::new(Interactions::Amount).string_len(40))
                    .col(ColumnDef::new(Interactions::Currency).string_len(3))
                    .col(ColumnDef::new(Interactions::Satisfaction).integer())
                    .col(ColumnDef::new(Interactions::WouldBuyAgain).boolean())
                    .col(ColumnDef::new(Interactions::Version).integer().not_null())
                    .col(ColumnDef::new(Interactions::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Interactions::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Interactions::TenantId).col(Interactions::Id))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "interactions_customer_time_idx",
            Interactions::Table,
            &["tenant_id", "customer_id", "occurred_at", "id"],
        )
        .await?;
        index(manager, "interactions_time_idx", Interactions::Table, &["tenant_id", "occurred_at", "id"]).await?;
        index(manager, "interactions_kind_time_idx", Interactions::Table, &["tenant_id", "kind", "occurred_at", "id"])
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerStats::Table)
                    .col(ColumnDef::new(CustomerStats::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomerStats::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerStats::PurchaseCount).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::PurchaseTotals).json_binary().not_null())
                    .col(ColumnDef::new(CustomerStats::FirstPurchaseAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(CustomerStats::LastPurchaseAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(CustomerStats::InteractionCount).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::InteractionCounts).json_binary().not_null())
                    .col(ColumnDef::new(CustomerStats::LastInteractionAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(CustomerStats::SatisfactionSum).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::SatisfactionCount).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::WouldBuyAgainYes).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::WouldBuyAgainCount).big_integer().not_null())
                    .col(ColumnDef::new(CustomerStats::ComplaintsOpen).json_binary().not_null())
                    .col(ColumnDef::new(CustomerStats::ComplaintsTotal).json_binary().not_null())
                    .primary_key(Index::create().col(CustomerStats::TenantId).col(CustomerStats::CustomerId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Complaints::Table)
                    .col(ColumnDef::new(Complaints::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Complaints::Id).uuid().not_null())
                    .col(ColumnDef::new(Complaints::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Complaints::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Complaints::Description).text())
                    .col(ColumnDef::new(Complaints::Category).string_len(32).not_null())
                    .col(ColumnDef::new(Complaints::Severity).string_len(16).not_null())
                    .col(ColumnDef::new(Complaints::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Complaints::AssigneeId).uuid())
                    .col(ColumnDef::new(Complaints::Resolution).text())
                    .col(ColumnDef::new(Complaints::Satisfaction).integer())
                    .col(ColumnDef::new(Complaints::ResponseDueAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Complaints::ResolutionDueAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Complaints::RespondedAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Complaints::ResolvedAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Complaints::Version).integer().not_null())
                    .col(ColumnDef::new(Complaints::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Complaints::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Complaints::TenantId).col(Complaints::Id))
                    .to_owned(),
            )
            .await?;
        index(manager, "complaints_customer_idx", Complaints::Table, &["tenant_id", "customer_id", "created_at", "id"])
            .await?;
        index(manager, "complaints_status_idx", Complaints::Table, &["tenant_id", "status", "created_at", "id"])
            .await?;
        index(manager, "complaints_assignee_idx", Complaints::Table, &["tenant_id", "assignee_id", "created_at", "id"])
            .await?;
        index(manager, "complaints_created_idx", Complaints::Table, &["tenant_id", "created_at", "id"]).await?;

        manager
            .create_table(
                Table::create()
                    .table(ComplaintTransitions::Table)
                    .col(ColumnDef::new(ComplaintTransitions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ComplaintTransitions::Id).uuid().not_null())
                    .col(ColumnDef::new(ComplaintTransitions::ComplaintId).uuid().not_null())
                    .col(ColumnDef::new(ComplaintTransitions::FromStatus).string_len(16))
                    .col(ColumnDef::new(ComplaintTransitions::ToStatus).string_len(16).not_null())
                    .col(ColumnDef::new(ComplaintTransitions::ById).uuid())
                    .col(ColumnDef::new(ComplaintTransitions::Note).text())
                    .col(ColumnDef::new(ComplaintTransitions::At).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(ComplaintTransitions::TenantId).col(ComplaintTransitions::Id))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "complaint_transitions_complaint_idx",
            ComplaintTransitions::Table,
            &["tenant_id", "complaint_id", "id"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["complaint_transitions", "complaints", "customer_stats", "interactions"] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        manager.drop_index(Index::drop().name("customers_tenant_tier_idx").table(Customers::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Customers::Table).drop_column(Customers::Tier).to_owned()).await?;
        manager.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::Settings).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Settings,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Tier,
}

#[derive(DeriveIden, Clone, Copy)]
enum Interactions {
    Table,
    TenantId,
    Id,
    CustomerId,
    Kind,
    Channel,
    OccurredAt,
    StaffId,
    Summary,
    Outcome,
    Amount,
    Currency,
    Satisfaction,
    WouldBuyAgain,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomerStats {
    Table,
    TenantId,
    CustomerId,
    PurchaseCount,
    PurchaseTotals,
    FirstPurchaseAt,
    LastPurchaseAt,
    InteractionCount,
    InteractionCounts,
    LastInteractionAt,
    SatisfactionSum,
    SatisfactionCount,
    WouldBuyAgainYes,
    WouldBuyAgainCount,
    ComplaintsOpen,
    ComplaintsTotal,
}

#[derive(DeriveIden, Clone, Copy)]
enum Complaints {
    Table,
    TenantId,
    Id,
    CustomerId,
    Title,
    Description,
    Category,
    Severity,
    Status,
    AssigneeId,
    Resolution,
    Satisfaction,
    ResponseDueAt,
    ResolutionDueAt,
    RespondedAt,
    ResolvedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ComplaintTransitions {
    Table,
    TenantId,
    Id,
    ComplaintId,
    FromStatus,
    ToStatus,
    ById,
    Note,
    At,
}
