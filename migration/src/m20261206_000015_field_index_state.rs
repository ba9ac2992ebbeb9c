//! Custom-field indexes are built in the background: each definition records where its index
//! stands (`NONE`, `BUILDING`, `READY`, `FAILED` with the reason). Indexed definitions start as
//! `BUILDING`; the server's index builder finds their indexes (or builds them) and marks them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000015_field_index_state"
    }
}

#[derive(DeriveIden)]
enum CustomFieldDefinitions {
    Table,
    Indexed,
    Archived,
    IndexState,
    IndexError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(CustomFieldDefinitions::Table)
                    .add_column(ColumnDef::new(CustomFieldDefinitions::IndexState).string().not_null().default("NONE"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CustomFieldDefinitions::Table)
                    .add_column(ColumnDef::new(CustomFieldDefinitions::IndexError).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(CustomFieldDefinitions::Table)
                    .value(CustomFieldDefinitions::IndexState, "BUILDING")
                    .and_where(Expr::col(CustomFieldDefinitions::Indexed).eq(true))
                    .and_where(Expr::col(CustomFieldDefinitions::Archived).eq(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [CustomFieldDefinitions::IndexError, CustomFieldDefinitions::IndexState] {
            manager
                .alter_table(Table::alter().table(CustomFieldDefinitions::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
