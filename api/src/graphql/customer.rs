//! The `Customer` type, its queries and its mutations. Resolvers only translate between GraphQL
//! and [`crate::domain::customers`].

use std::sync::Arc;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ObjectAccessor, TypeRef,
};
use guanxi_entity::customer;

use super::connection::{self, Connection};
use super::context::{id_arg, int_arg, request, resolve, str_arg};
use super::filters::{entity_filter, entity_order, enum_filter, parse_filter, parse_order};
use super::scalars::{opt_enum, opt_str, time_value};
use super::{Types, parent};
use crate::domain::customers::{
    self as service, CustomerInput, FIELDS, KINDS, RELATIONSHIP_TYPES, STATUSES, TYPE_NAME,
};
use crate::domain::ids;
use crate::domain::input::Patch;
use crate::domain::query::{encode_cursor, page_request, total_order};

fn simple(name: &str, ty: TypeRef, get: fn(&customer::Model) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            Ok(Some(FieldValue::value(get(ctx.parent_value.try_downcast_ref::<customer::Model>()?))))
        })
    })
}

fn enum_value(s: &str) -> Value {
    Value::Enum(async_graphql::Name::new(s))
}

/// Every type the Customer part of the schema needs.
pub fn register(types: &mut Types) {
    types.enums.push(KINDS.iter().fold(Enum::new("CustomerKind"), |e, v| e.item(*v)));
    types.enums.push(STATUSES.iter().fold(Enum::new("CustomerStatus"), |e, v| e.item(*v)));
    types.enums.push(RELATIONSHIP_TYPES.iter().fold(Enum::new("RelationshipType"), |e, v| e.item(*v)));
    for e in ["CustomerKind", "CustomerStatus", "RelationshipType"] {
        types.inputs.push(enum_filter(e));
    }
    types.inputs.push(entity_filter(TYPE_NAME, &FIELDS));
    let (order_field, order) = entity_order(TYPE_NAME, &FIELDS);
    types.enums.push(order_field);
    types.inputs.push(order);
    types.inputs.extend(inputs());
    types.objects.push(customer_type());
    types.objects.extend(connection::types::<customer::Model>(TYPE_NAME));
    types.query.push(customer_query());
    types.query.push(customers_query());
    types.mutation.extend(mutations());
}

fn customer_type() -> Object {
    Object::new(TYPE_NAME)
        .description("A customer (客户): an individual or an organization.")
        .implement("Node")
        .field(simple("id", TypeRef::named_nn(TypeRef::ID), |c| Value::String(ids::encode(TYPE_NAME, c.id))))
        .field(simple("kind", TypeRef::named_nn("CustomerKind"), |c| enum_value(&c.kind)))
        .field(simple("name", TypeRef::named_nn(TypeRef::STRING), |c| Value::String(c.name.clone())))
        .field(simple("email", TypeRef::named(TypeRef::STRING), |c| opt_str(c.email.as_deref())))
        .field(simple("phone", TypeRef::named(TypeRef::STRING), |c| opt_str(c.phone.as_deref())))
        .field(simple("region", TypeRef::named(TypeRef::STRING), |c| opt_str(c.region.as_deref())))
        .field(simple("industry", TypeRef::named(TypeRef::STRING), |c| opt_str(c.industry.as_deref())))
        .field(
            simple("creditCode", TypeRef::named(TypeRef::STRING), |c| opt_str(c.credit_code.as_deref()))
                .description("Unified social credit code (统一社会信用代码) of an organization."),
        )
        .field(simple("channel", TypeRef::named(TypeRef::STRING), |c| opt_str(c.channel.as_deref())))
        .field(simple("tags", TypeRef::named_nn_list_nn(TypeRef::STRING), |c| {
            Value::List(service::tags_of(c).into_iter().map(Value::String).collect())
        }))
        .field(simple("status", TypeRef::named_nn("CustomerStatus"), |c| enum_value(&c.status)))
        .field(simple("relationshipType", TypeRef::named("RelationshipType"), |c| {
            opt_enum(c.relationship_type.as_deref())
        }))
        .field(Field::new("owner", TypeRef::named("User"), |ctx| {
            resolve(async move {
                let c = parent::<customer::Model>(&ctx)?;
                let Some(owner) = c.owner_id else { return Ok(None) };
                let rc = request(&ctx)?;
                let user =
                    rc.users.load_one(owner).await.map_err(|e| crate::Error::Internal(anyhow::anyhow!("{e}")))?;
                Ok(user.map(FieldValue::owned_any))
            })
        }))
        .field(
            simple("version", TypeRef::named_nn(TypeRef::INT), |c| Value::from(c.version))
                .description("Increases with every change; pass it as expectedVersion to refuse lost updates."),
        )
        .field(simple("createdAt", TypeRef::named_nn("DateTime"), |c| time_value(&c.created_at)))
        .field(simple("updatedAt", TypeRef::named_nn("DateTime"), |c| time_value(&c.updated_at)))
}

fn customer_query() -> Field {
    Field::new("customer", TypeRef::named(TYPE_NAME), |ctx| {
        resolve(async move {
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let rc = request(&ctx)?;
            Ok(service::get(&rc.db, &rc.caller, id).await?.map(FieldValue::owned_any))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
}

fn customers_query() -> Field {
    let field = Field::new("customers", TypeRef::named_nn("CustomerConnection"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let filter = parse_filter(ctx.args.get("filter"), &FIELDS)?;
            let order = total_order(
                parse_order(ctx.args.get("orderBy"), &FIELDS, service::default_order())?,
                service::field("id"),
            );
            let page = page_request(
                int_arg(&ctx, "first"),
                str_arg(&ctx, "after").as_deref(),
                int_arg(&ctx, "last"),
                str_arg(&ctx, "before").as_deref(),
                &order,
            )?;
            let rows = service::list(&rc.db, &rc.caller, filter.clone(), &order, &page).await?;
            let (db, caller) = (rc.db.clone(), rc.caller.clone());
            let count: connection::Counter = Arc::new(move || {
                let (db, caller, filter) = (db.clone(), caller.clone(), filter.clone());
                Box::pin(async move { service::count(&db, &caller, filter).await })
            });
            let conn = Connection::new(rows, |c| encode_cursor(&order, &service::order_values(c, &order)), count);
            Ok(Some(FieldValue::owned_any(conn)))
        })
    })
    .argument(InputValue::new("filter", TypeRef::named("CustomerFilter")))
    .argument(InputValue::new("orderBy", TypeRef::named_nn_list("CustomerOrder")));
    connection::with_paging(field).description("Customers the caller may see; AGENTs see those they own.")
}

fn inputs() -> [InputObject; 2] {
    let fields = |input: InputObject, create: bool| {
        let req = |t: &str| if create { TypeRef::named_nn(t) } else { TypeRef::named(t) };
        input
            .field(InputValue::new("kind", req("CustomerKind")))
            .field(InputValue::new("name", req(TypeRef::STRING)))
            .field(InputValue::new("email", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("phone", TypeRef::named(TypeRef::STRING))
                    .description("E.164 (+8613812345678) or a mainland mobile number"),
            )
            .field(InputValue::new("region", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("industry", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("creditCode", TypeRef::named(TypeRef::STRING))
                    .description("18 characters, GB 32100-2015; organizations only"),
            )
            .field(InputValue::new("channel", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("tags", TypeRef::named_nn_list(TypeRef::STRING))
                    .description("At most 50 tags of at most 50 characters"),
            )
            .field(InputValue::new("status", TypeRef::named("CustomerStatus")))
            .field(InputValue::new("relationshipType", TypeRef::named("RelationshipType")))
            .field(InputValue::new("ownerId", TypeRef::named(TypeRef::ID)))
    };
    [
        fields(InputObject::new("CreateCustomerInput"), true),
        fields(
            InputObject::new("UpdateCustomerInput").description("Absent fields stay as they are; null clears."),
            false,
        ),
    ]
}

fn patch(obj: &ObjectAccessor<'_>, name: &str) -> Patch<String> {
    match obj.get(name) {
        None => Patch::Absent,
        Some(v) if v.is_null() => Patch::Null,
        Some(v) => v.string().or_else(|_| v.enum_name()).map_or(Patch::Absent, |s| Patch::Value(s.to_owned())),
    }
}

fn customer_input(obj: &ObjectAccessor<'_>) -> CustomerInput {
    let tags = match obj.get("tags") {
        None => Patch::Absent,
        Some(v) if v.is_null() => Patch::Null,
        Some(v) => Patch::Value(
            v.list().map(|l| l.iter().filter_map(|t| t.string().ok().map(str::to_owned)).collect()).unwrap_or_default(),
        ),
    };
    CustomerInput {
        kind: patch(obj, "kind"),
        name: patch(obj, "name"),
        email: patch(obj, "email"),
        phone: patch(obj, "phone"),
        region: patch(obj, "region"),
        industry: patch(obj, "industry"),
        credit_code: patch(obj, "creditCode"),
        channel: patch(obj, "channel"),
        tags,
        status: patch(obj, "status"),
        relationship_type: patch(obj, "relationshipType"),
        owner_id: patch(obj, "ownerId"),
    }
}

fn input_arg(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> crate::Result<CustomerInput> {
    let obj = ctx
        .args
        .get("input")
        .and_then(|v| v.object().ok())
        .ok_or_else(|| crate::Error::invalid("input", "REQUIRED", "input is required"))?;
    Ok(customer_input(&obj))
}

fn mutations() -> [Field; 3] {
    let create = Field::new("createCustomer", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let created = service::create(&rc.db, &rc.caller, input_arg(&ctx)?).await?;
            Ok(Some(FieldValue::owned_any(created)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("CreateCustomerInput")));
    let update = Field::new("updateCustomer", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let expected = int_arg(&ctx, "expectedVersion")
                .map(|v| {
                    i32::try_from(v)
                        .map_err(|_| crate::Error::invalid("expectedVersion", "OUT_OF_RANGE", "not a version"))
                })
                .transpose()?;
            let updated = service::update(&rc.db, &rc.caller, id, input_arg(&ctx)?, expected).await?;
            Ok(Some(FieldValue::owned_any(updated)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("UpdateCustomerInput")))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)));
    let delete = Field::new("deleteCustomer", TypeRef::named_nn(TypeRef::ID), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let deleted = service::delete(&rc.db, &rc.caller, id).await?;
            Ok(Some(FieldValue::value(ids::encode(TYPE_NAME, deleted))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description("Deletes the customer; its last state stays in the audit log.");
    [create, update, delete]
}
