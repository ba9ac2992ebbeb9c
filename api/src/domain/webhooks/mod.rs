//! Webhooks: the tenant's change events POSTed to addresses its ADMIN registers, signed, retried
//! until a 2xx answers, each attempt recorded.
//!
//! This module holds what an ADMIN does with webhooks; [`sender`] makes and sends the
//! deliveries; [`address`] says where they may go; [`signature`] signs them.

pub mod address;
pub mod sender;
pub mod signature;

use chrono::{DateTime, Utc};
use guanxi_entity::{webhook, webhook_attempt, webhook_delivery};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Caller, Role, audit, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{Page, PageRequest};
use crate::store;

/// The one order a webhook's deliveries are listed in (their cursors encode it).
pub use crate::store::webhooks::delivery_order;

pub const TYPE_NAME: &str = "Webhook";
pub const DELIVERY_TYPE_NAME: &str = "WebhookDelivery";

/// Every event a webhook may ask for (`*`: all of them).
pub const EVENT_NAMES: [&str; 13] = [
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.scored",
    "interaction.recorded",
    "interaction.updated",
    "interaction.deleted",
    "complaint.filed",
    "complaint.updated",
    "complaint.transitioned",
    "complaint.sla_breached",
    "plan.created",
    "plan.updated",
];

/// Webhooks one tenant may have: each event is sent once per webhook, so this bounds what one
/// tenant's write costs in deliveries.
pub const MAX_WEBHOOKS: u64 = 20;

/// The server's rules for webhooks, from its configuration.
#[derive(Debug)]
pub struct Rules {
    /// Deliveries may go to loopback, private and link-local addresses, over http too.
    pub allow_private: bool,
    /// How long a delivery is retried before it is FAILED.
    pub retry_for: chrono::Duration,
    /// How long a rotated secret keeps signing beside the new one.
    pub secret_grace: chrono::Duration,
    /// Rings the sender: a delivery is due now.
    pub bell: tokio::sync::Notify,
}

/// `createWebhook`'s input.
#[derive(Debug, Clone, Default)]
pub struct CreateInput {
    pub url: String,
    pub events: Vec<String>,
    pub enabled: Option<bool>,
}

/// `updateWebhook`'s input: what is absent stays.
#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn ensure_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin { Ok(()) } else { Err(Error::Forbidden("only an ADMIN may manage webhooks".into())) }
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound(format!("no webhook {}", ids::encode(TYPE_NAME, id)))
}

/// The webhook as the audit trail records it: never its secret, only which one it is.
fn audit_snapshot(hook: &webhook::Model) -> Value {
    let fingerprint = hex::encode(&Sha256::digest(hook.secret.as_bytes())[..6]);
    json!({ "url": hook.url, "events": hook.events, "enabled": hook.enabled, "secretFingerprint": fingerprint })
}

/// Checks an address: its form, then where its name resolves now.
async fn check_url(raw: &str, rules: &Rules, v: &mut Vec<Violation>) -> Option<String> {
    let url = match address::check(raw, rules.allow_private) {
        Ok(url) => url,
        Err((code, message)) => {
            v.push(Violation::new("url", code, message));
            return None;
        }
    };
    if let Err((code, message)) = address::check_resolved(&url, rules.allow_private).await {
        v.push(Violation::new("url", code, message));
        return None;
    }
    Some(url.into())
}

/// Checks the event names: at least one, each known (or `*`); kept sorted, once each.
fn check_events(names: &[String], v: &mut Vec<Violation>) -> Value {
    if names.is_empty() {
        v.push(Violation::new("events", "REQUIRED", "name at least one event, or \"*\" for all"));
    }
    if names.len() > EVENT_NAMES.len() {
        v.push(Violation::new(
            "events",
            "TOO_MANY",
            format!("at most {} names: there are no more events", EVENT_NAMES.len()),
        ));
        return json!([]);
    }
    let mut kept: Vec<&str> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name == store::webhooks::ALL_EVENTS || EVENT_NAMES.contains(&name) {
            kept.push(name);
        } else {
            v.push(Violation::new(
                format!("events.{i}"),
                "UNKNOWN_EVENT",
                format!("'{name}' is no event; the events are {} and \"*\"", EVENT_NAMES.join(", ")),
            ));
        }
    }
    if kept.contains(&store::webhooks::ALL_EVENTS) {
        return json!([store::webhooks::ALL_EVENTS]);
    }
    kept.sort_unstable();
    kept.dedup();
    json!(kept)
}

/// The tenant's webhooks, oldest first.
///
/// # Errors
/// `FORBIDDEN` for non-ADMINs; database failures.
pub async fn list(db: &DatabaseConnection, caller: &Caller) -> Result<Vec<webhook::Model>> {
    ensure_admin(caller)?;
    store::webhooks::all(db, caller.tenant_id).await
}

/// Registers a webhook; returns it with its secret, which is shown this once.
///
/// # Errors
/// `FORBIDDEN`; `BAD_USER_INPUT` for an address that is no https URL or is private, or unknown
/// events; `CONFLICT` (`TOO_MANY`) beyond [`MAX_WEBHOOKS`]; database failures.
pub async fn create(
    db: &DatabaseConnection,
    rules: &Rules,
    caller: &Caller,
    input: CreateInput,
) -> Result<(webhook::Model, String)> {
    ensure_admin(caller)?;
    let mut v = Vec::new();
    let url = check_url(&input.url, rules, &mut v).await;
    let events = check_events(&input.events, &mut v);
    let Some(url) = url.filter(|_| v.is_empty()) else { return Err(Error::Invalid(v)) };
    let now = crate::clock::now();
    let secret = signature::new_secret();
    let hook = webhook::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        url,
        events,
        enabled: input.enabled.unwrap_or(true),
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: now,
        updated_at: now,
    };
    let txn = store::begin_write(db).await?;
    // Two registrations at once must not both pass the count.
    store::tenants::lock_exclusive(&txn, caller.tenant_id).await?;
    if store::webhooks::count(&txn, caller.tenant_id).await? >= MAX_WEBHOOKS {
        return Err(Error::Conflict {
            code: "TOO_MANY",
            message: format!("a tenant may have at most {MAX_WEBHOOKS} webhooks: delete one first"),
            field: None,
        });
    }
    store::webhooks::insert(&txn, &hook).await?;
    audit::record(&txn, caller, TYPE_NAME, hook.id, audit::Action::Create, None, Some(audit_snapshot(&hook)), now)
        .await?;
    txn.commit().await?;
    Ok((hook, secret))
}

/// Changes a webhook's address, events or state; what the input leaves out stays.
///
/// # Errors
/// As [`create`]; `NOT_FOUND`.
pub async fn update(
    db: &DatabaseConnection,
    rules: &Rules,
    caller: &Caller,
    id: Uuid,
    input: UpdateInput,
) -> Result<webhook::Model> {
    ensure_admin(caller)?;
    let mut v = Vec::new();
    let url = match &input.url {
        Some(raw) => check_url(raw, rules, &mut v).await,
        None => None,
    };
    let events = input.events.as_deref().map(|names| check_events(names, &mut v));
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let txn = store::begin_write(db).await?;
    let before = store::webhooks::find_for_update(&txn, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut after = before.clone();
    if let Some(url) = url {
        after.url = url;
    }
    if let Some(events) = events {
        after.events = events;
    }
    if let Some(enabled) = input.enabled {
        after.enabled = enabled;
    }
    if after == before {
        return Ok(before);
    }
    after.updated_at = crate::clock::now();
    store::webhooks::update(&txn, &after).await?;
    let (old, new) = (Some(audit_snapshot(&before)), Some(audit_snapshot(&after)));
    audit::record(&txn, caller, TYPE_NAME, id, audit::Action::Update, old, new, after.updated_at).await?;
    txn.commit().await?;
    Ok(after)
}

/// Deletes a webhook and its deliveries: nothing more is sent to it.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn delete(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<()> {
    ensure_admin(caller)?;
    let txn = store::begin_write(db).await?;
    let before = store::webhooks::find_for_update(&txn, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    store::webhooks::delete(&txn, caller.tenant_id, id).await?;
    let at = crate::clock::now();
    audit::record(&txn, caller, TYPE_NAME, id, audit::Action::Delete, Some(audit_snapshot(&before)), None, at).await?;
    txn.commit().await?;
    Ok(())
}

/// Gives a webhook a new secret, returned this once; the old one keeps signing beside it for
/// the grace period, so the receiver can switch without refusing a delivery.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    rules: &Rules,
    caller: &Caller,
    id: Uuid,
) -> Result<(webhook::Model, String)> {
    ensure_admin(caller)?;
    let txn = store::begin_write(db).await?;
    let before = store::webhooks::find_for_update(&txn, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let now = crate::clock::now();
    let secret = signature::new_secret();
    let after = webhook::Model {
        secret: secret.clone(),
        previous_secret: Some(before.secret.clone()),
        previous_secret_until: Some(now + rules.secret_grace),
        updated_at: now,
        ..before.clone()
    };
    store::webhooks::update(&txn, &after).await?;
    let (old, new) = (Some(audit_snapshot(&before)), Some(audit_snapshot(&after)));
    audit::record(&txn, caller, TYPE_NAME, id, audit::Action::Update, old, new, now).await?;
    txn.commit().await?;
    Ok((after, secret))
}

/// The secrets a delivery at `now` is signed with: the current one, and the one before while
/// its grace lasts.
#[must_use]
pub fn signing_secrets(hook: &webhook::Model, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![hook.secret.as_str()];
    if let (Some(old), Some(until)) = (&hook.previous_secret, hook.previous_secret_until)
        && now < until
    {
        secrets.push(old);
    }
    secrets
}

/// A page of a webhook's deliveries, newest first.
///
/// # Errors
/// `FORBIDDEN`; database failures.
pub async fn deliveries(
    db: &DatabaseConnection,
    caller: &Caller,
    webhook_id: Uuid,
    page: &PageRequest,
) -> Result<Page<webhook_delivery::Model>> {
    ensure_admin(caller)?;
    store::webhooks::deliveries(db, caller.tenant_id, webhook_id, page).await
}

/// How many deliveries a webhook has (kept as long as the change events are).
///
/// # Errors
/// `FORBIDDEN`; database failures.
pub async fn count_deliveries(db: &DatabaseConnection, caller: &Caller, webhook_id: Uuid) -> Result<u64> {
    ensure_admin(caller)?;
    store::webhooks::count_deliveries(db, caller.tenant_id, webhook_id).await
}

/// A delivery's newest `first` attempts, newest first.
///
/// # Errors
/// `FORBIDDEN`; database failures.
pub async fn attempts(
    db: &DatabaseConnection,
    caller: &Caller,
    delivery: &webhook_delivery::Model,
    first: usize,
) -> Result<Vec<webhook_attempt::Model>> {
    ensure_admin(caller)?;
    store::webhooks::attempts(db, caller.tenant_id, delivery.id, u64::try_from(first).unwrap_or(u64::MAX)).await
}

/// Sends a delivery's event to its webhook again, now, with a fresh window of retries, whatever
/// became of it before.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; `CONFLICT` (`EVENT_PURGED`) once the event is past retention;
/// database failures.
pub async fn redeliver(
    db: &DatabaseConnection,
    rules: &Rules,
    caller: &Caller,
    delivery_id: Uuid,
) -> Result<webhook_delivery::Model> {
    ensure_admin(caller)?;
    let txn = store::begin_write(db).await?;
    let missing = || Error::NotFound(format!("no webhook delivery {}", ids::encode(DELIVERY_TYPE_NAME, delivery_id)));
    let delivery =
        store::webhooks::delivery_for_update(&txn, caller.tenant_id, delivery_id).await?.ok_or_else(missing)?;
    if !store::webhooks::event_kept(&txn, caller.tenant_id, delivery.event_id).await? {
        return Err(Error::Conflict {
            code: "EVENT_PURGED",
            message: format!("event {} is past retention and can no longer be sent", delivery.event_id),
            field: Some("deliveryId".into()),
        });
    }
    let now = crate::clock::now();
    let again = store::webhooks::redeliver(&txn, &delivery, now, now + rules.retry_for).await?;
    let change = json!({ "redelivered": { "deliveryId": ids::encode(DELIVERY_TYPE_NAME, delivery_id),
                                          "eventId": delivery.event_id.to_string() } });
    audit::record(&txn, caller, TYPE_NAME, delivery.webhook_id, audit::Action::Update, None, Some(change), now).await?;
    txn.commit().await?;
    rules.bell.notify_one();
    Ok(again)
}
