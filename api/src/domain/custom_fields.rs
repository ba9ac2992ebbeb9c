//! Custom fields (自定义字段): typed fields a tenant ADMIN adds to an entity. Each live definition
//! becomes a typed GraphQL field under `custom`, a filter and an order key of the tenant's schema.
//!
//! A definition change bumps the tenant's schema version in the same transaction, and takes the
//! tenant row's lock: every entity write holds that lock shared while it checks values against
//! the definitions, so no write can slip between a definition change and the values it rewrites.

use chrono::{DateTime, Utc};
use guanxi_entity::custom_field_definition as model;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::input::{Patch, check_version};
use super::values::text;
use super::{Caller, Role, audit, custom_values, field_indexes};
use crate::error::{Error, Result, Violation};
use crate::store;

/// The GraphQL type name, used in global ids and the audit trail.
pub const TYPE_NAME: &str = "CustomFieldDefinition";

/// Live definitions per entity; a schema with more would be slow to build and to read.
pub const MAX_FIELDS_PER_ENTITY: usize = 200;
pub const MAX_OPTIONS: usize = 200;
pub const MAX_OPTION_CHARS: usize = 100;
pub const MAX_LABEL_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// The entities that carry custom fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Customer,
    Interaction,
    Complaint,
    KeyAccountPlan,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] =
        [EntityKind::Customer, EntityKind::Interaction, EntityKind::Complaint, EntityKind::KeyAccountPlan];

    /// The `EntityKind` enum value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Customer => "CUSTOMER",
            EntityKind::Interaction => "INTERACTION",
            EntityKind::Complaint => "COMPLAINT",
            EntityKind::KeyAccountPlan => "KEY_ACCOUNT_PLAN",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The entity's GraphQL object type.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            EntityKind::Customer => "Customer",
            EntityKind::Interaction => "Interaction",
            EntityKind::Complaint => "Complaint",
            EntityKind::KeyAccountPlan => "KeyAccountPlan",
        }
    }

    /// The table holding the entity's rows (and their `custom_fields` column).
    #[must_use]
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Customer => "customers",
            EntityKind::Interaction => "interactions",
            EntityKind::Complaint => "complaints",
            EntityKind::KeyAccountPlan => "key_account_plans",
        }
    }

    /// Is `name` a built-in field a write sets, which a validator plugin may check? (The names
    /// of the record validators receive, as the audit trail shows it.)
    #[must_use]
    pub fn is_writable_built_in(self, name: &str) -> bool {
        let fields: &[&str] = match self {
            EntityKind::Customer => &[
                "kind",
                "name",
                "email",
                "phone",
                "region",
                "industry",
                "creditCode",
                "channel",
                "website",
                "tags",
                "status",
                "relationshipType",
                "ownerId",
            ],
            EntityKind::Interaction => &[
                "kind",
                "channel",
                "occurredAt",
                "summary",
                "outcome",
                "amount",
                "currency",
                "satisfaction",
                "wouldBuyAgain",
            ],
            EntityKind::Complaint => {
                &["title", "description", "category", "severity", "assigneeId", "resolution", "satisfaction"]
            }
            EntityKind::KeyAccountPlan => &[
                "title",
                "periodStart",
                "periodEnd",
                "revenueTarget",
                "currency",
                "plannedVisits",
                "objectives",
                "ownerId",
            ],
        };
        fields.contains(&name)
    }

    /// Is `name` one of the entity's own GraphQL fields or input names, which a custom key may
    /// not shadow? (A test checks the list against the schema.)
    #[must_use]
    pub fn is_built_in(self, name: &str) -> bool {
        const COMMON: &[&str] =
            &["id", "custom", "customFields", "version", "createdAt", "updatedAt", "customer", "customerId"];
        let own: &[&str] = match self {
            EntityKind::Customer => &[
                "kind",
                "name",
                "email",
                "phone",
                "region",
                "industry",
                "creditCode",
                "channel",
                "website",
                "tags",
                "status",
                "lifecycleStage",
                "tier",
                "relationshipType",
                "owner",
                "ownerId",
                "scores",
                "score",
                "stats",
                "interactions",
                "complaints",
                "keyAccountPlans",
                "scoringSnapshot",
                "openComplaints",
                "activePlan",
            ],
            EntityKind::Interaction => &[
                "kind",
                "channel",
                "occurredAt",
                "staff",
                "staffId",
                "summary",
                "outcome",
                "amount",
                "currency",
                "satisfaction",
                "wouldBuyAgain",
            ],
            EntityKind::Complaint => &[
                "title",
                "description",
                "category",
                "severity",
                "status",
                "assignee",
                "assigneeId",
                "resolution",
                "satisfaction",
                "responseDueAt",
                "resolutionDueAt",
                "slaBreached",
                "history",
                "respondedAt",
                "resolvedAt",
                "closedAt",
                "dueBefore",
            ],
            EntityKind::KeyAccountPlan => &[
                "owner",
                "ownerId",
                "team",
                "teamIds",
                "title",
                "status",
                "periodStart",
                "periodEnd",
                "revenueTarget",
                "plannedVisits",
                "objectives",
                "actions",
                "progress",
                "currency",
            ],
        };
        own.iter().chain(COMMON).any(|b| *b == name)
    }
}

pub use crate::query::FieldType;

/// Who defined a field: an ADMIN (writable) or a scorer plugin (read-only, computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Plugin,
    /// Not a custom field: a built-in field shown as a definition (a validator's target).
    BuiltIn,
}

impl Source {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Source::User => "USER",
            Source::Plugin => "PLUGIN",
            Source::BuiltIn => "BUILT_IN",
        }
    }
}

/// Where the expression index an indexed definition asks for stands. Indexes are built in the
/// background (see `field_indexes`): a definition commits at once, `BUILDING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Not indexed (or archived, or of a type without an index).
    None,
    Building,
    Ready,
    /// Not built; `index_error` says why. Turning `indexed` off and on again retries.
    Failed,
}

impl IndexState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::None => "NONE",
            IndexState::Building => "BUILDING",
            IndexState::Ready => "READY",
            IndexState::Failed => "FAILED",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [IndexState::None, IndexState::Building, IndexState::Ready, IndexState::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub entity: EntityKind,
    pub key: String,
    /// The GraphQL field name: the key in camelCase.
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    pub ty: FieldType,
    pub required: bool,
    pub options: Vec<String>,
    pub default_value: Option<Value>,
    pub indexed: bool,
    pub index_state: IndexState,
    pub index_error: Option<String>,
    pub archived: bool,
    pub source: Source,
    pub position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Definition {
    /// Reads a stored definition; rows the server did not write are an internal error.
    ///
    /// # Errors
    /// `INTERNAL` for an unknown entity, type or source.
    pub fn from_model(m: model::Model) -> Result<Self> {
        let bad = |what: &str| Error::Internal(anyhow::anyhow!("custom field {} has an unknown {what}", m.id));
        Ok(Self {
            entity: EntityKind::parse(&m.entity).ok_or_else(|| bad("entity"))?,
            ty: FieldType::parse(&m.r#type).ok_or_else(|| bad("type"))?,
            source: match m.source.as_str() {
                "USER" => Source::User,
                "PLUGIN" => Source::Plugin,
                _ => return Err(bad("source")),
            },
            name: camel_case(&m.key),
            index_state: IndexState::parse(&m.index_state).ok_or_else(|| bad("index state"))?,
            options: m
                .options
                .as_ref()
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            id: m.id,
            key: m.key,
            label: m.label,
            description: m.description,
            required: m.required,
            default_value: m.default_value,
            indexed: m.indexed,
            index_error: m.index_error,
            archived: m.archived,
            position: m.position,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    fn into_model(self, tenant_id: Uuid) -> model::Model {
        model::Model {
            tenant_id,
            id: self.id,
            entity: self.entity.as_str().to_owned(),
            key: self.key,
            label: self.label,
            description: self.description,
            r#type: self.ty.as_str().to_owned(),
            required: self.required,
            options: if self.options.is_empty() { None } else { Some(json!(self.options)) },
            default_value: self.default_value,
            indexed: self.indexed,
            index_state: self.index_state.as_str().to_owned(),
            index_error: self.index_error,
            archived: self.archived,
            source: self.source.as_str().to_owned(),
            position: self.position,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Does it ask for an expression index: indexed, live, of a type that has one?
    #[must_use]
    pub fn wants_index(&self) -> bool {
        self.indexed && !self.archived && self.ty.indexable()
    }

    /// Sets where this version's index stands, given the version `before` it: the same index
    /// as before keeps its state (a label or default changed), another one is to be built, and
    /// none is `NONE`. The index builder takes it from there once the change commits.
    fn settle_index_state(&mut self, before: Option<&Definition>) {
        let backend = sea_orm::DatabaseBackend::Postgres;
        let same_index = before.filter(|b| b.wants_index() && self.wants_index()).is_some_and(|b| {
            store::custom_fields::index_of(backend, b) == store::custom_fields::index_of(backend, self)
        });
        if same_index {
            return;
        }
        self.index_state = if self.wants_index() { IndexState::Building } else { IndexState::None };
        self.index_error = None;
    }

    /// The definition as the audit trail records it.
    #[must_use]
    pub fn audit_snapshot(&self) -> Value {
        json!({
            "entity": self.entity.as_str(), "key": self.key, "label": self.label, "description": self.description,
            "type": self.ty.as_str(), "required": self.required, "options": self.options,
            "defaultValue": self.default_value, "indexed": self.indexed, "archived": self.archived,
        })
    }

    #[cfg(test)]
    #[must_use]
    pub fn for_test(entity: EntityKind, key: &str, ty: FieldType) -> Self {
        Self {
            id: Uuid::now_v7(),
            entity,
            key: key.into(),
            name: camel_case(key),
            label: key.into(),
            description: None,
            ty,
            required: false,
            options: vec!["a".into(), "b".into()],
            default_value: None,
            indexed: false,
            index_state: IndexState::None,
            index_error: None,
            archived: false,
            source: Source::User,
            position: 0,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }
}

/// Every definition of a tenant, archived ones included, in definition order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantFields {
    pub definitions: Vec<Definition>,
}

impl TenantFields {
    /// The live (not archived) definitions of `entity`.
    pub fn live(&self, entity: EntityKind) -> impl Iterator<Item = &Definition> {
        self.definitions.iter().filter(move |d| d.entity == entity && !d.archived)
    }

    /// The live definition of `entity` whose GraphQL name or key is `name`.
    #[must_use]
    pub fn find_live(&self, entity: EntityKind, name: &str) -> Option<&Definition> {
        self.live(entity).find(|d| d.name == name || d.key == name)
    }
}

/// The GraphQL name of a key: `loyalty_card_no` → `loyaltyCardNo`.
#[must_use]
pub fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `[a-z][a-z0-9_]{0,62}`.
#[must_use]
pub fn key_is_valid(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn ensure_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden("only an ADMIN may define or change custom fields".into()))
    }
}

/// Every definition of the caller's tenant, for building its schema.
///
/// # Errors
/// Database failures.
pub async fn tenant_fields(conn: &impl ConnectionTrait, tenant_id: Uuid) -> Result<TenantFields> {
    let definitions = store::custom_fields::all(conn, tenant_id)
        .await?
        .into_iter()
        .map(Definition::from_model)
        .collect::<Result<_>>()?;
    Ok(TenantFields { definitions })
}

/// The definitions a caller may list: live ones, optionally of one entity. Every role reads them,
/// since forms need their labels and options.
///
/// # Errors
/// Database failures.
pub async fn list(db: &DatabaseConnection, caller: &Caller, entity: Option<EntityKind>) -> Result<Vec<Definition>> {
    let fields = tenant_fields(db, caller.tenant_id).await?;
    Ok(fields.definitions.into_iter().filter(|d| !d.archived && entity.is_none_or(|e| d.entity == e)).collect())
}

/// What `defineCustomField` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DefineInput {
    pub entity: String,
    pub key: String,
    pub label: String,
    pub description: Option<String>,
    pub ty: String,
    pub required: bool,
    pub options: Option<Vec<String>>,
    pub default_value: Option<Value>,
    pub indexed: bool,
}

/// What `updateCustomField` asks for; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateInput {
    pub label: Patch<String>,
    pub description: Patch<String>,
    pub ty: Patch<String>,
    pub required: Patch<bool>,
    pub options: Patch<Vec<String>>,
    pub default_value: Patch<Value>,
    pub indexed: Patch<bool>,
}

fn check_options(ty: FieldType, options: Option<Vec<String>>, v: &mut Vec<Violation>) -> Vec<String> {
    let takes_options = matches!(ty, FieldType::Enum | FieldType::MultiEnum);
    let options = options.unwrap_or_default();
    if !takes_options {
        if !options.is_empty() {
            v.push(Violation::new("options", "NOT_ALLOWED", "only ENUM and MULTI_ENUM fields have options"));
        }
        return Vec::new();
    }
    if options.is_empty() {
        v.push(Violation::new("options", "REQUIRED", "an ENUM or MULTI_ENUM field needs at least one option"));
    }
    if options.len() > MAX_OPTIONS {
        v.push(Violation::new("options", "TOO_MANY", format!("at most {MAX_OPTIONS} options")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(options.len());
    for (i, o) in options.iter().enumerate() {
        match text(o, 1, MAX_OPTION_CHARS) {
            Ok(o) if clean.contains(&o) => {
                v.push(Violation::new(format!("options.{i}"), "DUPLICATE", format!("'{o}' is listed twice")))
            }
            Ok(o) => clean.push(o),
            Err((code, msg)) => v.push(Violation::new(format!("options.{i}"), code, msg)),
        }
    }
    clean
}

/// Checks a definition's own fields (not those that need the database), collecting violations.
fn check_definition(def: &mut Definition, v: &mut Vec<Violation>) {
    if def.indexed && !def.ty.indexable() {
        v.push(Violation::new("indexed", "NOT_ALLOWED", format!("{} fields cannot be indexed", def.ty.as_str())));
    }
    if let Some(default) = def.default_value.take() {
        if default.is_null() {
            def.default_value = None;
        } else {
            match custom_values::check(def, &default) {
                Ok(stored) => def.default_value = Some(stored),
                Err((code, msg)) => v.push(Violation::new("defaultValue", code, msg)),
            }
        }
    }
}

fn label(raw: &str, v: &mut Vec<Violation>) -> String {
    text(raw, 1, MAX_LABEL_CHARS).unwrap_or_else(|(code, msg)| {
        v.push(Violation::new("label", code, msg));
        String::new()
    })
}

fn description(raw: Option<String>, v: &mut Vec<Violation>) -> Option<String> {
    let raw = raw.filter(|d| !d.trim().is_empty())?;
    text(&raw, 1, MAX_DESCRIPTION_CHARS).map_err(|(code, msg)| v.push(Violation::new("description", code, msg))).ok()
}

/// Defines a field. It is in the tenant's schema from the next request on.
///
/// # Errors
/// `FORBIDDEN` for non-ADMINs; `BAD_USER_INPUT` listing every problem (key syntax, clash with a
/// built-in, options, default); `CONFLICT KEY_TAKEN` for a key or GraphQL name another field of
/// the entity has; `CONFLICT` for a required field without a default on an entity that already
/// has rows.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn define(db: &DatabaseConnection, caller: &Caller, input: DefineInput) -> Result<Definition> {
    ensure_admin(caller)?;
    let mut v = Vec::new();
    let entity = EntityKind::parse(&input.entity);
    let ty = FieldType::parse(&input.ty);
    if entity.is_none() {
        v.push(Violation::new("entity", "INVALID_VALUE", format!("'{}' is not an EntityKind", input.entity)));
    }
    if ty.is_none() {
        v.push(Violation::new("type", "INVALID_VALUE", format!("'{}' is not a CustomFieldType", input.ty)));
    }
    let key = input.key.trim().to_owned();
    if !key_is_valid(&key) {
        v.push(Violation::new(
            "key",
            "INVALID_KEY",
            format!("'{key}' must start with a lowercase letter and use only a-z, 0-9 and _ (at most 63 characters)"),
        ));
    }
    let (Some(entity), Some(ty)) = (entity, ty) else { return Err(Error::Invalid(v)) };
    let name = camel_case(&key);
    if entity.is_built_in(&key) || entity.is_built_in(&name) {
        v.push(Violation::new("key", "RESERVED", format!("'{key}' is a built-in field of {}", entity.type_name())));
    }
    let at = store::now();
    let mut def = Definition {
        id: Uuid::now_v7(),
        entity,
        name,
        label: label(&input.label, &mut v),
        description: description(input.description, &mut v),
        options: check_options(ty, input.options, &mut v),
        ty,
        required: input.required,
        default_value: input.default_value,
        indexed: input.indexed,
        index_state: IndexState::None,
        index_error: None,
        archived: false,
        source: Source::User,
        position: 0,
        version: 1,
        created_at: at,
        updated_at: at,
        key,
    };
    check_definition(&mut def, &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let txn = begin_change(db, caller).await?;
    let existing = tenant_fields(&txn, caller.tenant_id).await?;
    let mut siblings = existing.definitions.iter().filter(|d| d.entity == entity);
    if let Some(other) = siblings.clone().find(|d| d.key == def.key || d.name == def.name) {
        return Err(key_taken(&def, other));
    }
    if siblings.clone().filter(|d| !d.archived).count() >= MAX_FIELDS_PER_ENTITY {
        return Err(Error::invalid(
            "entity",
            "TOO_MANY",
            format!("{} has {MAX_FIELDS_PER_ENTITY} custom fields already", entity.type_name()),
        ));
    }
    def.position = siblings.by_ref().map(|d| d.position + 1).max().unwrap_or(0);
    if def.required {
        fill_required(&txn, caller.tenant_id, &def).await?;
    }
    def.settle_index_state(None);
    store::custom_fields::insert(&txn, &def.clone().into_model(caller.tenant_id)).await?;
    audit::record(&txn, caller, TYPE_NAME, def.id, audit::Action::Create, None, Some(def.audit_snapshot()), at).await?;
    txn.commit().await?;
    field_indexes::wake();
    Ok(def)
}

/// `CONFLICT KEY_TAKEN`: `def`'s key, or the GraphQL name it becomes, is `other`'s already (two
/// fields of one type cannot share a name: `vip_1` and `vip1` are both `vip1`).
fn key_taken(def: &Definition, other: &Definition) -> Error {
    let whose = match (other.source, other.archived) {
        (Source::Plugin, _) => "a field computed by a scorer plugin",
        (_, true) => "an archived field (restore it instead)",
        _ => "another field",
    };
    let how = if other.key == def.key {
        format!("'{}' is already the key of {whose} of {}", def.key, def.entity.type_name())
    } else {
        format!(
            "'{}' and '{}', {whose} of {}, are both the GraphQL field '{}'",
            def.key,
            other.key,
            def.entity.type_name(),
            def.name
        )
    };
    Error::Conflict { code: "KEY_TAKEN", message: how, field: Some("key".into()) }
}

/// A required field needs a value in every row: existing rows take the default, and without a
/// default there must be no row lacking one.
async fn fill_required(txn: &DatabaseTransaction, tenant_id: Uuid, def: &Definition) -> Result<()> {
    match &def.default_value {
        Some(default) => store::custom_fields::fill_missing(txn, tenant_id, def.entity, &def.key, default).await,
        None => {
            let missing = store::custom_fields::count_missing(txn, tenant_id, def.entity, &def.key).await?;
            if missing == 0 {
                Ok(())
            } else {
                Err(Error::Conflict {
                    code: "DEFAULT_NEEDED",
                    message: format!(
                        "{missing} existing {} rows have no value for '{}': give a defaultValue for them",
                        def.entity.type_name(),
                        def.key
                    ),
                    field: Some("defaultValue".into()),
                })
            }
        }
    }
}

/// Starts a definition change: bumps the schema version first, which takes the tenant row's
/// lock and so waits for writes in flight and holds off new ones until commit.
async fn begin_change(db: &DatabaseConnection, caller: &Caller) -> Result<store::WriteTxn> {
    let txn = store::begin_write(db).await?;
    store::tenants::bump_schema_version(&txn, caller.tenant_id).await?;
    Ok(txn)
}

async fn find_for_change(txn: &DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<Definition> {
    let model = store::custom_fields::find(txn, caller.tenant_id, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no custom field {}", super::ids::encode(TYPE_NAME, id))))?;
    let def = Definition::from_model(model)?;
    if def.source != Source::User {
        return Err(Error::Conflict {
            code: "READ_ONLY",
            message: format!("'{}' is computed by a plugin; change the plugin instead", def.key),
            field: None,
        });
    }
    Ok(def)
}

/// Changes a definition. A change of type or options carries every stored value over, or is
/// refused with the number of values that would not convert.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`, `CONFLICT` (stale version, values that would
/// not convert, a required field without default over rows lacking a value).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn update(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    input: UpdateInput,
    expected_version: Option<i32>,
) -> Result<Definition> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    check_version("this custom field", before.version, expected_version)?;
    let mut def = before.clone();
    let mut v = Vec::new();
    match input.label {
        Patch::Absent => {}
        Patch::Null => v.push(Violation::new("label", "REQUIRED", "label cannot be null")),
        Patch::Value(l) => def.label = label(&l, &mut v),
    }
    match input.description {
        Patch::Absent => {}
        Patch::Null => def.description = None,
        Patch::Value(d) => def.description = description(Some(d), &mut v),
    }
    match input.ty {
        Patch::Absent => {}
        Patch::Null => v.push(Violation::new("type", "REQUIRED", "type cannot be null")),
        Patch::Value(t) => match FieldType::parse(&t) {
            Some(ty) => def.ty = ty,
            None => v.push(Violation::new("type", "INVALID_VALUE", format!("'{t}' is not a CustomFieldType"))),
        },
    }
    if let Patch::Value(r) = input.required {
        def.required = r;
    }
    if let Patch::Value(i) = input.indexed {
        def.indexed = i;
    }
    let options = match input.options {
        Patch::Absent if def.ty == before.ty => Some(before.options.clone()),
        Patch::Absent | Patch::Null => None,
        Patch::Value(o) => Some(o),
    };
    def.options = check_options(def.ty, options, &mut v);
    def.default_value = match input.default_value {
        Patch::Absent => before.default_value.clone(),
        Patch::Null => None,
        Patch::Value(d) => Some(d),
    };
    check_definition(&mut def, &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    // Turning an index on checks the stored values too: an index entry has a size limit.
    if def.ty != before.ty || def.options != before.options || (def.indexed && !before.indexed) {
        convert_values(&txn, caller.tenant_id, &def).await?;
    }
    if def.required && (!before.required || def.default_value != before.default_value) {
        fill_required(&txn, caller.tenant_id, &def).await?;
    }
    save_change(txn, caller, &before, def).await
}

/// Carries every stored value over to `def`, or refuses with how many would not convert.
async fn convert_values(txn: &DatabaseTransaction, tenant_id: Uuid, def: &Definition) -> Result<()> {
    let rows = store::custom_fields::values_of(txn, tenant_id, def.entity, &def.key).await?;
    let mut changed = Vec::new();
    let mut failed = 0usize;
    for (id, mut object) in rows {
        let Some(old) = object.get(&def.key).filter(|v| !v.is_null()) else { continue };
        match custom_values::convert(def, old) {
            Ok(new) if &new == old => {}
            Ok(new) => {
                object[&def.key] = new;
                changed.push((id, object));
            }
            Err(_) => failed += 1,
        }
    }
    if failed > 0 {
        return Err(Error::Conflict {
            code: "VALUES_WOULD_NOT_CONVERT",
            message: format!(
                "{failed} existing value{} of '{}' would not convert to {}{}; change or clear them first",
                if failed == 1 { "" } else { "s" },
                def.key,
                def.ty.as_str(),
                if def.options.is_empty() {
                    String::new()
                } else {
                    format!(" with options {}", def.options.join(", "))
                }
            ),
            field: Some("type".into()),
        });
    }
    for (id, object) in changed {
        store::custom_fields::set_values(txn, tenant_id, def.entity, id, &object).await?;
    }
    Ok(())
}

async fn set_archived(db: &DatabaseConnection, caller: &Caller, id: Uuid, archived: bool) -> Result<Definition> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    if before.archived == archived {
        txn.rollback().await?;
        return Ok(before);
    }
    if !archived {
        let fields = tenant_fields(&txn, caller.tenant_id).await?;
        if fields.live(before.entity).count() >= MAX_FIELDS_PER_ENTITY {
            return Err(Error::invalid(
                "id",
                "TOO_MANY",
                format!("{} has {MAX_FIELDS_PER_ENTITY} custom fields already", before.entity.type_name()),
            ));
        }
    }
    if !archived && before.required {
        // Rows written while it was archived have no value yet.
        fill_required(&txn, caller.tenant_id, &before).await?;
    }
    let mut def = before.clone();
    def.archived = archived;
    save_change(txn, caller, &before, def).await
}

/// Stores a changed definition as its next version, audits and commits; a new index is left to
/// the index builder.
async fn save_change(
    txn: store::WriteTxn,
    caller: &Caller,
    before: &Definition,
    mut def: Definition,
) -> Result<Definition> {
    let at = store::now();
    def.version += 1;
    def.updated_at = at;
    def.settle_index_state(Some(before));
    store::custom_fields::update(&txn, &def.clone().into_model(caller.tenant_id)).await?;
    let (old, new) = (Some(before.audit_snapshot()), Some(def.audit_snapshot()));
    audit::record(&txn, caller, TYPE_NAME, def.id, audit::Action::Update, old, new, at).await?;
    txn.commit().await?;
    field_indexes::wake();
    Ok(def)
}

/// Hides a field from the schema and from writes; its stored values stay.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; `CONFLICT` for a plugin's field.
pub async fn archive(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Definition> {
    set_archived(db, caller, id, true).await
}

/// Brings an archived field back, with the values it had.
///
/// # Errors
/// As [`archive`], and `BAD_USER_INPUT` when the entity already has the most fields.
pub async fn restore(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Definition> {
    set_archived(db, caller, id, false).await
}

/// Makes a scorer's keys computed fields of Customer (`source: PLUGIN`, DECIMAL for numbers —
/// indexed, since tiers and lists sort by them — and STRING for labels) and archives the fields
/// of `released` keys. A key that was a computed field before comes back with its values.
///
/// # Errors
/// `CONFLICT KEY_TAKEN` for a key an ADMIN's field uses, or whose GraphQL name another field of
/// Customer has; `BAD_USER_INPUT TOO_MANY` when
/// Customer would have too many fields; database failures.
pub(crate) async fn sync_computed(
    txn: &DatabaseTransaction,
    caller: &Caller,
    declared: &[super::plugins::KeySpec],
    released: &[String],
) -> Result<()> {
    let existing = tenant_fields(txn, caller.tenant_id).await?;
    let customer: Vec<&Definition> = existing.definitions.iter().filter(|d| d.entity == EntityKind::Customer).collect();
    let mut live = customer.iter().filter(|d| !d.archived).count();
    let mut position = customer.iter().map(|d| d.position + 1).max().unwrap_or(0);
    for key in released {
        if let Some(before) = customer.iter().find(|d| &d.key == key && d.source == Source::Plugin && !d.archived) {
            let mut def = (*before).clone();
            def.archived = true;
            save_computed(txn, caller, Some(before), def).await?;
            live -= 1;
        }
    }
    for spec in declared {
        let at = store::now();
        let ty = spec.field_type();
        let description = Some(spec.description.clone()).filter(|d| !d.trim().is_empty());
        let name = camel_case(&spec.key);
        match customer.iter().find(|d| d.key == spec.key || d.name == name) {
            // A field of another key with the same GraphQL name, an ADMIN's or one a plugin
            // computed before: taking it over would give one field two keys.
            Some(other) if other.source == Source::User || other.key != spec.key => {
                let whose = if other.source == Source::User { "defined by an ADMIN" } else { "computed by a plugin" };
                let archived = if other.archived { " (archived)" } else { "" };
                let message = if other.key == spec.key {
                    format!("score key '{}' is already a custom field of Customer {whose}{archived}", spec.key)
                } else {
                    format!(
                        "score key '{}' and the custom field '{}' of Customer {whose}{archived} are both the GraphQL \
                         field '{name}'",
                        spec.key, other.key
                    )
                };
                return Err(Error::Conflict { code: "KEY_TAKEN", message, field: Some("wasmBase64".into()) });
            }
            Some(before) => {
                let mut def = (*before).clone();
                if !def.archived && def.ty == ty && def.description == description {
                    continue;
                }
                if def.archived {
                    live += 1;
                }
                def.archived = false;
                def.ty = ty;
                def.indexed = ty == FieldType::Decimal;
                def.description = description;
                save_computed(txn, caller, Some(before), def).await?;
            }
            None => {
                live += 1;
                let def = Definition {
                    id: Uuid::now_v7(),
                    entity: EntityKind::Customer,
                    key: spec.key.clone(),
                    name,
                    label: spec.key.clone(),
                    description,
                    ty,
                    required: false,
                    options: Vec::new(),
                    default_value: None,
                    indexed: ty == FieldType::Decimal,
                    index_state: IndexState::None,
                    index_error: None,
                    archived: false,
                    source: Source::Plugin,
                    position,
                    version: 0,
                    created_at: at,
                    updated_at: at,
                };
                position += 1;
                save_computed(txn, caller, None, def).await?;
            }
        }
    }
    if live > MAX_FIELDS_PER_ENTITY {
        return Err(Error::invalid(
            "wasmBase64",
            "TOO_MANY",
            format!("Customer would have more than {MAX_FIELDS_PER_ENTITY} custom fields"),
        ));
    }
    Ok(())
}

/// Stores a computed field's new version (or first, when `before` is `None`), fits its index
/// and audits it.
async fn save_computed(
    txn: &DatabaseTransaction,
    caller: &Caller,
    before: Option<&Definition>,
    mut def: Definition,
) -> Result<()> {
    let at = store::now();
    def.version += 1;
    def.updated_at = at;
    def.settle_index_state(before);
    let model = def.clone().into_model(caller.tenant_id);
    let action = if before.is_some() {
        store::custom_fields::update(txn, &model).await?;
        audit::Action::Update
    } else {
        store::custom_fields::insert(txn, &model).await?;
        audit::Action::Create
    };
    // The plugin's change wakes the index builder once it commits.
    let old = before.map(Definition::audit_snapshot);
    audit::record(txn, caller, TYPE_NAME, def.id, action, old, Some(def.audit_snapshot()), at).await
}

/// The definitions an entity write checks its `customFields` against, read inside the write's
/// transaction while holding the tenant row's lock shared (see the module docs).
///
/// # Errors
/// Database failures.
pub async fn for_write(txn: &DatabaseTransaction, tenant_id: Uuid, entity: EntityKind) -> Result<Vec<Definition>> {
    store::tenants::lock_shared(txn, tenant_id).await?;
    store::custom_fields::of_entity(txn, tenant_id, entity).await?.into_iter().map(Definition::from_model).collect()
}

impl crate::query::CustomKey {
    /// The key of a definition's field.
    #[must_use]
    pub fn of(def: &Definition) -> Self {
        Self { key: def.key.clone(), ty: def.ty, computed: def.source == Source::Plugin, indexed: def.wants_index() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        assert_eq!(camel_case("loyalty_card_no"), "loyaltyCardNo");
        assert_eq!(camel_case("level"), "level");
        assert_eq!(camel_case("a__b_"), "aB");
        for ok in ["a", "level_2", &"x".repeat(63)] {
            assert!(key_is_valid(ok), "{ok}");
        }
        for bad in ["", "2a", "_a", "A", "a-b", "a b", &"x".repeat(64), "等级"] {
            assert!(!key_is_valid(bad), "{bad}");
        }
    }
}
