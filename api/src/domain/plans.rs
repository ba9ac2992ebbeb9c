//! Key-account plans (大客户计划): an owner and a dedicated team, a period, objectives, a visit
//! cadence, planned actions; progress is computed from the records, never typed.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use guanxi_entity::{customer, customer_stats, interaction, key_account_plan, plan_action};
use rust_decimal::Decimal;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Input, Patch};
use super::interactions::Kind;
use super::plugins::Plugins;
use super::records::{OnCustomer, Record};
use super::values::text;
use super::write::Lifecycle;
use super::write::{Change, Effect, Write};
use super::{Caller, access, ids, money, stats};
use crate::error::{Error, Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec};
use crate::store;

pub const TYPE_NAME: &str = "KeyAccountPlan";
pub const ACTION_TYPE_NAME: &str = "PlanAction";
const MAX_OBJECTIVES: usize = 50;
/// Most actions a plan holds. `KeyAccountPlan.actions` is a list, read whole wherever a plan is
/// shown, so its length is bounded where it is written.
pub const MAX_ACTIONS: u64 = 100;
const MAX_TEAM: usize = 50;
/// A visit every working day of ten years is far beyond any plan.
const MAX_PLANNED_VISITS: i64 = 2600;

stored_enum!(
    /// Where a plan is in its life.
    pub enum Status, STATUSES { Draft, Active, Completed, Cancelled }
);

impl Status {
    /// `DRAFT → ACTIVE → COMPLETED | CANCELLED` (a draft may also be dropped).
    #[must_use]
    pub fn may_go_to(self, to: Self) -> bool {
        use Status::{Active, Cancelled, Completed, Draft};
        matches!((self, to), (Draft, Active | Cancelled) | (Active, Completed | Cancelled))
    }
}

/// KeyAccountPlan, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("customerId", FieldKind::Id { type_name: "Customer" })
        .shows("customer")
        .input(Check::Plain)
        .create_only(),
    FieldSpec::new("title", FieldKind::String).order("TITLE").input(Check::Text(200)).required(),
    // Applied by the plan's workflow (`Lifecycle::take_own`), not as a plain input.
    FieldSpec::new("status", FieldKind::Enum { type_name: "PlanStatus", values: STATUSES })
        .order("STATUS")
        .input(Check::Plain),
    FieldSpec::new("periodStart", FieldKind::Date).input(Check::Plain).required(),
    FieldSpec::new("periodEnd", FieldKind::Date).input(Check::Plain).required(),
    FieldSpec::new("revenueTarget", FieldKind::Decimal)
        .nullable()
        .input(Check::Parsed(money::amount_text))
        .input_doc("In the tenant's base currency"),
    FieldSpec::new("currency", FieldKind::String).unfiltered().audited(),
    FieldSpec::new("plannedVisits", FieldKind::Int).unfiltered().input(Check::Range(0, MAX_PLANNED_VISITS)),
    FieldSpec::new("objectives", FieldKind::StringList)
        .unfiltered()
        .input(Check::List { items: MAX_OBJECTIVES, chars: 500 }),
    FieldSpec::new("teamIds", FieldKind::IdList { type_name: "User" })
        .shows("team")
        .input(Check::List { items: MAX_TEAM, chars: 0 }),
    FieldSpec::new("ownerId", FieldKind::Id { type_name: "User" }).nullable().shows("owner").input(Check::Plain),
    FieldSpec::new("version", FieldKind::Int).unfiltered(),
    FieldSpec::new("createdAt", FieldKind::DateTime).order("CREATED_AT"),
    FieldSpec::new("updatedAt", FieldKind::DateTime).order("UPDATED_AT"),
];

impl Record for key_account_plan::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::KeyAccountPlan;
    const FIELDS: &'static [FieldSpec] = FIELDS;

    const DEFAULT_ORDER: (&'static str, bool) = ("createdAt", true);

    fn custom_values(&self) -> &Value {
        &self.custom_fields
    }
}

impl OnCustomer for key_account_plan::Model {}

/// A list stored as JSON strings.
fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The team's user ids.
#[must_use]
pub fn team(plan: &key_account_plan::Model) -> Vec<Uuid> {
    strings(&plan.team_ids).iter().filter_map(|s| Uuid::parse_str(s).ok()).collect()
}

/// Computed progress: visits, revenue, actions and open complaints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub visits_done: i64,
    pub visits_planned: i64,
    pub revenue_actual: Decimal,
    pub revenue_target: Option<Decimal>,
    pub currency: String,
    pub actions_done: i64,
    /// Actions whose due date has come (today or earlier), done or not.
    pub actions_due: i64,
    pub actions_total: i64,
    pub open_complaints: i64,
}

fn in_period(plan: &key_account_plan::Model, at: DateTime<Utc>) -> bool {
    let day = at.date_naive();
    plan.period_start <= day && day <= plan.period_end
}

/// Progress of `plan` from the customer's interactions (any), the plan's actions and the
/// customer's figures, as of `today`.
#[must_use]
pub fn progress(
    plan: &key_account_plan::Model,
    interactions: &[interaction::Model],
    actions: &[plan_action::Model],
    stats: Option<&customer_stats::Model>,
    today: NaiveDate,
) -> Progress {
    let mine = interactions.iter().filter(|i| i.customer_id == plan.customer_id && in_period(plan, i.occurred_at));
    let (mut visits, mut revenue) = (0, Decimal::ZERO);
    for i in mine {
        match i.kind.parse() {
            Ok(Kind::Visit) => visits += 1,
            Ok(Kind::Purchase) if i.currency.as_deref() == Some(plan.currency.as_str()) => {
                revenue += i.amount.as_deref().and_then(|a| Decimal::from_str(a).ok()).unwrap_or_default();
            }
            _ => {}
        }
    }
    let actions: Vec<&plan_action::Model> = actions.iter().filter(|a| a.plan_id == plan.id).collect();
    let count = |pred: &dyn Fn(&plan_action::Model) -> bool| {
        i64::try_from(actions.iter().filter(|a| pred(a)).count()).unwrap_or(0)
    };
    Progress {
        visits_done: visits,
        visits_planned: i64::from(plan.planned_visits),
        revenue_actual: revenue.normalize(),
        revenue_target: plan.revenue_target.as_deref().and_then(|t| Decimal::from_str(t).ok()),
        currency: plan.currency.clone(),
        actions_done: count(&|a| a.done),
        actions_due: count(&|a| a.due_date.is_some_and(|d| d <= today)),
        actions_total: count(&|_| true),
        open_complaints: stats.map_or(0, |s| stats::sum_counts(&s.complaints_open)),
    }
}

async fn check_users(
    txn: &DatabaseTransaction,
    caller: &Caller,
    plan: &key_account_plan::Model,
    v: &mut Vec<Violation>,
) -> Result<()> {
    let mut wanted: Vec<Uuid> = team(plan);
    wanted.extend(plan.owner_id);
    let known: Vec<Uuid> =
        store::users::find_many(txn, caller.tenant_id, &wanted).await?.into_iter().map(|u| u.id).collect();
    if let Some(owner) = plan.owner_id
        && !known.contains(&owner)
    {
        v.push(Violation::new("ownerId", "NOT_FOUND", "no such user in this tenant"));
    }
    for (i, member) in team(plan).iter().enumerate() {
        if !known.contains(member) {
            v.push(Violation::new(format!("teamIds.{i}"), "NOT_FOUND", "no such user in this tenant"));
        }
    }
    Ok(())
}

/// The status a plan is stored with.
fn stored_status(p: &key_account_plan::Model) -> Result<Status> {
    p.status.parse().map_err(|_| Error::Internal(anyhow::anyhow!("plan {} has status {:?}", p.id, p.status)))
}

impl Lifecycle for key_account_plan::Model {
    const NOUN: &'static str = "key-account plan";
    const EVENTS: [&'static str; 3] = ["plan.created", "plan.updated", "plan.deleted"];
    const EFFECT: Effect = Effect::None;

    fn fresh(caller: &Caller) -> Self {
        Self {
            tenant_id: caller.tenant_id,
            id: Uuid::now_v7(),
            status: Status::Draft.as_str().into(),
            objectives: json!([]),
            team_ids: json!([]),
            owner_id: Some(caller.user_id),
            version: 1,
            ..Default::default()
        }
    }

    /// A new plan is DRAFT or ACTIVE; a change of status follows the workflow. `plannedVisits:
    /// null` is no visits.
    fn take_own(&mut self, input: &mut Input, creating: bool, v: &mut Vec<Violation>) -> Result<()> {
        if input.take_null("plannedVisits") {
            self.planned_visits = 0;
        }
        match input.take_text("status") {
            Patch::Value(to) if to == self.status => {}
            Patch::Value(to) => match (to.parse::<Status>(), creating) {
                (Ok(Status::Draft | Status::Active), true) => self.status = to,
                (_, true) => {
                    let message = format!("a new plan is DRAFT or ACTIVE, not {to}");
                    v.push(Violation::new("status", "INVALID_VALUE", message));
                }
                (Err(_), false) => {
                    v.push(Violation::new("status", "INVALID_VALUE", format!("'{to}' is not a plan status")));
                }
                (Ok(next), false) if stored_status(self)?.may_go_to(next) => self.status = to,
                (Ok(_), false) => {
                    return Err(Error::Conflict {
                        code: "ILLEGAL_TRANSITION",
                        message: format!("a plan cannot go from {} to {to}", self.status),
                        field: Some("status".into()),
                    });
                }
            },
            Patch::Null if !creating => v.push(Violation::new("status", "REQUIRED", "status cannot be null")),
            Patch::Null | Patch::Absent => {}
        }
        Ok(())
    }

    /// The period, the users named, and a new plan's currency: the tenant's base currency.
    async fn check(
        &mut self,
        write: &Write<'_>,
        before: Option<&Self>,
        _customer: Option<&customer::Model>,
        v: &mut Vec<Violation>,
    ) -> Result<()> {
        if self.period_end < self.period_start {
            v.push(Violation::new("periodEnd", "BEFORE_START", "periodEnd must not be before periodStart"));
        }
        check_users(write.txn(), write.caller(), self, v).await?;
        if before.is_none() {
            self.currency = super::tenant::settings(write.txn(), write.caller().tenant_id).await?.base_currency;
        }
        Ok(())
    }
}

/// Adds a planned action.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`.
pub async fn add_action(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    plan_id: Uuid,
    title: &str,
    due_date: Option<NaiveDate>,
    assignee: Option<String>,
) -> Result<plan_action::Model> {
    access::ensure_can_write(caller)?;
    let mut v = Vec::new();
    let title = text(title, 1, 200).map_err(|(c, m)| v.push(Violation::new("title", c, m))).unwrap_or_default();
    let assignee_id = assignee
        .and_then(|g| ids::decode("User", &g).map_err(|(c, m)| v.push(Violation::new("assigneeId", c, m))).ok());
    let write = Write::begin_plain(db, plugins, caller, EntityKind::KeyAccountPlan).await?;
    let (plan, _) = key_account_plan::Model::writable(&write, plan_id).await?;
    // The customer is locked (`writable`), so concurrent additions count one after another.
    if store::plans::count_actions(write.txn(), caller.tenant_id, plan.id).await? >= MAX_ACTIONS {
        v.push(Violation::new("planId", "TOO_MANY", format!("a plan holds at most {MAX_ACTIONS} actions")));
    }
    if let Some(a) = assignee_id
        && store::users::find(write.txn(), caller.tenant_id, a).await?.is_none()
    {
        v.push(Violation::new("assigneeId", "NOT_FOUND", "no such user in this tenant"));
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let action = plan_action::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        plan_id: plan.id,
        title,
        due_date,
        assignee_id,
        done: false,
        done_at: None,
        created_at: write.now(),
    };
    let after = json!({ "planId": ids::encode(TYPE_NAME, plan.id), "title": action.title, "dueDate": due_date.map(|d| d.to_string()), "done": false });
    let change = Change::new(ACTION_TYPE_NAME, action.id, plan.customer_id, "plan.updated", None, Some(after))
        .event_on(TYPE_NAME, plan.id, &["actions"]);
    write.commit(change, async |txn| store::plans::insert_action(txn, &action).await).await?;
    Ok(action)
}

/// Marks an action done (doing it twice changes nothing).
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`.
pub async fn complete_action(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
) -> Result<plan_action::Model> {
    let not_found = || Error::NotFound(format!("no plan action {}", ids::encode(ACTION_TYPE_NAME, id)));
    let write = Write::begin_plain(db, plugins, caller, EntityKind::KeyAccountPlan).await?;
    let action = store::plans::find_action(write.txn(), caller.tenant_id, id).await?.ok_or_else(not_found)?;
    let plan = match key_account_plan::Model::writable(&write, action.plan_id).await {
        Err(Error::NotFound(_)) => return Err(not_found()),
        other => other?.0,
    };
    if action.done {
        return Ok(action);
    }
    let done = plan_action::Model { done: true, done_at: Some(write.now()), ..action };
    let change = Change::new(
        ACTION_TYPE_NAME,
        id,
        plan.customer_id,
        "plan.updated",
        Some(json!({ "done": false })),
        Some(json!({ "done": true })),
    )
    .event_on(TYPE_NAME, plan.id, &["actions"]);
    write.commit(change, async |txn| store::plans::update_action(txn, &done).await).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_workflow() {
        let legal = [("DRAFT", "ACTIVE"), ("ACTIVE", "COMPLETED"), ("ACTIVE", "CANCELLED"), ("DRAFT", "CANCELLED")];
        for from in <Status as strum::IntoEnumIterator>::iter() {
            for to in <Status as strum::IntoEnumIterator>::iter() {
                let (f, t) = (from.as_str(), to.as_str());
                assert_eq!(from.may_go_to(to), legal.contains(&(f, t)), "{f} → {t}");
            }
        }
    }
}
