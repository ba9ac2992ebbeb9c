//! Validator plugins: attached to a field of an entity (a custom field, or a writable built-in
//! one) and run inside every write that sets it, within a time budget per write, since they run
//! in the write's transaction.

use guanxi_entity::{plugin, plugin_validator};
use guanxi_plugin_host::ValidationRequest;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::lifecycle::{TYPE_NAME, begin_change, ensure_admin, not_found};
use super::runtime::{Plugins, call_failed, config_json, limits_of};
use super::stored::is_validator;
use crate::domain::custom_fields::{self, EntityKind};
use crate::domain::{Caller, audit, ids};
use crate::error::{Error, Result, Violation};
use crate::store;

/// A validator runs inside a write transaction (on SQLite, holding the only writer): its
/// wall-clock backstop is shorter than a scorer's.
pub const VALIDATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// The time every validator of one write may take together: a tenant that attaches many slow
/// validators to one entity cannot hold a transaction (and SQLite's writer) for many deadlines
/// in a row.
pub const VALIDATION_BUDGET: std::time::Duration = std::time::Duration::from_millis(1_000);

/// What `attachValidator` and `detachValidator` name: an entity and one of its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A custom field (its definition).
    Custom(Box<custom_fields::Definition>),
    /// A built-in field, by GraphQL name.
    BuiltIn(EntityKind, String),
}

async fn target(txn: &DatabaseTransaction, caller: &Caller, entity: &str, field: &str) -> Result<Target> {
    let entity = EntityKind::parse(entity)
        .ok_or_else(|| Error::invalid("entity", "INVALID_VALUE", format!("'{entity}' is not an EntityKind")))?;
    let defs = custom_fields::tenant_fields(txn, caller.tenant_id).await?;
    if let Some(def) = defs.find_live(entity, field) {
        if def.source != custom_fields::Source::User {
            return Err(Error::invalid("field", "READ_ONLY", format!("'{field}' is computed by a plugin")));
        }
        return Ok(Target::Custom(Box::new(def.clone())));
    }
    if entity.is_writable_built_in(field) {
        return Ok(Target::BuiltIn(entity, field.to_owned()));
    }
    Err(Error::invalid(
        "field",
        "UNKNOWN_FIELD",
        format!("{} has no custom field or writable built-in field '{field}'", entity.type_name()),
    ))
}

pub(super) fn target_parts(t: &Target) -> (EntityKind, String) {
    match t {
        Target::Custom(d) => (d.entity, d.key.clone()),
        Target::BuiltIn(e, f) => (*e, f.clone()),
    }
}

/// Runs a validator plugin on a field of an entity, inside every write that sets it.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; `BAD_USER_INPUT` for an unknown or computed field, or a plugin
/// that is no validator.
pub async fn attach(
    db: &DatabaseConnection,
    caller: &Caller,
    plugin_id: Uuid,
    entity: &str,
    field: &str,
) -> Result<Target> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let p = store::plugins::find(&txn, caller.tenant_id, plugin_id).await?.ok_or_else(|| not_found(plugin_id))?;
    if !is_validator(&p) {
        return Err(Error::invalid("pluginId", "NOT_A_VALIDATOR", format!("plugin {} exports no validator", p.name)));
    }
    let t = target(&txn, caller, entity, field).await?;
    let (entity, field) = target_parts(&t);
    let at = crate::clock::now();
    let row = plugin_validator::Model {
        tenant_id: caller.tenant_id,
        entity: entity.as_str().to_owned(),
        field: field.clone(),
        plugin_id,
        created_at: at,
    };
    store::plugins::attach(&txn, row).await?;
    let after = json!({ "attachedTo": format!("{}.{field}", entity.as_str()) });
    audit::record(&txn, caller, TYPE_NAME, plugin_id, audit::Action::Update, None, Some(after), at).await?;
    txn.commit().await?;
    Ok(t)
}

/// Stops a validator from running on a field.
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND` when it was not attached there.
pub async fn detach(
    db: &DatabaseConnection,
    caller: &Caller,
    plugin_id: Uuid,
    entity: &str,
    field: &str,
) -> Result<Target> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let t = target(&txn, caller, entity, field).await?;
    let (entity, field) = target_parts(&t);
    if !store::plugins::detach(&txn, caller.tenant_id, entity.as_str(), &field, plugin_id).await? {
        return Err(Error::NotFound(format!(
            "plugin {} is not attached to {}.{field}",
            ids::encode(TYPE_NAME, plugin_id),
            entity.as_str()
        )));
    }
    let before = json!({ "attachedTo": format!("{}.{field}", entity.as_str()) });
    audit::record(&txn, caller, TYPE_NAME, plugin_id, audit::Action::Update, Some(before), None, crate::clock::now()).await?;
    txn.commit().await?;
    Ok(t)
}

/// The validators attached to fields of the tenant, for `CustomFieldDefinition.validators`.
///
/// # Errors
/// Database failures.
pub async fn attachments(
    db: &DatabaseConnection,
    tenant_id: Uuid,
) -> Result<Vec<(plugin_validator::Model, plugin::Model)>> {
    let attached = store::plugins::validators(db, tenant_id, None).await?;
    let all = store::plugins::all(db, tenant_id).await?;
    Ok(attached.into_iter().filter_map(|a| all.iter().find(|p| p.id == a.plugin_id).map(|p| (a, p.clone()))).collect())
}

/// Compiles the validators attached to fields of `entity` that this replica has not loaded, before
/// a write's transaction begins: compilation never runs inside a write transaction (on SQLite,
/// holding the one writer), which [`validate_write`] then runs them in.
///
/// # Errors
/// Database failures; a stored plugin that no longer loads.
pub async fn prepare_validators(
    db: &DatabaseConnection,
    plugins: &Plugins,
    tenant_id: Uuid,
    entity: EntityKind,
) -> Result<()> {
    for (_, p) in store::plugins::validators_for_write(db, tenant_id, entity.as_str()).await? {
        // Bytes gone since the read belong to a version upgraded or uninstalled meanwhile (by
        // another replica): the write's transaction reads its validators again, and answers a
        // version this server has not compiled as `PLUGIN_ERROR` (`BUSY`), to be retried.
        plugins.load_stored(db, &p.sha256).await?;
    }
    Ok(())
}

/// A record about to be written, as the validators see it.
pub struct Written<'a> {
    /// The entity as the audit trail shows it, custom values under `customFields`.
    pub after: &'a Value,
    /// The same before the write; a field is checked when its value differs from this one's.
    pub before: Option<&'a Value>,
    /// What the write's own checks found: a field among them is not checked again.
    pub refused: &'a [Violation],
}

/// Runs the validators attached to fields of `entity` on the record about to be written
/// (`defs`: the entity's definitions the write read).
///
/// # Errors
/// `BAD_USER_INPUT` listing every violation found, each naming its plugin; `PLUGIN_ERROR`
/// when a validator fails (trap, limit, error result); database failures.
pub async fn validate_write(
    txn: &DatabaseTransaction,
    plugins: &Plugins,
    tenant_id: Uuid,
    entity: EntityKind,
    defs: &[custom_fields::Definition],
    written: Written<'_>,
) -> Result<()> {
    let Written { after: record, before, refused: found_before } = written;
    let attached = store::plugins::validators_for_write(txn, tenant_id, entity.as_str()).await?;
    let mut v = Vec::new();
    let record_json = record.to_string();
    let started = std::time::Instant::now();
    for (a, p) in attached {
        let def = defs.iter().find(|d| d.entity == entity && !d.archived && (d.key == a.field || d.name == a.field));
        let (path, value, old) = match def {
            Some(def) => (
                format!("customFields.{}", def.key),
                record.pointer(&format!("/customFields/{}", def.key)),
                before.and_then(|b| b.pointer(&format!("/customFields/{}", def.key))),
            ),
            None => (a.field.clone(), record.get(&a.field), before.and_then(|b| b.get(&a.field))),
        };
        let Some(value) = value.filter(|x| !x.is_null()) else { continue };
        // A value the built-in checks refused is not the plugin's to judge as well.
        if old == Some(value) || found_before.iter().any(|f| f.field == path) {
            continue;
        }
        // Compiled before the transaction began (`prepare_validators`); one attached or let go
        // of memory since is not compiled here, inside the transaction.
        let compiled = plugins.host.loaded(&p.sha256).ok_or_else(|| Error::Plugin {
            plugin: p.name.clone(),
            reason: "BUSY",
            message: format!("plugin {} is being loaded on this server; nothing was written, try again", p.name),
        })?;
        let request = ValidationRequest {
            entity: entity.as_str().to_owned(),
            field: a.field.clone(),
            value_json: value.to_string(),
            record_json: record_json.clone(),
            config_json: config_json(&p),
        };
        let Some(left) = VALIDATION_BUDGET.checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
            return Err(Error::Plugin {
                plugin: p.name.clone(),
                reason: "TIMEOUT",
                message: format!(
                    "this write's validators took more than {} ms together; nothing was written",
                    VALIDATION_BUDGET.as_millis()
                ),
            });
        };
        let mut limits = limits_of(plugins, &p);
        limits.timeout = limits.timeout.min(VALIDATOR_TIMEOUT).min(left);
        let (result, run) = plugins.host.validate(&compiled, request, limits).await;
        plugins.record(&p, "VALIDATE", 1, &run);
        for found in result.map_err(|e| call_failed(&p, &e))? {
            v.push(Violation {
                field: path.clone(),
                code: found.code,
                message: format!("{} (plugin {})", found.message, p.name),
                plugin: Some(p.name.clone()),
            });
        }
    }
    if v.is_empty() { Ok(()) } else { Err(Error::Invalid(v)) }
}
