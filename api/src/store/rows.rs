//! Rows read by position, for the reads a page repeats hundreds of times.
//!
//! sea-orm's derived decoding finds every column by name and, for each NULL, formats an error
//! message that its `Option` decoding then drops. On a 360° page that was a fifth of the
//! server's time: 300 interactions, 50 customers and their figures. These reads decode with the
//! driver's own decoders instead (the ones sea-orm calls), in the order the select lists the
//! columns: an entity's columns as declared, then any extra ones.

use std::any::TypeId;
use std::cell::RefCell;
use std::rc::Rc;

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
    #[inline]
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

impl<M: ModelTrait + Default + 'static> ByPosition for M {
    fn width() -> usize {
        <M::Entity as EntityTrait>::Column::iter().count()
    }

    fn read(c: &mut Columns<'_>) -> Result<Self, DbErr> {
        let plan = plan::<M>()?;
        let mut model = M::default();
        for (column, decode) in <M::Entity as EntityTrait>::Column::iter().zip(plan.iter()) {
            let value = match decode {
                Decode::Uuid => Value::Uuid(c.take()?),
                Decode::Text => Value::String(c.take()?),
                Decode::Time => Value::ChronoDateTimeUtc(c.take()?),
                Decode::Date => Value::ChronoDate(c.take()?),
                Decode::Int => Value::Int(c.take()?),
                Decode::BigInt => Value::BigInt(c.take()?),
                Decode::Bool => Value::Bool(c.take()?),
                Decode::Json => Value::Json(c.take::<Option<serde_json::Value>>()?.map(Box::new)),
            };
            model.try_set(column, value)?;
        }
        Ok(model)
    }
}

/// How a column is decoded, from the type its entity declares.
#[derive(Debug, Clone, Copy)]
enum Decode {
    Uuid,
    Text,
    Time,
    Date,
    Int,
    BigInt,
    Bool,
    Json,
}

/// How each column of `M` is decoded, worked out once per model and thread: building every
/// column's definition for every row cost a 360° page about 6 % of its rate. A handful of models
/// are read this way, so a list is searched, not hashed.
fn plan<M: ModelTrait + 'static>() -> Result<Rc<[Decode]>, DbErr> {
    thread_local! {
        static PLANS: RefCell<Vec<(TypeId, Rc<[Decode]>)>> = const { RefCell::new(Vec::new()) };
    }
    let model = TypeId::of::<M>();
    if let Some(plan) = PLANS.with_borrow(|plans| plans.iter().find(|(t, _)| *t == model).map(|(_, p)| Rc::clone(p))) {
        return Ok(plan);
    }
    let plan = <M::Entity as EntityTrait>::Column::iter()
        .map(|column| match column.def().get_column_type() {
            ColumnType::Uuid => Ok(Decode::Uuid),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Ok(Decode::Text),
            ColumnType::TimestampWithTimeZone => Ok(Decode::Time),
            ColumnType::Date => Ok(Decode::Date),
            ColumnType::Integer => Ok(Decode::Int),
            ColumnType::BigInteger => Ok(Decode::BigInt),
            ColumnType::Boolean => Ok(Decode::Bool),
            ColumnType::Json | ColumnType::JsonBinary => Ok(Decode::Json),
            other => Err(DbErr::Type(format!("no reader by position for a {other:?} column"))),
        })
        .collect::<Result<Rc<[Decode]>, DbErr>>()?;
    PLANS.with_borrow_mut(|plans| plans.push((model, Rc::clone(&plan))));
    Ok(plan)
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
    use guanxi_entity::{customer_stats, interaction};
    use sea_orm::{ConnectionTrait, Database, IntoActiveModel, Schema, Statement};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    /// Each row inserted by sea-orm into a table made from the entity, then read back by name
    /// and by position: a reader that takes columns in another order than declared, decodes a
    /// type otherwise, or mishandles NULL, reads differently from sea-orm.
    async fn read_alike<E>(rows: Vec<E::Model>)
    where
        E: EntityTrait + Default,
        E::Model: IntoActiveModel<E::ActiveModel> + ByPosition + PartialEq + std::fmt::Debug,
    {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let backend = db.get_database_backend();
        db.execute_raw(backend.build(&Schema::new(backend).create_table_from_entity(E::default()))).await.unwrap();
        let count = rows.len();
        for row in rows {
            E::insert(row.into_active_model()).exec_without_returning(&db).await.unwrap();
        }
        let by_name = E::find().all(&db).await.unwrap();
        let by_position: Vec<_> = E::find().into_model::<Positional<E::Model>>().all(&db).await.unwrap();
        assert_eq!(by_name.len(), count);
        assert_eq!(by_position.into_iter().map(|p| p.0).collect::<Vec<_>>(), by_name);
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[tokio::test]
    async fn position_and_name_read_the_same_interaction() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z").unwrap().to_utc();
        let full = interaction::Model {
            tenant_id: id(1),
            id: id(2),
            customer_id: id(3),
            kind: "SURVEY".into(),
            channel: Some("PHONE".into()),
            occurred_at: at,
            staff_id: Some(id(4)),
            summary: Some("summary".into()),
            outcome: Some("outcome".into()),
            amount: Some("12.50".into()),
            currency: Some("CNY".into()),
            satisfaction: Some(4),
            would_buy_again: Some(true),
            duration_minutes: Some(45),
            custom_fields: json!({ "a": 1 }),
            version: 3,
            created_at: at,
            updated_at: at,
        };
        let sparse = interaction::Model { id: id(5), kind: "NOTE".into(), summary: None, ..Default::default() };
        read_alike::<interaction::Entity>(vec![full, interaction::Model { tenant_id: id(1), ..sparse }]).await;
    }

    #[tokio::test]
    async fn position_and_name_read_the_same_figures() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().to_utc();
        let full = customer_stats::Model {
            tenant_id: id(1),
            customer_id: id(2),
            purchase_count: 3,
            purchase_totals: json!({ "CNY": "12.50" }),
            first_purchase_at: Some(at),
            last_purchase_at: Some(at),
            interaction_count: 5_000_000_000,
            interaction_counts: json!({ "VISIT": 2 }),
            last_interaction_at: Some(at),
            last_interaction_at_by_kind: json!({ "VISIT": "2026-01-02T03:04:05Z" }),
            satisfaction_sum: 9,
            satisfaction_count: 2,
            would_buy_again_yes: 1,
            would_buy_again_count: 2,
            complaints_open: json!({ "HIGH": 1 }),
            complaints_total: json!({ "HIGH": 2 }),
        };
        let sparse = customer_stats::Model { tenant_id: id(1), customer_id: id(3), ..Default::default() };
        read_alike::<customer_stats::Entity>(vec![full, sparse]).await;
    }

    #[tokio::test]
    async fn a_row_of_another_width_is_refused() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let stmt = Statement::from_string(db.get_database_backend(), "SELECT 1 AS a, 2 AS b");
        let err = Positional::<interaction::Model>::find_by_statement(stmt).one(&db).await.err().unwrap();
        assert!(err.to_string().contains("a row of 2 columns where 18 were expected"), "{err}");
    }
}
