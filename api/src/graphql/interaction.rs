//! The `Interaction` type, `interactions`, `Customer.interactions` and the interaction mutations.

use async_graphql::dynamic::{Field, FieldValue, ResolverContext, TypeRef};
use guanxi_entity::interaction;

use super::connection::{self, Connection};
use super::context::{request, resolve};
use super::fields;
use super::{Types, parent};
use crate::domain::interactions::{self as service};
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
    types.query.push(fields::get::<interaction::Model>("interaction", |rc, id| {
        Box::pin(service::get(&rc.db, &rc.caller, id))
    }));
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
    type I = interaction::Model;
    [
        fields::create::<I>("recordInteraction", "RecordInteractionInput", |rc, input| {
            Box::pin(service::record(&rc.db, &rc.plugins, &rc.caller, input))
        }),
        fields::update::<I>("updateInteraction", "UpdateInteractionInput", |rc, id, input, expected| {
            Box::pin(service::update(&rc.db, &rc.plugins, &rc.caller, id, input, expected))
        }),
        fields::delete::<I>("deleteInteraction", |rc, id| {
            Box::pin(service::delete(&rc.db, &rc.plugins, &rc.caller, id))
        }),
    ]
}
