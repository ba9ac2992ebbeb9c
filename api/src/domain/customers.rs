//! Customers (客户): what a valid one is, who may see and change which, how they are listed,
//! and their [`Lifecycle`] through the write pipeline's create, update and delete. Every write runs in one transaction that checks the
//! version, writes the row and appends the audit entry.

use std::borrow::Cow;

use guanxi_entity::{customer, interaction};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use super::custom_fields::{Definition, EntityKind};
use super::records::Record;
use super::values;
use super::write::{self, Lifecycle};
use super::write::{Effect, Write};
use super::{Caller, access, custom_values, ids};
use crate::error::{Error, Result, Violation};
use crate::query::{Check, FieldKind, FieldSpec, Filter, Op, OrderKey, Page, PageRequest, Scalar};
use crate::store::{self, WriteTxn};

/// The GraphQL type name, used in global ids and the audit trail.
pub const TYPE_NAME: &str = "Customer";

stored_enum!(
    pub enum Kind, KINDS { Individual, Organization }
);
stored_enum!(
    pub enum Status, STATUSES { Prospect, Target, Active, Lost, NonCustomer }
);
stored_enum!(
    pub enum RelationshipType, RELATIONSHIP_TYPES {
        Transactional, Cooperative, Loyal, Community, Personalized, Advisory, Emotional, Support, Educational,
        Interactive,
    }
);
stored_enum!(
    /// Value tiers (客户金字塔), top to bottom.
    pub enum Tier, TIERS { KeyPrimary, KeySecondary, Ordinary, Small }
);

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
    FieldSpec::new("ownerId", FieldKind::Id { type_name: "User" }).nullable().shows("owner").input(Check::Plain),
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

fn duplicate_credit_code(code: &str) -> Error {
    Error::Conflict {
        code: "DUPLICATE",
        message: format!("another customer already has credit code {code}"),
        field: Some("creditCode".into()),
    }
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

impl Lifecycle for customer::Model {
    const NOUN: &'static str = "customer";
    const EVENTS: [&'static str; 3] = ["customer.created", "customer.updated", "customer.deleted"];
    /// Tiers are ranks among the customers there are: every change queues the tenant's ranking.
    const EFFECT: Effect = Effect::Score;

    /// An AGENT owns what it creates unless it names another owner (which it may not).
    fn fresh(caller: &Caller) -> Self {
        Self {
            tenant_id: caller.tenant_id,
            id: Uuid::now_v7(),
            status: Status::Prospect.as_str().into(),
            tags: json!([]),
            owner_id: access::owner_scope(caller).map(|_| caller.user_id),
            version: 1,
            ..Default::default()
        }
    }

    /// The credit code only for organizations, and unused; the owner a user of the tenant whom
    /// the caller may give customers to.
    async fn check(
        &mut self,
        write: &Write<'_>,
        before: Option<&Self>,
        _customer: Option<&customer::Model>,
        v: &mut Vec<Violation>,
    ) -> Result<()> {
        let (txn, caller) = (write.txn(), write.caller());
        if self.kind != Kind::Organization && self.credit_code.is_some() {
            v.push(Violation::new(
                "creditCode",
                "NOT_ALLOWED",
                "only an ORGANIZATION has a unified social credit code",
            ));
        }
        if before.is_none_or(|b| b.owner_id != self.owner_id) && v.iter().all(|x| x.field != "ownerId") {
            access::ensure_can_assign_if_scoped(caller, self.owner_id)?;
        }
        if let Some(owner) = self.owner_id
            && store::users::find(txn, caller.tenant_id, owner).await?.is_none()
        {
            v.push(Violation::new("ownerId", "NOT_FOUND", "no such user in this tenant"));
        }
        if let Some(code) = &self.credit_code
            && store::customers::credit_code_taken(txn, caller.tenant_id, code, self.id).await?
        {
            return Err(duplicate_credit_code(code));
        }
        Ok(())
    }

    fn find(
        conn: &impl ConnectionTrait,
        tenant_id: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self>>> + Send {
        store::customers::find(conn, tenant_id, id)
    }

    fn customer_owner(&self, _conn: &impl ConnectionTrait) -> impl Future<Output = Result<Option<Uuid>>> + Send {
        std::future::ready(Ok(self.owner_id))
    }

    async fn writable(write: &Write<'_>, id: Uuid) -> Result<(Self, customer::Model)> {
        let (txn, caller) = (write.txn(), write.caller());
        let not_found = || write::not_found::<Self>(id);
        let current = store::customers::find_for_update(txn, caller.tenant_id, id).await?.ok_or_else(not_found)?;
        access::ensure_can_write_owned(caller, current.owner_id, not_found)?;
        Ok((current.clone(), current))
    }

    /// A new customer is kept on no other.
    fn customer_for_create(
        &self,
        _write: &Write<'_>,
        _v: &mut Vec<Violation>,
    ) -> impl Future<Output = Result<Option<customer::Model>>> + Send {
        std::future::ready(Ok(None))
    }

    /// Without the computed values, which the scores row keeps.
    fn stored(&self, definitions: &[Definition]) -> Cow<'_, Self> {
        let custom_fields = custom_values::stored_in_row(definitions, &self.custom_fields);
        Cow::Owned(customer::Model { custom_fields, ..self.clone() })
    }

    async fn save_new(&self, txn: &WriteTxn, _caller: &Caller) -> Result<()> {
        store::customers::insert(txn, self).await.map_err(|e| map_unique(e, self))
    }

    async fn save_change(&self, txn: &WriteTxn, before: &Self) -> Result<()> {
        if store::customers::update(txn, self, before.version).await.map_err(|e| map_unique(e, self))? {
            Ok(())
        } else {
            Err(stale(self.id))
        }
    }

    /// The timeline goes with the customer; the audit trail keeps what it was.
    async fn remove(&self, txn: &WriteTxn) -> Result<()> {
        let (tenant_id, id) = (self.tenant_id, self.id);
        store::records::delete_of_customer::<interaction::Entity>(txn, tenant_id, id).await?;
        store::complaints::delete_of_customer(txn, tenant_id, id).await?;
        store::plans::delete_of_customer(txn, tenant_id, id).await?;
        store::stats::delete(txn, tenant_id, id).await?;
        store::scoring::delete_row(txn, tenant_id, id).await?;
        store::customers::delete(txn, tenant_id, id).await
    }

    /// Who may hear of a change of a customer follows its owner.
    fn event_owner(&self) -> Option<Uuid> {
        self.owner_id
    }
}

fn map_unique(err: Error, model: &customer::Model) -> Error {
    match &model.credit_code {
        Some(code) => err.on_unique(|| duplicate_credit_code(code)),
        None => err,
    }
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
