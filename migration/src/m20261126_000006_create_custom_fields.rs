//! Tenant-defined custom fields: their definitions, and a JSON column of values on each entity.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000006_create_custom_fields"
    }
}

/// The tables whose rows carry custom values.
const ENTITY_TABLES: [&str; 4] = ["customers", "interactions", "complaints", "key_account_plans"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Definitions::Table)
                    .col(ColumnDef::new(Definitions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Definitions::Id).uuid().not_null())
                    .col(ColumnDef::new(Definitions::Entity).string_len(32).not_null())
                    .col(ColumnDef::new(Definitions::Key).string_len(63).not_null())
                    .col(ColumnDef::new(Definitions::Label).string_len(200).not_null())
                    .col(ColumnDef::new(Definitions::Description).text())
                    .col(ColumnDef::new(Definitions::Type).string_len(16).not_null())
                    .col(ColumnDef::new(Definitions::Required).boolean().not_null())
                    .col(ColumnDef::new(Definitions::Options).json_binary())
                    .col(ColumnDef::new(Definitions::DefaultValue).json_binary())
                    .col(ColumnDef::new(Definitions::Indexed).boolean().not_null())
                    .col(ColumnDef::new(Definitions::Archived).boolean().not_null())
                    .col(ColumnDef::new(Definitions::Source).string_len(16).not_null())
                    .col(ColumnDef::new(Definitions::Position).integer().not_null())
                    .col(ColumnDef::new(Definitions::Version).integer().not_null())
                    .col(ColumnDef::new(Definitions::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Definitions::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Definitions::TenantId).col(Definitions::Id))
                    .to_owned(),
            )
            .await?;
        // Archived definitions keep their key: their values stay stored and return on restore.
        manager
            .create_index(
                Index::create()
                    .name("custom_field_definitions_tenant_entity_key")
                    .table(Definitions::Table)
                    .col(Definitions::TenantId)
                    .col(Definitions::Entity)
                    .col(Definitions::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        for table in ENTITY_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Alias::new("custom_fields")).json_binary().not_null().default("{}"))
                        .to_owned(),
                )
                .await?;
            if postgres {
                // Containment filters (`custom_fields @> '{"k": ["a"]}'`) are answered by GIN.
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "CREATE INDEX {table}_custom_fields_gin_idx ON {table} USING GIN (custom_fields jsonb_path_ops)"
                    ))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Expression indexes made for `indexed: true` definitions go with the column.
            for table in ENTITY_TABLES {
                manager
                    .get_connection()
                    .execute_unprepared(&format!("DROP INDEX IF EXISTS {table}_custom_fields_gin_idx"))
                    .await?;
            }
        }
        for table in ENTITY_TABLES {
            manager
                .alter_table(
                    Table::alter().table(Alias::new(table)).drop_column(Alias::new("custom_fields")).to_owned(),
                )
                .await?;
        }
        manager.drop_table(Table::drop().table(Definitions::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Definitions {
    #[sea_orm(iden = "custom_field_definitions")]
    Table,
    TenantId,
    Id,
    Entity,
    Key,
    Label,
    Description,
    Type,
    Required,
    Options,
    DefaultValue,
    Indexed,
    Archived,
    Source,
    Position,
    Version,
    CreatedAt,
    UpdatedAt,
}
