//! SQLite files analysed by an earlier `guanxi seed` lack statistics for `customer_scores`
//! (without them SQLite read every customer of a tenant through a computed-value index for each
//! page of customers) and keep value samples that make it compile statements again on every run.
//! A file never analysed is left alone: its planner has no statistics to mend. PostgreSQL's
//! statistics are kept by `ANALYZE` and autovacuum; nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

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
        if db.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        let exists = async |table: &str| -> Result<bool, DbErr> {
            let sql = format!("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
            Ok(db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await?.is_some())
        };
        if !exists("sqlite_stat1").await? {
            return Ok(());
        }
        db.execute_unprepared("ANALYZE customer_scores").await?;
        if exists("sqlite_stat4").await? {
            db.execute_unprepared("DELETE FROM sqlite_stat4").await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Statistics are not schema: there is nothing to undo.
        Ok(())
    }
}
