//! The `Interaction` type, `interactions`, `Customer.interactions` and the interaction mutations.

use async_graphql::dynamic::{Field, FieldValue, InputValue, ResolverContext, TypeRef};
use guanxi_entity::interaction;

use super::connection::{self, Connection};
use super::context::{id_arg, request, resolve};
use super::fields::read_input;
use super::{Types, inputs, parent};
use crate::domain::ids;
use crate::domain::interactions::{self as service, TYPE_NAME};
use crate::error::Result;
use crate::query::PageRequest;

pub fn register(types: &mut Types) {
    super::fields::register::<interaction::Model>(types, "A touch point on a customer's timeline (互动).", |object| {
        object
            .field(Field::new("customer", TypeRef::named_nn("Customer"), |ctx| {
                resolve(async move {
                    let i = parent::<interaction::Model>(&ctx)?;
                    let customer = request(&ctx)?.customer_of_record(i.customer_id).await?;
                    Ok(Some(FieldValue::owned_any(customer)))
                })
            }))
            .field(Field::new("staff", TypeRef::named("User"), |ctx| {
                resolve(async move {
                    let Some(staff) = parent::<interaction::Model>(&ctx)?.staff_id else { return Ok(None) };
                    Ok(request(&ctx)?.users.load_one(staff).await?.map(FieldValue::owned_any))
                })
            }))
    });
    types.inputs.extend(super::fields::input_types::<interaction::Model>(
        "RecordInteractionInput",
        "UpdateInteractionInput",
        "Absent fields stay as they are; null clears.",
    ));
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

fn mutations() -> [Field; 3] {
    let record = Field::new("recordInteraction", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let row = service::record(
                &rc.db,
                &rc.plugins,
                &rc.caller,
                inputs::input(&ctx, read_input::<interaction::Model>)?,
            )
            .await?;
            Ok(Some(FieldValue::owned_any(row)))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("RecordInteractionInput")));
    let update = Field::new("updateInteraction", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let expected = inputs::expected_version(&ctx)?;
            let row = service::update(
                &rc.db,
                &rc.plugins,
                &rc.caller,
                id,
                inputs::input(&ctx, read_input::<interaction::Model>)?,
                expected,
            )
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
