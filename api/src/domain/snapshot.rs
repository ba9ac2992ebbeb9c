//! The scoring snapshot: a deterministic picture of
//! one customer — its fields, custom fields and figures at an evaluation time `now` — that scorer
//! plugins receive (contract 0.2.0; a 0.1.0 plugin gets it converted down by the host, with the
//! custom values as stored). [`build_with_rows`] makes them for a batch of customers in four
//! statements; the `Customer.scoringSnapshot` field shows the same figures as `Customer.stats`.
//!
//! The figures that move with the clock — interactions per kind in the last 30, 90 and 365 days,
//! and so the purchase windows — come from one grouped statement over the batch's last year
//! ([`store::interactions::windows_per_kind`]), never one per customer; days since the last
//! interaction of each kind are counted from the latest of each, which the stored figures keep.
//!
//! Deterministic: maps are ordered, money is exact decimal text, times are RFC 3339 UTC with
//! microseconds; the same records and `now` give the same bytes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use guanxi_entity::{customer, customer_stats};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::custom_fields::{Definition, EntityKind, Source};
use super::{custom_values, customers, ids, stats};
use crate::error::Result;
use crate::store;
use crate::store::interactions::KindWindows;

/// A time as snapshots write it.
#[must_use]
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub customer_id: String,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub channel: Option<String>,
    pub tags: Vec<String>,
    pub relationship_type: Option<String>,
    pub tier: Option<String>,
    pub created_at: String,
    /// The tenant's custom field values (an object keyed by field key), without computed ones,
    /// each as JSON of its field's type (see [`custom_values::typed`]).
    pub custom_fields: BTreeMap<String, Value>,
    /// The same values as stored (decimals as exact text): what scorers of contract 0.1.0 were
    /// given, and still are.
    #[serde(skip)]
    pub custom_fields_as_stored: BTreeMap<String, Value>,
    pub base_currency: String,
    pub purchase_count: i64,
    /// In the base currency.
    pub purchase_total: String,
    pub purchase_totals: BTreeMap<String, String>,
    pub first_purchase_at: Option<String>,
    pub last_purchase_at: Option<String>,
    pub purchases_last_90_days: i64,
    pub purchases_last_365_days: i64,
    pub interaction_count: i64,
    pub interaction_counts: BTreeMap<String, i64>,
    pub last_interaction_at: Option<String>,
    pub interactions_last_30_days: BTreeMap<String, i64>,
    pub interactions_last_90_days: BTreeMap<String, i64>,
    pub interactions_last_365_days: BTreeMap<String, i64>,
    pub days_since_last_interaction: BTreeMap<String, i64>,
    pub complaints_open: BTreeMap<String, i64>,
    pub complaints_total: BTreeMap<String, i64>,
    pub survey_count: i64,
    pub average_satisfaction: Option<f64>,
    pub would_buy_again_rate: Option<f64>,
    pub now: String,
}

fn map<T: serde::de::DeserializeOwned + Default>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

#[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A customer's interactions per kind in the 30, 90 and 365 days up to `now` (a kind with none
/// in a window is absent from it). They move with the clock, so they are counted when a
/// snapshot is made rather than stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub last_30_days: BTreeMap<String, i64>,
    pub last_90_days: BTreeMap<String, i64>,
    pub last_365_days: BTreeMap<String, i64>,
}

impl Activity {
    /// The activity of one customer from its kinds' rows of
    /// [`store::interactions::windows_per_kind`].
    #[must_use]
    pub fn of(kinds: &[KindWindows]) -> Self {
        let mut a = Activity::default();
        for k in kinds {
            let windows = [
                (&mut a.last_30_days, k.last_30_days),
                (&mut a.last_90_days, k.last_90_days),
                (&mut a.last_365_days, k.last_365_days),
            ];
            for (window, n) in windows {
                if n > 0 {
                    window.insert(k.kind.clone(), n);
                }
            }
        }
        a
    }

    /// Purchases in the last 90 and in the last 365 days.
    #[must_use]
    pub fn purchase_windows(&self) -> (i64, i64) {
        let purchases = |window: &BTreeMap<String, i64>| window.get("PURCHASE").copied().unwrap_or_default();
        (purchases(&self.last_90_days), purchases(&self.last_365_days))
    }
}

/// Whole days (of 24 hours, rounded down) from the latest interaction of each kind to `now`; 0
/// for one in the last day, or dated just after `now` (clocks drift).
fn days_since(s: &customer_stats::Model, now: DateTime<Utc>) -> BTreeMap<String, i64> {
    stats::latest_by_kind(s).into_iter().map(|(kind, at)| (kind, (now - at).num_days().max(0))).collect()
}

/// The snapshot of one customer from its row, its figures, its interactions per kind and window
/// as of `now` and the live custom field definitions of Customer.
#[must_use]
pub fn from_parts<'a>(
    c: &customer::Model,
    fields: impl IntoIterator<Item = &'a Definition>,
    s: &customer_stats::Model,
    activity: &Activity,
    base_currency: &str,
    now: DateTime<Utc>,
) -> Snapshot {
    // Computed (plugin) fields stay out: a scorer's input never depends on the order in which
    // the tenant's scorers last ran.
    let stored: Vec<(&Definition, &Value)> = fields
        .into_iter()
        .filter(|d| d.source == Source::User)
        .filter_map(|d| custom_values::read(d, &c.custom_fields).map(|v| (d, v)))
        .collect();
    let (purchases_last_90_days, purchases_last_365_days) = activity.purchase_windows();
    Snapshot {
        customer_id: ids::encode(customers::TYPE_NAME, c.id),
        kind: c.kind.clone(),
        name: c.name.clone(),
        status: c.status.clone(),
        region: c.region.clone(),
        industry: c.industry.clone(),
        channel: c.channel.clone(),
        tags: customers::tags_of(c),
        relationship_type: c.relationship_type.clone(),
        tier: c.tier.clone(),
        created_at: time(c.created_at),
        custom_fields: stored.iter().map(|(d, v)| (d.key.clone(), custom_values::typed(d, v))).collect(),
        custom_fields_as_stored: stored.iter().map(|(d, v)| (d.key.clone(), (*v).clone())).collect(),
        base_currency: base_currency.to_owned(),
        purchase_count: s.purchase_count,
        purchase_total: stats::total_in(s, base_currency).to_string(),
        purchase_totals: map(&s.purchase_totals),
        first_purchase_at: s.first_purchase_at.map(time),
        last_purchase_at: s.last_purchase_at.map(time),
        purchases_last_90_days,
        purchases_last_365_days,
        interaction_count: s.interaction_count,
        interaction_counts: map(&s.interaction_counts),
        last_interaction_at: s.last_interaction_at.map(time),
        interactions_last_30_days: activity.last_30_days.clone(),
        interactions_last_90_days: activity.last_90_days.clone(),
        interactions_last_365_days: activity.last_365_days.clone(),
        days_since_last_interaction: days_since(s, now),
        complaints_open: map(&s.complaints_open),
        complaints_total: map(&s.complaints_total),
        survey_count: s.satisfaction_count,
        average_satisfaction: ratio(s.satisfaction_sum, s.satisfaction_count),
        would_buy_again_rate: ratio(s.would_buy_again_yes, s.would_buy_again_count),
        now: time(now),
    }
}

/// The snapshots of [`build_with_rows`], for tests.
///
/// # Errors
/// Database failures.
#[cfg(feature = "internals")]
pub async fn build(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    base_currency: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Snapshot>> {
    Ok(build_with_rows(db, tenant_id, customer_ids, base_currency, now).await?.0)
}

/// Snapshots of a batch of customers as of `now`, in the order of `customer_ids` (unknown ids
/// are skipped): four statements whatever the batch size, run together. Also the customer rows
/// read, with the fingerprints of their stored scores (the scoring worker writes only the scores
/// that changed) and their lifecycle stage (a move is told as `customer.scored`).
///
/// # Errors
/// Database failures.
pub async fn build_with_rows(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    base_currency: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<Snapshot>, Vec<store::customers::ScoringRow>)> {
    // The four reads are independent: side by side, a batch waits for one round trip.
    let (rows, fields, mut figures, mut activity) = futures_util::try_join!(
        store::customers::find_many_for_scoring(db, tenant_id, customer_ids, super::scoring::LIFECYCLE_KEY),
        store::custom_fields::of_entity(db, tenant_id, EntityKind::Customer),
        store::stats::find_many(db, tenant_id, customer_ids),
        store::interactions::windows_per_kind(db, tenant_id, customer_ids, now),
    )?;
    let fields: Vec<Definition> = fields
        .into_iter()
        .map(Definition::from_model)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|d| !d.archived)
        .collect();
    let by_id: BTreeMap<Uuid, &customer::Model> = rows.iter().map(|r| (r.customer.id, &r.customer)).collect();
    let snapshots = customer_ids
        .iter()
        .filter_map(|id| {
            let c = by_id.get(id)?;
            let s = figures.remove(id).unwrap_or_else(|| stats::empty(tenant_id, *id));
            let activity = activity.remove(id).map(|kinds| Activity::of(&kinds)).unwrap_or_default();
            Some(from_parts(c, &fields, &s, &activity, base_currency, now))
        })
        .collect();
    Ok((snapshots, rows))
}
