//! What a stored plugin row says, read back: the score keys a scorer declared, its
//! capabilities, and the limits lowered for it. Plain readers of the row, which the lifecycle,
//! the validators and the scoring worker share.

use guanxi_entity::plugin;
use guanxi_plugin_host::Limits;
use serde::{Deserialize, Serialize};

use crate::domain::custom_fields::FieldType;

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
