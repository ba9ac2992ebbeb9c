//! RFM value scorer: recency of the last purchase, purchases in the last year, and the total
//! spent, each graded 1–5, weighted into a 0–100 `value_score`, with a `rfm_segment` label and a
//! sentence saying why.

use guanxi_plugin_sdk::{
    CustomerScores, CustomerSnapshot, ScoreKey, Scorer, days_between, label, label_key, money, number, number_key,
};

/// The plugin: `Scorer` is its contract, `export_scorer!` makes it the component's export.
pub struct ValueScorer;

/// 1–5 by the first threshold `value` reaches (thresholds best first).
fn grade(value: f64, thresholds: [f64; 4], higher_is_better: bool) -> u8 {
    let mut g = 1;
    for (i, t) in thresholds.iter().enumerate() {
        let reached = if higher_is_better { value >= *t } else { value <= *t };
        if reached {
            g = 5 - u8::try_from(i).unwrap_or(4);
            break;
        }
    }
    g
}

fn segment(r: u8, f: u8, m: u8) -> &'static str {
    match (r, f, m) {
        (4..=5, 4..=5, 4..=5) => "CHAMPION",
        (_, 4..=5, _) if r >= 3 => "LOYAL",
        (4..=5, 1, _) => "NEW",
        (1..=2, 3..=5, _) | (1..=2, _, 4..=5) => "AT_RISK",
        (1..=2, _, _) => "HIBERNATING",
        _ => "REGULAR",
    }
}

fn score_one(s: &CustomerSnapshot) -> CustomerScores {
    let total = money(&s.purchase_total);
    let days = s.last_purchase_at.as_deref().and_then(|last| days_between(last, &s.now)).map(|d| d.max(0));
    #[allow(clippy::cast_precision_loss)]
    let r = days.map_or(1, |d| grade(d as f64, [30.0, 90.0, 180.0, 365.0], false));
    #[allow(clippy::cast_precision_loss)]
    let f = grade(s.purchases_last365_days as f64, [12.0, 6.0, 3.0, 1.0], true);
    let m = grade(total, [50_000.0, 10_000.0, 2_000.0, 500.0], true);
    let value = f64::from(u16::from(r) * 30 + u16::from(f) * 30 + u16::from(m) * 40) / 5.0;
    let recency = days.map_or_else(|| "no purchase yet".to_owned(), |d| format!("last purchase {d} days ago"));
    let why = format!(
        "R{r} F{f} M{m}: {recency}, {} purchases in the last year, {} {} in all",
        s.purchases_last365_days, s.purchase_total, s.base_currency
    );
    CustomerScores {
        customer_id: s.customer_id.clone(),
        scores: vec![
            number("value_score", value, Some(why.clone())),
            label("rfm_segment", segment(r, f, m), Some(why)),
        ],
    }
}

impl Scorer for ValueScorer {
    fn keys() -> Vec<ScoreKey> {
        vec![
            number_key("value_score", "RFM value, 0 to 100"),
            label_key("rfm_segment", "CHAMPION, LOYAL, NEW, REGULAR, AT_RISK or HIBERNATING"),
        ]
    }

    fn score(batch: Vec<CustomerSnapshot>, _config_json: String) -> Result<Vec<CustomerScores>, String> {
        Ok(batch.iter().map(score_one).collect())
    }
}

guanxi_plugin_sdk::export_scorer!(ValueScorer);

#[cfg(test)]
mod tests {
    use guanxi_plugin_sdk::testing::{score, snapshot};
    use guanxi_plugin_sdk::{ScoreValue, number};

    use super::ValueScorer;

    #[test]
    fn a_recent_frequent_big_buyer_is_a_champion_and_a_prospect_scores_low() {
        let mut champion = snapshot("Customer:1", "2026-11-26T00:00:00.000000Z");
        champion.purchases_last365_days = 14;
        champion.purchase_total = "88000.00".into();
        champion.last_purchase_at = Some("2026-11-20T10:00:00.000000Z".into());
        let prospect = snapshot("Customer:2", "2026-11-26T00:00:00.000000Z");
        let scores = score::<ValueScorer>(vec![champion, prospect], "null").expect("keeps the contract");
        assert_eq!(scores[0].scores[0], number("value_score", 100.0, scores[0].scores[0].explanation.clone()));
        assert_eq!(scores[0].scores[1].value, ScoreValue::Label("CHAMPION".into()));
        assert_eq!(scores[1].scores[0].value, ScoreValue::Number(20.0));
    }
}
