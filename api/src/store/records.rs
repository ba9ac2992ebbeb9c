//! The queries every table of records kept on a customer (interactions, complaints, key-account
//! plans) shares; a customer's own row counts as kept on itself, for the writes. A filter names
//! fields by their GraphQL names, and sea-orm's columns answer to those names (`occurredAt` is
//! `occurred_at`), so no table maps its names by hand.

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
        uuid_at(row, Self::CUSTOMER)
    }

    /// The row's id.
    fn id_of(row: &Self::Model) -> Uuid {
        uuid_at(row, Self::ID)
    }

    /// The tenant the row is of.
    fn tenant_of(row: &Self::Model) -> Uuid {
        uuid_at(row, Self::TENANT)
    }
}

/// A uuid column of a row; these columns are never null.
fn uuid_at<M: ModelTrait>(row: &M, column: <M::Entity as EntityTrait>::Column) -> Uuid {
    match row.get(column) {
        sea_orm::Value::Uuid(Some(id)) => id,
        _ => Uuid::nil(),
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

/// How many of the tenant's rows match `filter` for each of `customers` (see
/// [`filter::count_per_parent`]).
///
/// # Errors
/// Database failures.
pub async fn counts_per_customer<E: OfCustomer>(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &Filter,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, u64>> {
    filter::count_per_parent(db, in_tenant::<E>(tenant_id), filter, column_of::<E>, "customerId", customers).await
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
    use sea_orm::{FromQueryResult, QueryOrder, QuerySelect, QueryTrait};
    if customers.is_empty() || n == 0 {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    let select = in_tenant::<E>(tenant_id).filter(condition);
    let statements = if backend == sea_orm::DatabaseBackend::Postgres {
        let customer = Expr::col((E::default(), E::CUSTOMER));
        // Bound as an i64: no page comes near it.
        let mut branch = select.filter(sea_orm::sea_query::ExprTrait::eq(customer, Expr::cust("\"parents\".\"id\""))).limit(n.min(1 << 32));
        let mut keys = vec![format!("\"page\".\"{}\"", sea_orm::IdenStatic::as_str(&E::CUSTOMER))];
        for (column, descending) in order {
            let by = Expr::col((E::default(), sea_orm::sea_query::Alias::new(*column)));
            branch = branch.order_by(by, if *descending { sea_orm::Order::Desc } else { sea_orm::Order::Asc });
            keys.push(format!("\"page\".\"{column}\"{}", if *descending { " DESC" } else { "" }));
        }
        filter::lateral_over_parents(branch.build(backend), customers, Some(&keys.join(", ")))
    } else {
        let select = select.filter(E::CUSTOMER.is_in(customers.iter().copied()));
        vec![backend.build(&filter::first_per_customer(select, order, n))]
    };
    let mut out: HashMap<Uuid, Vec<E::Model>> = HashMap::new();
    for statement in statements {
        for super::rows::Positional(row) in super::rows::Positional::<E::Model>::find_by_statement(statement).all(db).await? {
            out.entry(E::customer_of(&row)).or_default().push(row);
        }
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
