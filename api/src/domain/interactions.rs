//! Interactions (互动 / 接触): every touch point on a customer's timeline, with the rules of each
//! kind. Access follows the customer: whoever may see (change) the customer may see (record,
//! change) its interactions. Every write refreshes the customer's figures in the same transaction.

use chrono::{DateTime, Duration, Utc};
use guanxi_entity::{customer, interaction};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Patch, set_required_enum, set_text};
use super::plugins::Plugins;
use super::records::{self, OnCustomer, Record};
use super::write::{Change, Effect, Write};
use super::{Caller, access, ids, money};
use crate::error::{Error, Result, Violation};
use crate::query::{FieldKind, FieldSpec};
use crate::store;

pub const TYPE_NAME: &str = "Interaction";
pub const KINDS: &[&str] =
    &["VISIT", "CALL", "EMAIL", "MEETING", "MESSAGE", "FOLLOW_UP", "SURVEY", "CARE", "SUPPORT", "EVENT", "PURCHASE"];
/// How far in the future `occurredAt` may be: clocks of phones and laptops drift.
pub const MAX_FUTURE: Duration = Duration::minutes(5);
const MAX_NOTE_CHARS: usize = 2000;

const fn string(name: &'static str) -> FieldSpec {
    FieldSpec { name, kind: FieldKind::String, nullable: true, order: None }
}

/// Filterable fields of Interaction.
pub static FIELDS: [FieldSpec; 12] = [
    FieldSpec { name: "id", kind: FieldKind::Id { type_name: TYPE_NAME }, nullable: false, order: None },
    FieldSpec { name: "customerId", kind: FieldKind::Id { type_name: "Customer" }, nullable: false, order: None },
    FieldSpec {
        name: "kind",
        kind: FieldKind::Enum { type_name: "InteractionKind", values: KINDS },
        nullable: false,
        order: Some("KIND"),
    },
    string("channel"),
    FieldSpec { name: "occurredAt", kind: FieldKind::DateTime, nullable: false, order: Some("OCCURRED_AT") },
    FieldSpec { name: "staffId", kind: FieldKind::Id { type_name: "User" }, nullable: true, order: None },
    string("summary"),
    string("outcome"),
    string("currency"),
    FieldSpec { name: "satisfaction", kind: FieldKind::Int, nullable: true, order: None },
    FieldSpec { name: "createdAt", kind: FieldKind::DateTime, nullable: false, order: Some("CREATED_AT") },
    FieldSpec { name: "updatedAt", kind: FieldKind::DateTime, nullable: false, order: Some("UPDATED_AT") },
];

/// # Panics
/// If `name` is not in [`FIELDS`] (a programming error).
#[must_use]
pub fn field(name: &str) -> &'static FieldSpec {
    crate::query::field_named(&FIELDS, name)
}

/// What a record or update asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InteractionInput {
    /// Global Customer id; on record only.
    pub customer_id: Patch<String>,
    pub kind: Patch<String>,
    pub channel: Patch<String>,
    pub occurred_at: Patch<DateTime<Utc>>,
    pub summary: Patch<String>,
    pub outcome: Patch<String>,
    pub amount: Patch<String>,
    pub currency: Patch<String>,
    pub satisfaction: Patch<i64>,
    pub would_buy_again: Patch<bool>,
    /// An object keyed by custom field key; checked against the tenant's definitions.
    pub custom_fields: Patch<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Data {
    kind: String,
    channel: Option<String>,
    occurred_at: DateTime<Utc>,
    summary: Option<String>,
    outcome: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    satisfaction: Option<i32>,
    would_buy_again: Option<bool>,
    custom_fields: Value,
}

impl Data {
    fn of(m: &interaction::Model) -> Self {
        Self {
            kind: m.kind.clone(),
            channel: m.channel.clone(),
            occurred_at: m.occurred_at,
            summary: m.summary.clone(),
            outcome: m.outcome.clone(),
            amount: m.amount.clone(),
            currency: m.currency.clone(),
            satisfaction: m.satisfaction,
            would_buy_again: m.would_buy_again,
            custom_fields: m.custom_fields.clone(),
        }
    }
}

/// The interaction as the audit trail records it.
#[must_use]
pub fn audit_snapshot(m: &interaction::Model) -> Value {
    json!({
        "customerId": ids::encode("Customer", m.customer_id), "kind": m.kind, "channel": m.channel,
        "occurredAt": m.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "summary": m.summary, "outcome": m.outcome, "amount": m.amount, "currency": m.currency,
        "satisfaction": m.satisfaction, "wouldBuyAgain": m.would_buy_again, "customFields": m.custom_fields,
    })
}

fn apply(data: &mut Data, input: InteractionInput, now: DateTime<Utc>, v: &mut Vec<Violation>) {
    set_required_enum(v, "kind", input.kind, KINDS, &mut data.kind);
    set_text(v, "channel", input.channel, &mut data.channel, 200);
    match input.occurred_at {
        Patch::Absent => {}
        Patch::Null => v.push(Violation::new("occurredAt", "REQUIRED", "occurredAt cannot be null")),
        // Both databases keep microseconds; truncating here makes what is read back equal.
        Patch::Value(at) => data.occurred_at = chrono::SubsecRound::trunc_subsecs(at, 6),
    }
    set_text(v, "summary", input.summary, &mut data.summary, MAX_NOTE_CHARS);
    set_text(v, "outcome", input.outcome, &mut data.outcome, MAX_NOTE_CHARS);
    match input.amount {
        Patch::Absent => {}
        Patch::Null => data.amount = None,
        Patch::Value(raw) => match money::amount(&raw) {
            Ok(a) => data.amount = Some(a.to_string()),
            Err((code, msg)) => v.push(Violation::new("amount", code, msg)),
        },
    }
    match input.currency {
        Patch::Absent => {}
        Patch::Null => data.currency = None,
        Patch::Value(raw) => match money::currency(&raw) {
            Ok(c) => data.currency = Some(c),
            Err((code, msg)) => v.push(Violation::new("currency", code, msg)),
        },
    }
    match input.satisfaction {
        Patch::Absent => {}
        Patch::Null => data.satisfaction = None,
        Patch::Value(n) if (1..=5).contains(&n) => data.satisfaction = i32::try_from(n).ok(),
        Patch::Value(n) => v.push(Violation::new("satisfaction", "OUT_OF_RANGE", format!("must be 1 to 5, got {n}"))),
    }
    match input.would_buy_again {
        Patch::Absent => {}
        Patch::Null => data.would_buy_again = None,
        Patch::Value(b) => data.would_buy_again = Some(b),
    }
    if data.occurred_at > now + MAX_FUTURE {
        v.push(Violation::new("occurredAt", "IN_THE_FUTURE", "must not be more than 5 minutes in the future"));
    }
    kind_rules(data, v);
}

/// The rules that depend on the kind (purchases carry money, surveys a score).
fn kind_rules(data: &Data, v: &mut Vec<Violation>) {
    let mut only = |field: &str, present: bool, kind: &str| {
        if present && data.kind != kind {
            v.push(Violation::new(field, "NOT_ALLOWED", format!("only a {kind} has {field}")));
        }
    };
    only("amount", data.amount.is_some(), "PURCHASE");
    only("currency", data.currency.is_some(), "PURCHASE");
    only("satisfaction", data.satisfaction.is_some(), "SURVEY");
    only("wouldBuyAgain", data.would_buy_again.is_some(), "SURVEY");
    let already = |v: &Vec<Violation>, f: &str| v.iter().any(|x| x.field == f);
    if data.kind == "PURCHASE" {
        if data.amount.is_none() && !already(v, "amount") {
            v.push(Violation::new("amount", "REQUIRED", "a PURCHASE needs a positive amount"));
        }
        if data.currency.is_none() && !already(v, "currency") {
            v.push(Violation::new("currency", "REQUIRED", "a PURCHASE needs an ISO 4217 currency"));
        }
    }
    if data.kind == "SURVEY" && data.satisfaction.is_none() && !already(v, "satisfaction") {
        v.push(Violation::new("satisfaction", "REQUIRED", "a SURVEY needs a satisfaction from 1 to 5"));
    }
}

impl Record for interaction::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Interaction;
    const FIELDS: &'static [FieldSpec] = &FIELDS;

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
    mut input: InteractionInput,
) -> Result<interaction::Model> {
    access::ensure_can_write(caller)?;
    let now = store::now();
    let mut v = Vec::new();
    let customer_id = match &input.customer_id {
        Patch::Value(g) => match ids::decode("Customer", g) {
            Ok(id) => Some(id),
            Err((code, msg)) => {
                v.push(Violation::new("customerId", code, msg));
                None
            }
        },
        _ => {
            v.push(Violation::new("customerId", "REQUIRED", "customerId is required"));
            None
        }
    };
    if input.occurred_at == Patch::Absent {
        v.push(Violation::new("occurredAt", "REQUIRED", "occurredAt is required"));
    }
    let mut data = Data {
        kind: String::new(),
        channel: None,
        occurred_at: now,
        summary: None,
        outcome: None,
        amount: None,
        currency: None,
        satisfaction: None,
        would_buy_again: None,
        custom_fields: json!({}),
    };
    let custom = std::mem::take(&mut input.custom_fields);
    apply(&mut data, input, now, &mut v);
    let write = Write::begin(db, plugins, caller, EntityKind::Interaction).await?;
    data.custom_fields = write.custom_values(custom, None, &mut v);
    let customer = match customer_id {
        Some(id) => match writable_customer(write.txn(), caller, id).await {
            Ok(c) => Some(c),
            Err(Error::Invalid(more)) => {
                v.extend(more);
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let (Some(customer), true) = (customer, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let row = interaction::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        customer_id: customer.id,
        kind: data.kind,
        channel: data.channel,
        occurred_at: data.occurred_at,
        staff_id: Some(caller.user_id),
        summary: data.summary,
        outcome: data.outcome,
        amount: data.amount,
        currency: data.currency,
        satisfaction: data.satisfaction,
        would_buy_again: data.would_buy_again,
        custom_fields: data.custom_fields,
        version: 1,
        created_at: write.now(),
        updated_at: write.now(),
    };
    let change = Change::new(TYPE_NAME, row.id, customer.id, "interaction.recorded", None, Some(audit_snapshot(&row)));
    write.commit(change.with(Effect::Figures), async |txn| store::interactions::insert(txn, &row).await).await?;
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
    mut input: InteractionInput,
    expected_version: Option<i32>,
) -> Result<interaction::Model> {
    let mut v = Vec::new();
    if input.customer_id != Patch::Absent {
        v.push(Violation::new("customerId", "NOT_ALLOWED", "an interaction stays with its customer; record a new one"));
        input.customer_id = Patch::Absent;
    }
    let write = Write::begin(db, plugins, caller, EntityKind::Interaction).await?;
    let current = writable(write.txn(), caller, id).await?;
    super::input::check_version(TYPE_NAME, current.version, expected_version)?;
    let mut data = Data::of(&current);
    let custom = std::mem::take(&mut input.custom_fields);
    data.custom_fields = write.custom_values(custom, Some(&current.custom_fields), &mut v);
    apply(&mut data, input, write.now(), &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    if data == Data::of(&current) {
        return Ok(current);
    }
    let updated = interaction::Model {
        kind: data.kind,
        channel: data.channel,
        occurred_at: data.occurred_at,
        summary: data.summary,
        outcome: data.outcome,
        amount: data.amount,
        currency: data.currency,
        satisfaction: data.satisfaction,
        would_buy_again: data.would_buy_again,
        custom_fields: data.custom_fields,
        version: current.version + 1,
        updated_at: write.now(),
        ..current.clone()
    };
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&updated));
    let change = Change::new(TYPE_NAME, id, current.customer_id, "interaction.updated", Some(before), Some(after));
    write.commit(change.with(Effect::Figures), async |txn| store::interactions::update(txn, &updated).await).await?;
    Ok(updated)
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
        .commit(change.with(Effect::Figures), async |txn| store::interactions::delete(txn, tenant_id, id).await)
        .await?;
    Ok(id)
}
