//! Planner statistics, shared by the migrations and the server (`guanxi seed`, custom field
//! indexes), so that both leave SQLite's statistics in the same shape.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

/// Fresh planner statistics for `target`, a table or index name the caller chose (never input:
/// it goes into the SQL as written). On SQLite they are the row counts per index
/// (`sqlite_stat1`) without the value samples (`sqlite_stat4`): with samples, SQLite compiles a
/// statement again on every run whose bound values meet an indexed column, nearly every
/// statement here (an eighth of a SQLite re-score's CPU went to recompiling).
///
/// # Errors
/// Database failures.
pub async fn analyze(conn: &impl ConnectionTrait, target: &str) -> Result<(), DbErr> {
    conn.execute_unprepared(&format!("ANALYZE {target}")).await?;
    if conn.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    if sqlite_has_table(conn, "sqlite_stat4").await? {
        conn.execute_unprepared("DELETE FROM sqlite_stat4").await?;
        // Makes this connection load the statistics again, without the samples.
        conn.execute_unprepared("ANALYZE sqlite_master").await?;
    }
    Ok(())
}

/// Does the SQLite database have this table (`sqlite_stat1` once it was ever analysed)?
///
/// # Errors
/// Database failures.
pub async fn sqlite_has_table(conn: &impl ConnectionTrait, table: &'static str) -> Result<bool, DbErr> {
    let sql = format!("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
    Ok(conn.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await?.is_some())
}
