//! Interactions (互动 / 接触): every touch point on a customer's timeline, with the rules of each
//! kind. Access follows the customer: whoever may see (change) the customer may see (record,
//! change) its interactions. Every write refreshes the customer's figures in the same transaction.

use chrono::{DateTime, Duration, Utc};
use guanxi_entity::{customer, interaction};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::Value;
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::Input;
use super::plugins::Plugins;
use super::records::{self, OnCustomer, Record, audit_snapshot};
use super::write::{Change, Effect, Write};
use super::{Caller, access, ids, money};
use crate::error::{Error, Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec};
use crate::store;

pub const TYPE_NAME: &str = "Interaction";
pub const KINDS: &[&str] =
    &["VISIT", "CALL", "EMAIL", "MEETING", "MESSAGE", "FOLLOW_UP", "SURVEY", "CARE", "SUPPORT", "EVENT", "PURCHASE"];
/// How far in the future `occurredAt` may be: clocks of phones and laptops drift.
pub const MAX_FUTURE: Duration = Duration::minutes(5);
const MAX_NOTE_CHARS: usize = 2000;

/// Interaction, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("customerId", FieldKind::Id { type_name: "Customer" }).input(Check::Plain).create_only(),
    FieldSpec::new("kind", FieldKind::Enum { type_name: "InteractionKind", values: KINDS })
        .order("KIND")
        .input(Check::Plain)
        .required(),
    FieldSpec::new("channel", FieldKind::String).nullable().input(Check::Text(200)),
    FieldSpec::new("occurredAt", FieldKind::DateTime).order("OCCURRED_AT").input(Check::Plain).required(),
    FieldSpec::new("staffId", FieldKind::Id { type_name: "User" }).nullable(),
    FieldSpec::new("summary", FieldKind::String).nullable().input(Check::Text(MAX_NOTE_CHARS)),
    FieldSpec::new("outcome", FieldKind::String).nullable().input(Check::Text(MAX_NOTE_CHARS)),
    FieldSpec::new("amount", FieldKind::Decimal)
        .nullable()
        .input(Check::Parsed(money::amount_text))
        .input_doc("PURCHASE only: positive, at most 4 decimals"),
    FieldSpec::new("currency", FieldKind::String)
        .nullable()
        .input(Check::Parsed(money::currency))
        .input_doc("PURCHASE only: ISO 4217, e.g. CNY"),
    FieldSpec::new("satisfaction", FieldKind::Int)
        .nullable()
        .input(Check::Range(1, 5))
        .input_doc("SURVEY only: 1 to 5"),
    FieldSpec::new("wouldBuyAgain", FieldKind::Boolean)
        .nullable()
        .unfiltered()
        .input(Check::Plain)
        .input_doc("SURVEY only"),
    FieldSpec::new("durationMinutes", FieldKind::Int).nullable().order("DURATION").input(Check::Range(1, 1440)),
    FieldSpec::new("version", FieldKind::Int).unfiltered(),
    FieldSpec::new("createdAt", FieldKind::DateTime).order("CREATED_AT"),
    FieldSpec::new("updatedAt", FieldKind::DateTime).order("UPDATED_AT"),
];

/// The rules beyond each field's own: not in the future, and what each kind carries
/// (purchases carry money, surveys a score).
fn rules(row: &interaction::Model, now: DateTime<Utc>, v: &mut Vec<Violation>) {
    if row.occurred_at > now + MAX_FUTURE {
        v.push(Violation::new("occurredAt", "IN_THE_FUTURE", "must not be more than 5 minutes in the future"));
    }
    let mut only = |field: &str, present: bool, kind: &str| {
        if present && row.kind != kind {
            v.push(Violation::new(field, "NOT_ALLOWED", format!("only a {kind} has {field}")));
        }
    };
    only("amount", row.amount.is_some(), "PURCHASE");
    only("currency", row.currency.is_some(), "PURCHASE");
    only("satisfaction", row.satisfaction.is_some(), "SURVEY");
    only("wouldBuyAgain", row.would_buy_again.is_some(), "SURVEY");
    let already = |v: &Vec<Violation>, f: &str| v.iter().any(|x| x.field == f);
    if row.kind == "PURCHASE" {
        if row.amount.is_none() && !already(v, "amount") {
            v.push(Violation::new("amount", "REQUIRED", "a PURCHASE needs a positive amount"));
        }
        if row.currency.is_none() && !already(v, "currency") {
            v.push(Violation::new("currency", "REQUIRED", "a PURCHASE needs an ISO 4217 currency"));
        }
    }
    if row.kind == "SURVEY" && row.satisfaction.is_none() && !already(v, "satisfaction") {
        v.push(Violation::new("satisfaction", "REQUIRED", "a SURVEY needs a satisfaction from 1 to 5"));
    }
}

impl Record for interaction::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Interaction;
    const FIELDS: &'static [FieldSpec] = FIELDS;

    const DEFAULT_ORDER: (&'static str, bool) = ("occurredAt", true);

    fn custom_values(&self) -> &Value {
        &self.custom_fields
    }
}

impl OnCustomer for interaction::Model {}

/// # Errors
/// Database failures.
pub async fn get(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Option<interaction::Model>> {
    let Some(row) = records::find::<interaction::Model>(db, caller, id).await? else { return Ok(None) };
    Ok(super::customers::can_see_records_of(db, caller, row.customer_id).await?.then_some(row))
}

/// Locks the customer for writing its timeline and checks the caller may.
async fn writable_customer(txn: &DatabaseTransaction, caller: &Caller, customer_id: Uuid) -> Result<customer::Model> {
    let not_found = || Error::invalid("customerId", "NOT_FOUND", "no such customer");
    let customer =
        store::customers::find_for_update(txn, caller.tenant_id, customer_id).await?.ok_or_else(not_found)?;
    access::ensure_can_write_owned(caller, customer.owner_id, not_found)?;
    Ok(customer)
}

/// Records an interaction and refreshes the customer's figures.
///
/// # Errors
/// `FORBIDDEN` per role; `BAD_USER_INPUT` listing every problem.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn record(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    input: Input,
) -> Result<interaction::Model> {
    access::ensure_can_write(caller)?;
    let now = store::now();
    let mut row = interaction::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        staff_id: Some(caller.user_id),
        version: 1,
        ..Default::default()
    };
    let mut v = Vec::new();
    let write = Write::begin(db, plugins, caller, EntityKind::Interaction).await?;
    write.apply(&mut row, input, true, &mut v)?;
    rules(&row, now, &mut v);
    if v.iter().all(|x| x.field != "customerId") {
        match writable_customer(write.txn(), caller, row.customer_id).await {
            Ok(_) => {}
            Err(Error::Invalid(more)) => v.extend(more),
            Err(e) => return Err(e),
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    (row.created_at, row.updated_at) = (write.now(), write.now());
    let change =
        Change::new(TYPE_NAME, row.id, row.customer_id, "interaction.recorded", None, Some(audit_snapshot(&row)));
    write
        .commit(change.with(Effect::Figures), async |txn| {
            store::records::insert::<interaction::Entity>(txn, &row).await
        })
        .await?;
    Ok(row)
}

async fn writable(txn: &DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<interaction::Model> {
    let not_found = || Error::NotFound(format!("no interaction {}", ids::encode(TYPE_NAME, id)));
    let row = records::find::<interaction::Model>(txn, caller, id).await?.ok_or_else(not_found)?;
    // Lock the customer first: every timeline write of one customer takes turns.
    match writable_customer(txn, caller, row.customer_id).await {
        Err(Error::Invalid(_)) => return Err(not_found()),
        other => other?,
    };
    records::find::<interaction::Model>(txn, caller, id).await?.ok_or_else(not_found)
}

/// Changes an interaction. With `expected_version`, refuses if someone changed it since.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (stale version).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, interaction = %id))]
pub async fn update(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    input: Input,
    expected_version: Option<i32>,
) -> Result<interaction::Model> {
    let write = Write::begin(db, plugins, caller, EntityKind::Interaction).await?;
    let current = writable(write.txn(), caller, id).await?;
    super::input::check_version(TYPE_NAME, current.version, expected_version)?;
    let mut row = current.clone();
    let mut v = Vec::new();
    write.apply(&mut row, input, false, &mut v)?;
    rules(&row, write.now(), &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    if row == current {
        return Ok(current);
    }
    (row.version, row.updated_at) = (current.version + 1, write.now());
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&row));
    let change = Change::new(TYPE_NAME, id, current.customer_id, "interaction.updated", Some(before), Some(after));
    write
        .commit(change.with(Effect::Figures), async |txn| {
            store::records::update::<interaction::Entity>(txn, &row).await
        })
        .await?;
    Ok(row)
}

/// Deletes an interaction and refreshes the customer's figures.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, interaction = %id))]
pub async fn delete(db: &DatabaseConnection, plugins: &Plugins, caller: &Caller, id: Uuid) -> Result<Uuid> {
    let write = Write::begin_plain(db, plugins, caller, EntityKind::Interaction).await?;
    let current = writable(write.txn(), caller, id).await?;
    let change =
        Change::new(TYPE_NAME, id, current.customer_id, "interaction.deleted", Some(audit_snapshot(&current)), None);
    let tenant_id = caller.tenant_id;
    write
        .commit(change.with(Effect::Figures), async |txn| {
            store::records::delete::<interaction::Entity>(txn, tenant_id, id).await
        })
        .await?;
    Ok(id)
}
