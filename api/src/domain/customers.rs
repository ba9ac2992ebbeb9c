//! Customers (客户): what a valid one is, who may see and change which, and the service that
//! creates, changes, deletes and lists them. Every write runs in one transaction that checks the
//! version, writes the row and appends the audit entry.

use guanxi_entity::{customer, interaction};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Input, check_version};
use super::plugins::Plugins;
use super::records::{Record, audit_snapshot};
use super::values;
use super::write::{Change, Effect, Write};
use super::{Caller, access, custom_values, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec, Filter, Op, OrderKey, Page, PageRequest, Scalar};
use crate::store::{self, WriteTxn};

/// The GraphQL type name, used in global ids and the audit trail.
pub const TYPE_NAME: &str = "Customer";

pub const KINDS: &[&str] = &["INDIVIDUAL", "ORGANIZATION"];
pub const STATUSES: &[&str] = &["PROSPECT", "TARGET", "ACTIVE", "LOST", "NON_CUSTOMER"];
pub const RELATIONSHIP_TYPES: &[&str] = &[
    "TRANSACTIONAL",
    "COOPERATIVE",
    "LOYAL",
    "COMMUNITY",
    "PERSONALIZED",
    "ADVISORY",
    "EMOTIONAL",
    "SUPPORT",
    "EDUCATIONAL",
    "INTERACTIVE",
];

/// Value tiers (客户金字塔), top to bottom.
pub const TIERS: &[&str] = &["KEY_PRIMARY", "KEY_SECONDARY", "ORDINARY", "SMALL"];

/// Tags per customer and characters per tag.
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 50;
/// Characters of a name, and of the other free-text fields.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 200;

/// Customer, declared once: see [`FieldSpec`].
pub static FIELDS: &[FieldSpec] = &[
    FieldSpec::id(TYPE_NAME),
    FieldSpec::new("kind", FieldKind::Enum { type_name: "CustomerKind", values: KINDS }).input(Check::Plain).required(),
    FieldSpec::new("name", FieldKind::String).order("NAME").input(Check::Text(MAX_NAME_CHARS)).required(),
    FieldSpec::new("email", FieldKind::String).nullable().input(Check::Parsed(values::email)),
    FieldSpec::new("phone", FieldKind::String)
        .nullable()
        .input(Check::Parsed(values::phone))
        .input_doc("E.164 (+8613812345678) or a mainland mobile number"),
    FieldSpec::new("region", FieldKind::String).nullable().input(Check::Text(MAX_TEXT_CHARS)),
    FieldSpec::new("industry", FieldKind::String).nullable().input(Check::Text(MAX_TEXT_CHARS)),
    FieldSpec::new("creditCode", FieldKind::String)
        .nullable()
        .doc("Unified social credit code (统一社会信用代码) of an organization.")
        .input(Check::Parsed(values::credit_code))
        .input_doc("18 characters, GB 32100-2015; organizations only"),
    FieldSpec::new("channel", FieldKind::String).nullable().input(Check::Text(MAX_TEXT_CHARS)),
    FieldSpec::new("website", FieldKind::String)
        .nullable()
        .input(Check::Parsed(values::web_address))
        .input_doc("An http or https address (官网); an empty string clears it."),
    FieldSpec::new("tags", FieldKind::StringList)
        .input(Check::List { items: MAX_TAGS, chars: MAX_TAG_CHARS })
        .input_doc("At most 50 tags of at most 50 characters"),
    FieldSpec::new("status", FieldKind::Enum { type_name: "CustomerStatus", values: STATUSES })
        .order("STATUS")
        .input(Check::Plain),
    FieldSpec::new("relationshipType", FieldKind::Enum { type_name: "RelationshipType", values: RELATIONSHIP_TYPES })
        .nullable()
        .input(Check::Plain),
    FieldSpec::new("ownerId", FieldKind::Id { type_name: "User" }).nullable().input(Check::Plain),
    // Ascending is the pyramid top down (the names sort that way); unranked customers last.
    FieldSpec::new("tier", FieldKind::Enum { type_name: "ValueTier", values: TIERS }).nullable().order("TIER"),
    FieldSpec::new("version", FieldKind::Int)
        .doc("Increases with every change; pass it as expectedVersion to refuse lost updates."),
    FieldSpec::new("createdAt", FieldKind::DateTime).order("CREATED_AT"),
    FieldSpec::new("updatedAt", FieldKind::DateTime).order("UPDATED_AT"),
];

/// The field spec named `name`.
///
/// # Panics
/// If `name` is not in [`FIELDS`]: a programming error caught by every test.
#[must_use]
pub fn field(name: &str) -> &'static FieldSpec {
    crate::query::field_named(FIELDS, name)
}

impl Record for customer::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Customer;
    const FIELDS: &'static [FieldSpec] = FIELDS;

    /// By name.
    const DEFAULT_ORDER: (&'static str, bool) = ("name", false);

    fn custom_values(&self) -> &Value {
        &self.custom_fields
    }

    fn value_beside_columns(&self, name: &str) -> Scalar {
        match (name, &self.tier) {
            ("tier", Some(tier)) => Scalar::Str(tier.clone()),
            _ => Scalar::Null,
        }
    }
}

/// The tags of a stored customer.
#[must_use]
pub fn tags_of(m: &customer::Model) -> Vec<String> {
    m.tags.as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The rules beyond each field's own.
fn rules(row: &customer::Model, v: &mut Vec<Violation>) {
    if row.kind != "ORGANIZATION" && row.credit_code.is_some() {
        v.push(Violation::new("creditCode", "NOT_ALLOWED", "only an ORGANIZATION has a unified social credit code"));
    }
}

/// Checks what needs the database: the owner exists in the tenant, the credit code is unused.
async fn check_references(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    row: &customer::Model,
    violations: &mut Vec<Violation>,
) -> Result<()> {
    if let Some(owner) = row.owner_id
        && store::users::find(conn, caller.tenant_id, owner).await?.is_none()
    {
        violations.push(Violation::new("ownerId", "NOT_FOUND", "no such user in this tenant"));
    }
    if let Some(code) = &row.credit_code
        && store::customers::credit_code_taken(conn, caller.tenant_id, code, row.id).await?
    {
        return Err(duplicate_credit_code(code));
    }
    Ok(())
}

fn duplicate_credit_code(code: &str) -> Error {
    Error::Conflict {
        code: "DUPLICATE",
        message: format!("another customer already has credit code {code}"),
        field: Some("creditCode".into()),
    }
}

/// The customer `id`, if the caller may see it.
///
/// # Errors
/// Database failures.
pub async fn get(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Option<customer::Model>> {
    let row = store::customers::find(db, caller.tenant_id, id).await?;
    Ok(row.filter(|c| access::can_read_owned(caller, c.owner_id)))
}

/// What a caller who may not read a customer still sees of it when a record it handles leads
/// there (an AGENT assigned a complaint on another agent's customer): who the customer is and
/// how to reach them for the case. Segmentation, tags, tier and custom (and computed) values are
/// cleared here; the fields that hang below a customer (timeline, complaints, plans, figures,
/// scores) check [`access::can_read_owned`] against the owner this view keeps.
#[must_use]
pub fn case_view(c: customer::Model) -> customer::Model {
    customer::Model {
        region: None,
        industry: None,
        credit_code: None,
        channel: None,
        website: None,
        tags: json!([]),
        relationship_type: None,
        tier: None,
        custom_fields: json!({}),
        ..c
    }
}

/// A customer reached from a record the caller may see (a complaint, an interaction, a plan):
/// whole when the caller may read the customer, as its [`case_view`] otherwise.
#[must_use]
pub fn reached_from_record(caller: &Caller, c: customer::Model) -> customer::Model {
    if access::can_read_owned(caller, c.owner_id) { c } else { case_view(c) }
}

/// May the caller see records that belong to customer `customer_id` (its timeline, complaints,
/// plans)? Only AGENTs need the lookup.
///
/// # Errors
/// Database failures.
pub async fn can_see_records_of(db: &DatabaseConnection, caller: &Caller, customer_id: Uuid) -> Result<bool> {
    if access::owner_scope(caller).is_none() {
        return Ok(true);
    }
    let owner = store::customers::find(db, caller.tenant_id, customer_id).await?.and_then(|c| c.owner_id);
    Ok(access::can_read_owned(caller, owner))
}

/// The filter the caller's role adds to every list.
#[must_use]
pub fn scoped(caller: &Caller, filter: Filter) -> Filter {
    match access::owner_scope(caller) {
        Some(me) => filter.and(Filter::Field(field("ownerId"), Op::Eq(Scalar::Uuid(me)))),
        None => filter,
    }
}

/// A page of the customers the caller may see.
///
/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: Filter,
    order: &[OrderKey],
    page: &PageRequest,
) -> Result<Page<customer::Model>> {
    store::customers::list(db, caller.tenant_id, &scoped(caller, filter), order, page).await
}

/// How many customers the caller may see match `filter`.
///
/// # Errors
/// Database failures.
pub async fn count(db: &DatabaseConnection, caller: &Caller, filter: Filter) -> Result<u64> {
    store::customers::count(db, caller.tenant_id, &scoped(caller, filter)).await
}

/// Creates a customer. AGENTs own what they create.
///
/// # Errors
/// `FORBIDDEN` for VIEWERs or an AGENT naming another owner; `BAD_USER_INPUT` listing every
/// problem; `CONFLICT` for a credit code already in use.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn create(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    input: Input,
) -> Result<customer::Model> {
    access::ensure_can_write(caller)?;
    let mut row = customer::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        status: "PROSPECT".into(),
        tags: json!([]),
        // An AGENT owns what it creates unless it names another owner (which it may not).
        owner_id: access::owner_scope(caller).map(|_| caller.user_id),
        version: 1,
        ..Default::default()
    };
    let mut violations = Vec::new();
    let write = Write::begin(db, plugins, caller, EntityKind::Customer).await?;
    write.apply(&mut row, input, true, &mut violations)?;
    rules(&row, &mut violations);
    if violations.iter().all(|v| v.field != "ownerId") {
        access::ensure_can_assign_if_scoped(caller, row.owner_id)?;
    }
    check_references(write.txn(), caller, &row, &mut violations).await?;
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    (row.created_at, row.updated_at) = (write.now(), write.now());
    let change = Change::new(TYPE_NAME, row.id, row.id, "customer.created", None, Some(audit_snapshot(&row)));
    let insert = async |txn: &WriteTxn| store::customers::insert(txn, &row).await.map_err(|e| map_unique(e, &row));
    write.commit(change.with(Effect::Score).owned_by(row.owner_id), insert).await?;
    Ok(row)
}

fn map_unique(err: Error, model: &customer::Model) -> Error {
    match &model.credit_code {
        Some(code) => err.on_unique(|| duplicate_credit_code(code)),
        None => err,
    }
}

/// Changes a customer. With `expected_version`, refuses if someone changed it since.
///
/// # Errors
/// `NOT_FOUND` if the caller cannot see it, `FORBIDDEN` per role, `BAD_USER_INPUT` listing every
/// problem, `CONFLICT` for a stale version or a duplicate credit code.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, customer = %id))]
pub async fn update(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    input: Input,
    expected_version: Option<i32>,
) -> Result<customer::Model> {
    let write = Write::begin(db, plugins, caller, EntityKind::Customer).await?;
    let current = visible_for_write(write.txn(), caller, id).await?;
    check_version("customer", current.version, expected_version)?;
    let mut updated = current.clone();
    let mut violations = Vec::new();
    write.apply(&mut updated, input, false, &mut violations)?;
    rules(&updated, &mut violations);
    if updated.owner_id != current.owner_id && violations.iter().all(|v| v.field != "ownerId") {
        access::ensure_can_assign_if_scoped(caller, updated.owner_id)?;
    }
    check_references(write.txn(), caller, &updated, &mut violations).await?;
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    if updated == current {
        // Nothing changes: no new version, no audit line.
        return Ok(current);
    }
    (updated.version, updated.updated_at) = (current.version + 1, write.now());
    let (before, after) = (audit_snapshot(&current), audit_snapshot(&updated));
    let change = Change::new(TYPE_NAME, id, id, "customer.updated", Some(before), Some(after));
    let row = customer::Model {
        custom_fields: custom_values::stored_in_row(write.definitions(), &updated.custom_fields),
        ..updated.clone()
    };
    let persist = async |txn: &WriteTxn| {
        if store::customers::update(txn, &row, current.version).await.map_err(|e| map_unique(e, &updated))? {
            Ok(())
        } else {
            Err(stale(id))
        }
    };
    // The owner before the change: one who loses the customer hears that it moved away.
    write.commit(change.with(Effect::Score).owned_by(current.owner_id), persist).await?;
    Ok(updated)
}

/// Deletes a customer; its last state stays in the audit trail.
///
/// # Errors
/// `NOT_FOUND` if the caller cannot see it, `FORBIDDEN` per role.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug, customer = %id))]
pub async fn delete(db: &DatabaseConnection, plugins: &Plugins, caller: &Caller, id: Uuid) -> Result<Uuid> {
    let write = Write::begin_plain(db, plugins, caller, EntityKind::Customer).await?;
    let current = visible_for_write(write.txn(), caller, id).await?;
    let change = Change::new(TYPE_NAME, id, id, "customer.deleted", Some(audit_snapshot(&current)), None);
    let tenant_id = caller.tenant_id;
    let persist = async |txn: &WriteTxn| {
        // The timeline goes with the customer; the audit trail keeps what it was.
        store::records::delete_of_customer::<interaction::Entity>(txn, tenant_id, id).await?;
        store::complaints::delete_of_customer(txn, tenant_id, id).await?;
        store::plans::delete_of_customer(txn, tenant_id, id).await?;
        store::stats::delete(txn, tenant_id, id).await?;
        store::scoring::delete_row(txn, tenant_id, id).await?;
        store::customers::delete(txn, tenant_id, id).await
    };
    // Tiers are ranks among the customers there are: queued, the tenant is ranked again without
    // this one.
    write.commit(change.with(Effect::Score).owned_by(current.owner_id), persist).await?;
    Ok(id)
}

async fn visible_for_write(txn: &sea_orm::DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<customer::Model> {
    let not_found = || Error::NotFound(format!("no customer {}", ids::encode(TYPE_NAME, id)));
    let current = store::customers::find_for_update(txn, caller.tenant_id, id).await?.ok_or_else(not_found)?;
    access::ensure_can_write_owned(caller, current.owner_id, not_found)?;
    Ok(current)
}

fn stale(id: Uuid) -> Error {
    Error::Conflict {
        code: "STALE_VERSION",
        message: format!("customer {} changed while this update ran; reload and try again", ids::encode(TYPE_NAME, id)),
        field: Some("expectedVersion".into()),
    }
}

/// Customers per value tier among those the caller may see, every tier listed (zero if empty).
///
/// # Errors
/// Database failures.
pub async fn tier_distribution(db: &DatabaseConnection, caller: &Caller) -> Result<Vec<(&'static str, i64)>> {
    let counts = store::customers::count_by_tier(db, caller.tenant_id, &scoped(caller, Filter::everything())).await?;
    Ok(TIERS
        .iter()
        .map(|tier| (*tier, counts.iter().filter(|(t, _)| t.as_deref() == Some(*tier)).map(|(_, n)| *n).sum()))
        .collect())
}
