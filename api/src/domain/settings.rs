//! Tenant settings: the base currency of purchase totals and the complaint SLA table. Stored as
//! one JSON object on the tenant; absent keys take the defaults below.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Response and resolution time allowed for one severity, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaTerms {
    pub response_minutes: i64,
    pub resolution_minutes: i64,
}

/// The value tiers' shares of a tenant's scored customers, in percent, top down; SMALL takes
/// the rest (1 / 19 / 30 / 50 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierCutPoints {
    pub key_primary: f64,
    pub key_secondary: f64,
    pub ordinary: f64,
}

impl Default for TierCutPoints {
    fn default() -> Self {
        Self { key_primary: 1.0, key_secondary: 19.0, ordinary: 30.0 }
    }
}

impl TierCutPoints {
    /// Each share between 0 and 100 with at most two decimals, together at most 100.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        let shares = [self.key_primary, self.key_secondary, self.ordinary];
        shares
            .iter()
            .all(|s| s.is_finite() && (0.0..=100.0).contains(s) && ((s * 100.0).round() - s * 100.0).abs() < 1e-6)
            && shares.iter().sum::<f64>() <= 100.0 + 1e-9
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSettings {
    pub base_currency: String,
    /// Keyed by severity (`LOW` … `CRITICAL`).
    pub sla: BTreeMap<String, SlaTerms>,
    pub tier_cut_points: TierCutPoints,
    /// The number score customers are ranked by into tiers.
    pub tier_score_key: String,
    /// Only the trusted documents run, for every role but ADMIN (`setTrustedDocuments`).
    pub enforce_trusted_documents: bool,
}

const HOUR: i64 = 60;
const DAY: i64 = 24 * HOUR;

impl Default for TenantSettings {
    fn default() -> Self {
        let terms = |response, resolution| SlaTerms { response_minutes: response, resolution_minutes: resolution };
        Self {
            base_currency: "CNY".into(),
            sla: BTreeMap::from([
                ("CRITICAL".into(), terms(HOUR, DAY)),
                ("HIGH".into(), terms(4 * HOUR, 3 * DAY)),
                ("MEDIUM".into(), terms(8 * HOUR, 5 * DAY)),
                ("LOW".into(), terms(DAY, 10 * DAY)),
            ]),
            tier_cut_points: TierCutPoints::default(),
            tier_score_key: "value_score".into(),
            enforce_trusted_documents: false,
        }
    }
}

impl TenantSettings {
    /// The settings stored as `json`, with defaults for whatever is missing.
    #[must_use]
    pub fn from_json(json: &Value) -> Self {
        let mut settings: TenantSettings = serde_json::from_value(json.clone()).unwrap_or_default();
        for (severity, terms) in TenantSettings::default().sla {
            settings.sla.entry(severity).or_insert(terms);
        }
        if settings.base_currency.is_empty() {
            settings.base_currency = "CNY".into();
        }
        if settings.tier_score_key.is_empty() {
            settings.tier_score_key = "value_score".into();
        }
        if !settings.tier_cut_points.is_valid() {
            settings.tier_cut_points = TierCutPoints::default();
        }
        settings
    }

    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The terms for `severity` (defaults if the table lacks it).
    #[must_use]
    pub fn sla_for(&self, severity: &str) -> SlaTerms {
        self.sla.get(severity).copied().unwrap_or(SlaTerms { response_minutes: DAY, resolution_minutes: 10 * DAY })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_defaults() {
        let s = TenantSettings::from_json(
            &serde_json::json!({ "sla": { "LOW": { "responseMinutes": 5, "resolutionMinutes": 50 } } }),
        );
        assert_eq!(s.base_currency, "CNY");
        assert_eq!(s.sla_for("LOW"), SlaTerms { response_minutes: 5, resolution_minutes: 50 });
        assert_eq!(s.sla_for("CRITICAL"), SlaTerms { response_minutes: 60, resolution_minutes: 1440 });
    }
}
