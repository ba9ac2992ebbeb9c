//! Fingerprints of the scores last written for a customer (its computed values, and the
//! details a re-score compares), so the scoring worker can tell whether new scores change
//! anything without reading the stored JSON back: reading and parsing it was most of a
//! re-score's customer read, on the server and on PostgreSQL. Rows written before have none and
//! are written once more.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000013_fingerprint_scores"
    }
}

const COLUMNS: [&str; 2] = ["values_hash", "details_hash"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("customer_scores"))
                        .add_column(ColumnDef::new(Alias::new(column)).big_integer())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter().table(Alias::new("customer_scores")).drop_column(Alias::new(column)).to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
