//! Customers, with the indexes that keyset pagination over each order key needs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000002_create_customers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Names sort by code point on both databases (SQLite's BINARY), so that ordering, keyset
        // cursors and `startsWith` agree everywhere; a locale collation would make PostgreSQL
        // order differently from SQLite and from the cursor comparison.
        let mut name = ColumnDef::new(Customers::Name);
        name.string_len(200).not_null();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            name.extra("COLLATE \"C\"");
        }
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(ColumnDef::new(Customers::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Customers::Id).uuid().not_null())
                    .col(ColumnDef::new(Customers::Kind).string_len(16).not_null())
                    .col(&mut name)
                    .col(ColumnDef::new(Customers::Email).string_len(320))
                    .col(ColumnDef::new(Customers::Phone).string_len(32))
                    .col(ColumnDef::new(Customers::Region).string_len(200))
                    .col(ColumnDef::new(Customers::Industry).string_len(200))
                    .col(ColumnDef::new(Customers::CreditCode).string_len(18))
                    .col(ColumnDef::new(Customers::Channel).string_len(200))
                    .col(ColumnDef::new(Customers::Tags).json_binary().not_null())
                    .col(ColumnDef::new(Customers::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Customers::RelationshipType).string_len(16))
                    .col(ColumnDef::new(Customers::OwnerId).uuid())
                    .col(ColumnDef::new(Customers::Version).integer().not_null())
                    .col(ColumnDef::new(Customers::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Customers::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Customers::TenantId).col(Customers::Id))
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, &[Customers]); 6] = [
            ("customers_tenant_name_idx", &[Customers::Name, Customers::Id]),
            ("customers_tenant_created_idx", &[Customers::CreatedAt, Customers::Id]),
            ("customers_tenant_updated_idx", &[Customers::UpdatedAt, Customers::Id]),
            ("customers_tenant_status_name_idx", &[Customers::Status, Customers::Name, Customers::Id]),
            ("customers_tenant_owner_idx", &[Customers::OwnerId, Customers::Name, Customers::Id]),
            ("customers_tenant_email_idx", &[Customers::Email]),
        ];
        for (index_name, cols) in indexes {
            let mut index = Index::create();
            index.name(index_name).table(Customers::Table).col(Customers::TenantId);
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Tag filters are jsonb containment (`tags @> '["vip"]'`), which GIN answers.
            manager
                .get_connection()
                .execute_unprepared("CREATE INDEX customers_tags_gin_idx ON customers USING GIN (tags jsonb_path_ops)")
                .await?;
        }
        // One organization per credit code in a tenant; NULLs (individuals) do not collide.
        manager
            .create_index(
                Index::create()
                    .name("customers_tenant_credit_code_key")
                    .table(Customers::Table)
                    .col(Customers::TenantId)
                    .col(Customers::CreditCode)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Customers::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    TenantId,
    Id,
    Kind,
    Name,
    Email,
    Phone,
    Region,
    Industry,
    CreditCode,
    Channel,
    Tags,
    Status,
    RelationshipType,
    OwnerId,
    Version,
    CreatedAt,
    UpdatedAt,
}
