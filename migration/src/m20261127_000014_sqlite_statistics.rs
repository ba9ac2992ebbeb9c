//! SQLite files analysed by an earlier `guanxi seed` lack statistics for `customer_scores`
//! (without them SQLite read every customer of a tenant through a computed-value index for each
//! page of customers) and keep value samples that make it compile statements again on every run.
//! A file never analysed is left alone: its planner has no statistics to mend. PostgreSQL's
//! statistics are kept by `ANALYZE` and autovacuum; nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::statistics::{analyze, sqlite_has_table};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000014_sqlite_statistics"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DatabaseBackend::Sqlite || !sqlite_has_table(db, "sqlite_stat1").await? {
            return Ok(());
        }
        analyze(db, "customer_scores").await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Statistics are not schema: there is nothing to undo.
        Ok(())
    }
}
