//! Turns the domain's [`Filter`], order and keyset page into SQL conditions, for any entity whose
//! field names map to columns.
//!
//! Comparisons on nullable columns are guarded with `col IS NOT NULL AND …`, which makes the
//! logic two-valued: `not: { email: { eq: "x" } }` then matches rows without an e-mail, as the
//! plain reading says, instead of SQL's NULL-swallowing three-valued answer.

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr, NullOrdering};
use sea_orm::{DatabaseBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Select, Value};

use super::custom_fields::value_expr;
use crate::query::{Filter, Op, OrderKey, PageRequest, Scalar, SortField};

/// Maps a field name of the entity's description to its column expression.
pub type ColumnOf = fn(&str) -> Option<Expr>;

fn value(s: &Scalar, backend: DatabaseBackend) -> Value {
    match s {
        Scalar::Str(v) => v.clone().into(),
        Scalar::Int(v) => (*v).into(),
        Scalar::Time(v) => (*v).into(),
        Scalar::Uuid(v) => (*v).into(),
        Scalar::Bool(v) => (*v).into(),
        // SQLite compares decimals as REAL (custom decimal values are cast the same way).
        Scalar::Dec(v) if backend == DatabaseBackend::Sqlite => {
            use rust_decimal::prelude::ToPrimitive;
            v.to_f64().into()
        }
        Scalar::Dec(v) => (*v).into(),
        Scalar::Null => Value::String(None),
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The condition for `filter`.
#[must_use]
pub fn condition(filter: &Filter, column_of: ColumnOf, backend: DatabaseBackend) -> Condition {
    let recurse = |f: &Filter| condition(f, column_of, backend);
    match filter {
        Filter::All(parts) => parts.iter().fold(Condition::all(), |c, f| c.add(recurse(f))),
        Filter::Any(parts) => {
            // An empty `or` matches nothing, like an empty `in`.
            parts.iter().fold(Condition::any().add(Expr::val(1).eq(0)), |c, f| c.add(recurse(f)))
        }
        Filter::Not(inner) => recurse(inner).not(),
        Filter::Field(spec, op) => match column_of(spec.name) {
            Some(col) => compare(col, op, spec.nullable, column_of, backend),
            None => Condition::all().add(Expr::val(1).eq(0)),
        },
        Filter::Custom(key, op) => match column_of(key.column()) {
            Some(stored) => match op {
                Op::HasAny(values) if backend == DatabaseBackend::Postgres => {
                    values.iter().fold(Condition::any().add(Expr::val(1).eq(0)), |c, v| {
                        c.add(custom_list_contains(backend, stored.clone(), &key.key, std::slice::from_ref(v)))
                    })
                }
                Op::HasAny(values) => Condition::all().add(sqlite_array_holds(stored, Some(&key.key), values, false)),
                Op::HasAll(values) => Condition::all().add(custom_list_contains(backend, stored, &key.key, values)),
                Op::IsEmpty(empty) => {
                    let length = match backend {
                        DatabaseBackend::Postgres => Expr::cust_with_exprs(
                            format!(
                                "COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof($1 -> '{k}') = 'array' THEN $1 -> '{k}' END), 0)",
                                k = key.key
                            ),
                            [stored],
                        ),
                        _ => Expr::cust_with_exprs(
                            format!("COALESCE(json_array_length(?, '$.{}'), 0)", key.key),
                            [stored],
                        ),
                    };
                    Condition::all().add(if *empty { length.eq(0) } else { length.gt(0) })
                }
                _ => compare(value_expr(backend, stored, key), op, true, column_of, backend),
            },
            None => Condition::all().add(Expr::val(1).eq(0)),
        },
    }
}

/// `col <op>`; comparisons on a nullable column never match NULL (see the module docs).
fn compare(col: Expr, op: &Op, nullable: bool, column_of: ColumnOf, backend: DatabaseBackend) -> Condition {
    let value = |v: &Scalar| value(v, backend);
    let cmp = match op {
        Op::IsNull(true) => return Condition::all().add(col.is_null()),
        Op::IsNull(false) => return Condition::all().add(col.is_not_null()),
        Op::HasAny(values) if backend == DatabaseBackend::Postgres => {
            return values.iter().fold(Condition::any().add(Expr::val(1).eq(0)), |c, v| {
                c.add(list_contains(backend, col.clone(), std::slice::from_ref(v)))
            });
        }
        Op::HasAny(values) => return Condition::all().add(sqlite_array_holds(col, None, values, false)),
        Op::HasAll(values) => return Condition::all().add(list_contains(backend, col, values)),
        Op::IsEmpty(empty) => {
            let length = match backend {
                DatabaseBackend::Postgres => Expr::cust_with_exprs("jsonb_array_length($1)", [col]),
                _ => Expr::cust_with_exprs("json_array_length(?)", [col]),
            };
            return Condition::all().add(if *empty { length.eq(0) } else { length.gt(0) });
        }
        Op::Eq(v) => col.clone().eq(value(v)),
        Op::Ne(v) => col.clone().ne(value(v)),
        Op::In(vs) if vs.is_empty() => Expr::val(1).eq(0),
        Op::In(vs) => col.clone().is_in(vs.iter().map(value)),
        Op::NotIn(vs) if vs.is_empty() => Expr::val(1).eq(1),
        Op::NotIn(vs) => col.clone().is_not_in(vs.iter().map(value)),
        Op::Gt(v) => col.clone().gt(value(v)),
        Op::GtField(other) => match column_of(other) {
            Some(other) => col.clone().gt(other),
            None => Expr::val(1).eq(0),
        },
        Op::Gte(v) => col.clone().gte(value(v)),
        Op::Lt(v) => col.clone().lt(value(v)),
        Op::Lte(v) => col.clone().lte(value(v)),
        Op::Contains(s) => {
            Expr::expr(Func::lower(col.clone())).like(LikeExpr::new(format!("%{}%", escape_like(s))).escape('\\'))
        }
        Op::StartsWith(s) => {
            Expr::expr(Func::lower(col.clone())).like(LikeExpr::new(format!("{}%", escape_like(s))).escape('\\'))
        }
    };
    if nullable { Condition::all().add(col.is_not_null()).add(cmp) } else { Condition::all().add(cmp) }
}

/// Does the custom list `key` hold every one of `values`? PostgreSQL asks the whole object by
/// containment (`{"key": [...]}`), which the column's GIN index answers.
fn custom_list_contains(backend: DatabaseBackend, stored: Expr, key: &str, values: &[String]) -> Expr {
    match backend {
        DatabaseBackend::Postgres => Expr::cust_with_exprs(
            "$1 @> CAST($2 AS jsonb)",
            [stored, Expr::val(serde_json::json!({ key: values }).to_string())],
        ),
        _ => sqlite_array_holds(stored, Some(key), values, true),
    }
}

/// Does the JSON array in `col` hold every one of `values`? PostgreSQL answers with jsonb
/// containment (GIN-indexable); SQLite looks through `json_each`. Custom SQL takes each
/// backend's own placeholder (`$n` on PostgreSQL, `?` on SQLite).
fn list_contains(backend: DatabaseBackend, col: Expr, values: &[String]) -> Expr {
    match backend {
        DatabaseBackend::Postgres => {
            Expr::cust_with_exprs("$1 @> CAST($2 AS jsonb)", [col, Expr::val(serde_json::json!(values).to_string())])
        }
        _ => sqlite_array_holds(col, None, values, true),
    }
}

/// SQLite: does the JSON array in `array` (at `$.key` when given) hold every one of `values`
/// (`all`), or one of them? One `IN` list however many they are: a test per value, chained with
/// `AND` or `OR`, nests as deep as the list is long, and SQLite refuses expressions nested deeper
/// than 1,000.
fn sqlite_array_holds(array: Expr, key: Option<&str>, values: &[String], all: bool) -> Expr {
    let wanted: std::collections::BTreeSet<&String> = values.iter().collect();
    if wanted.is_empty() {
        // Every one of no values is held; one of them is not.
        return if all { Expr::val(1).eq(1) } else { Expr::val(1).eq(0) };
    }
    let source = key.map_or_else(|| "json_each(?)".to_owned(), |key| format!("json_each(?, '$.{key}')"));
    let list = vec!["?"; wanted.len()].join(", ");
    let sql = if all {
        let n = wanted.len();
        format!("(SELECT COUNT(DISTINCT json_each.value) FROM {source} WHERE json_each.value IN ({list})) = {n}")
    } else {
        format!("EXISTS (SELECT 1 FROM {source} WHERE json_each.value IN ({list}))")
    };
    Expr::cust_with_exprs(sql, std::iter::once(array).chain(wanted.into_iter().map(|v| Expr::val(v.clone()))))
}

/// The expression a sort key orders by, and whether it may be NULL (custom fields, and
/// nullable columns such as the tier).
fn sort_expr(field: &SortField, column_of: ColumnOf, backend: DatabaseBackend) -> Option<(Expr, bool)> {
    match field {
        SortField::Field(f) => column_of(f.name).map(|c| (c, f.nullable)),
        SortField::Custom(key) => column_of(key.column()).map(|c| (value_expr(backend, c, key), true)),
    }
}

/// Rows strictly after (or, reading backwards, before) the cursor's keys in `order`. A NULL
/// custom value sorts after every value, as PostgreSQL does and the ORDER BY below says.
fn keyset(
    order: &[OrderKey],
    keys: &[Scalar],
    backward: bool,
    column_of: ColumnOf,
    backend: DatabaseBackend,
) -> Condition {
    let exprs: Vec<Option<(Expr, bool)>> = order.iter().map(|k| sort_expr(&k.field, column_of, backend)).collect();
    let mut any = Condition::any();
    for i in 0..order.len() {
        let mut all = Condition::all();
        for (e, v) in exprs.iter().zip(keys).take(i) {
            if let Some((col, _)) = e {
                all = all.add(match v {
                    Scalar::Null => col.clone().is_null(),
                    v => col.clone().eq(value(v, backend)),
                });
            }
        }
        if let Some((col, nullable)) = &exprs[i] {
            let greater = order[i].descending == backward;
            let after = match (&keys[i], greater) {
                // Nothing sorts after NULL; everything non-null sorts before it.
                (Scalar::Null, true) => Expr::val(1).eq(0),
                (Scalar::Null, false) => col.clone().is_not_null(),
                (v, true) if *nullable => col.clone().gt(value(v, backend)).or(col.clone().is_null()),
                (v, true) => col.clone().gt(value(v, backend)),
                (v, false) => col.clone().lt(value(v, backend)),
            };
            all = all.add(after);
        }
        any = any.add(all);
    }
    any
}

/// Applies order, keyset and limit (one extra row, to learn whether more exist).
#[must_use]
pub fn page<E: EntityTrait>(
    mut select: Select<E>,
    order: &[OrderKey],
    page: &PageRequest,
    column_of: ColumnOf,
    backend: DatabaseBackend,
) -> Select<E> {
    if let Some(keys) = &page.cursor {
        select = select.filter(keyset(order, keys, page.backward, column_of, backend));
    }
    for k in order {
        if let Some((col, nullable)) = sort_expr(&k.field, column_of, backend) {
            let descending = k.descending != page.backward;
            let direction = if descending { Order::Desc } else { Order::Asc };
            if nullable {
                // NULL sorts as the largest value: PostgreSQL's own default, so its expression
                // index still yields the order; SQLite needs it said.
                let nulls = if descending { NullOrdering::First } else { NullOrdering::Last };
                select = select.order_by_with_nulls(col, direction, nulls);
            } else {
                select = select.order_by(col, direction);
            }
        }
    }
    select.limit(page.size + 1)
}

/// Cuts the extra row and restores reading order, returning what `PageInfo` needs.
#[must_use]
pub fn finish_page<T>(mut rows: Vec<T>, page: &PageRequest) -> crate::query::Page<T> {
    let more = rows.len() as u64 > page.size;
    rows.truncate(usize::try_from(page.size).unwrap_or(usize::MAX));
    if page.backward {
        rows.reverse();
    }
    let cursor_given = page.cursor.is_some();
    crate::query::Page {
        rows,
        has_next_page: if page.backward { cursor_given } else { more },
        has_previous_page: if page.backward { more } else { cursor_given },
    }
}

/// A page of `select` (already tenant-scoped) matching `filter` in `order`.
///
/// # Errors
/// Database failures.
pub async fn list<E>(
    db: &sea_orm::DatabaseConnection,
    select: Select<E>,
    filter: &Filter,
    order: &[OrderKey],
    page_request: &PageRequest,
    column_of: ColumnOf,
) -> crate::error::Result<crate::query::Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    if filter.matches_nothing() {
        return Ok(finish_page(Vec::new(), page_request));
    }
    let backend = db.get_database_backend();
    let select = select.filter(condition(filter, column_of, backend));
    let rows = page(select, order, page_request, column_of, backend).all(db).await?;
    Ok(finish_page(rows, page_request))
}

/// The first `n` rows of `select` (already filtered) for each customer, in `order` (columns,
/// each descending or not), then by customer: ranked by a window, for SQLite, which has no
/// LATERAL (the 360° page's latest interactions and open complaints).
pub fn first_per_customer<E: EntityTrait>(
    select: Select<E>,
    order: &[(&'static str, bool)],
    n: u64,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::{Iterable, QueryTrait};
    let keys: Vec<String> = order
        .iter()
        .map(|(column, descending)| format!("{column}{}", if *descending { " DESC" } else { "" }))
        .collect();
    let rank = Expr::cust(format!("ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY {})", keys.join(", ")));
    let inner = select.expr_as(rank, "rank_in_customer").into_query();
    let mut outer = sea_orm::sea_query::Query::select();
    outer
        .columns(E::Column::iter())
        .from_subquery(inner, "ranked")
        .and_where(Expr::col("rank_in_customer").lte(i64::try_from(n).unwrap_or(i64::MAX)))
        .order_by("customer_id", Order::Asc);
    for (column, descending) in order {
        outer.order_by(*column, if *descending { Order::Desc } else { Order::Asc });
    }
    outer
}

/// The first page of `select` (already tenant-scoped) matching `filter` in `order` for each of
/// `parents` (by the `parent` field), each exactly the query a single parent's page runs (so
/// ordered, limited and indexed alike). On PostgreSQL, one statement: that query joined
/// LATERALly to the list of parents. On SQLite, one branch per parent joined by `UNION ALL`, in
/// statements of at most a hundred branches (fewer for a filter with many values). Nested
/// connections under a page of customers read this way instead of once per customer.
///
/// # Errors
/// Database failures.
#[expect(clippy::too_many_arguments, reason = "a query's parts, each plain")]
pub async fn first_pages<E>(
    db: &sea_orm::DatabaseConnection,
    select: Select<E>,
    filter: &Filter,
    order: &[OrderKey],
    page_request: &PageRequest,
    column_of: ColumnOf,
    (parent, parent_of): (&str, fn(&E::Model) -> uuid::Uuid),
    parents: &[uuid::Uuid],
) -> crate::error::Result<std::collections::HashMap<uuid::Uuid, crate::query::Page<E::Model>>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::QueryTrait;
    let backend = db.get_database_backend();
    let parent_column = column_of(parent)
        .ok_or_else(|| crate::error::Error::Internal(anyhow::anyhow!("no column for the parent field {parent}")))?;
    let filtered = select.filter(condition(filter, column_of, backend));
    let mut rows: Vec<E::Model> = Vec::new();
    if filter.matches_nothing() {
        // Every page is empty; each still says whether a page lies before it.
    } else if backend == DatabaseBackend::Postgres {
        // The single-parent query once, its parent a column of a VALUES list it is joined to
        // LATERALly: PostgreSQL plans it once (a UNION ALL of 50 branches took 15–22 ms to plan
        // for 2 ms of execution) and runs one index scan per parent that stops at the page.
        let branch = page(
            filtered.filter(parent_column.eq(Expr::cust("\"parents\".\"id\""))),
            order,
            page_request,
            column_of,
            backend,
        );
        for statement in lateral_over_parents(backend.build(&branch.into_query()), parents, None) {
            rows.extend(E::find().from_raw_sql(statement).all(db).await?);
        }
    } else {
        rows = union_of_branches(db, filtered, order, page_request, column_of, &parent_column, parents).await?;
    }
    let mut by_parent: std::collections::HashMap<uuid::Uuid, Vec<E::Model>> = std::collections::HashMap::new();
    for row in rows {
        by_parent.entry(parent_of(&row)).or_default().push(row);
    }
    Ok(parents.iter().map(|id| (*id, finish_page(by_parent.remove(id).unwrap_or_default(), page_request))).collect())
}

/// `branch`, the query of one parent that reads its parent's id as `"parents"."id"`, joined
/// LATERALly to a VALUES list of `parents` (PostgreSQL), a statement per thousand parents:
/// planned once, run as one index scan per parent. Its rows are `"page"`'s, ordered by
/// `order_by` if given.
pub fn lateral_over_parents(
    branch: sea_orm::Statement,
    parents: &[uuid::Uuid],
    order_by: Option<&str>,
) -> Vec<sea_orm::Statement> {
    let values = branch.values.unwrap_or(sea_orm::Values(Vec::new()));
    let order_by = order_by.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
    parents
        .chunks(1_000)
        .map(|chunk| {
            let bound = values.0.len();
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("(${}::uuid)", bound + i)).collect();
            let sql = format!(
                "SELECT \"page\".* FROM (VALUES {}) AS \"parents\"(\"id\") CROSS JOIN LATERAL ({}) AS \"page\"{order_by}",
                list.join(", "),
                branch.sql
            );
            let mut values = values.clone();
            values.0.extend(chunk.iter().map(|id| sea_orm::Value::from(*id)));
            sea_orm::Statement::from_sql_and_values(branch.db_backend, sql, values)
        })
        .collect()
}

/// [`first_pages`] on SQLite, which has no LATERAL: one branch per parent, each the very query a
/// single parent's page runs, joined by `UNION ALL` (SQLite plans them in microseconds).
async fn union_of_branches<E>(
    db: &sea_orm::DatabaseConnection,
    filtered: Select<E>,
    order: &[OrderKey],
    page_request: &PageRequest,
    column_of: ColumnOf,
    parent_column: &Expr,
    parents: &[uuid::Uuid],
) -> crate::error::Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::QueryTrait;
    use sea_orm::sea_query::{Alias, Asterisk, Query, UnionType};
    let backend = db.get_database_backend();
    let mut rows: Vec<E::Model> = Vec::new();
    let branch_of = |i: usize, id: uuid::Uuid| {
        let branch =
            page(filtered.clone().filter(parent_column.clone().eq(id)), order, page_request, column_of, backend);
        Query::select().column(Asterisk).from_subquery(branch.into_query(), Alias::new(format!("p{i}"))).to_owned()
    };
    // Each branch binds its parameters again: keep a statement under both databases' bound on
    // parameters (SQLite's 32,766), counting what one branch really binds (a filter's empty
    // `or`s and `in`s bind constants too).
    let Some(first) = parents.first() else { return Ok(Vec::new()) };
    let per_branch = backend.build(&branch_of(0, *first)).values.map_or(0, |v| v.0.len()).max(1);
    let branches = (30_000 / per_branch).clamp(1, 100);
    for chunk in parents.chunks(branches) {
        let mut union: Option<sea_orm::sea_query::SelectStatement> = None;
        for (i, id) in chunk.iter().enumerate() {
            let wrapped = branch_of(i, *id);
            union = Some(match union {
                None => wrapped,
                Some(mut all) => {
                    all.union(UnionType::All, wrapped);
                    all
                }
            });
        }
        if let Some(union) = union {
            rows.extend(E::find().from_raw_sql(backend.build(&union)).all(db).await?);
        }
    }
    Ok(rows)
}

/// How many rows of `select` (already tenant-scoped) match `filter`.
///
/// # Errors
/// Database failures.
pub async fn count<E>(
    db: &sea_orm::DatabaseConnection,
    select: Select<E>,
    filter: &Filter,
    column_of: ColumnOf,
) -> crate::error::Result<u64>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::PaginatorTrait;
    if filter.matches_nothing() {
        return Ok(0);
    }
    Ok(select.filter(condition(filter, column_of, db.get_database_backend())).count(db).await?)
}

/// How many rows of `select` (already tenant-scoped) match `filter` under each of `parents`, by
/// the field `parent`: one grouped statement per thousand parents, so the `totalCount`s of a
/// nested connection under a page of parents cost one statement, not one per parent. Parents
/// without a matching row count 0.
///
/// # Errors
/// Database failures.
pub async fn count_per_parent<E>(
    db: &sea_orm::DatabaseConnection,
    select: Select<E>,
    filter: &Filter,
    column_of: ColumnOf,
    parent: &str,
    parents: &[uuid::Uuid],
) -> crate::error::Result<std::collections::HashMap<uuid::Uuid, u64>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let mut counts: std::collections::HashMap<uuid::Uuid, u64> = parents.iter().map(|id| (*id, 0)).collect();
    if filter.matches_nothing() {
        return Ok(counts);
    }
    let parent_column = column_of(parent)
        .ok_or_else(|| crate::error::Error::Internal(anyhow::anyhow!("no column for the parent field {parent}")))?;
    let filtered = select.filter(condition(filter, column_of, db.get_database_backend()));
    for chunk in parents.chunks(1_000) {
        let rows: Vec<(uuid::Uuid, i64)> = filtered
            .clone()
            .filter(parent_column.clone().is_in(chunk.iter().copied()))
            .select_only()
            .column_as(parent_column.clone(), "parent")
            .column_as(Expr::cust("COUNT(*)"), "n")
            .group_by(parent_column.clone())
            .into_tuple()
            .all(db)
            .await?;
        for (id, n) in rows {
            counts.insert(id, u64::try_from(n).unwrap_or_default());
        }
    }
    Ok(counts)
}
