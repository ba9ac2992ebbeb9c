//! The GraphQL side of each record's declaration (`Record::FIELDS`): its enums, filter and order
//! inputs, the plain fields of its object and the references they show, its create and update
//! inputs and how they are read, and its get, create, update and delete fields (through
//! `domain::records::get` and `domain::write`). An entity's module adds what the declaration
//! cannot say: lists, computed fields, workflow mutations.

use std::str::FromStr;

use async_graphql::dynamic::{Enum, Field, FieldValue, InputObject, InputValue, Object, ObjectAccessor, TypeRef};
use async_graphql::{Name, Value};
use sea_orm::{EntityTrait, Value as DbValue};
use uuid::Uuid;

use super::context::{id_arg, request, resolve};
use super::filters::{entity_filter, entity_order, enum_filter};
use super::{Types, connection, inputs, parent, ready};
use crate::domain::ids;
use crate::domain::input::{Given, Input, Patch};
use crate::domain::records::{self, Record};
use crate::domain::write::{self, Lifecycle};
use crate::query::{FieldKind, FieldSpec, Scalar};

/// Registers what `R`'s declaration gives: each enum its fields use (once per schema) with its
/// filter, `<Type>Filter`, `<Type>Order`, the connection types, and the object `R` shows, with
/// its plain fields first, then the references they show; `extend` adds the rest.
pub fn register<R: Record>(types: &mut Types, description: &str, extend: impl FnOnce(Object) -> Object) {
    for spec in R::FIELDS {
        if let FieldKind::Enum { type_name, values } = spec.kind
            && !types.enums.iter().any(|e| e.type_name() == type_name)
        {
            types.enums.push(values.iter().fold(Enum::new(type_name), |e, v| e.item(*v)));
            types.inputs.push(enum_filter(type_name));
        }
    }
    types.inputs.push(entity_filter(R::TYPE_NAME, R::FIELDS));
    let (order_field, order) = entity_order(R::TYPE_NAME, R::FIELDS);
    types.enums.push(order_field);
    types.inputs.push(order);
    types.objects.extend(connection::types::<R>(R::TYPE_NAME));
    let object = Object::new(R::TYPE_NAME).description(description).implement("Node");
    let object = R::FIELDS.iter().filter(|f| f.shown).fold(object, |o, spec| o.field(object_field::<R>(spec)));
    let object = R::FIELDS.iter().fold(object, |o, spec| match spec.shows {
        Some(name) => o.field(reference_field::<R>(spec, name)),
        None => o,
    });
    types.objects.push(extend(object));
}

/// The field showing what reference `spec` references: users from the request's users loader,
/// a record's customer (whole, or as the case view the caller may see of it).
fn reference_field<R: Record>(spec: &'static FieldSpec, name: &str) -> Field {
    let (FieldKind::Id { type_name } | FieldKind::IdList { type_name }) = spec.kind else {
        unreachable!("{}.{} shows no reference", R::TYPE_NAME, spec.name)
    };
    let ty = match (spec.kind, spec.nullable) {
        (FieldKind::IdList { .. }, _) => TypeRef::named_nn_list_nn(type_name),
        (_, true) => TypeRef::named(type_name),
        (_, false) => TypeRef::named_nn(type_name),
    };
    let column = <R::Entity as EntityTrait>::Column::from_str(spec.name).ok();
    Field::new(name, ty, move |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let value = column.map(|c| parent::<R>(&ctx).map(|row| row.get(c))).transpose()?;
            Ok(match (type_name, value) {
                ("Customer", Some(DbValue::Uuid(Some(id)))) => {
                    Some(FieldValue::owned_any(rc.customer_of_record(id).await?))
                }
                (_, Some(DbValue::Uuid(Some(id)))) => rc.users.load_one(id).await?.map(FieldValue::owned_any),
                (_, Some(DbValue::Json(Some(list)))) => {
                    // In the list's order, without users no longer in the tenant.
                    let ids: Vec<Uuid> =
                        list.as_array().into_iter().flatten().filter_map(|v| v.as_str()?.parse().ok()).collect();
                    let users = rc.users.load_many(ids.iter().copied()).await?;
                    Some(FieldValue::list(
                        ids.iter().filter_map(|id| users.get(id).cloned()).map(FieldValue::owned_any),
                    ))
                }
                _ => None,
            })
        })
    })
}

/// The GraphQL type of a field's values, without nullability.
fn type_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String | FieldKind::StringList => TypeRef::STRING,
        FieldKind::Int => TypeRef::INT,
        FieldKind::Boolean => TypeRef::BOOLEAN,
        FieldKind::DateTime => "DateTime",
        FieldKind::Date => "Date",
        FieldKind::Decimal => "Decimal",
        FieldKind::Enum { type_name, .. } => type_name,
        FieldKind::Id { .. } | FieldKind::IdList { .. } => TypeRef::ID,
    }
}

fn is_list(kind: FieldKind) -> bool {
    matches!(kind, FieldKind::StringList | FieldKind::IdList { .. })
}

fn object_field<R: Record>(spec: &'static FieldSpec) -> Field {
    let name = type_name(spec.kind);
    let ty = match (is_list(spec.kind), spec.nullable) {
        (true, _) => TypeRef::named_nn_list_nn(name),
        (false, true) => TypeRef::named(name),
        (false, false) => TypeRef::named_nn(name),
    };
    // Found once, here: resolving a page of records reads thousands of these fields.
    let column = <R::Entity as EntityTrait>::Column::from_str(spec.name).ok();
    let field = Field::new(spec.name, ty, move |ctx| {
        ready(ctx.parent_value.try_downcast_ref::<R>().map(|row| {
            let value = match column {
                Some(column) => output(spec, row.get(column)),
                None => beside_columns(row.value_beside_columns(spec.name)),
            };
            // Null as "no value": custom scalars' validators would refuse an explicit null.
            (value != Value::Null).then(|| FieldValue::value(value))
        }))
    });
    match spec.doc {
        Some(doc) => field.description(doc),
        None => field,
    }
}

/// A stored value as the field shows it.
fn output(spec: &FieldSpec, value: DbValue) -> Value {
    match (spec.kind, value) {
        (FieldKind::Enum { .. }, DbValue::String(Some(s))) => Value::Enum(Name::new(s)),
        (_, DbValue::String(Some(s))) => Value::String(s),
        (FieldKind::Id { type_name }, DbValue::Uuid(Some(id))) => Value::String(ids::encode(type_name, id)),
        (_, DbValue::ChronoDateTimeUtc(Some(t))) => super::scalars::time_value(&t),
        (_, DbValue::ChronoDate(Some(d))) => Value::String(d.to_string()),
        (_, DbValue::Int(Some(n))) => Value::from(n),
        (_, DbValue::Bool(Some(b))) => Value::Boolean(b),
        (_, DbValue::Json(Some(list))) => match *list {
            serde_json::Value::Array(items) => Value::List(
                items
                    .into_iter()
                    .filter_map(|i| if let serde_json::Value::String(s) = i { Some(Value::String(s)) } else { None })
                    .collect(),
            ),
            _ => Value::List(Vec::new()),
        },
        _ => Value::Null,
    }
}

/// A value kept beside the record's columns (a customer's tier, an enum).
fn beside_columns(value: Scalar) -> Value {
    match value {
        Scalar::Str(s) => Value::Enum(Name::new(s)),
        _ => Value::Null,
    }
}

/// `<create>` and `<update>`: the inputs of the fields a create or an update may set. A create
/// must give the required ones; an update gives what changes (absent stays, null clears).
pub fn input_types<R: Record>(create: &str, update: &str, update_doc: &str) -> [InputObject; 2] {
    let fields = |mut input: InputObject, creating: bool| {
        for spec in R::FIELDS {
            let Some(rule) = spec.input else { continue };
            if (creating && rule.update_only) || (!creating && rule.create_only) {
                continue;
            }
            let name = type_name(spec.kind);
            let ty = match (is_list(spec.kind), creating && rule.required) {
                (true, _) => TypeRef::named_nn_list(name),
                (false, true) => TypeRef::named_nn(name),
                (false, false) => TypeRef::named(name),
            };
            let value = InputValue::new(spec.name, ty);
            input = input.field(match rule.doc {
                Some(doc) => value.description(doc),
                None => value,
            });
        }
        input
    };
    [fields(InputObject::new(create), true), fields(InputObject::new(update).description(update_doc), false)]
}

/// Reads a create or update input of `R`.
#[must_use]
pub fn read_input<R: Record>(obj: &ObjectAccessor<'_>) -> Input {
    let given = R::FIELDS
        .iter()
        .filter(|spec| spec.input.is_some())
        .map(|spec| {
            let name = spec.name;
            let patch = match spec.kind {
                FieldKind::Int => map(inputs::int(obj, name), Given::Int),
                FieldKind::Boolean => map(inputs::boolean(obj, name), Given::Bool),
                FieldKind::DateTime => map(inputs::date_time(obj, name), Given::Time),
                FieldKind::Date => map(inputs::date(obj, name), Given::Date),
                FieldKind::Decimal => map(inputs::decimal(obj, name), Given::Text),
                FieldKind::StringList | FieldKind::IdList { .. } => map(inputs::strings(obj, name), Given::List),
                FieldKind::String | FieldKind::Enum { .. } | FieldKind::Id { .. } => {
                    map(inputs::string(obj, name), Given::Text)
                }
            };
            (name, patch)
        })
        .collect();
    Input::new(given, inputs::json(obj, "customFields"))
}

fn map<T>(patch: Patch<T>, into: fn(T) -> Given) -> Patch<Given> {
    match patch {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => Patch::Value(into(v)),
    }
}

/// `<name>(id: ID!): <Type>`: the record, if the caller may see it.
pub fn get<R: Lifecycle>(name: &str) -> Field {
    Field::new(name, TypeRef::named(R::TYPE_NAME), move |ctx| {
        resolve(async move {
            let (rc, id) = (request(&ctx)?, id_arg(&ctx, "id", R::TYPE_NAME)?);
            Ok(records::get::<R>(&rc.db, &rc.caller, id).await?.map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

/// `<name>(input: <input>!): <Type>!`
pub fn create<R: Lifecycle>(name: &str, input: &str) -> Field {
    Field::new(name, TypeRef::named_nn(R::TYPE_NAME), move |ctx| {
        resolve(async move {
            let (rc, given) = (request(&ctx)?, inputs::input(&ctx, read_input::<R>)?);
            let row = write::create::<R>(&rc.db, &rc.plugins, &rc.caller, given).await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn(input)))
}

/// `<name>(id: ID!, input: <input>!, expectedVersion: Int): <Type>!`
pub fn update<R: Lifecycle>(name: &str, input: &str) -> Field {
    Field::new(name, TypeRef::named_nn(R::TYPE_NAME), move |ctx| {
        resolve(async move {
            let (rc, id) = (request(&ctx)?, id_arg(&ctx, "id", R::TYPE_NAME)?);
            let expected = inputs::expected_version(&ctx)?;
            let given = inputs::input(&ctx, read_input::<R>)?;
            let row = write::update::<R>(&rc.db, &rc.plugins, &rc.caller, id, given, expected).await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn(input)))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)))
}

/// `<name>(id: ID!): ID!`: the id of the record deleted.
pub fn delete<R: Lifecycle>(name: &str) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::ID), move |ctx| {
        resolve(async move {
            let (rc, id) = (request(&ctx)?, id_arg(&ctx, "id", R::TYPE_NAME)?);
            let deleted = write::delete::<R>(&rc.db, &rc.plugins, &rc.caller, id).await?;
            Ok(Some(FieldValue::value(ids::encode(R::TYPE_NAME, deleted))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}
