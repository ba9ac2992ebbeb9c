//! Lifecycle scorer (客户生命周期): the stage — PROSPECT, NEW, ACTIVE, LOYAL, AT_RISK, CHURNED —
//! from purchase behaviour, plus `churn_risk` (0–1) and `loyalty` (0–100: repeat purchases,
//! satisfaction, would-buy-again). Thresholds come from the tenant's config, e.g.
//! `{"newDays": 90, "churnDays": 365, "atRiskGapFactor": 2.0, "loyalPurchases": 3, "loyalSatisfaction": 4.0}`.

use guanxi_plugin_sdk::{
    CustomerScores, CustomerSnapshot, ScoreKey, Scorer, days_between, label, label_key, number, number_key,
};
use serde_json::Value;

/// The plugin; its thresholds come from the tenant's config.
pub struct LifecycleScorer;

/// The tenant's thresholds.
struct Thresholds {
    new_days: f64,
    churn_days: f64,
    at_risk_gap_factor: f64,
    loyal_purchases: i64,
    loyal_satisfaction: f64,
}

impl Thresholds {
    fn from_config(config: &str) -> Result<Self, String> {
        let v: Value = if config.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(config).map_err(|e| format!("the config is not JSON: {e}"))?
        };
        let num = |key: &str, default: f64| -> Result<f64, String> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(x) => x.as_f64().filter(|n| *n > 0.0).ok_or_else(|| format!("{key} must be a positive number")),
            }
        };
        #[allow(clippy::cast_possible_truncation)]
        Ok(Self {
            new_days: num("newDays", 90.0)?,
            churn_days: num("churnDays", 365.0)?,
            at_risk_gap_factor: num("atRiskGapFactor", 2.0)?,
            loyal_purchases: num("loyalPurchases", 3.0)? as i64,
            loyal_satisfaction: num("loyalSatisfaction", 4.0)?,
        })
    }
}

#[allow(clippy::cast_precision_loss)]
fn score_one(s: &CustomerSnapshot, t: &Thresholds) -> CustomerScores {
    let since = |at: &Option<String>| at.as_deref().and_then(|at| days_between(at, &s.now)).map(|d| d.max(0) as f64);
    let (since_first, since_last) = (since(&s.first_purchase_at), since(&s.last_purchase_at));
    // The customer's usual gap between purchases, once there are two.
    let usual_gap = match (since_first, since_last) {
        (Some(first), Some(last)) if s.purchase_count >= 2 => Some((first - last) / (s.purchase_count - 1) as f64),
        _ => None,
    };
    let satisfied = s.average_satisfaction.is_some_and(|a| a >= t.loyal_satisfaction);
    let (stage, why) = match since_last {
        None => ("PROSPECT", "no purchase yet".to_owned()),
        Some(last) if last >= t.churn_days => ("CHURNED", format!("no purchase for {last:.0} days")),
        Some(last) if usual_gap.is_some_and(|g| last > (g * t.at_risk_gap_factor).max(30.0)) => {
            ("AT_RISK", format!("{last:.0} days since the last purchase, usually {:.0}", usual_gap.unwrap_or_default()))
        }
        Some(_) if since_first.is_some_and(|f| f <= t.new_days) => ("NEW", "first purchase recently".to_owned()),
        Some(_) if s.purchase_count >= t.loyal_purchases && satisfied => {
            ("LOYAL", format!("{} purchases and satisfied", s.purchase_count))
        }
        Some(_) => ("ACTIVE", format!("{} purchases, buying regularly", s.purchase_count)),
    };
    let churn_risk = match (since_last, usual_gap) {
        (None, _) => 0.0,
        (Some(last), Some(gap)) if gap > 0.0 => (last / (gap * t.at_risk_gap_factor * 2.0)).min(1.0),
        (Some(last), _) => (last / t.churn_days).min(1.0),
    };
    let repeat = (s.purchase_count.min(10) as f64) * 4.0;
    let attitude = s.average_satisfaction.map_or(0.0, |a| (a - 1.0) / 4.0 * 30.0);
    let intention = s.would_buy_again_rate.unwrap_or(0.0) * 30.0;
    CustomerScores {
        customer_id: s.customer_id.clone(),
        scores: vec![
            label("lifecycle_stage", stage, Some(why)),
            number("churn_risk", (churn_risk * 100.0).round() / 100.0, None),
            number("loyalty", (repeat + attitude + intention).round(), None),
        ],
    }
}

impl Scorer for LifecycleScorer {
    fn keys() -> Vec<ScoreKey> {
        vec![
            label_key("lifecycle_stage", "PROSPECT, NEW, ACTIVE, LOYAL, AT_RISK or CHURNED"),
            number_key("churn_risk", "0 (buying as usual) to 1 (gone)"),
            number_key("loyalty", "0 to 100: repeat purchases, satisfaction and would-buy-again"),
        ]
    }

    fn score(batch: Vec<CustomerSnapshot>, config_json: String) -> Result<Vec<CustomerScores>, String> {
        let thresholds = Thresholds::from_config(&config_json)?;
        Ok(batch.iter().map(|s| score_one(s, &thresholds)).collect())
    }

    /// A threshold that is not a positive number is refused when the tenant sets it, not at the
    /// next scoring.
    fn check_config(config_json: &str) -> Result<(), String> {
        Thresholds::from_config(config_json).map(|_| ())
    }
}

guanxi_plugin_sdk::export_scorer!(LifecycleScorer);
