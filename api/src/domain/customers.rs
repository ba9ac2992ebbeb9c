//! Customers (客户): what a valid one is, who may see and change which, and the service that
//! creates, changes, deletes and lists them. Every write runs in one transaction that checks the
//! version, writes the row and appends the audit entry.

use chrono::{DateTime, Utc};
use guanxi_entity::customer;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::EntityKind;
use super::input::{Patch, check_version, set_enum, set_parsed, set_required_enum, set_text};
use super::plugins::Plugins;
use super::records::Record;
use super::values::{CreditCode, Email, Phone, text, web_address};
use super::write::{Change, Effect, Write};
use super::{Caller, access, custom_values, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{FieldKind, FieldSpec, Filter, Op, OrderKey, Page, PageRequest, Scalar};
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

const fn string(name: &'static str) -> FieldSpec {
    FieldSpec { name, kind: FieldKind::String, nullable: true, order: None }
}

/// The filterable fields of Customer, in GraphQL names. The store maps each to its column.
pub static FIELDS: [FieldSpec; 18] = [
    FieldSpec { name: "id", kind: FieldKind::Id { type_name: TYPE_NAME }, nullable: false, order: None },
    FieldSpec {
        name: "kind",
        kind: FieldKind::Enum { type_name: "CustomerKind", values: KINDS },
        nullable: false,
        order: None,
    },
    FieldSpec { name: "name", kind: FieldKind::String, nullable: false, order: Some("NAME") },
    string("email"),
    string("phone"),
    string("region"),
    string("industry"),
    string("creditCode"),
    string("channel"),
    string("website"),
    FieldSpec { name: "tags", kind: FieldKind::StringList, nullable: false, order: None },
    FieldSpec {
        name: "status",
        kind: FieldKind::Enum { type_name: "CustomerStatus", values: STATUSES },
        nullable: false,
        order: Some("STATUS"),
    },
    FieldSpec {
        name: "relationshipType",
        kind: FieldKind::Enum { type_name: "RelationshipType", values: RELATIONSHIP_TYPES },
        nullable: true,
        order: None,
    },
    FieldSpec { name: "ownerId", kind: FieldKind::Id { type_name: "User" }, nullable: true, order: None },
    FieldSpec { name: "createdAt", kind: FieldKind::DateTime, nullable: false, order: Some("CREATED_AT") },
    FieldSpec { name: "updatedAt", kind: FieldKind::DateTime, nullable: false, order: Some("UPDATED_AT") },
    FieldSpec { name: "version", kind: FieldKind::Int, nullable: false, order: None },
    FieldSpec {
        name: "tier",
        kind: FieldKind::Enum { type_name: "ValueTier", values: TIERS },
        nullable: true,
        // Ascending is the pyramid top down (the names sort that way); unranked customers last.
        order: Some("TIER"),
    },
];

/// The field spec named `name`.
///
/// # Panics
/// If `name` is not in [`FIELDS`]: a programming error caught by every test.
#[must_use]
pub fn field(name: &str) -> &'static FieldSpec {
    crate::query::field_named(&FIELDS, name)
}

impl Record for customer::Model {
    const TYPE_NAME: &'static str = TYPE_NAME;
    const ENTITY: EntityKind = EntityKind::Customer;
    const FIELDS: &'static [FieldSpec] = &FIELDS;

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

/// What a create or update asks for; `Absent` fields keep their value (or default, on create).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInput {
    pub kind: Patch<String>,
    pub name: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub region: Patch<String>,
    pub industry: Patch<String>,
    pub credit_code: Patch<String>,
    pub channel: Patch<String>,
    pub website: Patch<String>,
    pub tags: Patch<Vec<String>>,
    pub status: Patch<String>,
    pub relationship_type: Patch<String>,
    /// A global User id.
    pub owner_id: Patch<String>,
    /// An object keyed by custom field key; checked against the tenant's definitions.
    pub custom_fields: Patch<Value>,
}

/// The fields a caller can change, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CustomerData {
    kind: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    region: Option<String>,
    industry: Option<String>,
    credit_code: Option<String>,
    channel: Option<String>,
    website: Option<String>,
    tags: Vec<String>,
    status: String,
    relationship_type: Option<String>,
    owner_id: Option<Uuid>,
    custom_fields: Value,
}

impl CustomerData {
    fn from_model(m: &customer::Model) -> Self {
        Self {
            kind: m.kind.clone(),
            name: m.name.clone(),
            email: m.email.clone(),
            phone: m.phone.clone(),
            region: m.region.clone(),
            industry: m.industry.clone(),
            credit_code: m.credit_code.clone(),
            channel: m.channel.clone(),
            website: m.website.clone(),
            tags: tags_of(m),
            status: m.status.clone(),
            relationship_type: m.relationship_type.clone(),
            owner_id: m.owner_id,
            custom_fields: m.custom_fields.clone(),
        }
    }

    /// The row to store: these fields over `current` (whose server-kept fields, like the tier,
    /// stay), or a new row `id` when there is none.
    fn into_model(
        self,
        tenant_id: Uuid,
        id: Uuid,
        current: Option<&customer::Model>,
        now: DateTime<Utc>,
    ) -> customer::Model {
        customer::Model {
            tenant_id,
            id,
            tier: current.and_then(|c| c.tier.clone()),
            kind: self.kind,
            name: self.name,
            email: self.email,
            phone: self.phone,
            region: self.region,
            industry: self.industry,
            credit_code: self.credit_code,
            channel: self.channel,
            website: self.website,
            tags: json!(self.tags),
            status: self.status,
            relationship_type: self.relationship_type,
            owner_id: self.owner_id,
            custom_fields: self.custom_fields,
            version: current.map_or(1, |c| c.version + 1),
            created_at: current.map_or(now, |c| c.created_at),
            updated_at: now,
        }
    }
}

/// The tags of a stored customer.
#[must_use]
pub fn tags_of(m: &customer::Model) -> Vec<String> {
    m.tags.as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The customer as the audit trail records it: GraphQL names, global ids.
#[must_use]
pub fn audit_snapshot(m: &customer::Model) -> Value {
    json!({
        "kind": m.kind, "name": m.name, "email": m.email, "phone": m.phone, "region": m.region,
        "industry": m.industry, "creditCode": m.credit_code, "channel": m.channel, "website": m.website,
        "tags": tags_of(m),
        "status": m.status, "relationshipType": m.relationship_type,
        "ownerId": m.owner_id.map(|id| ids::encode("User", id)), "customFields": m.custom_fields,
    })
}

/// Applies `input` over `data`, collecting every violation.
fn apply(data: &mut CustomerData, input: CustomerInput, violations: &mut Vec<Violation>) {
    let v = violations;
    set_required_enum(v, "kind", input.kind, KINDS, &mut data.kind);
    match input.name {
        Patch::Absent => {}
        Patch::Null => v.push(Violation::new("name", "REQUIRED", "name cannot be null")),
        Patch::Value(s) => match text(&s, 1, MAX_NAME_CHARS) {
            Ok(s) => data.name = s,
            Err((code, msg)) => v.push(Violation::new("name", code, msg)),
        },
    }
    set_parsed(v, "email", input.email, &mut data.email, Email::parse, Email::into_inner);
    set_parsed(v, "phone", input.phone, &mut data.phone, Phone::parse, Phone::into_inner);
    set_text(v, "region", input.region, &mut data.region, MAX_TEXT_CHARS);
    set_text(v, "industry", input.industry, &mut data.industry, MAX_TEXT_CHARS);
    set_parsed(v, "creditCode", input.credit_code, &mut data.credit_code, CreditCode::parse, CreditCode::into_inner);
    set_text(v, "channel", input.channel, &mut data.channel, MAX_TEXT_CHARS);
    set_parsed(v, "website", input.website, &mut data.website, web_address, String::from);
    match input.tags {
        Patch::Absent => {}
        Patch::Null => data.tags.clear(),
        Patch::Value(tags) => {
            if tags.len() > MAX_TAGS {
                v.push(Violation::new("tags", "TOO_MANY", format!("at most {MAX_TAGS} tags, got {}", tags.len())));
            }
            let mut clean: Vec<String> = Vec::with_capacity(tags.len());
            for (i, tag) in tags.iter().enumerate() {
                match text(tag, 1, MAX_TAG_CHARS) {
                    // Repeating a tag is harmless; keep the first.
                    Ok(t) if !clean.contains(&t) => clean.push(t),
                    Ok(_) => {}
                    Err((code, msg)) => v.push(Violation::new(format!("tags.{i}"), code, msg)),
                }
            }
            data.tags = clean;
        }
    }
    set_required_enum(v, "status", input.status, STATUSES, &mut data.status);
    set_enum(v, "relationshipType", input.relationship_type, RELATIONSHIP_TYPES, &mut data.relationship_type);
    match input.owner_id {
        Patch::Absent => {}
        Patch::Null => data.owner_id = None,
        Patch::Value(g) => match ids::decode("User", &g) {
            Ok(id) => data.owner_id = Some(id),
            Err((code, msg)) => v.push(Violation::new("ownerId", code, msg)),
        },
    }
    if data.kind != "ORGANIZATION" && data.credit_code.is_some() {
        v.push(Violation::new("creditCode", "NOT_ALLOWED", "only an ORGANIZATION has a unified social credit code"));
    }
}

/// Checks what needs the database: the owner exists in the tenant, the credit code is unused.
async fn check_references(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    data: &CustomerData,
    id: Uuid,
    violations: &mut Vec<Violation>,
) -> Result<()> {
    if let Some(owner) = data.owner_id
        && store::users::find(conn, caller.tenant_id, owner).await?.is_none()
    {
        violations.push(Violation::new("ownerId", "NOT_FOUND", "no such user in this tenant"));
    }
    if let Some(code) = &data.credit_code
        && store::customers::credit_code_taken(conn, caller.tenant_id, code, id).await?
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
    mut input: CustomerInput,
) -> Result<customer::Model> {
    access::ensure_can_write(caller)?;
    if access::owner_scope(caller).is_some() && input.owner_id == Patch::Absent {
        input.owner_id = Patch::Value(ids::encode("User", caller.user_id));
    }
    let mut data = CustomerData {
        kind: "INDIVIDUAL".into(),
        name: String::new(),
        email: None,
        phone: None,
        region: None,
        industry: None,
        credit_code: None,
        channel: None,
        website: None,
        tags: Vec::new(),
        status: "PROSPECT".into(),
        relationship_type: None,
        owner_id: None,
        custom_fields: json!({}),
    };
    let custom = std::mem::take(&mut input.custom_fields);
    let mut violations = Vec::new();
    if input.name == Patch::Absent {
        violations.push(Violation::new("name", "REQUIRED", "name is required"));
    }
    apply(&mut data, input, &mut violations);
    if violations.iter().all(|v| v.field != "ownerId") {
        access::ensure_can_assign_if_scoped(caller, data.owner_id)?;
    }
    let id = Uuid::now_v7();
    let write = Write::begin(db, plugins, caller, EntityKind::Customer).await?;
    data.custom_fields = write.custom_values(custom, None, &mut violations);
    check_references(write.txn(), caller, &data, id, &mut violations).await?;
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    let model = data.into_model(caller.tenant_id, id, None, write.now());
    let change = Change::new(TYPE_NAME, id, id, "customer.created", None, Some(audit_snapshot(&model)));
    let insert = async |txn: &WriteTxn| store::customers::insert(txn, &model).await.map_err(|e| map_unique(e, &model));
    write.commit(change.with(Effect::Score).owned_by(model.owner_id), insert).await?;
    Ok(model)
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
    mut input: CustomerInput,
    expected_version: Option<i32>,
) -> Result<customer::Model> {
    let write = Write::begin(db, plugins, caller, EntityKind::Customer).await?;
    let current = visible_for_write(write.txn(), caller, id).await?;
    check_version("customer", current.version, expected_version)?;
    let mut data = CustomerData::from_model(&current);
    let mut violations = Vec::new();
    let custom = std::mem::take(&mut input.custom_fields);
    data.custom_fields = write.custom_values(custom, Some(&current.custom_fields), &mut violations);
    apply(&mut data, input, &mut violations);
    if data.owner_id != current.owner_id && violations.iter().all(|v| v.field != "ownerId") {
        access::ensure_can_assign_if_scoped(caller, data.owner_id)?;
    }
    check_references(write.txn(), caller, &data, id, &mut violations).await?;
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    if data == CustomerData::from_model(&current) {
        // Nothing changes: no new version, no audit line.
        return Ok(current);
    }
    let updated = data.into_model(caller.tenant_id, id, Some(&current), write.now());
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
        store::interactions::delete_of_customer(txn, tenant_id, id).await?;
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
