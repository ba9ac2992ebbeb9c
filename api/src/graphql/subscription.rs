//! `Subscription`: change events, answered through the normal read path.
//!
//! The socket (`http::ws`) does not keep one long execution per subscription. It runs the
//! subscription's document once per event of the subscriber's tenant, as a fresh request with
//! that event in its data ([`Delivery`]): the root field decides whether the caller hears of it,
//! by the record's visibility at that moment and the field's filter, and the rest of the
//! selection is read as any query reads it, with the request's own fresh loaders. Without a
//! delivery (when the subscription starts) the root field only checks its arguments.

use std::any::Any;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldValue, InputValue, Object, ResolverContext, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use futures_util::future::BoxFuture;

use super::context::{id_arg, request, resolve};
use super::error::into_gql;
use super::scalars::time_value;
use super::{Types, enum_value, parent, simple};
use crate::domain::feed::Heard;
use crate::domain::records::{self, OnCustomer};
use crate::domain::{access, complaints, customers, ids, interactions, plans};
use crate::error::Result;

/// The event one execution of a subscription's document answers.
pub struct Delivery(pub Heard);

/// What a subscriber is told: the event, and its record as the subscriber may see it now
/// (`None` once it is gone or out of the subscriber's sight).
struct Told {
    event: Heard,
    record: Option<Box<dyn Any + Send + Sync>>,
}

impl Told {
    fn new<T: Any + Send + Sync>(event: &Heard, record: Option<T>) -> Self {
        Self { event: event.clone(), record: record.map(|r| Box::new(r) as Box<dyn Any + Send + Sync>) }
    }
}

/// `ChangeKind`, from an event's name.
const KINDS: [&str; 6] = ["CREATED", "UPDATED", "DELETED", "TRANSITIONED", "SCORED", "SLA_BREACHED"];

fn kind_of(event_name: &str) -> &'static str {
    match event_name.rsplit('.').next() {
        Some("created" | "recorded" | "filed") => "CREATED",
        Some("deleted") => "DELETED",
        Some("transitioned") => "TRANSITIONED",
        Some("scored") => "SCORED",
        Some("sla_breached") => "SLA_BREACHED",
        _ => "UPDATED",
    }
}

pub fn register(types: &mut Types) {
    types.enums.push(KINDS.iter().fold(Enum::new("ChangeKind"), |e, k| e.item(*k)));
    types.objects.push(event_type("CustomerEvent", "customer", customers::TYPE_NAME));
    types.objects.push(event_type("InteractionEvent", "interaction", interactions::TYPE_NAME));
    types.objects.push(event_type("ComplaintEvent", "complaint", complaints::TYPE_NAME));
    types.objects.push(event_type("KeyAccountPlanEvent", "keyAccountPlan", plans::TYPE_NAME));
    types.subscription.push(
        root("customerChanged", "CustomerEvent", |ctx, heard| Box::pin(customer_changed(ctx, heard)))
            .argument(InputValue::new("filter", TypeRef::named("CustomerFilter")))
            .description(
                "Customers created, changed, deleted or scored. The filter is matched against the customer as it \
                 is when the event is delivered; one that is gone, or no longer the caller's to see, is told \
                 with `customer: null` to those who could see it when it changed.",
            ),
    );
    types.subscription.push(
        root("interactionRecorded", "InteractionEvent", |ctx, heard| {
            Box::pin(on_customer::<guanxi_entity::interaction::Model>(ctx, heard))
        })
        .argument(InputValue::new("customerId", TypeRef::named(TypeRef::ID)))
        .description("Interactions recorded, changed or deleted, of one customer or of all the caller may see."),
    );
    types.subscription.push(
        root("complaintChanged", "ComplaintEvent", |ctx, heard| Box::pin(complaint_changed(ctx, heard)))
            .argument(InputValue::new("filter", TypeRef::named("ComplaintFilter")))
            .description(
                "Complaints filed, changed or moved along their workflow. The filter is matched against the \
                 complaint as it is when the event is delivered.",
            ),
    );
    types.subscription.push(
        root("keyAccountPlanChanged", "KeyAccountPlanEvent", |ctx, heard| {
            Box::pin(on_customer::<guanxi_entity::key_account_plan::Model>(ctx, heard))
        })
        .argument(InputValue::new("customerId", TypeRef::named(TypeRef::ID)))
        .description("Key-account plans created or changed (their actions too), of one customer or of all."),
    );
}

/// Decides whether the caller hears of an event (`None` when it only checks the arguments).
type Decide = for<'a> fn(&'a ResolverContext<'a>, Option<&'a Heard>) -> BoxFuture<'a, Result<Option<Told>>>;

fn root(name: &str, ty: &str, decide: Decide) -> SubscriptionField {
    SubscriptionField::new(name, TypeRef::named_nn(ty), move |ctx| {
        SubscriptionFieldFuture::new(async move {
            let heard = ctx.data_opt::<Delivery>().map(|d| &d.0);
            let told = decide(&ctx, heard).await.map_err(into_gql)?;
            Ok(futures_util::stream::iter(told.map(|t| Ok::<_, async_graphql::Error>(FieldValue::owned_any(t)))))
        })
    })
}

/// The fields every event has, and its record's.
fn event_type(name: &str, record_field: &str, record_type: &str) -> Object {
    let mut object = Object::new(name)
        .field(
            simple::<Told>("eventId", TypeRef::named_nn(TypeRef::ID), |t| Value::String(t.event.id.to_string()))
                .description("Unique; events of one record come in the order they committed."),
        )
        .field(simple::<Told>("kind", TypeRef::named_nn("ChangeKind"), |t| enum_value(kind_of(&t.event.name))))
        .field(simple::<Told>("at", TypeRef::named_nn("DateTime"), |t| time_value(&t.event.at)))
        .field(
            Field::new("actor", TypeRef::named("User"), |ctx| {
                resolve(async move {
                    let Some(actor) = parent::<Told>(&ctx)?.event.actor_id else { return Ok(None) };
                    let rc = request(&ctx)?;
                    // Who changed what is the audit trail's to tell.
                    if access::ensure_can_read_audit(&rc.caller).is_err() {
                        return Ok(None);
                    }
                    Ok(rc.users.load_one(actor).await?.map(FieldValue::owned_any))
                })
            })
            .description("Who made the change: for ADMIN and MANAGER, who may read the audit trail; null for others and for changes the server made."),
        )
        .field(simple::<Told>("customerId", TypeRef::named_nn(TypeRef::ID), |t| {
            Value::String(ids::encode(customers::TYPE_NAME, t.event.customer_id.unwrap_or(t.event.entity_id)))
        }))
        .field(simple::<Told>("changedFields", TypeRef::named_nn_list_nn(TypeRef::STRING), |t| {
            Value::from_json(t.event.changed_fields.clone()).unwrap_or(Value::List(Vec::new()))
        }));
    if record_type != customers::TYPE_NAME {
        object = object.field(simple::<Told>(&format!("{record_field}Id"), TypeRef::named_nn(TypeRef::ID), |t| {
            Value::String(ids::encode(&t.event.entity, t.event.entity_id))
        }));
    }
    object.field(Field::new(record_field, TypeRef::named(record_type), |ctx| {
        super::ready(parent::<Told>(&ctx).map(|t| t.record.as_deref().map(FieldValue::borrowed_any)).map_err(into_gql))
    }))
}

/// The optional `customerId` argument.
fn customer_arg(ctx: &ResolverContext<'_>) -> Result<Option<uuid::Uuid>> {
    match ctx.args.get("customerId") {
        Some(v) if !v.is_null() => id_arg(ctx, "customerId", customers::TYPE_NAME).map(Some),
        _ => Ok(None),
    }
}

fn has_filter(ctx: &ResolverContext<'_>) -> bool {
    ctx.args.get("filter").is_some_and(|f| !f.is_null())
}

async fn customer_changed<'a>(ctx: &'a ResolverContext<'a>, heard: Option<&'a Heard>) -> Result<Option<Told>> {
    let listing = &super::customer::LISTING;
    let Some(heard) = heard else {
        listing.request(ctx, None)?;
        return Ok(None);
    };
    if heard.entity != customers::TYPE_NAME {
        return Ok(None);
    }
    let rc = request(ctx)?;
    let record = records::get::<guanxi_entity::customer::Model>(&rc.db, &rc.caller, heard.entity_id).await?;
    let hears = match &record {
        Some(_) if has_filter(ctx) => listing.lists(ctx, heard.entity_id).await?,
        Some(_) => true,
        // Gone, or given to someone else: told to those who could see it when it changed.
        None => access::can_read_owned(&rc.caller, heard.owner_id),
    };
    Ok(hears.then(|| Told::new(heard, record)))
}

async fn complaint_changed<'a>(ctx: &'a ResolverContext<'a>, heard: Option<&'a Heard>) -> Result<Option<Told>> {
    let listing = &super::complaint::LISTING;
    let Some(heard) = heard else {
        listing.request(ctx, None)?;
        return Ok(None);
    };
    if heard.entity != complaints::TYPE_NAME {
        return Ok(None);
    }
    let rc = request(ctx)?;
    let Some(record) = records::get::<guanxi_entity::complaint::Model>(&rc.db, &rc.caller, heard.entity_id).await?
    else {
        return Ok(None);
    };
    if has_filter(ctx) && !listing.lists(ctx, heard.entity_id).await? {
        return Ok(None);
    }
    Ok(Some(Told::new(heard, Some(record))))
}

/// Interactions and plans: heard by those who see their customer's records, narrowed by the
/// `customerId` argument; the record as it is now (`None` once deleted).
async fn on_customer<'a, R: OnCustomer + Any + Send + Sync>(
    ctx: &'a ResolverContext<'a>,
    heard: Option<&'a Heard>,
) -> Result<Option<Told>> {
    let wanted = customer_arg(ctx)?;
    let Some(heard) = heard.filter(|h| h.entity == R::TYPE_NAME) else { return Ok(None) };
    let Some(customer) = heard.customer_id.filter(|c| wanted.is_none_or(|w| w == *c)) else { return Ok(None) };
    let rc = request(ctx)?;
    if !customers::can_see_records_of(&rc.db, &rc.caller, customer).await? {
        return Ok(None);
    }
    let record = records::find::<R>(&rc.db, &rc.caller, heard.entity_id).await?;
    Ok(Some(Told::new(heard, record)))
}

/// What the socket checks before running a document for an event: the entity its root field
/// hears of, and the customer it is narrowed to. `None`: the field is not a subscription.
#[must_use]
pub fn listens_to(field: &str) -> Option<&'static str> {
    match field {
        "customerChanged" => Some(customers::TYPE_NAME),
        "interactionRecorded" => Some(interactions::TYPE_NAME),
        "complaintChanged" => Some(complaints::TYPE_NAME),
        "keyAccountPlanChanged" => Some(plans::TYPE_NAME),
        _ => None,
    }
}
