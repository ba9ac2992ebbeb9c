//! Customer queries, always scoped to one tenant.
//!
//! A customer's computed field values and tier live in its `customer_scores` row, which scoring
//! writes without touching the customer row; every read here joins that row in (by primary key)
//! and hands out one [`customer::Model`] with both.

use guanxi_entity::customer::{self, Column, Entity};
use guanxi_entity::customer_score::{self, Entity as Scores};
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    FromQueryResult, IntoActiveModel, PaginatorTrait, QueryFilter, QueryResult, QuerySelect, QueryTrait, Select,
    SelectModel, Selector,
};
use uuid::Uuid;

use super::custom_fields::COMPUTED_COLUMN;
use super::filter;
use super::rows::ByPosition;
use crate::error::Result;
use crate::query::{Filter, OrderKey, Page, PageRequest};

/// The column behind each field a filter or order names: the customer's own columns answer to
/// their GraphQL names; the tier and computed values are in the scores row.
fn column_of(name: &str) -> Option<Expr> {
    match name {
        "tier" => Some(Expr::col((Scores, customer_score::Column::Tier))),
        COMPUTED_COLUMN => Some(Expr::col((Scores, customer_score::Column::Computed))),
        _ => name.parse::<Column>().ok().map(|col| Expr::col((Entity, col))),
    }
}

/// The tenant's customers joined to their `customer_scores` rows.
fn in_tenant(tenant_id: Uuid) -> Select<Entity> {
    let mut select = Entity::find().filter(Column::TenantId.eq(tenant_id));
    QueryTrait::query(&mut select).inner_join(Scores, scores_of_customer());
    select
}

/// The scores row of the customer row.
fn scores_of_customer() -> Expr {
    Expr::col((Scores, customer_score::Column::TenantId))
        .equals((Entity, Column::TenantId))
        .and(Expr::col((Scores, customer_score::Column::CustomerId)).equals((Entity, Column::Id)))
}

/// The tenant's customers joined to their scores rows for a page in `order` under `filter`.
///
/// On SQLite, for a page of the whole tenant in an order of the customer's own columns, the
/// customers are the outer loop (`CROSS JOIN` is SQLite's inner join that keeps the order
/// written): SQLite 3.51 otherwise scanned every scores row and sorted the whole tenant for a
/// page by name (290 ms against 0.2 ms for 100,000 customers; BENCHMARKS.md). With a filter the
/// planner chose well (the filter's index, then the scores row by key), and a filter or order
/// on the tier or a computed value may rightly start from the scores row's indexes.
fn for_page(tenant_id: Uuid, filter: &Filter, order: &[OrderKey], backend: sea_orm::DatabaseBackend) -> Select<Entity> {
    let whole_tenant = matches!(filter, Filter::All(parts) if parts.is_empty());
    let orders_by_scores = order.iter().any(|key| match &key.field {
        crate::query::SortField::Field(spec) => spec.name == "tier",
        crate::query::SortField::Custom(custom) => custom.column() == COMPUTED_COLUMN,
    });
    if backend == sea_orm::DatabaseBackend::Sqlite && whole_tenant && !orders_by_scores {
        // The join's condition goes in WHERE: sea-query writes a cross join without `ON`.
        let mut select = Entity::find().filter(Column::TenantId.eq(tenant_id)).filter(scores_of_customer());
        QueryTrait::query(&mut select).cross_join(Scores);
        select
    } else {
        in_tenant(tenant_id)
    }
}

/// A customer row with the computed values and tier of its scores row.
struct Scored(customer::Model);

impl FromQueryResult for Scored {
    /// By position (see [`super::rows`]): a page of customers is read on every list.
    fn from_query_result(res: &QueryResult, _pre: &str) -> std::result::Result<Self, DbErr> {
        let columns = &mut super::rows::Columns::of(res, customer::Model::width() + 2)?;
        let mut model = customer::Model::read(columns)?;
        model.tier = columns.take()?;
        let computed: serde_json::Value = columns.take()?;
        if let (Some(own), serde_json::Value::Object(computed)) = (model.custom_fields.as_object_mut(), computed) {
            own.extend(computed);
        }
        Ok(Self(model))
    }
}

fn scored(select: Select<Entity>) -> Selector<SelectModel<Scored>> {
    select
        .expr_as(Expr::col((Scores, customer_score::Column::Tier)), "scored_tier")
        .expr_as(Expr::col((Scores, customer_score::Column::Computed)), "scored_computed")
        .into_model::<Scored>()
}

/// # Errors
/// Database failures.
pub async fn find(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<customer::Model>> {
    Ok(scored(in_tenant(tenant_id).filter(Column::Id.eq(id))).one(conn).await?.map(|s| s.0))
}

/// Reads a customer and, on PostgreSQL, locks its row (not its scores row, which the scoring
/// worker writes) until the transaction ends; SQLite's write transaction already excludes
/// other writers.
///
/// # Errors
/// Database failures.
pub async fn find_for_update(txn: &DatabaseTransaction, tenant_id: Uuid, id: Uuid) -> Result<Option<customer::Model>> {
    let mut select = in_tenant(tenant_id).filter(Column::Id.eq(id));
    QueryTrait::query(&mut select).lock_with_tables(LockType::Update, [Entity]);
    Ok(scored(select).one(txn).await?.map(|s| s.0))
}

/// Customers of many ids at once (for loaders).
///
/// # Errors
/// Database failures.
pub async fn find_many(conn: &impl ConnectionTrait, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<customer::Model>> {
    let select = in_tenant(tenant_id).filter(Column::Id.is_in(ids.iter().copied()));
    Ok(scored(select).all(conn).await?.into_iter().map(|s| s.0).collect())
}

/// Fingerprints of the scores last written for a customer (see `customer_scores`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreHashes {
    pub values: Option<i64>,
    pub details: Option<i64>,
}

/// What the scoring worker reads of a customer: the row, its tier, the fingerprints of its
/// stored scores, and the stored value of one computed field it watches for moves.
pub struct ScoringRow {
    pub customer: customer::Model,
    pub hashes: ScoreHashes,
    pub watched: Option<String>,
}

/// Customers of many ids at once for the scoring worker ([`ScoringRow`]), without the computed
/// values, which a snapshot leaves out and the worker compares by fingerprint, but the one
/// named `watched` (a computed field's key: lowercase letters, digits and `_`).
///
/// # Errors
/// Database failures.
pub async fn find_many_for_scoring(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
    watched: &'static str,
) -> Result<Vec<ScoringRow>> {
    debug_assert!(watched.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    // `->>` reads a JSON member as text on both databases (SQLite 3.38 and later).
    let stage = Expr::cust(format!("customer_scores.computed ->> '{watched}'"));
    let rows = in_tenant(tenant_id)
        .filter(Column::Id.is_in(ids.iter().copied()))
        .expr_as(Expr::col((Scores, customer_score::Column::Tier)), "scored_tier")
        .expr_as(Expr::col((Scores, customer_score::Column::ValuesHash)), "scored_values_hash")
        .expr_as(Expr::col((Scores, customer_score::Column::DetailsHash)), "scored_details_hash")
        .expr_as(stage, "scored_watched")
        .into_model::<ForScoring>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A customer row read for scoring ([`ScoringRow`]).
struct ForScoring(ScoringRow);

impl FromQueryResult for ForScoring {
    /// By position, as [`Scored`]: the scoring worker reads every customer of a re-score, and
    /// decoding by name was a tenth of its time.
    fn from_query_result(res: &QueryResult, _pre: &str) -> std::result::Result<Self, DbErr> {
        let columns = &mut super::rows::Columns::of(res, customer::Model::width() + 4)?;
        let mut customer = customer::Model::read(columns)?;
        customer.tier = columns.take()?;
        let hashes = ScoreHashes { values: columns.take()?, details: columns.take()? };
        Ok(Self(ScoringRow { customer, hashes, watched: columns.take()? }))
    }
}

/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<customer::Model>> {
    let backend = db.get_database_backend();
    let select = for_page(tenant_id, filter, order, backend).filter(filter::condition(filter, column_of, backend));
    let rows = scored(filter::page(select, order, page, column_of, backend)).all(db).await?;
    Ok(filter::finish_page(rows.into_iter().map(|s| s.0).collect(), page))
}

/// The statement [`list`] runs, for `EXPLAIN` (tests checking index use).
#[cfg(feature = "internals")]
#[must_use]
pub fn list_statement(
    backend: sea_orm::DatabaseBackend,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> sea_orm::Statement {
    let select = for_page(tenant_id, filter, order, backend).filter(filter::condition(filter, column_of, backend));
    scored(filter::page(select, order, page, column_of, backend)).into_statement(backend)
}

/// # Errors
/// Database failures.
pub async fn count(db: &DatabaseConnection, tenant_id: Uuid, filter: &Filter) -> Result<u64> {
    // Every customer has its scores row (made in the customer's insert), so the join only
    // matters to a filter on what that row holds; without it PostgreSQL counts from the
    // customers' index alone, several times faster.
    let select = if filter.reads("tier") || filter.reads(COMPUTED_COLUMN) {
        in_tenant(tenant_id)
    } else {
        Entity::find().filter(Column::TenantId.eq(tenant_id))
    };
    filter::count(db, select, filter, column_of).await
}

/// Is `code` used by a customer other than `except`?
///
/// # Errors
/// Database failures.
pub async fn credit_code_taken(conn: &impl ConnectionTrait, tenant_id: Uuid, code: &str, except: Uuid) -> Result<bool> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::CreditCode.eq(code))
        .filter(Column::Id.ne(except))
        .count(conn)
        .await?
        > 0)
}

/// Inserts a customer and its (empty) scores row.
///
/// # Errors
/// Database failures, including a unique-key violation on the credit code.
pub async fn insert(conn: &impl ConnectionTrait, model: &customer::Model) -> Result<()> {
    Entity::insert(model.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    super::scoring::add_rows(conn, model.tenant_id, &[model.id]).await
}

/// Writes `model` if the stored version is still `old_version`; false if it is not.
///
/// # Errors
/// Database failures.
pub async fn update(conn: &impl ConnectionTrait, model: &customer::Model, old_version: i32) -> Result<bool> {
    let result = Entity::update_many()
        .set(model.clone().into_active_model().reset_all())
        .filter(Column::TenantId.eq(model.tenant_id))
        .filter(Column::Id.eq(model.id))
        .filter(Column::Version.eq(old_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// # Errors
/// Database failures.
pub async fn delete(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<()> {
    Entity::delete_many().filter(Column::TenantId.eq(tenant_id)).filter(Column::Id.eq(id)).exec(conn).await?;
    Ok(())
}

/// How many customers matching `filter` are in each tier (`None`: not yet ranked).
///
/// # Errors
/// Database failures.
pub async fn count_by_tier(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
) -> Result<Vec<(Option<String>, i64)>> {
    Ok(in_tenant(tenant_id)
        .filter(filter::condition(filter, column_of, db.get_database_backend()))
        .select_only()
        .column(customer_score::Column::Tier)
        .expr(Expr::col((Entity, Column::Id)).count())
        .group_by(customer_score::Column::Tier)
        .into_tuple()
        .all(db)
        .await?)
}
