//! RFM value scorer: recency of the last purchase, purchases in the last year, and the total
//! spent, each graded 1–5, weighted into a 0–100 `value_score`, with a `rfm_segment` label and a
//! sentence saying why.

wit_bindgen::generate!({ path: "../../wit", world: "scorer-plugin" });

use exports::guanxi::plugin::scorer::Guest;
use guanxi::plugin::types::{CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue};

struct ValueScorer;

/// Days since 1970 of an RFC 3339 date-time's date part.
fn day_number(rfc3339: &str) -> Option<i64> {
    let num = |a: usize, b: usize| rfc3339.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    Some(era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468)
}

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
    let total: f64 = s.purchase_total.parse().unwrap_or(0.0);
    let days = match (s.last_purchase_at.as_deref().and_then(day_number), day_number(&s.now)) {
        (Some(last), Some(now)) => Some((now - last).max(0)),
        _ => None,
    };
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
            Score { key: "value_score".into(), value: ScoreValue::Number(value), explanation: Some(why.clone()) },
            Score {
                key: "rfm_segment".into(),
                value: ScoreValue::Label(segment(r, f, m).into()),
                explanation: Some(why),
            },
        ],
    }
}

impl Guest for ValueScorer {
    fn keys() -> Vec<ScoreKey> {
        vec![
            ScoreKey { key: "value_score".into(), kind: ScoreKind::Number, description: "RFM value, 0 to 100".into() },
            ScoreKey {
                key: "rfm_segment".into(),
                kind: ScoreKind::Label,
                description: "CHAMPION, LOYAL, NEW, REGULAR, AT_RISK or HIBERNATING".into(),
            },
        ]
    }

    fn score(batch: Vec<CustomerSnapshot>, _config_json: String) -> Result<Vec<CustomerScores>, String> {
        Ok(batch.iter().map(score_one).collect())
    }
}

export!(ValueScorer);
