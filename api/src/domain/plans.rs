//! Key-account plans (大客户计划): an owner and a dedicated team, a period, objectives, a visit
//! cadence, planned actions; progress is computed from the records, never typed.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use guanxi_entity::{customer_stats, interaction, key_account_plan, plan_action};
use rust_decimal::Decimal;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Input, Patch};
use super::plugins::Plugins;
use super::records::{self, OnCustomer, Record, audit_snapshot};
use super::values::text;
use super::write::{Change, Write};
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

/// Where a plan is in its life. Stored and shown as its SCREAMING_CASE name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
    strum::EnumIter,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Draft,
    Active,
    Completed,
    Cancelled,
}

/// The names of [`Status`].
pub const STATUSES: &[&str] = <Status as strum::VariantNames>::VARIANTS;

impl Status {
    /// `DRAFT → ACTIVE → COMPLETED | CANCELLED` (a draft may also be dropped).
    #[must_use]
    pub fn may_go_to(self, to: Self) -> bool {
        use Status::{Active, Cancelled, Completed, Draft};
        matches!((self, to), (Draft, Active | Cancelled) | (Active, Completed | Cancelled))
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// KeyAccountPlan, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("customerId", FieldKind::Id { type_name: "Customer" }).input(Check::Plain).create_only(),
    FieldSpec::new("title", FieldKind::String).order("TITLE").input(Check::Text(200)).required(),
    // Set through the workflow (`create`, `update`), not as a plain input.
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
    FieldSpec::new("teamIds", FieldKind::IdList { type_name: "User" }).input(Check::List { items: MAX_TEAM, chars: 0 }),
    FieldSpec::new("ownerId", FieldKind::Id { type_name: "User" }).nullable().input(Check::Plain),
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
        match i.kind.as_str() {
            "VISIT" => visits += 1,
            "PURCHASE" if i.currency.as_deref() == Some(plan.currency.as_str()) => {
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

/// The rules beyond each field's own.
fn rules(plan: &key_account_plan::Model, v: &mut Vec<Violation>) {
    if plan.period_end < plan.period_start {
        v.push(Violation::new("periodEnd", "BEFORE_START", "periodEnd must not be before periodStart"));
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

/// # Errors
/// Database failures.
pub async fn get(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Option<key_account_plan::Model>> {
    let Some(plan) = records::find::<key_account_plan::Model>(db, caller, id).await? else { return Ok(None) };
    Ok(super::customers::can_see_records_of(db, caller, plan.customer_id).await?.then_some(plan))
}

async fn customer_for_write(txn: &DatabaseTransaction, caller: &Caller, customer_id: Uuid) -> Result<Option<Uuid>> {
    access::ensure_can_write(caller)?;
    let customer = store::customers::find_for_update(txn, caller.tenant_id, customer_id).await?;
    // A customer the caller may not see is answered like one that does not exist.
    Ok(customer.filter(|c| access::can_read_owned(caller, c.owner_id)).map(|c| c.id))
}

/// Creates a plan (DRAFT unless a status is given) in the tenant's base currency.
///
/// # Errors
/// `FORBIDDEN` per role; `BAD_USER_INPUT` listing every problem.
pub async fn create(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    mut input: Input,
    base_currency: &str,
) -> Result<key_account_plan::Model> {
    access::ensure_can_write(caller)?;
    let mut v = Vec::new();
    let mut plan = key_account_plan::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        status: match input.take_text("status") {
            Patch::Value(s) if matches!(s.parse(), Ok(Status::Active | Status::Draft)) => s,
            Patch::Value(s) => {
                v.push(Violation::new("status", "INVALID_VALUE", format!("a new plan is DRAFT or ACTIVE, not {s}")));
                s
            }
            Patch::Absent | Patch::Null => Status::Draft.as_str().into(),
        },
        currency: base_currency.to_owned(),
        objectives: json!([]),
        team_ids: json!([]),
        owner_id: Some(caller.user_id),
        version: 1,
        ..Default::default()
    };
    // Null is no visits planned, the default.
    input.take_null("plannedVisits");
    let write = Write::begin(db, plugins, caller, EntityKind::KeyAccountPlan).await?;
    write.apply(&mut plan, input, true, &mut v)?;
    rules(&plan, &mut v);
    if v.iter().all(|x| x.field != "customerId")
        && customer_for_write(write.txn(), caller, plan.customer_id).await?.is_none()
    {
        v.push(Violation::new("customerId", "NOT_FOUND", "no such customer"));
    }
    check_users(write.txn(), caller, &plan, &mut v).await?;
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    (plan.created_at, plan.updated_at) = (write.now(), write.now());
    let change = Change::new(TYPE_NAME, plan.id, plan.customer_id, "plan.created", None, Some(audit_snapshot(&plan)));
    write.commit(change, async |txn| store::records::insert::<key_account_plan::Entity>(txn, &plan).await).await?;
    Ok(plan)
}

async fn writable(txn: &DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<key_account_plan::Model> {
    let not_found = || Error::NotFound(format!("no key-account plan {}", ids::encode(TYPE_NAME, id)));
    let plan = records::find::<key_account_plan::Model>(txn, caller, id).await?.ok_or_else(not_found)?;
    let customer =
        store::customers::find_for_update(txn, caller.tenant_id, plan.customer_id).await?.ok_or_else(not_found)?;
    access::ensure_can_write_owned(caller, customer.owner_id, not_found)?;
    records::find::<key_account_plan::Model>(txn, caller, id).await?.ok_or_else(not_found)
}

/// The status a plan is stored with.
fn stored_status(p: &key_account_plan::Model) -> Result<Status> {
    p.status.parse().map_err(|_| Error::Internal(anyhow::anyhow!("plan {} has status {:?}", p.id, p.status)))
}

/// Changes a plan; a status change must follow the plan workflow.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (stale version, illegal status change).
pub async fn update(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    mut input: Input,
    expected_version: Option<i32>,
) -> Result<key_account_plan::Model> {
    let status = input.take_text("status");
    let write = Write::begin(db, plugins, caller, EntityKind::KeyAccountPlan).await?;
    let current = writable(write.txn(), caller, id).await?;
    super::input::check_version("plan", current.version, expected_version)?;
    let mut plan = current.clone();
    if input.take_null("plannedVisits") {
        plan.planned_visits = 0;
    }
    let mut v = Vec::new();
    write.apply(&mut plan, input, false, &mut v)?;
    rules(&plan, &mut v);
    match status {
        Patch::Value(to) if to != current.status => match to.parse::<Status>() {
            Err(_) => v.push(Violation::new("status", "INVALID_VALUE", format!("'{to}' is not a plan status"))),
            Ok(next) if stored_status(&current)?.may_go_to(next) => plan.status = next.as_str().to_owned(),
            Ok(_) => {
                return Err(Error::Conflict {
                    code: "ILLEGAL_TRANSITION",
                    message: format!("a plan cannot go from {} to {to}", current.status),
                    field: Some("status".into()),
                });
            }
        },
        Patch::Null => v.push(Violation::new("status", "REQUIRED", "status cannot be null")),
        _ => {}
    }
    check_users(write.txn(), caller, &plan, &mut v).await?;
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    if plan == current {
        return Ok(current);
    }
    plan.version = current.version + 1;
    plan.updated_at = write.now();
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&plan));
    let change = Change::new(TYPE_NAME, id, current.customer_id, "plan.updated", Some(before), Some(after));
    write.commit(change, async |txn| store::records::update::<key_account_plan::Entity>(txn, &plan).await).await?;
    Ok(plan)
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
    let plan = writable(write.txn(), caller, plan_id).await?;
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
    let plan = match writable(write.txn(), caller, action.plan_id).await {
        Err(Error::NotFound(_)) => return Err(not_found()),
        other => other?,
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
