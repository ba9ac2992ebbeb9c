//! A scorer of contract 0.2.0, built with the SDK, that checks its configuration
//! (`{"window_days": 30, 90 or 365}`) and answers with what its snapshot carried: the
//! interactions of its window, the days since the last visit, and the JSON type of each custom
//! value. `{"mode": "panic"}` makes the check panic and `{"mode": "loop"}` spin until its fuel
//! runs out.

use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, label, label_key, number, number_key};
use serde_json::Value;

pub struct CheckedScorer;

/// The window the configuration asks for; 90 days without one.
fn window_days(config_json: &str) -> Result<u64, String> {
    let config: Value = serde_json::from_str(config_json).map_err(|e| format!("the configuration is not JSON: {e}"))?;
    match config.get("window_days") {
        None | Some(Value::Null) => Ok(90),
        Some(days) => match days.as_u64() {
            Some(d @ (30 | 90 | 365)) => Ok(d),
            _ => Err(format!("window_days must be 30, 90 or 365, not {days}")),
        },
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[expect(clippy::cast_precision_loss, reason = "counts and days far below 2^52")]
fn score_one(s: &CustomerSnapshot, days: u64) -> CustomerScores {
    let window = match days {
        30 => &s.interactions_last30_days,
        365 => &s.interactions_last365_days,
        _ => &s.interactions_last90_days,
    };
    let mut scores = vec![number("window_interactions", window.iter().map(|(_, n)| *n).sum::<i64>() as f64, None)];
    if let Some((_, d)) = s.days_since_last_interaction.iter().find(|(kind, _)| kind == "VISIT") {
        scores.push(number("days_since_visit", *d as f64, None));
    }
    let custom: Value = serde_json::from_str(&s.custom_fields_json).unwrap_or(Value::Null);
    let types: Vec<String> = custom
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}:{}", json_type(v))).collect())
        .unwrap_or_default();
    scores.push(label("custom_types", &types.join(","), None));
    CustomerScores { customer_id: s.customer_id.clone(), scores }
}

impl Scorer for CheckedScorer {
    fn keys() -> Vec<ScoreKey> {
        vec![
            number_key("window_interactions", "interactions of every kind in the configured window"),
            number_key("days_since_visit", "days since the last VISIT"),
            label_key("custom_types", "key:type of each custom value, as the snapshot typed it"),
        ]
    }

    fn score(batch: Vec<CustomerSnapshot>, config_json: String) -> Result<Vec<CustomerScores>, String> {
        let days = window_days(&config_json)?;
        Ok(batch.iter().map(|s| score_one(s, days)).collect())
    }

    fn check_config(config_json: &str) -> Result<(), String> {
        let config: Value = serde_json::from_str(config_json).unwrap_or(Value::Null);
        match config.get("mode").and_then(Value::as_str) {
            Some("panic") => panic!("the checked scorer panics on purpose"),
            Some("loop") => loop {
                std::hint::black_box(0);
            },
            _ => window_days(config_json).map(|_| ()),
        }
    }
}

guanxi_plugin_sdk::export_scorer!(CheckedScorer);
