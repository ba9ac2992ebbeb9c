//! The queries every table of records kept on a customer (interactions, complaints, key-account
//! plans) shares; a customer's own row counts as kept on itself, for the writes. A filter names fields by their GraphQL names, and sea-orm's columns answer to
//! those names (`occurredAt` is `occurred_at`), so no table maps its names by hand.

use std::collections::HashMap;
use std::str::FromStr;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    ModelTrait, QueryFilter, Select,
};
use uuid::Uuid;

use super::filter;
use crate::error::Result;
use crate::query::{Filter, OrderKey, Page, PageRequest};

/// A table whose rows belong to a tenant and to one of its customers.
pub trait OfCustomer:
    EntityTrait<Column: FromStr, Model: Send + Sync + Clone + IntoActiveModel<Self::ActiveModel>, ActiveModel: Send>
    + Default
{
    const TENANT: Self::Column;
    const ID: Self::Column;
    const CUSTOMER: Self::Column;

    /// The customer a row is of (its `CUSTOMER` column, which is never null).
    fn customer_of(row: &Self::Model) -> Uuid {
        match row.get(Self::CUSTOMER) {
            sea_orm::Value::Uuid(Some(id)) => id,
            _ => Uuid::nil(),
        }
    }
}

macro_rules! of_customer {
    ($($table:ident: $customer:ident),*) => {$(
        impl OfCustomer for guanxi_entity::$table::Entity {
            const TENANT: Self::Column = guanxi_entity::$table::Column::TenantId;
            const ID: Self::Column = guanxi_entity::$table::Column::Id;
            const CUSTOMER: Self::Column = guanxi_entity::$table::Column::$customer;
        }
    )*};
}

// A customer's row is its own customer's: its writes lock and tell of it as of their customer.
of_customer!(customer: Id, interaction: CustomerId, complaint: CustomerId, key_account_plan: CustomerId);

/// The expression behind a field name: its column, or for `customerOwnerId` (how an AGENT's
/// scope reaches these rows) the owner of the row's customer.
fn column_of<E: OfCustomer>(name: &str) -> Option<Expr> {
    if name == "customerOwnerId" {
        let table = E::default().table_name();
        return Some(Expr::cust(format!(
            "(SELECT c.owner_id FROM customers c WHERE c.tenant_id = {table}.tenant_id AND c.id = {table}.customer_id)"
        )));
    }
    E::Column::from_str(name).ok().map(|c| Expr::col((E::default(), c)))
}

fn in_tenant<E: OfCustomer>(tenant_id: Uuid) -> Select<E> {
    E::find().filter(E::TENANT.eq(tenant_id))
}

/// The row `id` of the tenant.
///
/// # Errors
/// Database failures.
pub async fn find<E: OfCustomer>(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<Option<E::Model>> {
    Ok(in_tenant::<E>(tenant_id).filter(E::ID.eq(id)).one(conn).await?)
}

/// A page of the tenant's rows matching `filter`.
///
/// # Errors
/// Database failures.
pub async fn list<E: OfCustomer>(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<E::Model>> {
    filter::list(db, in_tenant::<E>(tenant_id), filter, order, page, column_of::<E>).await
}

/// The first page of rows matching `filter` for each of `customers`, batched (see
/// [`filter::first_pages`]).
///
/// # Errors
/// Database failures.
pub async fn first_pages_per_customer<E: OfCustomer>(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    order: &[OrderKey],
    page: &PageRequest,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, Page<E::Model>>> {
    let parent = ("customerId", E::customer_of as fn(&E::Model) -> Uuid);
    filter::first_pages(db, in_tenant::<E>(tenant_id), filter, order, page, column_of::<E>, parent, customers).await
}

/// How many of the tenant's rows match `filter`.
///
/// # Errors
/// Database failures.
pub async fn count<E: OfCustomer>(db: &DatabaseConnection, tenant_id: Uuid, filter: &Filter) -> Result<u64> {
    filter::count(db, in_tenant::<E>(tenant_id), filter, column_of::<E>).await
}

/// The first `n` rows of each of `customers` matching `condition`, in `order` (columns, each
/// descending or not), in one statement. On PostgreSQL, an index scan per customer that stops
/// after `n` rows (LATERAL over the list of customers); on SQLite, which has no LATERAL, a window
/// over the customers' matching rows ([`filter::first_per_customer`]).
///
/// # Errors
/// Database failures.
pub async fn first_per_customer<E: OfCustomer<Model: super::rows::ByPosition>>(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    condition: Condition,
    order: &[(&'static str, bool)],
    n: u64,
) -> Result<HashMap<Uuid, Vec<E::Model>>> {
    use sea_orm::{FromQueryResult, Iterable, QueryOrder, QuerySelect, QueryTrait};
    if customers.is_empty() || n == 0 {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let select = in_tenant::<E>(tenant_id).filter(condition);
    let statement = if backend == sea_orm::DatabaseBackend::Postgres {
        let (table, customer) = (E::default().table_name(), sea_orm::IdenStatic::as_str(&E::CUSTOMER));
        // Bound as an i64: no page comes near it.
        let mut inner = select.filter(Expr::cust(format!("{table}.{customer} = c.id"))).limit(n.min(1 << 32));
        for (column, descending) in order {
            let by = Expr::col((E::default(), sea_orm::sea_query::Alias::new(*column)));
            inner = inner.order_by(by, if *descending { sea_orm::Order::Desc } else { sea_orm::Order::Asc });
        }
        let inner = inner.build(backend);
        let first = inner.values.as_ref().map_or(0, |v| v.0.len()) + 1;
        let list: Vec<String> = (first..first + customers.len()).map(|i| format!("(${i}::uuid)")).collect();
        let columns: Vec<String> =
            E::Column::iter().map(|c| format!("x.\"{}\"", sea_orm::IdenStatic::as_str(&c))).collect();
        let keys: Vec<String> =
            order.iter().map(|(c, desc)| format!("x.{c}{}", if *desc { " DESC" } else { "" })).collect();
        let sql = format!(
            "SELECT {} FROM (VALUES {}) AS c(id) CROSS JOIN LATERAL ({}) AS x ORDER BY x.{customer}, {}",
            columns.join(", "),
            list.join(", "),
            inner.sql,
            keys.join(", ")
        );
        let mut values = inner.values.map(|v| v.0).unwrap_or_default();
        values.extend(customers.iter().map(|id| sea_orm::Value::from(*id)));
        sea_orm::Statement::from_sql_and_values(backend, sql, values)
    } else {
        let select = select.filter(E::CUSTOMER.is_in(customers.iter().copied()));
        backend.build(&filter::first_per_customer(select, order, n))
    };
    let mut out: HashMap<Uuid, Vec<E::Model>> = HashMap::new();
    for super::rows::Positional(row) in
        super::rows::Positional::<E::Model>::find_by_statement(statement).all(db).await?
    {
        out.entry(E::customer_of(&row)).or_default().push(row);
    }
    Ok(out)
}

/// Inserts `row`.
///
/// # Errors
/// Database failures.
pub async fn insert<E: OfCustomer>(conn: &impl ConnectionTrait, row: &E::Model) -> Result<()> {
    E::insert(row.clone().into_active_model().reset_all()).exec_without_returning(conn).await?;
    Ok(())
}

/// Writes every column of `row` over the stored row.
///
/// # Errors
/// Database failures.
pub async fn update<E: OfCustomer>(conn: &impl ConnectionTrait, row: &E::Model) -> Result<()> {
    E::update_many()
        .set(row.clone().into_active_model().reset_all())
        .filter(E::TENANT.eq(row.get(E::TENANT)))
        .filter(E::ID.eq(row.get(E::ID)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes the row `id` of the tenant.
///
/// # Errors
/// Database failures.
pub async fn delete<E: OfCustomer>(conn: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<()> {
    E::delete_many().filter(E::TENANT.eq(tenant_id)).filter(E::ID.eq(id)).exec(conn).await?;
    Ok(())
}

/// Deletes every row of one customer (when the customer is deleted).
///
/// # Errors
/// Database failures.
pub async fn delete_of_customer<E: OfCustomer>(
    conn: &impl ConnectionTrait,
    tenant_id: Uuid,
    customer: Uuid,
) -> Result<()> {
    E::delete_many().filter(E::TENANT.eq(tenant_id)).filter(E::CUSTOMER.eq(customer)).exec(conn).await?;
    Ok(())
}
