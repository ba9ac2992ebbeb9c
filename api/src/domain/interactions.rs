//! Interactions (互动 / 接触): every touch point on a customer's timeline, with the rules of each
//! kind. Access follows the customer: whoever may see (change) the customer may see (record,
//! change) its interactions. Every write refreshes the customer's figures in the same transaction
//! ([`Effect::Figures`]).

use chrono::{DateTime, Duration, Utc};
use guanxi_entity::{customer, interaction};
use serde_json::Value;
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::records::{OnCustomer, Record};
use super::write::Lifecycle;
use super::write::{Effect, Write};
use super::{Caller, money};
use crate::error::{Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec};

pub const TYPE_NAME: &str = "Interaction";
stored_enum!(
    pub enum Kind, KINDS { Visit, Call, Email, Meeting, Message, FollowUp, Survey, Care, Support, Event, Purchase }
);
/// How far in the future `occurredAt` may be: clocks of phones and laptops drift.
pub const MAX_FUTURE: Duration = Duration::minutes(5);
const MAX_NOTE_CHARS: usize = 2000;

/// Interaction, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("customerId", FieldKind::Id { type_name: "Customer" })
        .shows("customer")
        .input(Check::Plain)
        .create_only(),
    FieldSpec::new("kind", FieldKind::Enum { type_name: "InteractionKind", values: KINDS })
        .order("KIND")
        .input(Check::Plain)
        .required(),
    FieldSpec::new("channel", FieldKind::String).nullable().input(Check::Text(200)),
    FieldSpec::new("occurredAt", FieldKind::DateTime).order("OCCURRED_AT").input(Check::Plain).required(),
    FieldSpec::new("staffId", FieldKind::Id { type_name: "User" }).nullable().shows("staff"),
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
    let mut only = |field: &str, present: bool, kind: Kind| {
        if present && row.kind != kind {
            v.push(Violation::new(field, "NOT_ALLOWED", format!("only a {kind} has {field}")));
        }
    };
    only("amount", row.amount.is_some(), Kind::Purchase);
    only("currency", row.currency.is_some(), Kind::Purchase);
    only("satisfaction", row.satisfaction.is_some(), Kind::Survey);
    only("wouldBuyAgain", row.would_buy_again.is_some(), Kind::Survey);
    let already = |v: &Vec<Violation>, f: &str| v.iter().any(|x| x.field == f);
    if row.kind == Kind::Purchase {
        if row.amount.is_none() && !already(v, "amount") {
            v.push(Violation::new("amount", "REQUIRED", "a PURCHASE needs a positive amount"));
        }
        if row.currency.is_none() && !already(v, "currency") {
            v.push(Violation::new("currency", "REQUIRED", "a PURCHASE needs an ISO 4217 currency"));
        }
    }
    if row.kind == Kind::Survey && row.satisfaction.is_none() && !already(v, "satisfaction") {
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

impl Lifecycle for interaction::Model {
    const NOUN: &'static str = "interaction";
    const EVENTS: [&'static str; 3] = ["interaction.recorded", "interaction.updated", "interaction.deleted"];
    const EFFECT: Effect = Effect::Figures;

    fn fresh(caller: &Caller) -> Self {
        Self {
            tenant_id: caller.tenant_id,
            id: Uuid::now_v7(),
            staff_id: Some(caller.user_id),
            version: 1,
            ..Default::default()
        }
    }

    async fn check(
        &mut self,
        write: &Write<'_>,
        _before: Option<&Self>,
        _customer: Option<&customer::Model>,
        v: &mut Vec<Violation>,
    ) -> Result<()> {
        rules(self, write.now(), v);
        Ok(())
    }
}
