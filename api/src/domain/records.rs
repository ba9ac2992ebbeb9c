//! What every kind of record (customer, interaction, complaint, key-account plan) declares once,
//! and the reads derived from that declaration: a cursor's values and, for the records kept on
//! a customer, finding, listing, counting and batched first pages within the caller's scope.

use std::collections::HashMap;
use std::str::FromStr;

use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, ModelTrait};
use serde_json::Value;
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::write::Lifecycle;
use super::{Caller, ids};
use crate::error::Result;
use crate::query::{FieldKind, FieldSpec, Filter, OrderKey, Page, PageRequest, Scalar, SortField};
use crate::store::records::{self as store, OfCustomer};

/// A kind of record, as its sea-orm model.
pub trait Record:
    ModelTrait<Entity: EntityTrait<Column: FromStr, Model = Self>> + FromQueryResult + Clone + Send + Sync + 'static
{
    /// The GraphQL type, in global ids and the audit trail.
    const TYPE_NAME: &'static str;
    /// Which custom field definitions and validators apply.
    const ENTITY: EntityKind;
    /// The fields lists filter and sort on, `id` first; the store finds each one's column by
    /// its name.
    const FIELDS: &'static [FieldSpec];

    /// The field a list that asks for no order is sorted by, and whether descending.
    const DEFAULT_ORDER: (&'static str, bool);

    /// The order of a list that asks for none (then by id, as every order).
    fn default_order() -> Vec<OrderKey> {
        vec![OrderKey::by(crate::query::field_named(Self::FIELDS, Self::DEFAULT_ORDER.0), Self::DEFAULT_ORDER.1)]
    }

    /// The stored object of custom values.
    fn custom_values(&self) -> &Value;

    /// The value of a sortable field that is no column of the record's table (a customer's
    /// tier, kept beside it).
    fn value_beside_columns(&self, _name: &str) -> Scalar {
        Scalar::Null
    }
}

/// A record kept on a customer; who may see it follows from the customer.
pub trait OnCustomer: Record<Entity: OfCustomer> {
    /// `filter` narrowed to what `caller` may see: an AGENT, the records of its own customers.
    fn scoped(caller: &Caller, filter: Filter) -> Filter {
        match super::access::owner_scope(caller) {
            Some(me) => filter.and(Filter::Field(&CUSTOMER_OWNER, crate::query::Op::Eq(Scalar::Uuid(me)))),
            None => filter,
        }
    }
}

/// Not a GraphQL filter: the owner of the customer a record is of, for an AGENT's scope (the
/// store reads it through the record's customer).
pub static CUSTOMER_OWNER: FieldSpec =
    FieldSpec::new("customerOwnerId", FieldKind::Id { type_name: "User" }).nullable();

/// The record as the audit trail records it: its audited fields by GraphQL name (references as
/// global ids, times in RFC 3339) and its custom values.
#[must_use]
pub fn audit_snapshot<R: Record>(row: &R) -> Value {
    let mut snapshot = serde_json::Map::new();
    for spec in R::FIELDS.iter().filter(|f| f.audited) {
        let value = <R::Entity as EntityTrait>::Column::from_str(spec.name).map(|c| row.get(c));
        snapshot.insert(spec.name.to_owned(), value.map_or(Value::Null, |v| json_of(spec.kind, v)));
    }
    snapshot.insert("customFields".to_owned(), row.custom_values().clone());
    Value::Object(snapshot)
}

fn json_of(kind: FieldKind, value: sea_orm::Value) -> Value {
    use sea_orm::Value as V;
    let global = |id: &str| match kind {
        FieldKind::Id { type_name } | FieldKind::IdList { type_name } => {
            Uuid::parse_str(id).map_or(Value::Null, |id| Value::String(ids::encode(type_name, id)))
        }
        _ => Value::String(id.to_owned()),
    };
    match value {
        V::String(Some(s)) => Value::String(s),
        V::Uuid(Some(id)) => global(&id.to_string()),
        V::ChronoDateTimeUtc(Some(t)) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        V::ChronoDate(Some(d)) => Value::String(d.to_string()),
        V::Int(Some(n)) => Value::from(n),
        V::Bool(Some(b)) => Value::Bool(b),
        V::Json(Some(json)) => match (kind, *json) {
            (FieldKind::IdList { .. }, Value::Array(items)) => {
                items.iter().filter_map(Value::as_str).map(global).collect()
            }
            (_, json) => json,
        },
        _ => Value::Null,
    }
}

/// The values of `order`'s keys for one row, for its cursor.
#[must_use]
pub fn order_values<R: Record>(row: &R, order: &[OrderKey]) -> Vec<Scalar> {
    order
        .iter()
        .map(|k| match &k.field {
            SortField::Custom(c) => c.scalar_in(row.custom_values()),
            SortField::Field(f) => value_of(row, f.name),
        })
        .collect()
}

/// The value of the built-in field `name` of `row`; [`Scalar::Null`] when empty.
fn value_of<R: Record>(row: &R, name: &str) -> Scalar {
    use sea_orm::Value as V;
    let Ok(column) = <R::Entity as EntityTrait>::Column::from_str(name) else { return row.value_beside_columns(name) };
    match row.get(column) {
        V::String(Some(s)) => Scalar::Str(s),
        V::Uuid(Some(u)) => Scalar::Uuid(u),
        V::ChronoDateTimeUtc(Some(t)) => Scalar::Time(t),
        V::Int(Some(n)) => Scalar::Int(i64::from(n)),
        V::BigInt(Some(n)) => Scalar::Int(n),
        V::Bool(Some(b)) => Scalar::Bool(b),
        _ => Scalar::Null,
    }
}

/// The record `id`, if the caller may see it.
///
/// # Errors
/// Database failures.
pub async fn get<R: Lifecycle>(conn: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> Result<Option<R>> {
    let Some(row) = R::find(conn, caller.tenant_id, id).await? else { return Ok(None) };
    // Only an AGENT's view depends on who owns the customer.
    let owner = if super::access::owner_scope(caller).is_some() { row.customer_owner(conn).await? } else { None };
    Ok(row.visible(caller, owner).then_some(row))
}

/// The record `id` of the caller's tenant, whoever may see it: the caller checks.
///
/// # Errors
/// Database failures.
pub async fn find<R: OnCustomer>(conn: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> Result<Option<R>> {
    store::find::<R::Entity>(conn, caller.tenant_id, id).await
}

/// A page of the records the caller may see.
///
/// # Errors
/// Database failures.
pub async fn list<R: OnCustomer>(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<R>> {
    store::list::<R::Entity>(db, caller.tenant_id, &R::scoped(caller, filter), order, page).await
}

/// The first page of each customer's records the caller may see, in a few statements whatever
/// the number of customers.
///
/// # Errors
/// Database failures.
pub async fn first_pages_per_customer<R: OnCustomer>(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: Filter,
    order: &[OrderKey],
    page: &PageRequest,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, Page<R>>> {
    let filter = R::scoped(caller, filter);
    store::first_pages_per_customer::<R::Entity>(db, caller.tenant_id, &filter, order, page, customers).await
}

/// How many records the caller may see match `filter` for each of `customers`, in a few
/// statements whatever the number of customers.
///
/// # Errors
/// Database failures.
pub async fn counts_per_customer<R: OnCustomer>(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: Filter,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, u64>> {
    store::counts_per_customer::<R::Entity>(db, caller.tenant_id, &R::scoped(caller, filter), customers).await
}

/// How many records the caller may see match `filter`.
///
/// # Errors
/// Database failures.
pub async fn count<R: OnCustomer>(db: &DatabaseConnection, caller: &Caller, filter: Filter) -> Result<u64> {
    store::count::<R::Entity>(db, caller.tenant_id, &R::scoped(caller, filter)).await
}
