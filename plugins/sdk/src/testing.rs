//! Running a plugin natively, in a plain `#[test]`: fixtures, and calls that check what you
//! return against the contract as the server does (every customer once, declared keys only,
//! finite numbers). For the real sandbox and its limits, see `host` (feature `host`).

use std::collections::HashSet;

use crate::{CustomerScores, CustomerSnapshot, ScoreKind, ScoreValue, Scorer, ValidationRequest, Validator, Violation};

/// A customer with no history, as of `now`; set the fields your test needs.
///
/// ```
/// let mut c = guanxi_plugin_sdk::testing::snapshot("Customer:1", "2026-11-26T00:00:00.000000Z");
/// c.purchase_count = 3;
/// c.last_purchase_at = Some("2026-11-01T10:00:00.000000Z".into());
/// c.interactions_last30_days = vec![("VISIT".into(), 2)];
/// c.days_since_last_interaction = vec![("PURCHASE".into(), 25), ("VISIT".into(), 3)];
/// c.custom_fields_json = r#"{"points": 120, "vip": true}"#.into();
/// assert_eq!(c.base_currency, "CNY");
/// ```
#[must_use]
pub fn snapshot(customer_id: &str, now: &str) -> CustomerSnapshot {
    CustomerSnapshot {
        customer_id: customer_id.to_owned(),
        kind: "INDIVIDUAL".into(),
        name: "Test Customer".into(),
        status: "ACTIVE".into(),
        region: None,
        industry: None,
        channel: None,
        tags: Vec::new(),
        relationship_type: None,
        tier: None,
        created_at: "2024-01-01T00:00:00.000000Z".into(),
        custom_fields_json: "{}".into(),
        base_currency: "CNY".into(),
        purchase_count: 0,
        purchase_total: "0".into(),
        purchase_totals: Vec::new(),
        first_purchase_at: None,
        last_purchase_at: None,
        purchases_last90_days: 0,
        purchases_last365_days: 0,
        interaction_count: 0,
        interaction_counts: Vec::new(),
        last_interaction_at: None,
        interactions_last30_days: Vec::new(),
        interactions_last90_days: Vec::new(),
        interactions_last365_days: Vec::new(),
        days_since_last_interaction: Vec::new(),
        complaints_open: Vec::new(),
        complaints_total: Vec::new(),
        survey_count: 0,
        average_satisfaction: None,
        would_buy_again_rate: None,
        now: now.to_owned(),
    }
}

/// Scores `batch` with `S` natively and checks the answer as the server would.
///
/// ```
/// use guanxi_plugin_sdk::{CustomerScores, CustomerSnapshot, ScoreKey, Scorer, number, number_key, testing};
///
/// struct Count;
/// impl Scorer for Count {
///     fn keys() -> Vec<ScoreKey> { vec![number_key("purchases", "all purchases")] }
///     #[allow(clippy::cast_precision_loss)]
///     fn score(batch: Vec<CustomerSnapshot>, _: String) -> Result<Vec<CustomerScores>, String> {
///         Ok(batch.iter().map(|c| CustomerScores {
///             customer_id: c.customer_id.clone(),
///             scores: vec![number("purchases", c.purchase_count as f64, None)],
///         }).collect())
///     }
/// }
///
/// let scores = testing::score::<Count>(vec![testing::snapshot("Customer:1", "2026-11-26T00:00:00Z")], "null").unwrap();
/// assert_eq!(scores[0].scores[0].key, "purchases");
/// ```
pub fn score<S: Scorer>(batch: Vec<CustomerSnapshot>, config_json: &str) -> Result<Vec<CustomerScores>, String> {
    let keys = S::keys();
    let ids: Vec<String> = batch.iter().map(|c| c.customer_id.clone()).collect();
    let scores = S::score(batch, config_json.to_owned())?;
    let mut seen = HashSet::new();
    for c in &scores {
        if !ids.contains(&c.customer_id) {
            return Err(format!("INVALID_OUTPUT: scores for {}, which was not in the batch", c.customer_id));
        }
        if !seen.insert(c.customer_id.clone()) {
            return Err(format!("INVALID_OUTPUT: {} scored twice", c.customer_id));
        }
        for s in &c.scores {
            let Some(k) = keys.iter().find(|k| k.key == s.key) else {
                return Err(format!("INVALID_OUTPUT: key {} was not declared by keys()", s.key));
            };
            match (&s.value, k.kind) {
                (ScoreValue::Number(n), ScoreKind::Number) if !n.is_finite() => {
                    return Err(format!("INVALID_OUTPUT: {} of {} is not a finite number", s.key, c.customer_id));
                }
                (ScoreValue::Number(_), ScoreKind::Number) | (ScoreValue::Label(_), ScoreKind::Label) => {}
                _ => return Err(format!("INVALID_OUTPUT: {} is declared as another kind", s.key)),
            }
        }
    }
    if let Some(missing) = ids.iter().find(|id| !seen.contains(*id)) {
        return Err(format!("INVALID_OUTPUT: no scores for {missing}"));
    }
    Ok(scores)
}

/// A validation request for `field` of `entity` with `value` (JSON text), an empty record and
/// no configuration.
///
/// ```
/// let r = guanxi_plugin_sdk::testing::request("CUSTOMER", "id_no", "\"11010519491231002X\"");
/// assert_eq!(r.config_json, "null");
/// ```
#[must_use]
pub fn request(entity: &str, field: &str, value_json: &str) -> ValidationRequest {
    ValidationRequest {
        entity: entity.to_owned(),
        field: field.to_owned(),
        value_json: value_json.to_owned(),
        record_json: "{}".into(),
        config_json: "null".into(),
    }
}

/// The violation codes `V` finds in `request`, natively.
///
/// ```
/// use guanxi_plugin_sdk::{ValidationRequest, Validator, Violation, testing, violation};
///
/// struct Short;
/// impl Validator for Short {
///     fn validate(r: ValidationRequest) -> Result<Vec<Violation>, String> {
///         Ok(if r.value_json.len() > 12 { vec![violation(&r.field, "TOO_LONG", "at most 10 characters")] } else { vec![] })
///     }
/// }
///
/// assert_eq!(testing::codes::<Short>(testing::request("CUSTOMER", "nick", "\"a very long nickname\"")).unwrap(), ["TOO_LONG"]);
/// assert!(testing::codes::<Short>(testing::request("CUSTOMER", "nick", "\"Bo\"")).unwrap().is_empty());
/// ```
pub fn codes<V: Validator>(request: ValidationRequest) -> Result<Vec<String>, String> {
    Ok(V::validate(request)?.into_iter().map(|v: Violation| v.code).collect())
}
