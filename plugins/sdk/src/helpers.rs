//! Small helpers every plugin needs: reading the configuration, dates and money of a snapshot,
//! and building scores, keys and violations.

use serde::de::DeserializeOwned;

use crate::{Score, ScoreKey, ScoreKind, ScoreValue, Violation};

/// The tenant's configuration of your plugin, as `T`; `null` (not configured) reads as
/// `T::default()`.
///
/// ```
/// #[derive(serde::Deserialize, Default)]
/// struct Thresholds { churn_days: Option<f64> }
///
/// let t: Thresholds = guanxi_plugin_sdk::config(r#"{"churn_days": 400}"#).unwrap();
/// assert_eq!(t.churn_days, Some(400.0));
/// let unset: Thresholds = guanxi_plugin_sdk::config("null").unwrap();
/// assert_eq!(unset.churn_days, None);
/// assert!(guanxi_plugin_sdk::config::<Thresholds>(r#"{"churn_days": "soon"}"#).is_err());
/// ```
pub fn config<T: DeserializeOwned + Default>(config_json: &str) -> Result<T, String> {
    match serde_json::from_str::<serde_json::Value>(config_json) {
        Ok(serde_json::Value::Null) => Ok(T::default()),
        Ok(value) => serde_json::from_value(value).map_err(|e| format!("the plugin's configuration: {e}")),
        Err(e) => Err(format!("the plugin's configuration is not JSON: {e}")),
    }
}

/// Days since 1970-01-01 of the date part of an RFC 3339 time (`2026-11-26T…`).
fn day_number(rfc3339: &str) -> Option<i64> {
    let num = |a: usize, b: usize| rfc3339.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    Some(era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468)
}

/// Whole days from `earlier` to `later` (RFC 3339 times, as snapshots carry them), by their
/// dates; `None` if either is not a time.
///
/// ```
/// use guanxi_plugin_sdk::days_between;
/// assert_eq!(days_between("2026-01-31T23:00:00Z", "2026-03-01T08:00:00.000000Z"), Some(29));
/// assert_eq!(days_between("2024-02-28T00:00:00Z", "2024-03-01T00:00:00Z"), Some(2));
/// assert_eq!(days_between("soon", "2026-03-01T08:00:00Z"), None);
/// ```
#[must_use]
pub fn days_between(earlier: &str, later: &str) -> Option<i64> {
    Some(day_number(later)? - day_number(earlier)?)
}

/// An exact decimal amount of a snapshot (`purchase_total`, …) as a number; `0` if unreadable.
///
/// ```
/// assert_eq!(guanxi_plugin_sdk::money("88000.50"), 88000.5);
/// assert_eq!(guanxi_plugin_sdk::money(""), 0.0);
/// ```
#[must_use]
pub fn money(amount: &str) -> f64 {
    amount.parse().unwrap_or(0.0)
}

/// A number score.
///
/// ```
/// let s = guanxi_plugin_sdk::number("churn_risk", 0.25, Some("no purchase for 200 days".into()));
/// assert_eq!(s.value, guanxi_plugin_sdk::ScoreValue::Number(0.25));
/// ```
#[must_use]
pub fn number(key: &str, value: f64, explanation: Option<String>) -> Score {
    Score { key: key.to_owned(), value: ScoreValue::Number(value), explanation }
}

/// A label score.
///
/// ```
/// let s = guanxi_plugin_sdk::label("segment", "CHAMPION", None);
/// assert_eq!(s.value, guanxi_plugin_sdk::ScoreValue::Label("CHAMPION".into()));
/// ```
#[must_use]
pub fn label(key: &str, value: &str, explanation: Option<String>) -> Score {
    Score { key: key.to_owned(), value: ScoreValue::Label(value.to_owned()), explanation }
}

/// A number key declaration.
///
/// ```
/// let k = guanxi_plugin_sdk::number_key("value_score", "RFM value, 0 to 100");
/// assert_eq!(k.kind, guanxi_plugin_sdk::ScoreKind::Number);
/// ```
#[must_use]
pub fn number_key(key: &str, description: &str) -> ScoreKey {
    ScoreKey { key: key.to_owned(), kind: ScoreKind::Number, description: description.to_owned() }
}

/// A label key declaration.
///
/// ```
/// let k = guanxi_plugin_sdk::label_key("rfm_segment", "CHAMPION, LOYAL, …");
/// assert_eq!(k.kind, guanxi_plugin_sdk::ScoreKind::Label);
/// ```
#[must_use]
pub fn label_key(key: &str, description: &str) -> ScoreKey {
    ScoreKey { key: key.to_owned(), kind: ScoreKind::Label, description: description.to_owned() }
}

/// A violation of `field` with a stable SCREAMING_CASE `code` and a message for people.
///
/// ```
/// let v = guanxi_plugin_sdk::violation("loyalty_card", "INVALID_CHECK_DIGIT", "the last digit is wrong");
/// assert_eq!(v.code, "INVALID_CHECK_DIGIT");
/// ```
#[must_use]
pub fn violation(field: &str, code: &str, message: &str) -> Violation {
    Violation { field: field.to_owned(), code: code.to_owned(), message: message.to_owned() }
}
