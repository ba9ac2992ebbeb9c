//! `guanxi plugin check` and `guanxi plugin run`: a plugin author's tools. They use the server's
//! own host and limits, without a server or a database.

use std::path::Path;

use anyhow::{Context as _, bail};
use guanxi_api::InstallInput;
use guanxi_plugin_host::{CustomerSnapshot, Host, HostConfig, Limits, RunRecord, ScoreValue, ValidationRequest};
use serde_json::{Map, Value, json};

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub(crate) fn host() -> anyhow::Result<Host> {
    Host::new(HostConfig::default()).map_err(anyhow::Error::msg)
}

/// Prints the contract version the component speaks, what it exports and imports, and whether
/// the server would install it.
///
/// # Errors
/// The file cannot be read, or the plugin would be refused (the reason is printed).
pub fn check(path: &Path) -> anyhow::Result<()> {
    let bytes = read(path)?;
    match host()?.inspect(&bytes) {
        Ok(i) => {
            let exports: Vec<&str> = [(i.scorer, "scorer"), (i.validator, "validator"), (i.checks_config, "config")]
                .into_iter()
                .filter_map(|(has, name)| has.then_some(name))
                .collect();
            println!("size     {} bytes (at most {})", i.size, guanxi_plugin_host::MAX_PLUGIN_BYTES);
            println!("sha256   {}", i.sha256);
            println!("contract guanxi:plugin@{}", i.contract);
            println!("exports  {}", exports.join(", "));
            println!("imports  {}", if i.imports.is_empty() { "none".into() } else { i.imports.join(", ") });
            println!("verdict  accepted");
            Ok(())
        }
        Err(e) => {
            println!("verdict  refused: {e}");
            bail!("the plugin would be refused at install: {e}")
        }
    }
}

fn string(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn opt_string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or_default()
}

fn pairs<T>(v: &Value, key: &str, value: impl Fn(&Value) -> Option<T>) -> Vec<(String, T)> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, x)| value(x).map(|x| (k.clone(), x))).collect())
        .unwrap_or_default()
}

/// A snapshot as `Customer.scoringSnapshot` shows it (camelCase JSON) in the contract's shape.
pub(crate) fn snapshot(v: &Value) -> anyhow::Result<CustomerSnapshot> {
    if v.get("customerId").and_then(Value::as_str).is_none() {
        bail!("a snapshot needs customerId: save Customer.scoringSnapshot from the API as the input");
    }
    Ok(CustomerSnapshot {
        customer_id: string(v, "customerId"),
        kind: string(v, "kind"),
        name: string(v, "name"),
        status: string(v, "status"),
        region: opt_string(v, "region"),
        industry: opt_string(v, "industry"),
        channel: opt_string(v, "channel"),
        tags: v
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        relationship_type: opt_string(v, "relationshipType"),
        tier: opt_string(v, "tier"),
        created_at: string(v, "createdAt"),
        custom_fields_json: v.get("customFields").map_or_else(|| "{}".to_owned(), Value::to_string),
        base_currency: string(v, "baseCurrency"),
        purchase_count: int(v, "purchaseCount"),
        purchase_total: string(v, "purchaseTotal"),
        purchase_totals: pairs(v, "purchaseTotals", |x| x.as_str().map(str::to_owned)),
        first_purchase_at: opt_string(v, "firstPurchaseAt"),
        last_purchase_at: opt_string(v, "lastPurchaseAt"),
        purchases_last90_days: int(v, "purchasesLast90Days"),
        purchases_last365_days: int(v, "purchasesLast365Days"),
        interaction_count: int(v, "interactionCount"),
        interaction_counts: pairs(v, "interactionCounts", Value::as_i64),
        last_interaction_at: opt_string(v, "lastInteractionAt"),
        interactions_last30_days: pairs(v, "interactionsLast30Days", Value::as_i64),
        interactions_last90_days: pairs(v, "interactionsLast90Days", Value::as_i64),
        interactions_last365_days: pairs(v, "interactionsLast365Days", Value::as_i64),
        days_since_last_interaction: pairs(v, "daysSinceLastInteraction", Value::as_i64),
        complaints_open: pairs(v, "complaintsOpen", Value::as_i64),
        complaints_total: pairs(v, "complaintsTotal", Value::as_i64),
        survey_count: int(v, "surveyCount"),
        average_satisfaction: v.get("averageSatisfaction").and_then(Value::as_f64),
        would_buy_again_rate: v.get("wouldBuyAgainRate").and_then(Value::as_f64),
        now: string(v, "now"),
    })
}

fn report(result: Result<Value, guanxi_plugin_host::CallError>, record: &RunRecord) -> anyhow::Result<()> {
    let mut out = Map::new();
    let failed = result.is_err();
    match result {
        Ok(v) => out.insert("result".into(), v),
        Err(e) => out.insert("error".into(), json!({ "reason": e.reason.as_str(), "message": e.message })),
    };
    out.insert("fuelUsed".into(), json!(record.fuel_used));
    out.insert("peakMemoryBytes".into(), json!(record.peak_memory));
    out.insert("durationMs".into(), json!(record.duration.as_secs_f64() * 1e3));
    out.insert("logs".into(), json!(record.logs));
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    if failed {
        bail!("the plugin call failed");
    }
    Ok(())
}

/// What `plugin run` gives the plugin.
pub enum Input {
    /// A JSON file: a scoring snapshot (or a list of them), or a validation request.
    File(std::path::PathBuf),
    /// A value to validate, from the command line (`value` and `record` are JSON).
    Validation { entity: String, field: String, value: Option<String>, record: Option<String> },
    /// A snapshot fetched from a running server.
    Snapshot(Value),
}

/// Which of its interfaces `plugin run` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Whichever the input is for.
    Input,
    Validate,
    Score,
}

/// What the input looks like, for messages that tell the author what was given.
fn shape(input: &Value) -> &'static str {
    match input {
        Value::Array(_) => "a list (of snapshots)",
        Value::Object(o) if o.contains_key("field") => "a validation request (it has `field`)",
        Value::Object(o) if o.contains_key("customerId") => "a snapshot (it has `customerId`)",
        Value::Object(_) => "an object with neither `field` (a validation) nor `customerId` (a snapshot)",
        _ => "not an object",
    }
}

/// Runs a plugin once under the server's limits. The input is a scoring snapshot (or a list of
/// them) for a scorer, or `{ "entity", "field", "value", "record" }` for a validator; one the
/// plugin cannot take is refused naming what the plugin exports and what the input looks like.
///
/// # Errors
/// Unreadable files, a refused plugin, an input of the other kind, or a failed call (its reason
/// is printed).
pub async fn run(path: &Path, input: Input, mode: Mode, config: Option<&Path>) -> anyhow::Result<()> {
    let host = host()?;
    let plugin = host.load(&read(path)?).map_err(|e| anyhow::anyhow!("the plugin would be refused: {e}"))?;
    let input: Value = match input {
        Input::File(file) => serde_json::from_slice(&read(&file)?).context("the input is not JSON")?,
        Input::Snapshot(snapshot) => snapshot,
        Input::Validation { entity, field, value, record } => {
            let json = |flag: &str, text: Option<String>| -> anyhow::Result<Value> {
                text.map_or(Ok(Value::Null), |t| {
                    serde_json::from_str(&t).with_context(|| format!("--{flag} is not JSON (a string is '\"text\"')"))
                })
            };
            let record = if record.is_some() { json("record", record)? } else { json!({}) };
            json!({ "entity": entity, "field": field, "value": json("value", value)?, "record": record })
        }
    };
    // The server hands an unconfigured plugin `null`.
    let config = match config {
        Some(c) => String::from_utf8(read(c)?).context("the config is not UTF-8")?,
        None => "null".to_owned(),
    };
    let limits = Limits::default();
    let exports = plugin.inspection();
    let exported = match (exports.scorer, exports.validator) {
        (true, true) => "both the scorer and the validator interfaces",
        (true, false) => "the scorer interface, not the validator one",
        _ => "the validator interface, not the scorer one",
    };
    let validation = match mode {
        Mode::Input => input.get("field").is_some(),
        Mode::Validate => true,
        Mode::Score => false,
    };
    if validation && !exports.validator {
        bail!(
            "this plugin exports {exported}, and the input is {}: give it Customer.scoringSnapshot saved from \
             the API (--input), or --from-server CUSTOMER_ID",
            shape(&input)
        );
    }
    if !validation && !exports.scorer {
        bail!(
            "this plugin exports {exported}, and the input is {}: give it {{ \"entity\", \"field\", \"value\", \
             \"record\" }} (--input), or --field K --value JSON",
            shape(&input)
        );
    }
    if validation && input.get("field").is_none() {
        bail!("--validate needs a validation request, and the input is {}: --field K --value JSON", shape(&input));
    }
    if validation {
        let request = ValidationRequest {
            entity: string(&input, "entity"),
            field: string(&input, "field"),
            value_json: input.get("value").unwrap_or(&Value::Null).to_string(),
            record_json: input.get("record").map_or_else(|| "{}".to_owned(), Value::to_string),
            config_json: config,
        };
        let (result, record) = host.validate(&plugin, request, limits).await;
        let result = result.map(|violations| {
            json!(
                violations
                    .into_iter()
                    .map(|v| json!({ "field": v.field, "code": v.code, "message": v.message }))
                    .collect::<Vec<_>>()
            )
        });
        return report(result, &record);
    }
    let batch = match &input {
        Value::Array(items) => items.iter().map(snapshot).collect::<anyhow::Result<Vec<_>>>()?,
        one => vec![snapshot(one).with_context(|| format!("the input is {}", shape(one)))?],
    };
    let (result, record) = host.score(&plugin, batch, config, limits).await;
    let result =
        result.map(|scores| {
            json!(scores
            .into_iter()
            .map(|c| json!({
                "customerId": c.customer_id,
                "scores": c.scores.into_iter().map(|s| json!({
                    "key": s.key,
                    "value": match s.value { ScoreValue::Number(n) => json!(n), ScoreValue::Label(l) => json!(l) },
                    "explanation": s.explanation,
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>())
        });
    report(result, &record)
}

/// Where `plugin install` puts the plugin.
pub enum Target {
    /// A running server, through its API, as the token's tenant.
    Server { url: String, token: Option<String> },
    /// A server's database, straight, as the operator.
    Database { url: String, tenant: String, create: bool },
}

/// What `plugin install` installs.
pub struct Install {
    pub name: Option<String>,
    pub config: Option<std::path::PathBuf>,
    pub upgrade: bool,
    /// `ENTITY.field`, for a validator.
    pub attach: Option<String>,
}

/// Installs a component into a tenant, as `installPlugin` does, upgrades it in place with
/// `upgrade`, attaches it to a field with `attach`, and prints what was done and where.
///
/// # Errors
/// The file cannot be read, the server or database is unreachable, or the plugin is refused
/// (the message says why).
pub async fn install(path: &Path, what: Install, target: Target) -> anyhow::Result<()> {
    use base64::Engine as _;
    let bytes = read(path)?;
    let config = match &what.config {
        Some(c) => Some(serde_json::from_slice::<Value>(&read(c)?).context("--config is not JSON")?),
        None => None,
    };
    let name = what.name.unwrap_or_else(|| {
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").replace('_', "-").to_lowercase()
    });
    let attach = what.attach.as_deref().map(crate::remote::attach_target).transpose()?;
    if let Some(config) = &config {
        check_config_locally(&bytes, config).await?;
    }
    let wasm_base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let printed = match target {
        Target::Server { url, token } => {
            let server = crate::remote::Server::new(&url, token)?;
            server.install(&wasm_base64, &name, config, what.upgrade, attach).await?
        }
        Target::Database { url, tenant, create } => {
            into_database(
                &url,
                &tenant,
                create,
                InstallInput { name, wasm_base64, config, ..InstallInput::default() },
                what.upgrade,
                attach,
            )
            .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(())
}

/// Puts `config` to the component's own check before anything is sent or stored: an upgrade
/// with a configuration is two steps (the component, then the configuration), and a
/// configuration the new component refuses must not leave the first step done.
async fn check_config_locally(bytes: &[u8], config: &Value) -> anyhow::Result<()> {
    let host = host()?;
    let plugin = host.load(bytes).map_err(|e| anyhow::anyhow!("the plugin would be refused: {e}"))?;
    if !plugin.inspection().checks_config {
        return Ok(());
    }
    let (result, _) = host.check_config(&plugin, config.to_string(), Limits::default()).await;
    result.map_err(|e| anyhow::anyhow!("the plugin refuses this configuration, nothing was installed: {}", e.message))
}

/// The operator's install, straight into a database: what `install` does without a server.
async fn into_database(
    database_url: &str,
    tenant: &str,
    create: bool,
    input: InstallInput,
    upgrade: bool,
    attach: Option<(String, String)>,
) -> anyhow::Result<Value> {
    use guanxi_api::{OperatorInstall, Plugins, install_as_operator};
    if !guanxi_api::auth::is_tenant_slug(tenant) {
        bail!("--tenant must match [a-z0-9-]{{1,63}}");
    }
    // The default database is a file in the working directory: run from elsewhere (the
    // plugin's folder, say), it would be a new, empty one the server never reads.
    if let Some(file) = sqlite_file(database_url)
        && !create
        && !file.exists()
    {
        let shown = std::path::absolute(&file).unwrap_or(file);
        bail!(
            "no database at {}: name the server's database with --database-url (or install through the running \
             server with --url and --token), or pass --create to make a new one",
            shown.display()
        );
    }
    let db = guanxi_api::connect(database_url, 2).await?;
    guanxi_api::migrate(&db).await?;
    let runtime = Plugins::new(std::sync::Arc::new(host()?));
    let op = OperatorInstall { input, create, upgrade, attach };
    let (p, attached) = install_as_operator(&db, &runtime, tenant, op).await.map_err(|e| match e {
        guanxi_api::Error::Invalid(v) => anyhow::anyhow!(
            "refused: {}",
            v.iter().map(|x| format!("{}: {}", x.field, x.message)).collect::<Vec<_>>().join("; ")
        ),
        guanxi_api::Error::Conflict { message, .. } if !upgrade && message.contains("installed already") => {
            anyhow::anyhow!("refused: {message} (pass --upgrade)")
        }
        other => anyhow::anyhow!("refused: {other}"),
    })?;
    Ok(json!({
        "id": guanxi_api::global_id(guanxi_api::PLUGIN_TYPE_NAME, p.id),
        "database": guanxi_api::redact_url(database_url),
        "tenant": tenant, "name": p.name, "version": p.version, "sha256": p.sha256,
        "capabilities": p.capabilities, "scoreKeys": p.score_keys, "attachedTo": attached,
    }))
}

/// The file of a `sqlite:` URL (`sqlite://guanxi.db?mode=rwc`, `sqlite:///abs/path.db`), if it
/// is one; `None` for other databases and SQLite in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
