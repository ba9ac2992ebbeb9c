//! Complaints (投诉): a case with a workflow, SLA deadlines from severity and the customer's
//! tier (key accounts get the green channel, 绿色通道: half the time), and a history of every
//! transition. AGENTs see complaints assigned to them and those of customers they own.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use guanxi_entity::{complaint, complaint_transition, customer};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Patch, check_version, set_required_enum, set_text};
use super::plugins::Plugins;
use super::records::{self, OnCustomer, Record};
use super::settings::TenantSettings;
use super::values::text;
use super::write::{Change, Effect, Write};
use super::{Caller, Role, access, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{FieldKind, FieldSpec, Filter, Op, Scalar};
use crate::store::{self, WriteTxn};

pub const TYPE_NAME: &str = "Complaint";
pub const CATEGORIES: &[&str] = &["PRODUCT_QUALITY", "SERVICE", "DELIVERY", "BILLING", "OTHER"];
pub const SEVERITIES: &[&str] = &["LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// Tiers that get the green channel.
pub const KEY_ACCOUNT_TIERS: &[&str] = &["KEY_PRIMARY", "KEY_SECONDARY"];

/// Where a complaint is in its workflow. Stored and shown as its SCREAMING_CASE name.
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
    Open,
    Acknowledged,
    InProgress,
    Escalated,
    Resolved,
    Reopened,
    Closed,
}

/// The names of [`Status`], in workflow order.
pub const STATUSES: &[&str] = <Status as strum::VariantNames>::VARIANTS;

impl Status {
    /// Not yet resolved or closed.
    #[must_use]
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Closed)
    }

    /// May a complaint go from `self` to `to`? The workflow:
    /// `OPEN → ACKNOWLEDGED → IN_PROGRESS → RESOLVED → CLOSED`, `RESOLVED → REOPENED → IN_PROGRESS`,
    /// `ESCALATED` from any open state; an escalated case continues in progress or is resolved.
    #[must_use]
    pub fn may_go_to(self, to: Self) -> bool {
        use Status::{Acknowledged, Closed, Escalated, InProgress, Open, Reopened, Resolved};
        matches!(
            (self, to),
            (Open, Acknowledged)
                | (Acknowledged, InProgress)
                | (InProgress, Resolved)
                | (Resolved, Closed | Reopened)
                | (Reopened, InProgress)
                | (Escalated, InProgress | Resolved)
        ) || (to == Escalated && self != Escalated && self.is_open())
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The names of the open statuses.
    #[must_use]
    pub fn open_names() -> Vec<&'static str> {
        <Self as strum::IntoEnumIterator>::iter().filter(|s| s.is_open()).map(Self::as_str).collect()
    }
}

/// Response and resolution deadlines for a complaint filed at `filed` (halved for key accounts).
#[must_use]
pub fn deadlines(
    filed: DateTime<Utc>,
    severity: &str,
    tier: Option<&str>,
    settings: &TenantSettings,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let terms = settings.sla_for(severity);
    let green = tier.is_some_and(|t| KEY_ACCOUNT_TIERS.contains(&t));
    // Halving in seconds keeps odd minute counts exact.
    let span = |minutes: i64| if green { Duration::seconds(minutes * 30) } else { Duration::minutes(minutes) };
    (filed + span(terms.response_minutes), filed + span(terms.resolution_minutes))
}

/// Is a deadline missed: not met and past, or met late?
#[must_use]
pub fn sla_breached(c: &complaint::Model, now: DateTime<Utc>) -> bool {
    let missed = |done: Option<DateTime<Utc>>, due: DateTime<Utc>| done.map_or(now > due, |d| d > due);
    missed(c.responded_at, c.response_due_at) || missed(c.resolved_at, c.resolution_due_at)
}

const fn spec(name: &'static str, kind: FieldKind, nullable: bool, order: Option<&'static str>) -> FieldSpec {
    FieldSpec { name, kind, nullable, order }
}

pub static FIELDS: [FieldSpec; 11] = [
    spec("id", FieldKind::Id { type_name: TYPE_NAME }, false, None),
    spec("customerId", FieldKind::Id { type_name: "Customer" }, false, None),
    spec("title", FieldKind::String, false, None),
    spec("category", FieldKind::Enum { type_name: "ComplaintCategory", values: CATEGORIES }, false, None),
    spec("severity", FieldKind::Enum { type_name: "Severity", values: SEVERITIES }, false, Some("SEVERITY")),
    spec("status", FieldKind::Enum { type_name: "ComplaintStatus", values: STATUSES }, false, Some("STATUS")),
    spec("assigneeId", FieldKind::Id { type_name: "User" }, true, None),
    spec("responseDueAt", FieldKind::DateTime, false, Some("RESPONSE_DUE_AT")),
    spec("resolutionDueAt", FieldKind::DateTime, false, Some("RESOLUTION_DUE_AT")),
    spec("createdAt", FieldKind::DateTime, false, Some("CREATED_AT")),
    spec("updatedAt", FieldKind::DateTime, false, Some("UPDATED_AT")),
];
/// Not GraphQL filters themselves; `slaBreached` and `dueBefore` are built from them.
pub static RESPONDED_AT: FieldSpec = spec("respondedAt", FieldKind::DateTime, true, None);
pub static RESOLVED_AT: FieldSpec = spec("resolvedAt", FieldKind::DateTime, true, None);

/// # Panics
/// If `name` is not in [`FIELDS`] (a programming error).
#[must_use]
pub fn field(name: &str) -> &'static FieldSpec {
    crate::query::field_named(&FIELDS, name)
}

fn time(spec: &'static FieldSpec, op: fn(Scalar) -> Op, at: DateTime<Utc>) -> Filter {
    Filter::Field(spec, op(Scalar::Time(at)))
}

/// Complaints whose SLA is (`true`) or is not (`false`) breached as of `now`: the SQL twin of
/// [`sla_breached`].
#[must_use]
pub fn breached_filter(breached: bool, now: DateTime<Utc>) -> Filter {
    let missed = |done: &'static FieldSpec, due: &'static str| {
        Filter::Any(vec![
            Filter::All(vec![Filter::Field(done, Op::IsNull(true)), time(field(due), Op::Lt, now)]),
            Filter::Field(done, Op::GtField(due)),
        ])
    };
    let any = Filter::Any(vec![missed(&RESPONDED_AT, "responseDueAt"), missed(&RESOLVED_AT, "resolutionDueAt")]);
    if breached { any } else { Filter::Not(Box::new(any)) }
}

/// Open complaints with a deadline still to meet before `at`.
#[must_use]
pub fn due_before_filter(at: DateTime<Utc>) -> Filter {
    Filter::Any(vec![
        Filter::All(vec![Filter::Field(&RESPONDED_AT, Op::IsNull(true)), time(field("responseDueAt"), Op::Lt, at)]),
        Filter::All(vec![Filter::Field(&RESOLVED_AT, Op::IsNull(true)), time(field("resolutionDueAt"), Op::Lt, at)]),
    ])
}

impl Record for complaint::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Complaint;
    const FIELDS: &'static [FieldSpec] = &FIELDS;

    const DEFAULT_ORDER: (&'static str, bool) = ("createdAt", true);

    fn custom_values(&self) -> &Value {
        &self.custom_fields
    }
}

impl OnCustomer for complaint::Model {
    /// The caller's scope on lists.
    fn scoped(caller: &Caller, filter: Filter) -> Filter {
        match access::owner_scope(caller) {
            Some(me) => filter.and(Filter::Any(vec![
                Filter::Field(field("assigneeId"), Op::Eq(Scalar::Uuid(me))),
                Filter::Field(&records::CUSTOMER_OWNER, Op::Eq(Scalar::Uuid(me))),
            ])),
            None => filter,
        }
    }
}

fn visible(caller: &Caller, c: &complaint::Model, customer_owner: Option<Uuid>) -> bool {
    access::owner_scope(caller).is_none_or(|me| c.assignee_id == Some(me) || customer_owner == Some(me))
}

/// # Errors
/// Database failures.
pub async fn get(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Option<complaint::Model>> {
    let Some(row) = records::find::<complaint::Model>(db, caller, id).await? else { return Ok(None) };
    let owner = if access::owner_scope(caller).is_some() {
        store::customers::find(db, caller.tenant_id, row.customer_id).await?.and_then(|c| c.owner_id)
    } else {
        None
    };
    Ok(visible(caller, &row, owner).then_some(row))
}

/// Most open complaints `Customer.openComplaints` lists, oldest first: a 360° page shows what
/// needs doing, and the `complaints` connection pages through any more. A bound keeps a customer
/// with thousands of open complaints from making every page that shows it that much larger.
pub const OPEN_LISTED: u64 = 100;

/// The open complaints of many customers (at most [`OPEN_LISTED`] each, oldest first), in one
/// statement. The caller's scope is applied by the field reading them.
///
/// # Errors
/// Database failures.
pub async fn open_of_customers(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, Vec<complaint::Model>>> {
    store::complaints::first_of_customers_in(db, tenant_id, customers, &Status::open_names(), OPEN_LISTED).await
}

/// Most transitions a complaint's history keeps. A complaint's whole life is a handful; a
/// hundred means it is being cycled, and each reader of its history would pay for every one.
pub const MAX_TRANSITIONS: u64 = 100;

/// What a filing or an update asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplaintInput {
    pub customer_id: Patch<String>,
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub category: Patch<String>,
    pub severity: Patch<String>,
    pub assignee_id: Patch<String>,
    pub resolution: Patch<String>,
    pub satisfaction: Patch<i64>,
    /// An object keyed by custom field key; checked against the tenant's definitions.
    pub custom_fields: Patch<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Data {
    title: String,
    description: Option<String>,
    category: String,
    severity: String,
    assignee_id: Option<Uuid>,
    resolution: Option<String>,
    satisfaction: Option<i32>,
    custom_fields: Value,
}

impl Data {
    fn of(c: &complaint::Model) -> Self {
        Self {
            title: c.title.clone(),
            description: c.description.clone(),
            category: c.category.clone(),
            severity: c.severity.clone(),
            assignee_id: c.assignee_id,
            resolution: c.resolution.clone(),
            satisfaction: c.satisfaction,
            custom_fields: c.custom_fields.clone(),
        }
    }
}

fn apply(data: &mut Data, input: ComplaintInput, v: &mut Vec<Violation>) {
    match input.title {
        Patch::Absent => {}
        Patch::Null => v.push(Violation::new("title", "REQUIRED", "title cannot be null")),
        Patch::Value(t) => match text(&t, 1, 200) {
            Ok(t) => data.title = t,
            Err((code, msg)) => v.push(Violation::new("title", code, msg)),
        },
    }
    set_text(v, "description", input.description, &mut data.description, 5000);
    set_required_enum(v, "category", input.category, CATEGORIES, &mut data.category);
    set_required_enum(v, "severity", input.severity, SEVERITIES, &mut data.severity);
    match input.assignee_id {
        Patch::Absent => {}
        Patch::Null => data.assignee_id = None,
        Patch::Value(g) => match ids::decode("User", &g) {
            Ok(id) => data.assignee_id = Some(id),
            Err((code, msg)) => v.push(Violation::new("assigneeId", code, msg)),
        },
    }
    set_text(v, "resolution", input.resolution, &mut data.resolution, 5000);
    match input.satisfaction {
        Patch::Absent => {}
        Patch::Null => data.satisfaction = None,
        Patch::Value(n) if (1..=5).contains(&n) => data.satisfaction = i32::try_from(n).ok(),
        Patch::Value(n) => v.push(Violation::new("satisfaction", "OUT_OF_RANGE", format!("must be 1 to 5, got {n}"))),
    }
}

/// The complaint as the audit trail records it.
#[must_use]
pub fn audit_snapshot(c: &complaint::Model) -> Value {
    json!({
        "customerId": ids::encode("Customer", c.customer_id), "title": c.title, "description": c.description,
        "category": c.category, "severity": c.severity, "status": c.status,
        "assigneeId": c.assignee_id.map(|id| ids::encode("User", id)), "resolution": c.resolution,
        "satisfaction": c.satisfaction, "customFields": c.custom_fields,
    })
}

async fn check_assignee(
    txn: &DatabaseTransaction,
    caller: &Caller,
    data: &Data,
    before: Option<Uuid>,
    v: &mut Vec<Violation>,
) -> Result<()> {
    let Some(assignee) = data.assignee_id else { return Ok(()) };
    if Some(assignee) == before {
        return Ok(());
    }
    if caller.role == Role::Agent && assignee != caller.user_id {
        return Err(Error::Forbidden("an AGENT may only assign complaints to itself".into()));
    }
    if store::users::find(txn, caller.tenant_id, assignee).await?.is_none() {
        v.push(Violation::new("assigneeId", "NOT_FOUND", "no such user in this tenant"));
    }
    Ok(())
}

/// Files a complaint on a customer the caller may change.
///
/// # Errors
/// `FORBIDDEN` per role, `BAD_USER_INPUT` listing every problem.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn file(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    mut input: ComplaintInput,
    settings: &TenantSettings,
) -> Result<complaint::Model> {
    access::ensure_can_write(caller)?;
    let mut v = Vec::new();
    let customer_id = match &input.customer_id {
        Patch::Value(g) => {
            ids::decode("Customer", g).map_err(|(code, msg)| v.push(Violation::new("customerId", code, msg))).ok()
        }
        _ => {
            v.push(Violation::new("customerId", "REQUIRED", "customerId is required"));
            None
        }
    };
    if input.title == Patch::Absent {
        v.push(Violation::new("title", "REQUIRED", "title is required"));
    }
    let mut data = Data {
        title: String::new(),
        description: None,
        category: "OTHER".into(),
        severity: "MEDIUM".into(),
        assignee_id: None,
        resolution: None,
        satisfaction: None,
        custom_fields: json!({}),
    };
    let custom = std::mem::take(&mut input.custom_fields);
    apply(&mut data, input, &mut v);
    let write = Write::begin(db, plugins, caller, EntityKind::Complaint).await?;
    data.custom_fields = write.custom_values(custom, None, &mut v);
    let customer = match customer_id {
        Some(id) => customer_for_write(write.txn(), caller, id, &mut v).await?,
        None => None,
    };
    check_assignee(write.txn(), caller, &data, None, &mut v).await?;
    let (Some(customer), true) = (customer, v.is_empty()) else {
        return Err(Error::Invalid(v));
    };
    let now = write.now();
    let (response_due_at, resolution_due_at) = deadlines(now, &data.severity, customer.tier.as_deref(), settings);
    let row = complaint::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        customer_id: customer.id,
        title: data.title,
        description: data.description,
        category: data.category,
        severity: data.severity,
        status: Status::Open.as_str().into(),
        assignee_id: data.assignee_id,
        resolution: data.resolution,
        satisfaction: data.satisfaction,
        response_due_at,
        resolution_due_at,
        response_breach_told: false,
        resolution_breach_told: false,
        responded_at: None,
        resolved_at: None,
        custom_fields: data.custom_fields,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let change = Change::new(TYPE_NAME, row.id, customer.id, "complaint.filed", None, Some(audit_snapshot(&row)));
    let persist = async |txn: &WriteTxn| {
        store::complaints::insert(txn, &row).await?;
        store::complaints::insert_transition(txn, &transition(caller, &row, None, None, now)).await
    };
    write.commit(change.with(Effect::Figures), persist).await?;
    Ok(row)
}

fn transition(
    caller: &Caller,
    c: &complaint::Model,
    from: Option<&str>,
    note: Option<String>,
    at: DateTime<Utc>,
) -> complaint_transition::Model {
    complaint_transition::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        complaint_id: c.id,
        from_status: from.map(str::to_owned),
        to_status: c.status.clone(),
        by_id: Some(caller.user_id),
        note,
        at,
    }
}

/// Locks the customer (serialising its timeline and figures) if the caller may change it.
async fn customer_for_write(
    txn: &DatabaseTransaction,
    caller: &Caller,
    id: Uuid,
    v: &mut Vec<Violation>,
) -> Result<Option<customer::Model>> {
    access::ensure_can_write(caller)?;
    let customer = store::customers::find_for_update(txn, caller.tenant_id, id).await?;
    // A customer the caller may not see is answered like one that does not exist.
    match customer.filter(|c| access::can_read_owned(caller, c.owner_id)) {
        Some(customer) => Ok(Some(customer)),
        None => {
            v.push(Violation::new("customerId", "NOT_FOUND", "no such customer"));
            Ok(None)
        }
    }
}

/// The complaint `id` for a change: visible to the caller, its customer locked.
async fn writable(txn: &DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<(complaint::Model, customer::Model)> {
    let not_found = || Error::NotFound(format!("no complaint {}", ids::encode(TYPE_NAME, id)));
    let row = records::find::<complaint::Model>(txn, caller, id).await?.ok_or_else(not_found)?;
    let customer =
        store::customers::find_for_update(txn, caller.tenant_id, row.customer_id).await?.ok_or_else(not_found)?;
    if !visible(caller, &row, customer.owner_id) {
        return Err(not_found());
    }
    access::ensure_can_write(caller)?;
    let row = records::find::<complaint::Model>(txn, caller, id).await?.ok_or_else(not_found)?;
    Ok((row, customer))
}

/// Changes a complaint's details; a new severity moves its deadlines.
///
/// # Errors
/// `NOT_FOUND`, `FORBIDDEN`, `BAD_USER_INPUT`, `CONFLICT` (stale version).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, complaint = %id))]
pub async fn update(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    mut input: ComplaintInput,
    expected_version: Option<i32>,
    settings: &TenantSettings,
) -> Result<complaint::Model> {
    let mut v = Vec::new();
    if input.customer_id != Patch::Absent {
        v.push(Violation::new("customerId", "NOT_ALLOWED", "a complaint stays with its customer"));
        input.customer_id = Patch::Absent;
    }
    let write = Write::begin(db, plugins, caller, EntityKind::Complaint).await?;
    let (current, customer) = writable(write.txn(), caller, id).await?;
    check_version("complaint", current.version, expected_version)?;
    let mut data = Data::of(&current);
    let custom = std::mem::take(&mut input.custom_fields);
    data.custom_fields = write.custom_values(custom, Some(&current.custom_fields), &mut v);
    apply(&mut data, input, &mut v);
    check_assignee(write.txn(), caller, &data, current.assignee_id, &mut v).await?;
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    if data == Data::of(&current) {
        return Ok(current);
    }
    let (response_due_at, resolution_due_at) = if data.severity == current.severity {
        (current.response_due_at, current.resolution_due_at)
    } else {
        deadlines(current.created_at, &data.severity, customer.tier.as_deref(), settings)
    };
    let updated = complaint::Model {
        title: data.title,
        description: data.description,
        category: data.category,
        severity: data.severity,
        assignee_id: data.assignee_id,
        resolution: data.resolution,
        satisfaction: data.satisfaction,
        // A deadline that moves is told of again if the new one passes unmet.
        response_breach_told: current.response_breach_told && response_due_at == current.response_due_at,
        resolution_breach_told: current.resolution_breach_told && resolution_due_at == current.resolution_due_at,
        response_due_at,
        resolution_due_at,
        custom_fields: data.custom_fields,
        version: current.version + 1,
        updated_at: write.now(),
        ..current.clone()
    };
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&updated));
    let change = Change::new(TYPE_NAME, id, current.customer_id, "complaint.updated", Some(before), Some(after));
    write
        .commit(change.with(Effect::Figures), async |txn| store::complaints::update(txn, &updated, &current).await)
        .await?;
    Ok(updated)
}

/// The status a complaint is stored with.
fn stored_status(c: &complaint::Model) -> Result<Status> {
    c.status.parse().map_err(|_| Error::Internal(anyhow::anyhow!("complaint {} has status {:?}", c.id, c.status)))
}

/// Moves a complaint through its workflow.
///
/// # Errors
/// `CONFLICT` (reason `ILLEGAL_TRANSITION`) for a move the workflow does not allow, the state
/// unchanged; `NOT_FOUND`, `FORBIDDEN`, stale version.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, complaint = %id))]
pub async fn transition_to(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    to: &str,
    note: Option<String>,
    expected_version: Option<i32>,
) -> Result<complaint::Model> {
    access::ensure_can_write(caller)?;
    let Ok(to) = to.parse::<Status>() else {
        return Err(Error::invalid("to", "INVALID_VALUE", format!("'{to}' is not a complaint status")));
    };
    let note = match note.map(|n| text(&n, 0, 2000)) {
        Some(Ok(n)) if n.is_empty() => None,
        Some(Ok(n)) => Some(n),
        Some(Err((code, msg))) => return Err(Error::invalid("note", code, msg)),
        None => None,
    };
    let write = Write::begin_plain(db, plugins, caller, EntityKind::Complaint).await?;
    let (current, _) = writable(write.txn(), caller, id).await?;
    check_version("complaint", current.version, expected_version)?;
    let from = stored_status(&current)?;
    if !from.may_go_to(to) {
        return Err(Error::Conflict {
            code: "ILLEGAL_TRANSITION",
            message: format!("a complaint cannot go from {} to {to}", current.status),
            field: Some("to".into()),
        });
    }
    if store::complaints::count_transitions(write.txn(), caller.tenant_id, id).await? >= MAX_TRANSITIONS {
        return Err(Error::Conflict {
            code: "HISTORY_FULL",
            message: format!(
                "this complaint has gone through {MAX_TRANSITIONS} status changes, the most one keeps; file a new complaint for what is still open"
            ),
            field: Some("to".into()),
        });
    }
    let now = write.now();
    let updated = complaint::Model {
        status: to.as_str().to_owned(),
        responded_at: current.responded_at.or(Some(now)),
        resolved_at: match to {
            Status::Resolved => Some(now),
            Status::Reopened => None,
            _ => current.resolved_at,
        },
        version: current.version + 1,
        updated_at: now,
        ..current.clone()
    };
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&updated));
    let change = Change::new(TYPE_NAME, id, current.customer_id, "complaint.transitioned", Some(before), Some(after));
    let persist = async |txn: &WriteTxn| {
        store::complaints::update(txn, &updated, &current).await?;
        store::complaints::insert_transition(txn, &transition(caller, &updated, Some(&current.status), note, now)).await
    };
    write.commit(change.with(Effect::Figures), persist).await?;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_of_product_md() {
        let legal = [
            ("OPEN", "ACKNOWLEDGED"),
            ("ACKNOWLEDGED", "IN_PROGRESS"),
            ("IN_PROGRESS", "RESOLVED"),
            ("RESOLVED", "CLOSED"),
            ("RESOLVED", "REOPENED"),
            ("REOPENED", "IN_PROGRESS"),
            ("OPEN", "ESCALATED"),
            ("ACKNOWLEDGED", "ESCALATED"),
            ("IN_PROGRESS", "ESCALATED"),
            ("REOPENED", "ESCALATED"),
            ("ESCALATED", "IN_PROGRESS"),
            ("ESCALATED", "RESOLVED"),
        ];
        for from in <Status as strum::IntoEnumIterator>::iter() {
            for to in <Status as strum::IntoEnumIterator>::iter() {
                let (f, t) = (from.as_str(), to.as_str());
                assert_eq!(from.may_go_to(to), legal.contains(&(f, t)), "{f} → {t}");
            }
        }
    }

    #[test]
    fn deadlines_follow_severity_and_the_green_channel() {
        let settings = TenantSettings::default();
        let t0 = Utc::now();
        for (severity, response_h, resolution_h) in
            [("CRITICAL", 1, 24), ("HIGH", 4, 72), ("MEDIUM", 8, 120), ("LOW", 24, 240)]
        {
            assert_eq!(
                deadlines(t0, severity, None, &settings),
                (t0 + Duration::hours(response_h), t0 + Duration::hours(resolution_h))
            );
            assert_eq!(deadlines(t0, severity, Some("ORDINARY"), &settings).0, t0 + Duration::hours(response_h));
            for tier in KEY_ACCOUNT_TIERS {
                assert_eq!(
                    deadlines(t0, severity, Some(tier), &settings),
                    (t0 + Duration::minutes(response_h * 30), t0 + Duration::minutes(resolution_h * 30))
                );
            }
        }
    }
}
