//! Persisted documents: the GraphQL documents a tenant's clients registered by hash (Apollo's
//! automatic persisted queries) and the ones its ADMIN trusted. Stored in the database so that
//! every replica answers a hash another replica learnt.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000024_persisted_documents"
    }
}

#[derive(DeriveIden)]
enum PersistedDocuments {
    Table,
    TenantId,
    Sha256,
    Document,
    Trusted,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersistedDocuments::Table)
                    .col(ColumnDef::new(PersistedDocuments::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PersistedDocuments::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(PersistedDocuments::Document).text().not_null())
                    .col(ColumnDef::new(PersistedDocuments::Trusted).boolean().not_null())
                    .col(ColumnDef::new(PersistedDocuments::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(PersistedDocuments::TenantId).col(PersistedDocuments::Sha256))
                    .to_owned(),
            )
            .await?;
        // The automatic ones of a tenant, oldest first: the ones evicted when it has too many.
        manager
            .create_index(
                Index::create()
                    .name("persisted_documents_age_idx")
                    .table(PersistedDocuments::Table)
                    .col(PersistedDocuments::TenantId)
                    .col(PersistedDocuments::Trusted)
                    .col(PersistedDocuments::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PersistedDocuments::Table).to_owned()).await
    }
}
