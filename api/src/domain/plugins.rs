//! WebAssembly plugins of a tenant (docs/plugins.md): install,
//! upgrade, enable, configure, uninstall; validators attached to fields and run inside writes;
//! the run record of every call.
//!
//! A plugin's bytes are stored in the database, so every replica can load them; the host
//! compiles each sha256 once. Every change bumps the tenant's schema version: a scorer's keys
//! are computed custom fields of Customer, and the schema version is how replicas learn that
//! plugins changed. Calls in flight keep the compiled version they started with (`Arc`), so an
//! upgrade never cuts one short.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use guanxi_entity::{plugin, plugin_run, plugin_validator, tenant};
use guanxi_plugin_host::{CallError, Host, InstallError, Limits, RunRecord, ScoreKind, ValidationRequest};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::custom_fields::{self, EntityKind, FieldType};
use super::{Caller, Role, audit, custom_values, ids};
use crate::error::{Error, Result, Violation};
use crate::store;
use crate::tasks::Tasks;

pub const TYPE_NAME: &str = "Plugin";

/// The scorers every new tenant starts with: the RFM value score that ranks tiers,
/// and the lifecycle stage with churn risk and loyalty. Built from `plugins/examples`.
pub const DEFAULT_PLUGINS: [(&str, &[u8]); 2] = [
    ("value-scorer", include_bytes!("../../../plugins/examples/dist/value-scorer.wasm")),
    ("lifecycle-scorer", include_bytes!("../../../plugins/examples/dist/lifecycle-scorer.wasm")),
];

/// A validator runs inside a write transaction (on SQLite, holding the only writer): its
/// wall-clock backstop is shorter than a scorer's.
pub const VALIDATOR_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// The time every validator of one write may take together: a tenant that attaches many slow
/// validators to one entity cannot hold a transaction (and SQLite's writer) for many deadlines
/// in a row.
pub const VALIDATION_BUDGET: std::time::Duration = std::time::Duration::from_millis(1_000);

/// The largest configuration a plugin may be given (it is handed to every call).
const MAX_CONFIG_BYTES: usize = 64 * 1024;
const MAX_NAME_CHARS: usize = 100;
const MAX_VERSION_CHARS: usize = 64;

/// The plugin runtime the server shares: the host, the run log and the scoring worker's bell.
pub struct Plugins {
    host: Arc<Host>,
    runs: Option<mpsc::Sender<plugin_run::Model>>,
    wake: Notify,
    /// One compilation at a time: compiling takes every core it is given, and a tenant
    /// installing plugin after plugin must not take them from everyone's requests.
    compiling: tokio::sync::Semaphore,
}

impl Plugins {
    /// A runtime without a run log (the command line).
    #[must_use]
    pub fn new(host: Arc<Host>) -> Self {
        Self { host, runs: None, wake: Notify::new(), compiling: tokio::sync::Semaphore::new(1) }
    }

    /// A runtime whose run records are written by a background task, in batches, outside the
    /// transactions of the calls (a refused write must still leave its record). At shutdown the
    /// task writes what is buffered before it stops.
    #[must_use]
    pub fn with_run_log(host: Arc<Host>, db: DatabaseConnection, tasks: &Tasks) -> Self {
        let (tx, mut rx) = mpsc::channel::<plugin_run::Model>(10_000);
        tasks.spawn("plugin run log", |stop| async move {
            loop {
                let first = tokio::select! {
                    biased;
                    run = rx.recv() => run,
                    () = stop.cancelled() => None,
                };
                let mut batch: Vec<plugin_run::Model> = first.into_iter().collect();
                while let Ok(run) = rx.try_recv() {
                    batch.push(run);
                    if batch.len() >= 500 {
                        write_runs(&db, std::mem::take(&mut batch)).await;
                    }
                }
                if batch.is_empty() {
                    break;
                }
                write_runs(&db, batch).await;
            }
        });
        Self { host, runs: Some(tx), wake: Notify::new(), compiling: tokio::sync::Semaphore::new(1) }
    }

    #[must_use]
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Rings the scoring worker (customers were queued).
    pub fn wake_scorer(&self) {
        self.wake.notify_one();
    }

    /// Waits for [`Plugins::wake_scorer`].
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The compiled plugin of `sha256`, read from the database and compiled (see
    /// [`Plugins::compile`]) if this replica has not loaded it.
    ///
    /// # Errors
    /// The bytes are missing or no longer load (a different engine); database failures.
    pub async fn load(&self, conn: &impl ConnectionTrait, sha256: &str) -> Result<Arc<guanxi_plugin_host::Plugin>> {
        self.load_stored(conn, sha256)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("plugin binary {sha256} is missing")))
    }

    /// As [`Plugins::load`], but `None` when the bytes are no longer stored: the version was
    /// upgraded or uninstalled since it was read.
    ///
    /// # Errors
    /// The bytes no longer load (a different engine); database failures.
    pub async fn load_stored(
        &self,
        conn: &impl ConnectionTrait,
        sha256: &str,
    ) -> Result<Option<Arc<guanxi_plugin_host::Plugin>>> {
        if let Some(p) = self.host.loaded(sha256) {
            return Ok(Some(p));
        }
        let Some(bytes) = store::plugins::binary(conn, sha256).await? else { return Ok(None) };
        let loaded = self.compile(bytes).await;
        loaded.map(Some).map_err(|e| Error::Internal(anyhow::anyhow!("loading plugin {sha256}: {e}")))
    }

    /// Checks and compiles a component on the blocking pool, one compilation at a time, never
    /// on a thread that serves requests (nor, by its callers, inside a write transaction).
    ///
    /// # Errors
    /// Why the host refuses the component.
    pub async fn compile(&self, bytes: Vec<u8>) -> std::result::Result<Arc<guanxi_plugin_host::Plugin>, InstallError> {
        let _turn = self.compiling.acquire().await.map_err(|e| InstallError::Link(e.to_string()))?;
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || host.load(&bytes))
            .await
            .unwrap_or_else(|e| Err(InstallError::Link(format!("the compilation stopped: {e}"))))
    }

    /// Keeps the record of one call (dropped, with a warning, if the log is far behind).
    pub fn record(&self, p: &plugin::Model, call: &str, items: usize, run: &RunRecord) {
        let Some(tx) = &self.runs else { return };
        let (outcome, error) = match &run.outcome {
            Ok(()) => ("OK".to_owned(), None),
            Err(e) => (e.reason.as_str().to_owned(), Some(e.message.clone())),
        };
        let row = plugin_run::Model {
            tenant_id: p.tenant_id,
            id: Uuid::now_v7(),
            plugin_id: p.id,
            version: p.version.clone(),
            call: call.to_owned(),
            items: i32::try_from(items).unwrap_or(i32::MAX),
            outcome,
            error,
            fuel_used: i64::try_from(run.fuel_used).unwrap_or(i64::MAX),
            memory_peak_bytes: i64::try_from(run.peak_memory).unwrap_or(i64::MAX),
            duration_us: i64::try_from(run.duration.as_micros()).unwrap_or(i64::MAX),
            logs: run.logs.clone(),
            at: store::now(),
        };
        if tx.try_send(row).is_err() {
            tracing::warn!(plugin = %p.name, "plugin run log is full; a run record was dropped");
        }
    }
}

/// A score key a scorer declared, as stored with the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub key: String,
    /// NUMBER or LABEL.
    pub kind: String,
    pub description: String,
}

impl KeySpec {
    #[must_use]
    pub fn field_type(&self) -> FieldType {
        if self.kind == "NUMBER" { FieldType::Decimal } else { FieldType::String }
    }
}

/// Limits lowered for one plugin; absent ones are the server's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_per_customer: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<usize>,
}

impl LimitOverrides {
    /// The limits of a call: `host`'s, each lowered where this asks for less.
    #[must_use]
    pub fn over(&self, host: Limits) -> Limits {
        Limits {
            fuel_base: self.fuel.unwrap_or(host.fuel_base),
            fuel_per_item: self.fuel_per_customer.unwrap_or(host.fuel_per_item),
            timeout: self.timeout_ms.map_or(host.timeout, std::time::Duration::from_millis),
            memory_bytes: self.memory_bytes.unwrap_or(host.memory_bytes),
            input_bytes: self.input_bytes.unwrap_or(host.input_bytes),
            output_bytes: self.output_bytes.unwrap_or(host.output_bytes),
            log_bytes: self.log_bytes.unwrap_or(host.log_bytes),
        }
        .at_most(host)
    }
}

/// What a stored plugin row says, read back.
#[must_use]
pub fn score_keys(p: &plugin::Model) -> Vec<KeySpec> {
    serde_json::from_value(p.score_keys.clone()).unwrap_or_default()
}

#[must_use]
pub fn capabilities(p: &plugin::Model) -> Vec<String> {
    serde_json::from_value(p.capabilities.clone()).unwrap_or_default()
}

#[must_use]
pub fn is_scorer(p: &plugin::Model) -> bool {
    capabilities(p).iter().any(|c| c == "SCORER")
}

#[must_use]
pub fn is_validator(p: &plugin::Model) -> bool {
    capabilities(p).iter().any(|c| c == "VALIDATOR")
}

#[must_use]
pub fn overrides(p: &plugin::Model) -> LimitOverrides {
    serde_json::from_value(p.limits.clone()).unwrap_or_default()
}

/// The limits a call of `p` runs with.
#[must_use]
pub fn limits_of(plugins: &Plugins, p: &plugin::Model) -> Limits {
    overrides(p).over(plugins.host.limits())
}

/// `config` as the JSON text calls receive (`null` when unset).
#[must_use]
pub fn config_json(p: &plugin::Model) -> String {
    p.config.as_ref().map_or_else(|| "null".to_owned(), Value::to_string)
}

/// A plugin failure as the error a caller sees.
#[must_use]
pub fn call_failed(p: &plugin::Model, err: &CallError) -> Error {
    Error::Plugin { plugin: p.name.clone(), reason: err.reason.as_str(), message: err.message.clone() }
}

fn ensure_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin { Ok(()) } else { Err(Error::Forbidden("only an ADMIN may manage plugins".into())) }
}

fn not_found(id: Uuid) -> Error {
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

fn check_name(raw: &str, v: &mut Vec<Violation>) -> String {
    let name = raw.trim().to_owned();
    let ok = (1..=MAX_NAME_CHARS).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    if !ok {
        v.push(Violation::new(
            "name",
            "INVALID_NAME",
            format!(
                "'{name}' must start with a lowercase letter and use only a-z, 0-9, - and _ (at most {MAX_NAME_CHARS})"
            ),
        ));
    }
    name
}

fn check_version(raw: Option<String>, fallback: String, v: &mut Vec<Violation>) -> String {
    let version = raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).unwrap_or(fallback);
    if version.chars().count() > MAX_VERSION_CHARS || version.chars().any(char::is_control) {
        v.push(Violation::new(
            "version",
            "INVALID_VERSION",
            format!("a version is at most {MAX_VERSION_CHARS} printable characters"),
        ));
    }
    version
}

fn check_config(config: Option<Value>, v: &mut Vec<Violation>) -> Option<Value> {
    let config = config.filter(|c| !c.is_null())?;
    if config.to_string().len() > MAX_CONFIG_BYTES {
        v.push(Violation::new("config", "TOO_LARGE", format!("a configuration is at most {MAX_CONFIG_BYTES} bytes")));
    }
    if custom_values::deeper_than(&config, custom_values::MAX_JSON_DEPTH) {
        let max = custom_values::MAX_JSON_DEPTH;
        v.push(Violation::new("config", "TOO_DEEP", format!("a configuration is nested at most {max} levels deep")));
    } else if let Err((code, message)) = custom_values::json_without_nul(&config) {
        // Only once its depth is known to be bounded: the check recurses.
        v.push(Violation::new("config", code, message));
    }
    Some(config)
}

fn check_limits(limits: Option<Value>, v: &mut Vec<Violation>) -> LimitOverrides {
    match limits.filter(|l| !l.is_null()) {
        None => LimitOverrides::default(),
        Some(raw) => serde_json::from_value(raw).unwrap_or_else(|e| {
            v.push(Violation::new("limits", "INVALID_LIMITS", format!("{e}")));
            LimitOverrides::default()
        }),
    }
}

fn decode_wasm(raw: &str, v: &mut Vec<Violation>) -> Vec<u8> {
    let cleaned: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match STANDARD.decode(cleaned.as_bytes()) {
        Ok(bytes) if !bytes.is_empty() => bytes,
        Ok(_) => {
            v.push(Violation::new("wasmBase64", "REQUIRED", "the component's bytes are required"));
            Vec::new()
        }
        Err(e) => {
            v.push(Violation::new("wasmBase64", "INVALID_BASE64", format!("not standard base64: {e}")));
            Vec::new()
        }
    }
}

async fn write_runs(db: &DatabaseConnection, batch: Vec<plugin_run::Model>) {
    if let Err(err) = store::in_write(db, async |txn| store::plugins::record_runs(txn, batch).await).await {
        tracing::warn!(error = %err, "recording plugin runs");
    }
}

fn install_refused(err: &InstallError) -> Error {
    let code = match err {
        InstallError::TooLarge(_) => "TOO_LARGE",
        InstallError::NotAComponent(_) => "NOT_A_COMPONENT",
        InstallError::NoPluginInterface => "NO_PLUGIN_INTERFACE",
        InstallError::ForbiddenImport(_) => "FORBIDDEN_IMPORT",
        InstallError::Link(_) => "LINK_FAILED",
    };
    Error::invalid("wasmBase64", code, err.to_string())
}

/// A checked component: its sha256, capabilities and score keys.
struct Checked {
    bytes: Vec<u8>,
    sha256: String,
    capabilities: Vec<&'static str>,
    keys: Vec<KeySpec>,
}

/// Loads the component and, for a scorer, asks its keys (a call under `limits`).
async fn check_component(plugins: &Plugins, row: &plugin::Model, bytes: Vec<u8>, limits: Limits) -> Result<Checked> {
    let loaded = plugins.compile(bytes.clone()).await.map_err(|e| install_refused(&e))?;
    let inspection = loaded.inspection().clone();
    let mut capabilities = Vec::new();
    let mut keys = Vec::new();
    if inspection.scorer {
        capabilities.push("SCORER");
        let (result, run) = plugins.host.keys(&loaded, limits).await;
        plugins.record(row, "KEYS", 0, &run);
        let declared = result.map_err(|e| call_failed(row, &e))?;
        let mut v = Vec::new();
        for k in declared {
            if !custom_fields::key_is_valid(&k.key) || EntityKind::Customer.is_built_in(&k.key) {
                v.push(Violation::new(
                    "wasmBase64",
                    "INVALID_SCORE_KEY",
                    format!("score key '{}' must be [a-z][a-z0-9_]* and not a built-in field of Customer", k.key),
                ));
            }
            let kind = if k.kind == ScoreKind::Number { "NUMBER" } else { "LABEL" };
            keys.push(KeySpec { key: k.key, kind: kind.to_owned(), description: k.description });
        }
        if !v.is_empty() {
            return Err(Error::Invalid(v));
        }
    }
    if inspection.validator {
        capabilities.push("VALIDATOR");
    }
    Ok(Checked { bytes, sha256: inspection.sha256, capabilities, keys })
}

/// `CONFLICT KEY_TAKEN` at `wasmBase64`.
fn key_taken(message: String) -> Error {
    Error::Conflict { code: "KEY_TAKEN", message, field: Some("wasmBase64".into()) }
}

/// Refuses keys that would be the same field of Customer as another: within the plugin, or of
/// another plugin of the tenant. Keys are compared by the GraphQL name they become too (`risk`
/// and `risk_`, `x1` and `x_1` are both one name), since one type cannot have a field twice.
///
/// # Errors
/// `CONFLICT KEY_TAKEN` naming both keys.
pub fn check_keys_free(others: &[plugin::Model], keys: &[KeySpec]) -> Result<()> {
    for (i, k) in keys.iter().enumerate() {
        let name = custom_fields::camel_case(&k.key);
        if let Some(twin) = keys[..i].iter().find(|t| custom_fields::camel_case(&t.key) == name) {
            let message = if twin.key == k.key {
                format!("score key '{}' is declared twice", k.key)
            } else {
                format!("score keys '{}' and '{}' are both the GraphQL field '{name}'", twin.key, k.key)
            };
            return Err(key_taken(message));
        }
        for owner in others {
            if let Some(theirs) = score_keys(owner).into_iter().find(|t| custom_fields::camel_case(&t.key) == name) {
                let message = if theirs.key == k.key {
                    format!("score key '{}' is already computed by plugin {}", k.key, owner.name)
                } else {
                    format!(
                        "score key '{}' and plugin {}'s key '{}' are both the GraphQL field '{name}'",
                        k.key, owner.name, theirs.key
                    )
                };
                return Err(key_taken(message));
            }
        }
    }
    Ok(())
}

/// The plugin as the audit trail records it.
fn audit_snapshot(p: &plugin::Model) -> Value {
    json!({
        "name": p.name, "version": p.version, "sha256": p.sha256, "capabilities": p.capabilities,
        "scoreKeys": p.score_keys, "config": p.config, "limits": p.limits, "enabled": p.enabled,
    })
}

/// Installs a plugin: checked and compiled before anything is stored; a scorer's keys become
/// computed custom fields of Customer and every customer is queued for scoring.
///
/// # Errors
/// `FORBIDDEN`; `BAD_USER_INPUT` for bad input or a component the host refuses (garbage, a
/// core module, forbidden imports, too large); `PLUGIN_ERROR` if a scorer fails to declare its
/// keys; `CONFLICT` for a name in use or a score key another field or plugin has.
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
    super::field_indexes::wake();
    Ok(row)
}

/// A plugin checked and compiled, ready to be stored.
struct Prepared {
    row: plugin::Model,
    checked: Checked,
}

/// Everything of an install that needs no database: the input's checks and the component's.
async fn prepare_install(plugins: &Plugins, caller: &Caller, input: InstallInput) -> Result<Prepared> {
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
    let at = store::now();
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
    let checked = check_component(plugins, &row, bytes, limits.over(plugins.host.limits())).await?;
    row.sha256.clone_from(&checked.sha256);
    row.capabilities = json!(checked.capabilities);
    row.score_keys = json!(checked.keys);
    Ok(Prepared { row, checked })
}

/// Stores a prepared plugin inside a definition change's transaction (see [`begin_change`]).
async fn store_install(txn: &DatabaseTransaction, caller: &Caller, prepared: Prepared) -> Result<plugin::Model> {
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
async fn begin_change(db: &DatabaseConnection, caller: &Caller) -> Result<store::WriteTxn> {
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
    // The key listing runs the new component: its record names the new version.
    let mut candidate = current.clone();
    candidate.version.clone_from(&version);
    let checked = check_component(plugins, &candidate, bytes, limits_of(plugins, &current)).await?;

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
    super::field_indexes::wake();
    Ok(row)
}

async fn save_change(
    txn: &DatabaseTransaction,
    caller: &Caller,
    before: &plugin::Model,
    row: &mut plugin::Model,
) -> Result<()> {
    row.revision = before.revision + 1;
    row.updated_at = store::now();
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
    super::field_indexes::wake();
    Ok(row)
}

/// `configurePlugin`'s input: absent keys stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ConfigureInput {
    /// `Some(Value::Null)` clears the configuration.
    pub config: Option<Value>,
    pub limits: Option<Value>,
}

/// Changes a plugin's configuration or lowers its limits; a scorer re-scores every customer.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`, `BAD_USER_INPUT`; database failures.
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
    let txn = begin_change(db, caller).await?;
    let before = find_for_change(&txn, caller, id).await?;
    let mut row = before.clone();
    if let Some(config) = config {
        row.config = config;
    }
    if let Some(limits) = limits {
        row.limits = serde_json::to_value(limits).unwrap_or_else(|_| json!({}));
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
    super::field_indexes::wake();
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
        store::now(),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

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

fn target_parts(t: &Target) -> (EntityKind, String) {
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
    let at = store::now();
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
    audit::record(&txn, caller, TYPE_NAME, plugin_id, audit::Action::Update, Some(before), None, store::now()).await?;
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

/// Runs the validators attached to fields of `entity` on the record about to be written
/// (`record`: the entity as the audit trail shows it, custom values under `customFields`;
/// `defs`: the entity's definitions the write read), once the write's own checks passed.
/// A field is checked when it has a value that differs from `before`'s.
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
    record: &Value,
    before: Option<&Value>,
) -> Result<()> {
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
        if old == Some(value) {
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

/// The caller that installs a new tenant's default plugins.
fn system_caller(t: &tenant::Model) -> Caller {
    Caller {
        tenant_id: t.id,
        tenant_slug: t.slug.clone(),
        tenant_name: t.name.clone(),
        user_id: Uuid::nil(),
        subject: "guanxi".into(),
        name: Some("Guanxi".into()),
        email: None,
        role: Role::Admin,
    }
}

/// The tenant of `slug`, created on first sight, with the default plugins when `defaults`.
///
/// The tenant and its default plugins are stored in one transaction, so a tenant never exists
/// without them, whatever fails or crashes in between; of concurrent first requests one creates
/// the tenant and the others wait for it and find it.
///
/// # Errors
/// Database failures; a default plugin that cannot be installed (a broken build).
pub async fn tenant_for(
    db: &DatabaseConnection,
    plugins: &Plugins,
    slug: &str,
    defaults: bool,
) -> Result<tenant::Model> {
    if let Some(t) = store::tenants::find_by_slug(db, slug).await? {
        return Ok(t);
    }
    let txn = store::begin_write(db).await?;
    let (t, created) = store::tenants::get_or_create(&txn, slug).await?;
    let install_defaults = created && defaults;
    if install_defaults {
        let caller = system_caller(&t);
        for (name, bytes) in DEFAULT_PLUGINS {
            let input =
                InstallInput { name: name.into(), wasm_base64: STANDARD.encode(bytes), ..InstallInput::default() };
            let prepared = prepare_install(plugins, &caller, input).await?;
            store_install(&txn, &caller, prepared).await?;
        }
    }
    txn.commit().await?;
    if install_defaults {
        plugins.wake_scorer();
        // Computed fields may have come or gone: their indexes too.
        super::field_indexes::wake();
    }
    Ok(t)
}

/// Installs a plugin into the tenant of `slug` as the operator (the command line), creating
/// the tenant, with its default plugins, if it is new.
///
/// # Errors
/// As [`install`].
pub async fn install_as_operator(
    db: &DatabaseConnection,
    plugins: &Plugins,
    slug: &str,
    input: InstallInput,
) -> Result<plugin::Model> {
    let t = tenant_for(db, plugins, slug, true).await?;
    install(db, plugins, &system_caller(&t), input).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> KeySpec {
        KeySpec { key: k.into(), kind: "NUMBER".into(), description: String::new() }
    }

    fn scorer(name: &str, keys: &[&str]) -> plugin::Model {
        let at = chrono::Utc::now();
        plugin::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::now_v7(),
            name: name.into(),
            version: "1".into(),
            sha256: String::new(),
            capabilities: json!(["SCORER"]),
            score_keys: json!(keys.iter().map(|k| key(k)).collect::<Vec<_>>()),
            config: None,
            limits: json!({}),
            enabled: true,
            revision: 1,
            installed_at: at,
            updated_at: at,
        }
    }

    fn refusal(others: &[plugin::Model], keys: &[&str]) -> (String, String) {
        let keys: Vec<KeySpec> = keys.iter().map(|k| key(k)).collect();
        match check_keys_free(others, &keys) {
            Err(Error::Conflict { code, message, .. }) => (code.to_owned(), message),
            other => panic!("{keys:?}: expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn keys_that_become_one_graphql_name_are_refused_naming_both() {
        let (code, message) = refusal(&[], &["risk", "risk_"]);
        assert_eq!(code, "KEY_TAKEN");
        assert!(message.contains("'risk'") && message.contains("'risk_'"), "{message}");
        let (_, message) = refusal(&[], &["x1", "x_1"]);
        assert!(message.contains("'x1'") && message.contains("'x_1'"), "{message}");
        let (_, message) = refusal(&[], &["risk", "risk"]);
        assert!(message.contains("twice"), "{message}");

        let other = scorer("other", &["note", "x_1"]);
        let (code, message) = refusal(std::slice::from_ref(&other), &["x1"]);
        assert_eq!(code, "KEY_TAKEN");
        assert!(message.contains("'x1'") && message.contains("'x_1'") && message.contains("other"), "{message}");
        let (_, message) = refusal(std::slice::from_ref(&other), &["note"]);
        assert!(message.contains("already computed by plugin other"), "{message}");

        check_keys_free(&[other], &[key("risk"), key("note_2")]).expect("distinct names");
    }
}
