//! Turns the domain's [`Filter`], order and keyset page into SQL conditions, for any entity whose
//! field names map to columns.
//!
//! Comparisons on nullable columns are guarded with `col IS NOT NULL AND …`, which makes the
//! logic two-valued: `not: { email: { eq: "x" } }` then matches rows without an e-mail, as the
//! plain reading says, instead of SQL's NULL-swallowing three-valued answer.

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{DatabaseBackend, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Select, Value};

use crate::domain::query::{Filter, Op, OrderKey, PageRequest, Scalar};

/// Maps a field name of the entity's description to its column expression.
pub type ColumnOf = fn(&str) -> Option<Expr>;

fn value(s: &Scalar) -> Value {
    match s {
        Scalar::Str(v) => v.clone().into(),
        Scalar::Int(v) => (*v).into(),
        Scalar::Time(v) => (*v).into(),
        Scalar::Uuid(v) => (*v).into(),
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
        Filter::Field(spec, op) => {
            let Some(col) = column_of(spec.name) else {
                return Condition::all().add(Expr::val(1).eq(0));
            };
            let cmp = match op {
                Op::IsNull(true) => return Condition::all().add(col.is_null()),
                Op::IsNull(false) => return Condition::all().add(col.is_not_null()),
                Op::HasAny(values) => {
                    return values.iter().fold(Condition::any().add(Expr::val(1).eq(0)), |c, v| {
                        c.add(list_contains(backend, col.clone(), std::slice::from_ref(v)))
                    });
                }
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
                Op::Contains(s) => Expr::expr(Func::lower(col.clone()))
                    .like(LikeExpr::new(format!("%{}%", escape_like(s))).escape('\\')),
                Op::StartsWith(s) => Expr::expr(Func::lower(col.clone()))
                    .like(LikeExpr::new(format!("{}%", escape_like(s))).escape('\\')),
            };
            if spec.nullable { Condition::all().add(col.is_not_null()).add(cmp) } else { Condition::all().add(cmp) }
        }
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
        _ => values.iter().fold(Expr::val(1).eq(1), |all, v| {
            all.and(Expr::cust_with_exprs(
                "EXISTS (SELECT 1 FROM json_each(?) WHERE json_each.value = ?)",
                [col.clone(), Expr::val(v.clone())],
            ))
        }),
    }
}

/// Rows strictly after (or, reading backwards, before) the cursor's keys in `order`.
fn keyset(order: &[OrderKey], keys: &[Scalar], backward: bool, column_of: ColumnOf) -> Condition {
    let mut any = Condition::any();
    for i in 0..order.len() {
        let mut all = Condition::all();
        for (k, v) in order.iter().zip(keys).take(i) {
            if let Some(col) = column_of(k.field.name) {
                all = all.add(col.eq(value(v)));
            }
        }
        if let Some(col) = column_of(order[i].field.name) {
            let greater = order[i].descending == backward;
            let v = value(&keys[i]);
            all = all.add(if greater { col.gt(v) } else { col.lt(v) });
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
) -> Select<E> {
    if let Some(keys) = &page.cursor {
        select = select.filter(keyset(order, keys, page.backward, column_of));
    }
    for k in order {
        if let Some(col) = column_of(k.field.name) {
            let descending = k.descending != page.backward;
            select = select.order_by(col, if descending { Order::Desc } else { Order::Asc });
        }
    }
    select.limit(page.size + 1)
}

/// Cuts the extra row and restores reading order, returning what `PageInfo` needs.
#[must_use]
pub fn finish_page<T>(mut rows: Vec<T>, page: &PageRequest) -> crate::domain::query::Page<T> {
    let more = rows.len() as u64 > page.size;
    rows.truncate(usize::try_from(page.size).unwrap_or(usize::MAX));
    if page.backward {
        rows.reverse();
    }
    let cursor_given = page.cursor.is_some();
    crate::domain::query::Page {
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
) -> crate::error::Result<crate::domain::query::Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let select = select.filter(condition(filter, column_of, db.get_database_backend()));
    let rows = page(select, order, page_request, column_of).all(db).await?;
    Ok(finish_page(rows, page_request))
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
    Ok(select.filter(condition(filter, column_of, db.get_database_backend())).count(db).await?)
}
