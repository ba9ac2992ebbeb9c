//! A customer's figures (Customer.stats and the scoring snapshot): maintained in the same
//! transaction as every interaction or complaint write by recomputing that one customer's row
//! from its records, so they can never drift from what is committed; read in O(1).
//!
//! Recomputing one customer (a few hundred rows at most) instead of applying deltas keeps the
//! rule in one pure function, [`compute`], that tests can check against any sequence of writes.
//! Purchases in the last 90 and 365 days depend on the clock, so they are counted at read time
//! from the `(tenant, customer, occurred_at)` index rather than stored.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use guanxi_entity::{customer_stats, interaction};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::Result;
use crate::store;

/// A customer's figures with nothing recorded.
#[must_use]
pub fn empty(tenant_id: Uuid, customer_id: Uuid) -> customer_stats::Model {
    compute(tenant_id, customer_id, &[], &[])
}

/// The figures of one customer from all its interactions and its complaints' (severity, status).
#[must_use]
pub fn compute(
    tenant_id: Uuid,
    customer_id: Uuid,
    interactions: &[interaction::Model],
    complaints: &[(String, String)],
) -> customer_stats::Model {
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut latest: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut s = customer_stats::Model {
        tenant_id,
        customer_id,
        purchase_count: 0,
        purchase_totals: json!({}),
        first_purchase_at: None,
        last_purchase_at: None,
        interaction_count: 0,
        interaction_counts: json!({}),
        last_interaction_at: None,
        last_interaction_at_by_kind: json!({}),
        satisfaction_sum: 0,
        satisfaction_count: 0,
        would_buy_again_yes: 0,
        would_buy_again_count: 0,
        complaints_open: json!({}),
        complaints_total: json!({}),
    };
    for i in interactions {
        s.interaction_count += 1;
        *counts.entry(i.kind.clone()).or_default() += 1;
        s.last_interaction_at = s.last_interaction_at.max(Some(i.occurred_at));
        let at = latest.entry(i.kind.clone()).or_insert(i.occurred_at);
        *at = (*at).max(i.occurred_at);
        if i.kind == super::interactions::Kind::Purchase {
            s.purchase_count += 1;
            s.first_purchase_at = Some(s.first_purchase_at.map_or(i.occurred_at, |f| f.min(i.occurred_at)));
            s.last_purchase_at = s.last_purchase_at.max(Some(i.occurred_at));
            if let (Some(amount), Some(currency)) = (&i.amount, &i.currency) {
                let value = Decimal::from_str(amount).unwrap_or_default();
                *totals.entry(currency.clone()).or_default() += value;
            }
        }
        if let Some(score) = i.satisfaction {
            s.satisfaction_sum += i64::from(score);
            s.satisfaction_count += 1;
        }
        if let Some(again) = i.would_buy_again {
            s.would_buy_again_count += 1;
            s.would_buy_again_yes += i64::from(again);
        }
    }
    s.purchase_totals =
        json!(totals.into_iter().map(|(c, v)| (c, v.normalize().to_string())).collect::<BTreeMap<_, _>>());
    s.interaction_counts = json!(counts);
    s.last_interaction_at_by_kind = json!(latest);
    let mut open: BTreeMap<&str, i64> = BTreeMap::new();
    let mut total: BTreeMap<&str, i64> = BTreeMap::new();
    for (severity, status) in complaints {
        *total.entry(severity).or_default() += 1;
        if status.parse::<super::complaints::Status>().is_ok_and(super::complaints::Status::is_open) {
            *open.entry(severity).or_default() += 1;
        }
    }
    s.complaints_open = json!(open);
    s.complaints_total = json!(total);
    s
}

/// Recomputes and stores one customer's figures. Call inside the write's transaction, after the
/// customer's row is locked (so concurrent writers to one customer take turns).
///
/// # Errors
/// Database failures.
pub async fn refresh(conn: &impl ConnectionTrait, tenant_id: Uuid, customer_id: Uuid) -> Result<()> {
    let interactions = store::interactions::all_of_customer(conn, tenant_id, customer_id).await?;
    let complaints = store::complaints::severity_and_status(conn, tenant_id, customer_id).await?;
    store::stats::upsert(conn, &compute(tenant_id, customer_id, &interactions, &complaints)).await?;
    // The customer's scoring snapshot changed with its figures.
    store::scoring::enqueue(conn, tenant_id, &[customer_id]).await
}

/// The latest interaction of each kind, as stored by [`compute`] (or filled by the migration
/// that added them); a time that does not read is left out.
#[must_use]
pub fn latest_by_kind(stats: &customer_stats::Model) -> BTreeMap<String, DateTime<Utc>> {
    stats
        .last_interaction_at_by_kind
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(kind, at)| {
                    let at = DateTime::parse_from_rfc3339(at.as_str()?).ok()?;
                    Some((kind.clone(), at.with_timezone(&Utc)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A sum of a JSON `{ key: integer }` map.
#[must_use]
pub fn sum_counts(map: &Value) -> i64 {
    map.as_object().map_or(0, |m| m.values().filter_map(Value::as_i64).sum())
}

/// The purchase total in `currency` (zero if none).
#[must_use]
pub fn total_in(stats: &customer_stats::Model, currency: &str) -> Decimal {
    stats
        .purchase_totals
        .get(currency)
        .and_then(Value::as_str)
        .and_then(|s| Decimal::from_str(s).ok())
        .unwrap_or_default()
}

/// What a 360° page shows: the stored figures plus the clock-dependent windows.
#[derive(Debug, Clone)]
pub struct StatsView {
    pub stats: std::sync::Arc<customer_stats::Model>,
    pub base_currency: String,
    pub purchases_last_90_days: i64,
    pub purchases_last_365_days: i64,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn purchase(amount: &str, currency: &str, days_ago: i64) -> interaction::Model {
        let at = Utc::now() - chrono::Duration::days(days_ago);
        interaction::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::now_v7(),
            customer_id: Uuid::nil(),
            kind: "PURCHASE".into(),
            channel: None,
            occurred_at: at,
            staff_id: None,
            summary: None,
            outcome: None,
            amount: Some(amount.into()),
            currency: Some(currency.into()),
            satisfaction: None,
            would_buy_again: None,
            custom_fields: serde_json::json!({}),
            version: 1,
            created_at: at,
            updated_at: at,
            ..Default::default()
        }
    }

    #[test]
    fn totals_are_exact_and_per_currency() {
        let rows = [purchase("0.10", "CNY", 3), purchase("0.20", "CNY", 1), purchase("5", "USD", 400)];
        let s = compute(
            Uuid::nil(),
            Uuid::nil(),
            &rows,
            &[("HIGH".into(), "OPEN".into()), ("HIGH".into(), "CLOSED".into())],
        );
        assert_eq!(s.purchase_totals, json!({ "CNY": "0.3", "USD": "5" }));
        assert_eq!(s.purchase_count, 3);
        assert_eq!(s.first_purchase_at, Some(rows[2].occurred_at));
        assert_eq!(s.last_purchase_at, Some(rows[1].occurred_at));
        assert_eq!(s.complaints_open, json!({ "HIGH": 1 }));
        assert_eq!(s.complaints_total, json!({ "HIGH": 2 }));
        assert_eq!(total_in(&s, "CNY").to_string(), "0.3");
    }
}
