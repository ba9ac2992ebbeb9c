//! Rows read by position, for the reads a page repeats hundreds of times.
//!
//! sea-orm's derived decoding finds every column by name and, for each NULL, formats an error
//! message that its `Option` decoding then drops. On a 360° page that was a fifth of the
//! server's time: 300 interactions, 50 customers and their figures. These reads decode with the
//! driver's own decoders instead (the ones sea-orm calls), in the order the select lists the
//! columns: an entity's columns as declared, then any extra ones.

use sea_orm::sqlx::{self, Row as _};
use sea_orm::{ColumnTrait, ColumnType, DbErr, EntityTrait, FromQueryResult, Iterable, ModelTrait, QueryResult, Value};

/// A value both drivers decode, as sea-orm reads it (`Option<T>` for a nullable column).
pub trait Decodable:
    for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
{
}

impl<T> Decodable for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
{
}

enum Driver<'a> {
    Postgres(&'a sqlx::postgres::PgRow),
    Sqlite(&'a sqlx::sqlite::SqliteRow),
}

/// The columns of one row, read left to right.
pub struct Columns<'a> {
    row: Driver<'a>,
    at: usize,
}

impl<'a> Columns<'a> {
    /// The row's columns, which must number `expected`: a select that lists other columns than
    /// its reader expects is refused rather than read askew.
    ///
    /// # Errors
    /// A row of another width, or of a driver other than PostgreSQL or SQLite.
    pub fn of(res: &'a QueryResult, expected: usize) -> Result<Self, DbErr> {
        let (row, width) = if let Some(row) = res.try_as_pg_row() {
            (Driver::Postgres(row), row.len())
        } else if let Some(row) = res.try_as_sqlite_row() {
            (Driver::Sqlite(row), row.len())
        } else {
            return Err(DbErr::Type("rows are read by position only from PostgreSQL and SQLite".into()));
        };
        if width != expected {
            return Err(DbErr::Type(format!("a row of {width} columns where {expected} were expected")));
        }
        Ok(Self { row, at: 0 })
    }

    /// The next column's value.
    ///
    /// # Errors
    /// The column does not decode as `T` (NULL included, unless `T` is an `Option`).
    pub fn take<T: Decodable>(&mut self) -> Result<T, DbErr> {
        let at = self.at;
        self.at += 1;
        match self.row {
            Driver::Postgres(row) => row.try_get(at),
            Driver::Sqlite(row) => row.try_get(at),
        }
        .map_err(|e| DbErr::Type(format!("column {at}: {e}")))
    }
}

/// A model read from its entity's columns, in their declared order, each decoded as the type its
/// column declares: a column added to an entity is read with no change here.
pub trait ByPosition: Sized {
    /// How many columns the entity declares.
    fn width() -> usize;

    /// Reads the model's columns.
    ///
    /// # Errors
    /// A column that does not decode.
    fn read(columns: &mut Columns<'_>) -> Result<Self, DbErr>;
}

impl<M: ModelTrait + Default> ByPosition for M {
    fn width() -> usize {
        <M::Entity as EntityTrait>::Column::iter().count()
    }

    fn read(c: &mut Columns<'_>) -> Result<Self, DbErr> {
        let mut model = M::default();
        for column in <M::Entity as EntityTrait>::Column::iter() {
            let value = match column.def().get_column_type() {
                ColumnType::Uuid => Value::Uuid(c.take()?),
                ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Value::String(c.take()?),
                ColumnType::TimestampWithTimeZone => Value::ChronoDateTimeUtc(c.take()?),
                ColumnType::Date => Value::ChronoDate(c.take()?),
                ColumnType::Integer => Value::Int(c.take()?),
                ColumnType::BigInteger => Value::BigInt(c.take()?),
                ColumnType::Boolean => Value::Bool(c.take()?),
                ColumnType::Json | ColumnType::JsonBinary => {
                    Value::Json(c.take::<Option<serde_json::Value>>()?.map(Box::new))
                }
                other => return Err(DbErr::Type(format!("no reader by position for a {other:?} column"))),
            };
            model.try_set(column, value)?;
        }
        Ok(model)
    }
}

/// A model decoded by position, for `find_by_statement` and `into_model`.
pub struct Positional<M>(pub M);

impl<M: ByPosition> FromQueryResult for Positional<M> {
    fn from_query_result(res: &QueryResult, _pre: &str) -> Result<Self, DbErr> {
        M::read(&mut Columns::of(res, M::width())?).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use guanxi_entity::interaction;
    use sea_orm::{ConnectionTrait, Database, Statement};

    use super::*;

    /// Every column distinct and set, then every nullable one NULL: a reader that reads columns
    /// in another order than declared, or mishandles NULL, decodes differently from sea-orm.
    #[tokio::test]
    async fn position_and_name_read_the_same_interaction() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let backend = db.get_database_backend();
        db.execute_unprepared(
            "CREATE TABLE interactions (tenant_id BLOB, id BLOB, customer_id BLOB, kind TEXT, channel TEXT, \
             occurred_at TEXT, staff_id BLOB, summary TEXT, outcome TEXT, amount TEXT, currency TEXT, \
             satisfaction INTEGER, would_buy_again BOOLEAN, duration_minutes INTEGER, custom_fields TEXT, version INTEGER, \
             created_at TEXT, updated_at TEXT)",
        )
        .await
        .unwrap();
        let ids: Vec<sea_orm::Value> = (1..=4u128).map(|n| uuid::Uuid::from_u128(n).into()).collect();
        let full = Statement::from_sql_and_values(
            backend,
            "INSERT INTO interactions VALUES (?, ?, ?, 'SURVEY', 'PHONE', '2026-01-02T03:04:05Z', ?, 'summary', \
             'outcome', '12.50', 'CNY', 4, 1, 45, '{\"a\":1}', 3, '2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z')",
            ids.clone(),
        );
        db.execute_raw(full).await.unwrap();
        let sparse = Statement::from_sql_and_values(
            backend,
            "INSERT INTO interactions VALUES (?, ?, ?, 'NOTE', NULL, '2026-01-02T03:04:05Z', NULL, NULL, NULL, \
             NULL, NULL, NULL, NULL, NULL, '{}', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            vec![ids[0].clone(), ids[3].clone(), ids[2].clone()],
        );
        db.execute_raw(sparse).await.unwrap();
        let by_name = interaction::Entity::find().all(&db).await.unwrap();
        let by_position: Vec<_> =
            interaction::Entity::find().into_model::<Positional<interaction::Model>>().all(&db).await.unwrap();
        assert_eq!(by_name.len(), 2);
        assert_eq!(by_position.into_iter().map(|p| p.0).collect::<Vec<_>>(), by_name);
        assert_eq!(by_name[0].summary.as_deref(), Some("summary"));
        assert_eq!(by_name[1].summary, None);
    }

    #[tokio::test]
    async fn a_row_of_another_width_is_refused() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let stmt = Statement::from_string(db.get_database_backend(), "SELECT 1 AS a, 2 AS b");
        let err = Positional::<interaction::Model>::find_by_statement(stmt).one(&db).await.err().unwrap();
        assert!(err.to_string().contains("a row of 2 columns where 18 were expected"), "{err}");
    }
}
