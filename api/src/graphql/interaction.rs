//! The `Interaction` type, `interactions`, `Customer.interactions` and the interaction mutations.

use async_graphql::dynamic::{Field, ResolverContext};
use guanxi_entity::interaction;

use super::Types;
use super::connection::{self, Connection};
use super::context::shared_request;
use super::fields;
use crate::error::Result;
use crate::query::PageRequest;

pub fn register(types: &mut Types) {
    super::fields::register::<interaction::Model>(types, "A touch point on a customer's timeline (互动).", |o| o);
    types.inputs.extend(super::fields::input_types::<interaction::Model>(
        "RecordInteractionInput",
        "UpdateInteractionInput",
        "Absent fields stay as they are; null clears.",
    ));
    types.query.push(fields::get::<interaction::Model>("interaction"));
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
static LISTING: connection::Listing<interaction::Model> =
    connection::Listing::on_customer(
        super::filters::no_extra,
        |rc| &rc.interactions_per_customer,
        |rc| &rc.interaction_counts,
    );

async fn connection_of(
    ctx: &ResolverContext<'_>,
    customer: Option<uuid::Uuid>,
) -> Result<Connection<interaction::Model>> {
    let Some(id) = customer else { return LISTING.connection(ctx, None).await };
    let plain = ["filter", "orderBy"].iter().all(|arg| ctx.args.get(arg).is_none_or(|v| v.is_null()));
    let req = LISTING.request(ctx, None)?;
    let rc = shared_request(ctx)?;
    if !(plain && req.page.cursor.is_none() && !req.page.backward) {
        return LISTING.nested(&rc, req, id).await;
    }
    // The parent customer was visible, so its timeline is too.
    let rows = batched_latest(&rc, id, &req.page).await?;
    LISTING.wrap_nested(&rc, req, id, rows)
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
        fields::create::<I>("recordInteraction", "RecordInteractionInput"),
        fields::update::<I>("updateInteraction", "UpdateInteractionInput"),
        fields::delete::<I>("deleteInteraction"),
    ]
}
