//! The definition service: what an ADMIN does with definitions (define, change, archive,
//! restore), each a change that bumps the tenant's schema version and takes its lock (see the
//! module docs of `custom_fields`), and the reads of definitions for schemas, lists and writes.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use serde_json::Value;
use uuid::Uuid;

use super::EntityKind;
use super::types::{
    Definition, FieldType, IndexState, MAX_DESCRIPTION_CHARS, MAX_FIELDS_PER_ENTITY, MAX_LABEL_CHARS, MAX_OPTION_CHARS,
    MAX_OPTIONS, Source, TYPE_NAME, TenantFields, camel_case, key_is_valid,
};
use crate::domain::input::{Patch, check_version};
use crate::domain::values::text;
use crate::domain::{Caller, Role, audit, custom_values, field_indexes};
use crate::error::{Error, Result, Violation};
use crate::store;

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
                v.push(Violation::new(format!("options.{i}"), "DUPLICATE", format!("'{o}' is listed twice")));
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
    let at = crate::clock::now();
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
        .ok_or_else(|| Error::NotFound(format!("no custom field {}", crate::domain::ids::encode(TYPE_NAME, id))))?;
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
    let at = crate::clock::now();
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

/// The definitions an entity write checks its `customFields` against, read inside the write's
/// transaction while holding the tenant row's lock shared (see the module docs of `custom_fields`).
///
/// # Errors
/// Database failures.
pub async fn for_write(txn: &DatabaseTransaction, tenant_id: Uuid, entity: EntityKind) -> Result<Vec<Definition>> {
    store::tenants::lock_shared(txn, tenant_id).await?;
    store::custom_fields::of_entity(txn, tenant_id, entity).await?.into_iter().map(Definition::from_model).collect()
}
