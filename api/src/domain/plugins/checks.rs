//! The checks of an install or upgrade that need no database: the name, version,
//! configuration, limits and bytes given, then the component itself, compiled and, for a
//! scorer, asked for its score keys, which must not clash with another field of Customer; and a
//! component that checks its configuration (contract 0.2.0's `config` export) asked whether it
//! accepts the one given. Apart from the lifecycle so that the changes there read as what they
//! store.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use guanxi_entity::plugin;
use guanxi_plugin_host::{InstallError, Limits, Reason, ScoreKind};
use serde_json::Value;

use super::runtime::{Plugins, call_failed, config_json};
use super::stored::{KeySpec, LimitOverrides, score_keys};
use crate::domain::custom_fields::{self, EntityKind};
use crate::domain::custom_values;
use crate::error::{Error, Result, Violation};

/// The largest configuration a plugin may be given (it is handed to every call).
const MAX_CONFIG_BYTES: usize = 64 * 1024;
const MAX_NAME_CHARS: usize = 100;
const MAX_VERSION_CHARS: usize = 64;

pub(super) fn check_name(raw: &str, v: &mut Vec<Violation>) -> String {
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

pub(super) fn check_version(raw: Option<String>, fallback: String, v: &mut Vec<Violation>) -> String {
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

pub(super) fn check_config(config: Option<Value>, v: &mut Vec<Violation>) -> Option<Value> {
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

pub(super) fn check_limits(limits: Option<Value>, v: &mut Vec<Violation>) -> LimitOverrides {
    match limits.filter(|l| !l.is_null()) {
        None => LimitOverrides::default(),
        Some(raw) => serde_json::from_value(raw).unwrap_or_else(|e| {
            v.push(Violation::new("limits", "INVALID_LIMITS", format!("{e}")));
            LimitOverrides::default()
        }),
    }
}

pub(super) fn decode_wasm(raw: &str, v: &mut Vec<Violation>) -> Vec<u8> {
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
pub(super) struct Checked {
    pub(super) bytes: Vec<u8>,
    pub(super) sha256: String,
    pub(super) capabilities: Vec<&'static str>,
    pub(super) keys: Vec<KeySpec>,
}

/// Loads the component and, for a scorer, asks its keys (a call under `limits`); with
/// `with_config`, asks a component that checks its configuration whether it accepts `row.config`
/// (see [`check_plugin_config`]).
pub(super) async fn check_component(
    plugins: &Plugins,
    row: &plugin::Model,
    bytes: Vec<u8>,
    limits: Limits,
    with_config: bool,
) -> Result<Checked> {
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
    if with_config {
        check_plugin_config(plugins, row, &loaded, limits).await?;
    }
    Ok(Checked { bytes, sha256: inspection.sha256, capabilities, keys })
}

/// Asks a component that checks its configuration whether it accepts `row.config` (`null` when
/// none), in the sandbox under `limits`, and records the call (`CHECK_CONFIG`). A component
/// without the check accepts any.
///
/// # Errors
/// `BAD_USER_INPUT` `INVALID_CONFIG` on `config`, with the plugin's message, when it refuses the
/// configuration; `PLUGIN_ERROR` when the call fails (a trap, out of fuel, a timeout…).
pub(super) async fn check_plugin_config(
    plugins: &Plugins,
    row: &plugin::Model,
    loaded: &Arc<guanxi_plugin_host::Plugin>,
    limits: Limits,
) -> Result<()> {
    if !loaded.inspection().checks_config {
        return Ok(());
    }
    let (result, run) = plugins.host.check_config(loaded, config_json(row), limits).await;
    plugins.record(row, "CHECK_CONFIG", 0, &run);
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.reason == Reason::GuestError => Err(Error::Invalid(vec![Violation {
            field: "config".into(),
            code: "INVALID_CONFIG".into(),
            message: format!("{} (plugin {})", e.message, row.name),
            plugin: Some(row.name.clone()),
        }])),
        Err(e) => Err(call_failed(row, &e)),
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

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
