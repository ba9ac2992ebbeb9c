//! Webhooks in the schema (ADMIN only): `Webhook`, its deliveries and their attempts, the
//! `webhooks` query and the mutations that register, change, delete, re-key and redeliver.

use std::sync::Arc;

use async_graphql::Value;
use async_graphql::dynamic::{Enum, Field, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef};
use guanxi_entity::{webhook, webhook_attempt, webhook_delivery};

use super::connection::{self, Connection};
use super::context::{id_arg, list_first, list_first_arg, request, resolve};
use super::scalars::{opt_str, time_value};
use super::{Types, enum_value, inputs, parent, simple};
use crate::domain::ids;
use crate::domain::webhooks::{self as service, CreateInput, DELIVERY_TYPE_NAME, Rules, TYPE_NAME, UpdateInput};
use crate::error::{Error, Result};
use crate::query::{Scalar, encode_cursor};

/// The most attempts `WebhookDelivery.attempts` lists.
pub const MAX_ATTEMPTS: u64 = 100;

/// A registered webhook with the secret it signs with, shown once.
struct WithSecret(webhook::Model, String);

fn rules<'a>(ctx: &ResolverContext<'a>) -> Result<&'a Arc<Rules>> {
    ctx.data::<Arc<Rules>>().map_err(|_| Error::Internal(anyhow::anyhow!("no webhook rules in the request")))
}

fn opt_time(t: Option<&chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, time_value)
}

fn opt_int(n: Option<i32>) -> Value {
    n.map_or(Value::Null, Value::from)
}

pub fn register(types: &mut Types) {
    types.enums.push(
        Enum::new("DeliveryStatus")
            .description("PENDING: to be tried (again); DELIVERED: a 2xx answered; FAILED: retries ran out.")
            .item("PENDING")
            .item("DELIVERED")
            .item("FAILED"),
    );
    types.objects.push(webhook_type());
    types.objects.push(delivery_type());
    types.objects.push(attempt_type());
    types.objects.extend(connection::types::<webhook_delivery::Model>("WebhookDelivery"));
    types.objects.push(
        Object::new("WebhookWithSecret")
            .description("A webhook and the secret its deliveries are signed with: shown this once, so keep it.")
            .field(Field::new("webhook", TypeRef::named_nn(TYPE_NAME), |ctx| {
                resolve(async move { Ok(Some(FieldValue::borrowed_any(&parent::<WithSecret>(&ctx)?.0))) })
            }))
            .field(simple::<WithSecret>("secret", TypeRef::named_nn(TypeRef::STRING), |w| Value::String(w.1.clone()))),
    );
    types.inputs.push(
        InputObject::new("CreateWebhookInput")
            .field(InputValue::new("url", TypeRef::named_nn(TypeRef::STRING)).description(
                "An https address on the public internet (loopback, private and link-local addresses are refused)",
            ))
            .field(
                InputValue::new("events", TypeRef::named_nn_list_nn(TypeRef::STRING))
                    .description("Event names such as customer.updated, or \"*\" for all"),
            )
            .field(InputValue::new("enabled", TypeRef::named(TypeRef::BOOLEAN)).description("Default: true")),
    );
    types.inputs.push(
        InputObject::new("UpdateWebhookInput")
            .description("What is left out stays as it is.")
            .field(InputValue::new("url", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("events", TypeRef::named_nn_list(TypeRef::STRING)))
            .field(InputValue::new("enabled", TypeRef::named(TypeRef::BOOLEAN))),
    );
    types.query.push(
        Field::new("webhooks", TypeRef::named_nn_list_nn(TYPE_NAME), |ctx| {
            resolve(async move {
                let rc = request(&ctx)?;
                let all = service::list(&rc.db, &rc.caller).await?;
                Ok(Some(FieldValue::list(all.into_iter().map(FieldValue::owned_any))))
            })
        })
        .description("ADMIN: the tenant's webhooks, oldest first."),
    );
    types.mutation.extend(mutations());
}

fn webhook_type() -> Object {
    let deliveries = Field::new("deliveries", TypeRef::named_nn("WebhookDeliveryConnection"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let hook_id = parent::<webhook::Model>(&ctx)?.id;
            let order = crate::domain::webhooks::delivery_order();
            let page = connection::paging(&ctx, &order)?;
            let rows = service::deliveries(&rc.db, &rc.caller, hook_id, &page).await?;
            let count: connection::Counter = {
                let (db, caller) = (rc.db.clone(), rc.caller.clone());
                Arc::new(move || {
                    let (db, caller) = (db.clone(), caller.clone());
                    Box::pin(async move { service::count_deliveries(&db, &caller, hook_id).await })
                })
            };
            let conn = Connection::new(rows, move |d| encode_cursor(&order, &[Scalar::Uuid(d.id)]), count);
            Ok(Some(FieldValue::owned_any(conn)))
        })
    })
    .description("Every event sent or to be sent, newest first; kept as long as the change events are.");
    Object::new(TYPE_NAME)
        .description("An address the tenant's change events are POSTed to, signed with its secret.")
        .field(simple::<webhook::Model>("id", TypeRef::named_nn(TypeRef::ID), |w| {
            Value::String(ids::encode(TYPE_NAME, w.id))
        }))
        .field(simple::<webhook::Model>("url", TypeRef::named_nn(TypeRef::STRING), |w| Value::String(w.url.clone())))
        .field(simple::<webhook::Model>("events", TypeRef::named_nn_list_nn(TypeRef::STRING), |w| {
            Value::from_json(w.events.clone()).unwrap_or(Value::List(Vec::new()))
        }))
        .field(simple::<webhook::Model>("enabled", TypeRef::named_nn(TypeRef::BOOLEAN), |w| Value::from(w.enabled)))
        .field(
            simple::<webhook::Model>("previousSecretExpiresAt", TypeRef::named("DateTime"), |w| {
                opt_time(w.previous_secret_until.as_ref().filter(|until| **until > crate::clock::now()))
            })
            .description("While a rotated secret still signs beside the new one: until when."),
        )
        .field(simple::<webhook::Model>("createdAt", TypeRef::named_nn("DateTime"), |w| time_value(&w.created_at)))
        .field(simple::<webhook::Model>("updatedAt", TypeRef::named_nn("DateTime"), |w| time_value(&w.updated_at)))
        .field(connection::with_paging(deliveries))
}

fn delivery_type() -> Object {
    type D = webhook_delivery::Model;
    Object::new(DELIVERY_TYPE_NAME)
        .description("One event sent to one webhook: at least once, until a 2xx answers or retries run out.")
        .field(simple::<D>("id", TypeRef::named_nn(TypeRef::ID), |d| {
            Value::String(ids::encode(DELIVERY_TYPE_NAME, d.id))
        }))
        .field(
            simple::<D>("eventId", TypeRef::named_nn(TypeRef::ID), |d| Value::String(d.event_id.to_string()))
                .description("The Guanxi-Event-Id header every attempt carries: the same for each."),
        )
        .field(simple::<D>("event", TypeRef::named_nn(TypeRef::STRING), |d| Value::String(d.event.clone())))
        .field(
            simple::<D>("attempt", TypeRef::named_nn(TypeRef::INT), |d| Value::from(d.attempt))
                .description("Attempts begun so far."),
        )
        .field(simple::<D>("status", TypeRef::named_nn("DeliveryStatus"), |d| enum_value(&d.status)))
        .field(
            simple::<D>("responseStatus", TypeRef::named(TypeRef::INT), |d| opt_int(d.response_status))
                .description("The HTTP status of the latest answer."),
        )
        .field(
            simple::<D>("error", TypeRef::named(TypeRef::STRING), |d| opt_str(d.error.as_deref()))
                .description("What went wrong in the latest attempt."),
        )
        .field(simple::<D>("nextAttemptAt", TypeRef::named("DateTime"), |d| opt_time(d.next_attempt_at.as_ref())))
        .field(simple::<D>("deliveredAt", TypeRef::named("DateTime"), |d| opt_time(d.delivered_at.as_ref())))
        .field(simple::<D>("createdAt", TypeRef::named_nn("DateTime"), |d| time_value(&d.created_at)))
        .field(
            Field::new("attempts", TypeRef::named_nn_list_nn("WebhookAttempt"), |ctx| {
                resolve(async move {
                    let rc = request(&ctx)?;
                    let delivery = parent::<D>(&ctx)?;
                    let first = list_first(&ctx, MAX_ATTEMPTS)?;
                    let all = service::attempts(&rc.db, &rc.caller, delivery, first).await?;
                    Ok(Some(FieldValue::list(all.into_iter().map(FieldValue::owned_any))))
                })
            })
            .argument(list_first_arg(MAX_ATTEMPTS))
            .description("The attempts with their outcomes, newest first."),
        )
}

fn attempt_type() -> Object {
    type A = webhook_attempt::Model;
    Object::new("WebhookAttempt")
        .description("One POST of a delivery and what came of it.")
        .field(simple::<A>("attempt", TypeRef::named_nn(TypeRef::INT), |a| Value::from(a.attempt)))
        .field(simple::<A>("at", TypeRef::named_nn("DateTime"), |a| time_value(&a.at)))
        .field(simple::<A>("responseStatus", TypeRef::named(TypeRef::INT), |a| opt_int(a.response_status)))
        .field(simple::<A>("error", TypeRef::named(TypeRef::STRING), |a| opt_str(a.error.as_deref())))
        .field(simple::<A>("durationMs", TypeRef::named_nn(TypeRef::INT), |a| Value::from(a.duration_ms)))
}

fn create_input(obj: &async_graphql::dynamic::ObjectAccessor<'_>) -> CreateInput {
    CreateInput {
        url: inputs::string(obj, "url").into_value().unwrap_or_default(),
        events: inputs::strings(obj, "events").into_value().unwrap_or_default(),
        enabled: inputs::boolean(obj, "enabled").into_value(),
    }
}

fn update_input(obj: &async_graphql::dynamic::ObjectAccessor<'_>) -> UpdateInput {
    UpdateInput {
        url: inputs::string(obj, "url").into_value(),
        events: inputs::strings(obj, "events").into_value(),
        enabled: inputs::boolean(obj, "enabled").into_value(),
    }
}

fn mutations() -> Vec<Field> {
    let create = Field::new("createWebhook", TypeRef::named_nn("WebhookWithSecret"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let input = inputs::input(&ctx, create_input)?;
            let (hook, secret) = service::create(&rc.db, rules(&ctx)?, &rc.caller, input).await?;
            Ok(Some(FieldValue::owned_any(WithSecret(hook, secret))))
        })
    })
    .argument(InputValue::new("input", TypeRef::named_nn("CreateWebhookInput")))
    .description(
        "ADMIN: registers an address for the tenant's events; the answer holds the signing secret, shown once.",
    );
    let update = Field::new("updateWebhook", TypeRef::named_nn(TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let input = inputs::input(&ctx, update_input)?;
            let hook = service::update(&rc.db, rules(&ctx)?, &rc.caller, id, input).await?;
            Ok(Some(FieldValue::owned_any(hook)))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .argument(InputValue::new("input", TypeRef::named_nn("UpdateWebhookInput")))
    .description(
        "ADMIN: changes the address, the events or whether it is enabled (a disabled webhook's deliveries wait).",
    );
    let delete = Field::new("deleteWebhook", TypeRef::named_nn(TypeRef::ID), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            service::delete(&rc.db, &rc.caller, id).await?;
            Ok(Some(FieldValue::value(Value::String(ids::encode(TYPE_NAME, id)))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description("ADMIN: deletes a webhook and its deliveries; nothing more is sent to it.");
    let rotate = Field::new("rotateWebhookSecret", TypeRef::named_nn("WebhookWithSecret"), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "id", TYPE_NAME)?;
            let (hook, secret) = service::rotate_secret(&rc.db, rules(&ctx)?, &rc.caller, id).await?;
            Ok(Some(FieldValue::owned_any(WithSecret(hook, secret))))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description(
        "ADMIN: a new signing secret, shown once; the old one signs too (a second v1) until previousSecretExpiresAt.",
    );
    let redeliver = Field::new("redeliverWebhookEvent", TypeRef::named_nn(DELIVERY_TYPE_NAME), |ctx| {
        resolve(async move {
            let rc = request(&ctx)?;
            let id = id_arg(&ctx, "deliveryId", DELIVERY_TYPE_NAME)?;
            let delivery = service::redeliver(&rc.db, rules(&ctx)?, &rc.caller, id).await?;
            Ok(Some(FieldValue::owned_any(delivery)))
        })
    })
    .argument(InputValue::new("deliveryId", TypeRef::named_nn(TypeRef::ID)))
    .description("ADMIN: sends a delivery's event again now, with the same Guanxi-Event-Id, whatever became of it.");
    vec![create, update, delete, rotate, redeliver]
}
