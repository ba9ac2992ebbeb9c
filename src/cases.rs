//! `guanxi plugin test`: a plugin's cases (inputs with what it must answer) run under the
//! server's own engine and limits, so an author tests the component the server will run in
//! seconds, without building the engine into the plugin's tests.

use std::path::Path;

use anyhow::{Context as _, bail};
use guanxi_plugin_host::{CallError, Limits, Reason, ScoreValue, ValidationRequest};
use serde::Deserialize;
use serde_json::Value;

/// A cases file: `{ "config": …, "cases": [ … ] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    /// The configuration every case gets unless it has its own (`null`: none, as the server).
    #[serde(default)]
    config: Value,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    config: Option<Value>,
    /// A validation: the field's key, its value (JSON) and the record around it.
    field: Option<String>,
    entity: Option<String>,
    #[serde(default)]
    value: Value,
    record: Option<Value>,
    /// A scoring: one customer's snapshot, as `Customer.scoringSnapshot` shows it.
    snapshot: Option<Value>,
    /// A validation's violation codes (`[]`: accepted), a scoring's values by key, or
    /// `"ACCEPTED"` for a configuration check (a case with `config` alone).
    expect: Option<Value>,
    /// The reason the call must fail with instead (`GUEST_ERROR`, `OUT_OF_FUEL`, …).
    error: Option<String>,
}

/// What a case's call answered, as comparable JSON: codes, or scores by key.
type Answer = Result<Value, CallError>;

/// Runs every case of `cases` against the component at `path`; prints one line a case.
///
/// # Errors
/// Unreadable or malformed files, a plugin the server would refuse, or a failed case.
pub async fn test(path: &Path, cases: &Path) -> anyhow::Result<()> {
    let text = std::fs::read(cases).with_context(|| format!("reading {}", cases.display()))?;
    let file: Cases = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a cases file: {{ \"config\": …, \"cases\": [{{ \"name\", \"field\", \"value\", \"expect\": [codes] }} \
             or {{ \"name\", \"snapshot\", \"expect\": {{ key: value }} }}] }}",
            cases.display()
        )
    })?;
    if file.cases.is_empty() {
        bail!("{} has no cases", cases.display());
    }
    let host = crate::plugin::host()?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let plugin = host.load(&bytes).map_err(|e| anyhow::anyhow!("the plugin would be refused: {e}"))?;
    let exports = plugin.inspection();
    let (mut passed, mut failed) = (0, 0);
    for (i, case) in file.cases.iter().enumerate() {
        let config = case.config.as_ref().unwrap_or(&file.config).to_string();
        let started = std::time::Instant::now();
        let answer = match (&case.field, &case.snapshot) {
            (Some(field), None) if exports.validator => {
                let request = ValidationRequest {
                    entity: case.entity.clone().unwrap_or_else(|| "CUSTOMER".into()),
                    field: field.clone(),
                    value_json: case.value.to_string(),
                    record_json: case.record.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string),
                    config_json: config,
                };
                let (result, _) = host.validate(&plugin, request, Limits::default()).await;
                result.map(|vs| Value::from(vs.into_iter().map(|v| v.code).collect::<Vec<_>>()))
            }
            (None, Some(snapshot)) if exports.scorer => {
                let mut snapshot = snapshot.clone();
                if let Some(s) = snapshot.as_object_mut() {
                    s.entry("customerId").or_insert_with(|| format!("Customer:case-{}", i + 1).into());
                }
                let snapshot = crate::plugin::snapshot(&snapshot).with_context(|| format!("case {:?}", case.name))?;
                let (result, _) = host.score(&plugin, vec![snapshot], config, Limits::default()).await;
                result.map(|mut customers| {
                    let scores = customers.pop().map(|c| c.scores).unwrap_or_default();
                    let by_key = scores.into_iter().map(|s| {
                        let value = match s.value {
                            ScoreValue::Number(n) => Value::from(n),
                            ScoreValue::Label(l) => Value::from(l),
                        };
                        (s.key, value)
                    });
                    Value::Object(by_key.collect())
                })
            }
            (None, None) if case.config.is_some() => {
                if !exports.checks_config {
                    bail!(
                        "case {:?} checks a configuration, but this plugin exports no configuration check",
                        case.name
                    );
                }
                let (result, _) = host.check_config(&plugin, config, Limits::default()).await;
                result.map(|()| Value::from("ACCEPTED")).map_err(|e| match e.reason {
                    // The plugin's own refusal, as the server reports it to the tenant.
                    Reason::GuestError => {
                        CallError { reason: e.reason, message: format!("INVALID_CONFIG {}", e.message) }
                    }
                    _ => e,
                })
            }
            (Some(_), None) => bail!("case {:?} validates a field, but this plugin exports no validator", case.name),
            (None, Some(_)) => bail!("case {:?} scores a snapshot, but this plugin exports no scorer", case.name),
            _ => bail!(
                "case {:?} needs \"field\" (a validation), \"snapshot\" (a scoring) or \"config\" alone (a configuration check)",
                case.name
            ),
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match verdict(case, &answer)? {
            None => {
                passed += 1;
                println!("ok      {} ({ms:.1} ms)", case.name);
            }
            Some(why) => {
                failed += 1;
                println!("FAILED  {}: {why}", case.name);
            }
        }
    }
    println!("{} cases: {passed} passed, {failed} failed", passed + failed);
    if failed > 0 {
        bail!("{failed} of {} cases failed", passed + failed);
    }
    Ok(())
}

/// Why `answer` is not what the case expects; `None` when it is.
fn verdict(case: &Case, answer: &Answer) -> anyhow::Result<Option<String>> {
    let shown = |a: &Answer| match a {
        Ok(v) => v.to_string(),
        Err(e) => match e.message.strip_prefix("INVALID_CONFIG ") {
            Some(message) => format!("INVALID_CONFIG: {message}"),
            None => format!("{}: {}", e.reason.as_str(), e.message),
        },
    };
    Ok(match (&case.expect, &case.error) {
        (Some(_), Some(_)) | (None, None) => {
            bail!("case {:?} needs either \"expect\" or \"error\", not both or neither", case.name)
        }
        (None, Some(reason)) => match answer {
            Err(e) if e.reason.as_str() == reason => None,
            Err(e) if reason == "INVALID_CONFIG" && e.message.starts_with("INVALID_CONFIG ") => None,
            other => Some(format!("expected the call to fail with {reason}, got {}", shown(other))),
        },
        (Some(expect), None) => match (expect, answer) {
            (_, Err(_)) => Some(format!("expected {expect}, the call failed: {}", shown(answer))),
            (Value::Array(codes), Ok(Value::Array(got))) => {
                let sorted = |v: &[Value]| {
                    let mut v: Vec<String> = v.iter().map(Value::to_string).collect();
                    v.sort();
                    v
                };
                (sorted(codes) != sorted(got)).then(|| format!("expected {expect}, got {}", shown(answer)))
            }
            (Value::Object(want), Ok(Value::Object(got))) => {
                let wrong: Vec<String> = want
                    .iter()
                    .filter(|(k, v)| !same(v, got.get(*k)))
                    .map(|(k, v)| {
                        format!("{k}: expected {v}, got {}", got.get(k).map_or("nothing".into(), Value::to_string))
                    })
                    .collect();
                (!wrong.is_empty()).then(|| wrong.join("; "))
            }
            (Value::String(want), Ok(Value::String(got))) if want == "ACCEPTED" => {
                (want != got).then(|| format!("expected {expect}, got {}", shown(answer)))
            }
            (Value::Array(_) | Value::Object(_), Ok(_)) => Some(format!("expected {expect}, got {}", shown(answer))),
            _ => bail!(
                "case {:?}: \"expect\" is a list of violation codes (a validation), an object of score values by key (a scoring) \
                 or \"ACCEPTED\" (a configuration check)",
                case.name
            ),
        },
    })
}

/// Equal scores: labels exactly, numbers to nine decimal places (a plugin's float arithmetic).
fn same(want: &Value, got: Option<&Value>) -> bool {
    match (want.as_f64(), got.and_then(Value::as_f64)) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        _ => Some(want) == got,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(expect: &Value, error: Option<&str>) -> Case {
        serde_json::from_value(json!({ "name": "c", "field": "f", "expect": expect, "error": error })).unwrap()
    }

    #[test]
    fn compares_codes_scores_and_reasons() {
        let codes = case(&json!(["B", "A"]), None);
        assert_eq!(verdict(&codes, &Ok(json!(["A", "B"]))).unwrap(), None);
        assert!(verdict(&codes, &Ok(json!(["A"]))).unwrap().is_some());
        let scores = case(&json!({ "x": 0.3, "tier": "GOLD" }), None);
        assert_eq!(verdict(&scores, &Ok(json!({ "x": 0.1 + 0.2, "tier": "GOLD", "other": 1 }))).unwrap(), None);
        let why = verdict(&scores, &Ok(json!({ "x": 0.4 }))).unwrap().unwrap();
        assert!(
            why.contains("x: expected 0.3, got 0.4") && why.contains("tier: expected \"GOLD\", got nothing"),
            "{why}"
        );
        let fails = case(&Value::Null, Some("GUEST_ERROR"));
        assert_eq!(
            verdict(&fails, &Err(CallError { reason: Reason::GuestError, message: "bad".into() })).unwrap(),
            None
        );
        assert!(
            verdict(&fails, &Ok(json!([]))).unwrap().unwrap().contains("expected the call to fail with GUEST_ERROR")
        );
        assert!(verdict(&case(&Value::Null, None), &Ok(json!([]))).is_err());
    }
}
