//! An ADMIN's plugins: list, install, upgrade, enable or disable, configure, uninstall. Each
//! change is a definition change of the tenant (its schema version goes first): a scorer's keys
//! are computed custom fields of Customer, and a scorer's change starts a sweep that scores
//! every customer again.

use guanxi_entity::{plugin, plugin_run};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Value, json};
use uuid::Uuid;

use super::checks::{
    Checked, check_component, check_config, check_keys_free, check_limits, check_name, check_plugin_config,
    check_version, decode_wasm,
};
use super::runtime::{Plugins, limits_of};
use super::stored::{is_scorer, score_keys};
use crate::domain::custom_fields;
use crate::domain::{Caller, Role, audit, ids};
use crate::error::{Error, Result};
use crate::store;

pub const TYPE_NAME: &str = "Plugin";

pub(super) fn ensure_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin { Ok(()) } else { Err(Error::Forbidden("only an ADMIN may manage plugins".into())) }
}

pub(super) fn not_found(id: Uuid) -> Error {
    Error::NotFound(format!("no plugin {}", ids::encode(TYPE_NAME, id)))
}

/// Every plugin of the caller's tenant, in order of installation.
///
/// # Errors
/// `FORBIDDEN` for non-ADMINs; database failures.
pub async fn list(db: &DatabaseConnection, caller: &Caller) -> Result<Vec<plugin::Model>> {
    ensure_admin(caller)?;
    store::plugins::all(db, caller.tenant_id).await
}

/// Every plugin of the caller's tenant, whatever the caller's role: for what any reader may see of
/// them (`Score.plugin` names the plugin that computed a score).
///
/// # Errors
/// Database failures.
pub async fn installed(db: &DatabaseConnection, caller: &Caller) -> Result<Vec<plugin::Model>> {
    store::plugins::all(db, caller.tenant_id).await
}

/// One plugin of the caller's tenant.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn get(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<plugin::Model> {
    ensure_admin(caller)?;
    store::plugins::find(db, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))
}

/// The newest run records of a plugin, newest first.
///
/// # Errors
/// `FORBIDDEN`; database failures.
pub async fn last_runs(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    first: u64,
) -> Result<Vec<plugin_run::Model>> {
    ensure_admin(caller)?;
    store::plugins::runs(db, caller.tenant_id, id, first.clamp(1, store::plugins::RUNS_KEPT)).await
}

/// `installPlugin`'s input.
#[derive(Debug, Clone, Default)]
pub struct InstallInput {
    pub name: String,
    pub wasm_base64: String,
    pub config: Option<Value>,
    pub version: Option<String>,
    pub limits: Option<Value>,
}

/// The plugin as the audit trail records it.
fn audit_snapshot(p: &plugin::Model) -> Value {
    json!({
        "name": p.name, "version": p.version, "sha256": p.sha256, "capabilities": p.capabilities,
        "scoreKeys": p.score_keys, "config": p.config, "limits": p.limits, "enabled": p.enabled,
    })
}

/// Installs a plugin: checked and compiled before anything is stored; a component that checks
/// its configuration is asked about the one given; a scorer's keys become computed custom fields
/// of Customer and every customer is queued for scoring.
///
/// # Errors
/// `FORBIDDEN`; `BAD_USER_INPUT` for bad input, a component the host refuses (garbage, a core
/// module, forbidden imports, too large) or a configuration the plugin refuses (`INVALID_CONFIG`);
/// `PLUGIN_ERROR` if a scorer fails to declare its keys or the configuration check fails;
/// `CONFLICT` for a name in use or a score key another field or plugin has.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn install(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    input: InstallInput,
) -> Result<plugin::Model> {
    let prepared = prepare_install(plugins, caller, input).await?;
    let txn = begin_change(db, caller).await?;
    let row = store_install(&txn, caller, prepared).await?;
    txn.commit().await?;
    plugins.wake_scorer();
    // Computed fields may have come or gone: their indexes too.
    crate::domain::field_indexes::wake();
    Ok(row)
}

/// A plugin checked and compiled, ready to be stored.
pub(super) struct Prepared {
    row: plugin::Model,
    checked: Checked,
}

/// Everything of an install that needs no database: the input's checks and the component's.
pub(super) async fn prepare_install(plugins: &Plugins, caller: &Caller, input: InstallInput) -> Result<Prepared> {
    ensure_admin(caller)?;
    let mut v = Vec::new();
    let name = check_name(&input.name, &mut v);
    let version = check_version(input.version, "1".into(), &mut v);
    let config = check_config(input.config, &mut v);
    let limits = check_limits(input.limits, &mut v);
    let bytes = decode_wasm(&input.wasm_base64, &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let at = crate::clock::now();
    let mut row = plugin::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        name,
        version,
        sha256: String::new(),
        capabilities: json!([]),
        score_keys: json!([]),
        config,
        limits: serde_json::to_value(limits).unwrap_or_else(|_| json!({})),
        enabled: true,
        revision: 1,
        installed_at: at,
        updated_at: at,
    };
    let checked = check_component(plugins, &row, bytes, limits.over(plugins.host.limits()), true).await?;
    row.sha256.clone_from(&checked.sha256);
    row.capabilities = json!(checked.capabilities);
    row.score_keys = json!(checked.keys);
    Ok(Prepared { row, checked })
}

/// Stores a prepared plugin inside a definition change's transaction (see [`begin_change`]).
pub(super) async fn store_install(
    txn: &DatabaseTransaction,
    caller: &Caller,
    prepared: Prepared,
) -> Result<plugin::Model> {
    let Prepared { row, checked } = prepared;
    let others = store::plugins::all(txn, caller.tenant_id).await?;
    if others.iter().any(|o| o.name == row.name) {
        return Err(Error::Conflict {
            code: "DUPLICATE",
            message: format!("a plugin named {} is installed already: upgrade it instead", row.name),
            field: Some("name".into()),
        });
    }
    check_keys_free(&others, &checked.keys)?;
    custom_fields::sync_computed(txn, caller, &checked.keys, &[]).await?;
    store::plugins::put_binary(txn, &checked.sha256, &checked.bytes).await?;
    store::plugins::insert(txn, &row).await?;
    let at = row.installed_at;
    audit::record(txn, caller, TYPE_NAME, row.id, audit::Action::Create, None, Some(audit_snapshot(&row)), at).await?;
    if is_scorer(&row) {
        store::scoring::sweep_all(txn, caller.tenant_id, Uuid::now_v7()).await?;
    }
    Ok(row)
}

/// A definition change's transaction: the schema version goes first (see `custom_fields`).
pub(super) async fn begin_change(db: &DatabaseConnection, caller: &Caller) -> Result<store::WriteTxn> {
    let txn = store::begin_write(db).await?;
    store::tenants::bump_schema_version(&txn, caller.tenant_id).await?;
    Ok(txn)
}

async fn find_for_change(txn: &DatabaseTransaction, caller: &Caller, id: Uuid) -> Result<plugin::Model> {
    store::plugins::find_for_update(txn, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))
}

/// Replaces a plugin's component. Calls already running finish on the old one; the next calls
/// use the new one. Keys the new version no longer declares stop being fields.
///
/// # Errors
/// As [`install`]; `NOT_FOUND`; `CONFLICT` if the new version is no validator while it is
/// attached to fields.
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant_slug))]
pub async fn upgrade(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    wasm_base64: &str,
    version: Option<String>,
) -> Result<plugin::Model> {
    ensure_admin(caller)?;
    let current = store::plugins::find(db, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
    let mut v = Vec::new();
    let bytes = decode_wasm(wasm_base64, &mut v);
    let version = check_version(version, (current.revision + 1).to_string(), &mut v);
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    // The key listing runs the new component: its record names the new version. The stored
    // configuration is not put to the new version's check: a tenant whose versions disagree on
    // it could then neither upgrade nor reconfigure; `configurePlugin` checks the next one.
    let mut candidate = current.clone();
    candidate.version.clone_from(&version);
    let checked = check_component(plugins, &candidate, bytes, limits_of(plugins, &current), false).await?;

    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    let others: Vec<plugin::Model> =
        store::plugins::all(&txn, caller.tenant_id).await?.into_iter().filter(|o| o.id != id).collect();
    check_keys_free(&others, &checked.keys)?;
    if !checked.capabilities.contains(&"VALIDATOR") {
        let attached = store::plugins::validators(&txn, caller.tenant_id, None).await?;
        if let Some(a) = attached.iter().find(|a| a.plugin_id == id) {
            return Err(Error::Conflict {
                code: "VALIDATOR_ATTACHED",
                message: format!(
                    "the new version is no validator, but {} validates {}.{}: detach it first",
                    before.name, a.entity, a.field
                ),
                field: Some("wasmBase64".into()),
            });
        }
    }
    let released: Vec<String> = score_keys(&before)
        .into_iter()
        .filter(|old| !checked.keys.iter().any(|k| k.key == old.key))
        .map(|k| k.key)
        .collect();
    custom_fields::sync_computed(&txn, caller, &checked.keys, &released).await?;
    store::plugins::put_binary(&txn, &checked.sha256, &checked.bytes).await?;
    let mut row = before.clone();
    row.sha256.clone_from(&checked.sha256);
    row.version = version;
    row.capabilities = json!(checked.capabilities);
    row.score_keys = json!(checked.keys);
    save_change(&txn, caller, &before, &mut row).await?;
    if before.sha256 != row.sha256 {
        store::plugins::drop_binary_if_unused(&txn, &before.sha256).await?;
    }
    if row.enabled && is_scorer(&row) {
        store::scoring::sweep_all(&txn, caller.tenant_id, Uuid::now_v7()).await?;
    }
    txn.commit().await?;
    plugins.wake_scorer();
    // Computed fields may have come or gone: their indexes too.
    crate::domain::field_indexes::wake();
    Ok(row)
}

async fn save_change(
    txn: &DatabaseTransaction,
    caller: &Caller,
    before: &plugin::Model,
    row: &mut plugin::Model,
) -> Result<()> {
    row.revision = before.revision + 1;
    row.updated_at = crate::clock::now();
    store::plugins::update(txn, row).await?;
    let (old, new) = (Some(audit_snapshot(before)), Some(audit_snapshot(row)));
    audit::record(txn, caller, TYPE_NAME, row.id, audit::Action::Update, old, new, row.updated_at).await
}

/// Turns a plugin on or off without a restart. A disabled scorer's fields keep their last
/// values; a disabled validator checks nothing.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn set_enabled(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    enabled: bool,
) -> Result<plugin::Model> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    if before.enabled == enabled {
        return Ok(before);
    }
    let mut row = before.clone();
    row.enabled = enabled;
    save_change(&txn, caller, &before, &mut row).await?;
    if enabled && is_scorer(&row) {
        store::scoring::sweep_all(&txn, caller.tenant_id, Uuid::now_v7()).await?;
    }
    txn.commit().await?;
    plugins.wake_scorer();
    // Computed fields may have come or gone: their indexes too.
    crate::domain::field_indexes::wake();
    Ok(row)
}

/// `configurePlugin`'s input: absent keys stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ConfigureInput {
    /// `Some(Value::Null)` clears the configuration.
    pub config: Option<Value>,
    pub limits: Option<Value>,
}

/// Changes a plugin's configuration or lowers its limits; a scorer re-scores every customer. A
/// new configuration is first put to the plugin's own check, if it has one: refused, nothing
/// changes.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT` (`INVALID_CONFIG` for a configuration the plugin
/// refuses); `PLUGIN_ERROR` if its check fails; `CONFLICT` if the plugin was upgraded while the
/// configuration was checked; database failures.
pub async fn configure(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    id: Uuid,
    input: ConfigureInput,
) -> Result<plugin::Model> {
    ensure_admin(caller)?;
    let mut v = Vec::new();
    let config = input.config.map(|c| check_config(Some(c), &mut v));
    let limits = input.limits.map(|l| check_limits(Some(l), &mut v));
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let limits = limits.map(|l| serde_json::to_value(l).unwrap_or_else(|_| json!({})));
    // The plugin's check runs before the transaction, as every plugin call of a change does.
    let checked_with = match &config {
        Some(config) => {
            let current = store::plugins::find(db, caller.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
            let mut candidate = current.clone();
            candidate.config.clone_from(config);
            if let Some(limits) = &limits {
                candidate.limits.clone_from(limits);
            }
            let loaded = plugins.load(db, &current.sha256).await?;
            check_plugin_config(plugins, &candidate, &loaded, limits_of(plugins, &candidate)).await?;
            Some(current.sha256)
        }
        None => None,
    };
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    if checked_with.is_some_and(|sha256| sha256 != before.sha256) {
        return Err(Error::Conflict {
            code: "STALE_VERSION",
            message: format!(
                "plugin {} was upgraded while its configuration was being checked; configure it again",
                before.name
            ),
            field: Some("config".into()),
        });
    }
    let mut row = before.clone();
    if let Some(config) = config {
        row.config = config;
    }
    if let Some(limits) = limits {
        row.limits = limits;
    }
    if row == before {
        return Ok(before);
    }
    save_change(&txn, caller, &before, &mut row).await?;
    if row.enabled && is_scorer(&row) {
        store::scoring::sweep_all(&txn, caller.tenant_id, Uuid::now_v7()).await?;
    }
    txn.commit().await?;
    plugins.wake_scorer();
    // Computed fields may have come or gone: their indexes too.
    crate::domain::field_indexes::wake();
    Ok(row)
}

/// Removes a plugin: its fields leave the schema (their values stay, and return if it is
/// installed again), its attachments and run records go.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn uninstall(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<Uuid> {
    ensure_admin(caller)?;
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    let released: Vec<String> = score_keys(&before).into_iter().map(|k| k.key).collect();
    custom_fields::sync_computed(&txn, caller, &[], &released).await?;
    store::plugins::delete(&txn, caller.tenant_id, id).await?;
    store::plugins::drop_binary_if_unused(&txn, &before.sha256).await?;
    audit::record(
        &txn,
        caller,
        TYPE_NAME,
        id,
        audit::Action::Delete,
        Some(audit_snapshot(&before)),
        None,
        crate::clock::now(),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}
