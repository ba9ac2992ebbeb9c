//! Complaints (投诉): a case with a workflow, SLA deadlines from severity and the customer's
//! tier (key accounts get the green channel, 绿色通道: half the time), and a history of every
//! transition. AGENTs see complaints assigned to them and those of customers they own.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use guanxi_entity::{complaint, complaint_transition, customer};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::Value;
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::customers::Tier;
use super::input::check_version;
use super::plugins::Plugins;
use super::records::{self, OnCustomer, Record, audit_snapshot};
use super::settings::TenantSettings;
use super::values::text;
use super::write::Lifecycle;
use super::write::{Change, Effect, Write};
use super::{Caller, Role, access};
use crate::error::{Error, Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec, Filter, Op, Scalar};
use crate::store::{self, WriteTxn};

pub const TYPE_NAME: &str = "Complaint";
stored_enum!(
    pub enum Category, CATEGORIES { ProductQuality, Service, Delivery, Billing, Other }
);
stored_enum!(
    pub enum Severity, SEVERITIES { Low, Medium, High, Critical }
);
/// Tiers that get the green channel.
pub const KEY_ACCOUNT_TIERS: [Tier; 2] = [Tier::KeyPrimary, Tier::KeySecondary];

stored_enum!(
    /// Where a complaint is in its workflow.
    pub enum Status, STATUSES { Open, Acknowledged, InProgress, Escalated, Resolved, Reopened, Closed }
);

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
    let green = tier.is_some_and(|t| KEY_ACCOUNT_TIERS.iter().any(|k| k.as_str() == t));
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

/// Complaint, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("customerId", FieldKind::Id { type_name: "Customer" })
        .shows("customer")
        .input(Check::Plain)
        .create_only(),
    FieldSpec::new("title", FieldKind::String).input(Check::Text(200)).required(),
    FieldSpec::new("description", FieldKind::String).nullable().unfiltered().input(Check::Text(5000)),
    FieldSpec::new("category", FieldKind::Enum { type_name: "ComplaintCategory", values: CATEGORIES })
        .input(Check::Plain)
        .required(),
    FieldSpec::new("severity", FieldKind::Enum { type_name: "Severity", values: SEVERITIES })
        .order("SEVERITY")
        .input(Check::Plain)
        .required(),
    FieldSpec::new("status", FieldKind::Enum { type_name: "ComplaintStatus", values: STATUSES })
        .order("STATUS")
        .audited(),
    FieldSpec::new("assigneeId", FieldKind::Id { type_name: "User" }).nullable().shows("assignee").input(Check::Plain),
    FieldSpec::new("resolution", FieldKind::String).nullable().unfiltered().input(Check::Text(5000)).update_only(),
    FieldSpec::new("satisfaction", FieldKind::Int)
        .nullable()
        .unfiltered()
        .input(Check::Range(1, 5))
        .update_only()
        .input_doc("1 to 5: the customer's satisfaction with the handling"),
    FieldSpec::new("responseDueAt", FieldKind::DateTime).order("RESPONSE_DUE_AT"),
    FieldSpec::new("resolutionDueAt", FieldKind::DateTime).order("RESOLUTION_DUE_AT"),
    // Not filters themselves: `slaBreached` and `dueBefore` are built from them.
    FieldSpec::new("respondedAt", FieldKind::DateTime).nullable().unfiltered(),
    FieldSpec::new("resolvedAt", FieldKind::DateTime).nullable().unfiltered(),
    FieldSpec::new("version", FieldKind::Int).unfiltered(),
    FieldSpec::new("createdAt", FieldKind::DateTime).order("CREATED_AT"),
    FieldSpec::new("updatedAt", FieldKind::DateTime).order("UPDATED_AT"),
];

/// # Panics
/// If `name` is not in [`FIELDS`] (a programming error).
#[must_use]
pub fn field(name: &str) -> &'static FieldSpec {
    crate::query::field_named(FIELDS, name)
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
    let any = Filter::Any(vec![
        missed(field("respondedAt"), "responseDueAt"),
        missed(field("resolvedAt"), "resolutionDueAt"),
    ]);
    if breached { any } else { Filter::Not(Box::new(any)) }
}

/// Open complaints with a deadline still to meet before `at`.
#[must_use]
pub fn due_before_filter(at: DateTime<Utc>) -> Filter {
    Filter::Any(vec![
        Filter::All(vec![
            Filter::Field(field("respondedAt"), Op::IsNull(true)),
            time(field("responseDueAt"), Op::Lt, at),
        ]),
        Filter::All(vec![
            Filter::Field(field("resolvedAt"), Op::IsNull(true)),
            time(field("resolutionDueAt"), Op::Lt, at),
        ]),
    ])
}

impl Record for complaint::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Complaint;
    const FIELDS: &'static [FieldSpec] = FIELDS;

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

async fn check_assignee(
    txn: &DatabaseTransaction,
    caller: &Caller,
    row: &complaint::Model,
    before: Option<Uuid>,
    v: &mut Vec<Violation>,
) -> Result<()> {
    let Some(assignee) = row.assignee_id else { return Ok(()) };
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

impl Lifecycle for complaint::Model {
    const NOUN: &'static str = "complaint";
    const EVENTS: [&'static str; 3] = ["complaint.filed", "complaint.updated", "complaint.deleted"];
    const EFFECT: Effect = Effect::Figures;

    fn fresh(caller: &Caller) -> Self {
        Self {
            tenant_id: caller.tenant_id,
            id: Uuid::now_v7(),
            status: Status::Open.as_str().into(),
            version: 1,
            ..Default::default()
        }
    }

    /// AGENTs see complaints assigned to them besides those of customers they own.
    fn visible(&self, caller: &Caller, customer_owner: Option<Uuid>) -> bool {
        access::owner_scope(caller).is_none_or(|me| self.assignee_id == Some(me) || customer_owner == Some(me))
    }

    /// The assignee, and the deadlines: set when the complaint is filed, moved with its severity.
    async fn check(
        &mut self,
        write: &Write<'_>,
        before: Option<&Self>,
        customer: Option<&customer::Model>,
        v: &mut Vec<Violation>,
    ) -> Result<()> {
        let caller = write.caller();
        check_assignee(write.txn(), caller, self, before.and_then(|b| b.assignee_id), v).await?;
        let Some(customer) = customer else { return Ok(()) };
        let filed = match before {
            None => write.now(),
            Some(before) if before.severity != self.severity => before.created_at,
            Some(_) => return Ok(()),
        };
        let settings = super::tenant::settings(write.txn(), caller.tenant_id).await?;
        (self.response_due_at, self.resolution_due_at) =
            deadlines(filed, &self.severity, customer.tier.as_deref(), &settings);
        if let Some(before) = before {
            // A deadline that moves is told of again if the new one passes unmet.
            self.response_breach_told &= self.response_due_at == before.response_due_at;
            self.resolution_breach_told &= self.resolution_due_at == before.resolution_due_at;
        }
        Ok(())
    }

    /// With the first entry of its history.
    async fn save_new(&self, txn: &WriteTxn, caller: &Caller) -> Result<()> {
        store::records::insert::<complaint::Entity>(txn, self).await?;
        store::complaints::insert_transition(txn, &transition(caller, self, None, None, self.created_at)).await
    }

    async fn save_change(&self, txn: &WriteTxn, before: &Self) -> Result<()> {
        store::complaints::update(txn, self, before).await
    }
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
    let (current, _) = complaint::Model::writable(&write, id).await?;
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
                    deadlines(t0, severity, Some(tier.as_str()), &settings),
                    (t0 + Duration::minutes(response_h * 30), t0 + Duration::minutes(resolution_h * 30))
                );
            }
        }
    }
}
