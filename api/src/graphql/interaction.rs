//! The `Interaction` type, `interactions`, `Customer.interactions` and the interaction mutations.

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldValue, InputObject, InputValue, Object, ObjectAccessor, ResolverContext, TypeRef,
};
use guanxi_entity::interaction;

use super::connection::{self, Connection};
use super::context::{id_arg, request, resolve};
use super::filters::{entity_filter, entity_order, enum_filter};
use super::scalars::{opt_str, time_value};
use super::{Types, enum_value, inputs, parent, simple};
use crate::domain::ids;
use crate::domain::interactions::{self as service, FIELDS, InteractionInput, KINDS, TYPE_NAME};
use crate::error::Result;
use crate::query::PageRequest;

pub fn register(types: &mut Types) {
    types.enums.push(KINDS.iter().fold(Enum::new("InteractionKind"), |e, v| e.item(*v)));
    types.inputs.push(enum_filter("InteractionKind"));
    types.inputs.push(entity_filter(TYPE_NAME, &FIELDS));
    let (order_field, order) = entity_order(TYPE_NAME, &FIELDS);
    types.enums.push(order_field);
    types.inputs.push(order);
    types.inputs.extend(inputs_types());
    types.objects.push(interaction_type());
    types.objects.extend(connection::types::<interaction::Model>(TYPE_NAME));
    types.query.push(
        Field::new("interaction", TypeRef::named(TYPE_NAME), |ctx| {
            resolve(async move {
                let id = id_arg(&ctx, "id", TYPE_NAME)?;
                let rc = request(&ctx)?;
                Ok(service::get(&rc.db, &rc.caller, id).await?.map(FieldValue::owned_any))
            })
        })
        .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID))),
    );
    types.query.push(list_field("interactions", false).description("Interactions the caller may see, newest first."));
    types.mutation.extend(mutations());
}

fn interaction_type() -> Object {
    Object::new(TYPE_NAME)
        .description("A touch point on a customer's timeline (互动).")
        .implement("Node")
        .field(simple::<interaction::Model>("id", TypeRef::named_nn(TypeRef::ID), |i| {
            Value::String(ids::encode(TYPE_NAME, i.id))
        }))
        .field(Field::new("customer", TypeRef::named_nn("Customer"), |ctx| {
            resolve(async move {
                let i = parent::<interaction::Model>(&ctx)?;
                let rc = request(&ctx)?;
                let customer = rc.customer_of_record(i.customer_id).await?;
                Ok(Some(FieldValue::owned_any(customer)))
            })
        }))
        .field(simple::<interaction::Model>("kind", TypeRef::named_nn("InteractionKind"), |i| enum_value(&i.kind)))
        .field(simple::<interaction::Model>("channel", TypeRef::named(TypeRef::STRING), |i| {
            opt_str(i.channel.as_deref())
        }))
        .field(simple::<interaction::Model>("occurredAt", TypeRef::named_nn("DateTime"), |i| {
            time_value(&i.occurred_at)
        }))
        .field(Field::new("staff", TypeRef::named("User"), |ctx| {
            resolve(async move {
                let i = parent::<interaction::Model>(&ctx)?;
                let Some(staff) = i.staff_id else { return Ok(None) };
                let user = request(&ctx)?.users.load_one(staff).await?;
                Ok(user.map(FieldValue::owned_any))
            })
        }))
        .field(simple::<interaction::Model>("summary", TypeRef::named(TypeRef::STRING), |i| {
            opt_str(i.summary.as_deref())
        }))
        .field(simple::<interaction::Model>("outcome", TypeRef::named(TypeRef::STRING), |i| {
            opt_str(i.outcome.as_deref())
        }))
        .field(simple::<interaction::Model>("amount", TypeRef::named("Decimal"), |i| opt_str(i.amount.as_deref())))
        .field(simple::<interaction::Model>("currency", TypeRef::named(TypeRef::STRING), |i| {
            opt_str(i.currency.as_deref())
        }))
        .field(simple::<interaction::Model>("satisfaction", TypeRef::named(TypeRef::INT), |i| {
            i.satisfaction.map_or(Value::Null, Value::from)
        }))
        .field(simple::<interaction::Model>("wouldBuyAgain", TypeRef::named(TypeRef::BOOLEAN), |i| {
            i.would_buy_again.map_or(Value::Null, Value::Boolean)
        }))
        .field(simple::<interaction::Model>("version", TypeRef::named_nn(TypeRef::INT), |i| Value::from(i.version)))
        .field(simple::<interaction::Model>("createdAt", TypeRef::named_nn("DateTime"), |i| time_value(&i.created_at)))
        .field(simple::<interaction::Model>("updatedAt", TypeRef::named_nn("DateTime"), |i| time_value(&i.updated_at)))
}

/// `interactions(...)` at the root or, `nested`, under a Customer.
fn list_field(name: &str, nested: bool) -> Field {
    connection::list_field(name, "Interaction", nested, |ctx, customer| Box::pin(connection_of(ctx, customer)))
}

/// `Customer.interactions`: the customer's timeline, newest first. A plain `first: n` (no filter,
/// order or cursor) is served for a whole page of customers by one batched statement.
#[must_use]
pub fn customer_field() -> Field {
    list_field("interactions", true)
}

/// How interactions are listed.
static LISTING: connection::Listing<interaction::Model> = connection::Listing::on_customer(super::filters::no_extra);

async fn connection_of(
    ctx: &ResolverContext<'_>,
    customer: Option<uuid::Uuid>,
) -> Result<Connection<interaction::Model>> {
    let Some(id) = customer else { return LISTING.connection(ctx, None).await };
    let plain = ["filter", "orderBy"].iter().all(|arg| ctx.args.get(arg).is_none_or(|v| v.is_null()));
    let req = LISTING.request(ctx, None)?;
    let rc = request(ctx)?;
    if !(plain && req.page.cursor.is_none() && !req.page.backward) {
        return LISTING.nested(rc, req, id, &rc.interactions_per_customer).await;
    }
    // The parent customer was visible, so its timeline is too.
    let rows = batched_latest(rc, id, &req.page).await?;
    Ok(LISTING.wrap(rc, LISTING.of_customer(req, id)?, rows))
}

async fn batched_latest(
    rc: &super::context::RequestContext,
    customer: uuid::Uuid,
    page: &PageRequest,
) -> Result<crate::query::Page<interaction::Model>> {
    let latest = rc.latest_interactions.load_one((customer, page.size + 1)).await?.unwrap_or_default();
    let more = latest.len() as u64 > page.size;
    let rows = latest.iter().take(usize::try_from(page.size).unwrap_or(usize::MAX)).cloned().collect();
    Ok(crate::query::Page { rows, has_next_page: more, has_previous_page: false })
}

fn inputs_types() -> [InputObject; 2] {
    let fields = |input: InputObject, record: bool| {
        let input = if record {
            input
                .field(InputValue::new("customerId", TypeRef::named_nn(TypeRef::ID)))
                .field(InputValue::new("kind", TypeRef::named_nn("InteractionKind")))
                .field(InputValue::new("occurredAt", TypeRef::named_nn("DateTime")))
        } else {
            input
                .field(InputValue::new("kind", TypeRef::named("InteractionKind")))
                .field(InputValue::new("occurredAt", TypeRef::named("DateTime")))
        };
        input
            .field(InputValue::new("channel", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("summary", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("outcome", TypeRef::named(TypeRef::STRING)))
            .field(
                InputValue::new("amount", TypeRef::named("Decimal"))
                    .description("PURCHASE only: positive, at most 4 decimals"),
            )
            .field(
                InputValue::new("currency", TypeRef::named(TypeRef::STRING))
                    .description("PURCHASE only: ISO 4217, e.g. CNY"),
            )
            .field(InputValue::new("satisfaction", TypeRef::named(TypeRef::INT)).description("SURVEY only: 1 to 5"))
            .field(InputValue::new("wouldBuyAgain", TypeRef::named(TypeRef::BOOLEAN)).description("SURVEY only"))
    };
    [
        fields(InputObject::new("RecordInteractionInput"), true),
        fields(
            InputObject::new("UpdateInteractionInput").description("Absent fields stay as they are; null clears."),
            false,
        ),
    ]
}

fn interaction_input(obj: &ObjectAccessor<'_>) -> InteractionInput {
    InteractionInput {
        customer_id: inputs::string(obj, "customerId"),
        kind: inputs::string(obj, "kind"),
        channel: inputs::string(obj, "channel"),
        occurred_at: inputs::date_time(obj, "occurredAt"),
        summary: inputs::string(obj, "summary"),
        outcome: inputs::string(obj, "outcome"),
        amount: inputs::decimal(obj, "amount"),
        currency: inputs::string(obj, "currency"),
        satisfaction: inputs::int(obj, "satisfaction"),
        would_buy_again: inputs::boolean(obj, "wouldBuyAgain"),
        custom_fields: inputs::json(obj, "customFields"),
    }
}

fn mutations() -> [Field; 3] {
    let record = Field::new("recordInteraction", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let row = service::record(&rc.db, &rc.plugins, &rc.caller, inputs::input(&ctx, interaction_input)?).await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("RecordInteractionInput")));
    let update = Field::new("updateInteraction", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let expected = inputs::expected_version(&ctx)?;
            let row =
                service::update(&rc.db, &rc.plugins, &rc.caller, id, inputs::input(&ctx, interaction_input)?, expected)
                    .await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("UpdateInteractionInput")))
    .argument(InputValue::new("expectedVersion", TypeRef::named(TypeRef::INT)));
    let delete = Field::new("deleteInteraction", TypeRef::named_nn(TypeRef::ID), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let deleted = service::delete(&rc.db, &rc.plugins, &rc.caller, id).await?;
            Ok(Some(FieldValue::value(ids::encode(TYPE_NAME, deleted))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)));
    [record, update, delete]
}
