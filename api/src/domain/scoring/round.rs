//! One tenant's round of scoring: the customers' snapshots, in batches, through every enabled
//! scorer of the tenant side by side, and the scores that changed written back. Apart from the
//! worker, which decides what a round takes and when, because this is what scoring a customer
//! is, wherever the customers come from.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use guanxi_entity::plugin;
use guanxi_plugin_host::{Batch, CustomerScores, CustomerSnapshot, Reason, ScoreValue};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use sea_orm::{DatabaseBackend, DatabaseConnection};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::worker::finish;
use crate::domain::plugins::{self, Plugins};
use crate::domain::snapshot::{self, Snapshot};
use crate::domain::{ids, tenant};
use crate::error::Result;
use crate::store;
use crate::store::customers::ScoreHashes;
use crate::store::scoring::ScoreWrite;

/// Customers per scorer call to start with; halved when a batch's input or output is too large.
const BATCH: usize = 200;

/// The snapshot in the contract's shape, with its custom values as contract 0.1.0 carries them
/// (as stored), for the host to give scorers of that version.
#[must_use]
pub fn to_wit(s: Snapshot) -> (CustomerSnapshot, String) {
    let as_stored = serde_json::to_string(&s.custom_fields_as_stored).unwrap_or_else(|_| "{}".into());
    let snapshot = CustomerSnapshot {
        custom_fields_json: serde_json::to_string(&s.custom_fields).unwrap_or_else(|_| "{}".into()),
        customer_id: s.customer_id,
        kind: s.kind,
        name: s.name,
        status: s.status,
        region: s.region,
        industry: s.industry,
        channel: s.channel,
        tags: s.tags,
        relationship_type: s.relationship_type,
        tier: s.tier,
        created_at: s.created_at,
        base_currency: s.base_currency,
        purchase_count: s.purchase_count,
        purchase_total: s.purchase_total,
        purchase_totals: s.purchase_totals.into_iter().collect(),
        first_purchase_at: s.first_purchase_at,
        last_purchase_at: s.last_purchase_at,
        purchases_last90_days: s.purchases_last_90_days,
        purchases_last365_days: s.purchases_last_365_days,
        interaction_count: s.interaction_count,
        interaction_counts: s.interaction_counts.into_iter().collect(),
        last_interaction_at: s.last_interaction_at,
        interactions_last30_days: s.interactions_last_30_days.into_iter().collect(),
        interactions_last90_days: s.interactions_last_90_days.into_iter().collect(),
        interactions_last365_days: s.interactions_last_365_days.into_iter().collect(),
        days_since_last_interaction: s.days_since_last_interaction.into_iter().collect(),
        complaints_open: s.complaints_open.into_iter().collect(),
        complaints_total: s.complaints_total.into_iter().collect(),
        survey_count: s.survey_count,
        average_satisfaction: s.average_satisfaction,
        would_buy_again_rate: s.would_buy_again_rate,
        now: s.now,
    };
    (snapshot, as_stored)
}

/// A fingerprint of scores as written (`customer_scores.values_hash` and `details_hash`): the
/// first eight bytes of the SHA-256 of their JSON text, stable across processes and releases.
fn fingerprint(scores: &impl serde::Serialize) -> i64 {
    let digest = Sha256::digest(serde_json::to_vec(scores).unwrap_or_default());
    i64::from_le_bytes(std::array::from_fn(|i| digest[i]))
}

/// A number as the exact decimal text DECIMAL fields store.
fn decimal_text(n: f64) -> String {
    Decimal::from_f64(n).map_or_else(|| n.to_string(), |d| d.normalize().to_string())
}

/// Runs one scorer over `batch` (at most [`BATCH`] customers), shared with the other scorers,
/// not copied; a batch whose input or output is too large is halved and tried again, the
/// halves side by side. Returns the scores of every part that succeeded.
async fn run_scorer(
    plugins: &Plugins,
    p: &plugin::Model,
    compiled: &Arc<guanxi_plugin_host::Plugin>,
    batch: &Batch,
) -> Vec<CustomerScores> {
    let limits = plugins::limits_of(plugins, p);
    let config = plugins::config_json(p);
    let mut out = Vec::with_capacity(batch.len());
    let mut todo = vec![batch.clone()];
    while !todo.is_empty() {
        let calls = todo.drain(..).map(|chunk| {
            let config = config.clone();
            async move {
                let (result, run) = plugins.host().score(compiled, chunk.clone(), config, limits).await;
                (chunk, result, run)
            }
        });
        for (chunk, result, run) in futures_util::future::join_all(calls).await {
            let n = chunk.len();
            plugins.record(p, "SCORE", n, &run);
            match result {
                Ok(scores) => out.extend(scores),
                Err(e) if n > 1 && matches!(e.reason, Reason::OutputTooLarge | Reason::InputTooLarge) => {
                    let (a, b) = chunk.split_at(n / 2);
                    todo.push(a);
                    todo.push(b);
                }
                Err(e) => {
                    tracing::warn!(plugin = %p.name, tenant = %p.tenant_id, reason = e.reason.as_str(), "scorer failed");
                }
            }
        }
    }
    out
}

/// Scores some of a tenant's customers with every enabled scorer (concurrently), `in_flight`
/// batches at a time, and writes back the scores that changed. Returns how many customers'
/// scores changed.
///
/// # Errors
/// Database failures.
pub async fn score_customers(
    db: &DatabaseConnection,
    plugins: &Arc<Plugins>,
    tenant_id: Uuid,
    customer_ids: &[Uuid],
    now: DateTime<Utc>,
    in_flight: usize,
) -> Result<usize> {
    let scorers: Vec<plugin::Model> =
        store::plugins::all(db, tenant_id).await?.into_iter().filter(|p| p.enabled && plugins::is_scorer(p)).collect();
    if scorers.is_empty() || customer_ids.is_empty() {
        return Ok(0);
    }
    let settings = tenant::settings(db, tenant_id).await?;
    let mut compiled = Vec::with_capacity(scorers.len());
    for p in scorers {
        match plugins.load_stored(db, &p.sha256).await {
            Ok(Some(c)) => compiled.push((p, c)),
            // Upgraded or uninstalled (perhaps by another replica) since the list was read, and
            // its old bytes dropped: this round scores without it. Its scores stay as they were,
            // and the change itself queues every customer for a new round.
            Ok(None) => tracing::info!(plugin = %p.name, tenant = %tenant_id, "scorer replaced during the round"),
            Err(err) => tracing::error!(plugin = %p.name, tenant = %tenant_id, error = %err, "scorer cannot be loaded"),
        }
    }
    let round = Arc::new(Round {
        db: db.clone(),
        plugins: plugins.clone(),
        tenant_id,
        scorers: compiled,
        base_currency: settings.base_currency.clone(),
        now,
    });
    // Batches go through snapshot reads, plugin calls and writes side by side, so the database
    // and the sandbox work at the same time, each batch a task of its own: polled together in
    // one task, the batches' own work (snapshots, JSON, comparisons) took turns on one core and
    // the machine was a third idle. Snapshots stay in pieces of a scorer batch: long id lists
    // made PostgreSQL leave the (tenant, customer, time) index for a scan of the tenant's
    // interactions (7 s for 2,000 customers over 2 million interactions, against 85 ms).
    // PostgreSQL takes each batch's writes as they come, beside the other batches' reads. SQLite
    // has one writer, and a commit costs it every page the transaction touched, written to the
    // log again: committed 200 customers at a time, its writes cost 60–100 µs per customer
    // against 25 at 2,000, so there the round's writes go in one transaction at its end.
    let per_batch = db.get_database_backend() == DatabaseBackend::Postgres;
    // A loop rather than a closure: a closure's lifetimes make the spawned worker's future not
    // `Send` for every lifetime. Each batch answers how many customers it changed and the writes
    // still to make (none when it made them itself).
    let mut batches = Vec::with_capacity(customer_ids.len().div_ceil(BATCH));
    for ids in customer_ids.chunks(BATCH) {
        let (round, ids) = (round.clone(), ids.to_vec());
        batches.push(async move {
            finish(tokio::spawn(async move {
                let writes = score_batch(&round, &ids).await?;
                if per_batch {
                    write(&round.db, round.tenant_id, &writes).await?;
                    return Ok((writes.len(), Vec::new()));
                }
                Ok((writes.len(), writes))
            }))
            .await
        });
    }
    let done: Vec<(usize, Vec<ScoreWrite>)> =
        futures_util::stream::iter(batches).buffer_unordered(in_flight.max(1)).try_collect().await?;
    let changed = done.iter().map(|(n, _)| n).sum();
    if !per_batch {
        let pending: Vec<ScoreWrite> = done.into_iter().flat_map(|(_, writes)| writes).collect();
        write(db, tenant_id, &pending).await?;
    }
    Ok(changed)
}

/// Writes scores, values and details together or neither, with a `customer.scored` event for
/// each customer whose lifecycle stage moved; then tells the other replicas of those.
async fn write(db: &DatabaseConnection, tenant_id: Uuid, writes: &[ScoreWrite]) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let at = crate::clock::now();
    let moved: Vec<_> = writes
        .iter()
        .filter(|w| w.stage_moved)
        .map(|w| {
            let record = (crate::domain::customers::TYPE_NAME, w.customer_id);
            store::events::by_the_server(tenant_id, "customer.scored", record, w.customer_id, "lifecycleStage", at)
        })
        .collect();
    let told = !moved.is_empty();
    store::in_write(db, async |txn| {
        store::scoring::write_scores(txn, tenant_id, writes).await?;
        store::events::append_all(txn, moved).await
    })
    .await?;
    if told {
        store::notifications::announce_events(db).await?;
    }
    Ok(())
}

/// What the batches of one tenant's round share.
struct Round {
    db: DatabaseConnection,
    plugins: Arc<Plugins>,
    tenant_id: Uuid,
    /// The enabled scorers that could be loaded.
    scorers: Vec<(plugin::Model, Arc<guanxi_plugin_host::Plugin>)>,
    base_currency: String,
    now: DateTime<Utc>,
}

/// Scores one batch of customers with the loaded scorers: the scores that changed, to write.
#[expect(clippy::type_complexity, reason = "two JSON objects per customer, named where they are built")]
async fn score_batch(round: &Round, customer_ids: &[Uuid]) -> Result<Vec<ScoreWrite>> {
    let Round { db, plugins, tenant_id, now, .. } = round;
    let (tenant_id, now) = (*tenant_id, *now);
    let (snapshots, rows) = snapshot::build_with_rows(db, tenant_id, customer_ids, &round.base_currency, now).await?;
    let (snapshots, as_stored): (Vec<CustomerSnapshot>, Vec<String>) = snapshots.into_iter().map(to_wit).unzip();
    let batch = Batch::new(snapshots).with_custom_fields_0_1(as_stored);
    let computed_at = snapshot::time(now);
    let results = futures_util::future::join_all(round.scorers.iter().map(|(p, c)| {
        let batch = &batch;
        async move { (p, run_scorer(plugins, p, c, batch).await) }
    }))
    .await;
    // Per customer (global id): the computed field values and the score details.
    let mut writes: HashMap<String, (Map<String, Value>, Map<String, Value>)> = HashMap::new();
    for (p, scored) in results {
        let declared = plugins::score_keys(p);
        for scored in scored {
            let entry = writes.entry(scored.customer_id).or_default();
            for s in scored.scores {
                // The host checked the keys against the declared ones; kinds are the plugin's
                // business, but a computed field holds the type its key was declared with.
                let kind = declared.iter().find(|k| k.key == s.key).map_or("NUMBER", |k| k.kind.as_str());
                let (value, label, stored) = match (&s.value, kind) {
                    (ScoreValue::Number(n), "NUMBER") => (*n, None, Value::String(decimal_text(*n))),
                    (ScoreValue::Label(l), "LABEL") => (0.0, Some(l.clone()), Value::String(l.clone())),
                    (ScoreValue::Number(n), _) => (*n, Some(n.to_string()), Value::String(n.to_string())),
                    (ScoreValue::Label(l), _) => (0.0, Some(l.clone()), Value::Null),
                };
                if !stored.is_null() {
                    entry.0.insert(s.key.clone(), stored);
                }
                // `computedAt` joins once the details are compared: it moves on every run.
                entry.1.insert(
                    s.key,
                    json!({
                        "value": value, "label": label, "explanation": s.explanation,
                        "pluginId": p.id, "version": p.version,
                    }),
                );
            }
        }
    }
    let stored: HashMap<Uuid, (ScoreHashes, Option<&str>)> =
        rows.iter().map(|r| (r.customer.id, (r.hashes, r.watched.as_deref()))).collect();
    let writes: Vec<ScoreWrite> = writes
        .into_iter()
        .filter_map(|(customer, (values, mut details))| {
            let customer_id = ids::decode(crate::domain::customers::TYPE_NAME, &customer).ok()?;
            let (current, stage) = stored.get(&customer_id)?;
            let new_stage = values.get(super::LIFECYCLE_KEY).and_then(Value::as_str);
            let stage_moved = new_stage.is_some() && new_stage != *stage;
            let values = Value::Object(values);
            let hashes = ScoreHashes { values: Some(fingerprint(&values)), details: Some(fingerprint(&details)) };
            // Unchanged scores are not written again (their computedAt stays when they were
            // last different): a re-score that changes little writes little. An explanation
            // moves daily ("last purchase 18 days ago") where the value does not: then only the
            // details are written, not the values and their indexes.
            let same_values = current.values == hashes.values;
            if same_values && current.details == hashes.details {
                return None;
            }
            for d in details.values_mut() {
                if let Value::Object(d) = d {
                    d.insert("computedAt".into(), Value::String(computed_at.clone()));
                }
            }
            Some(ScoreWrite {
                customer_id,
                values: (!same_values).then_some(values),
                details: Value::Object(details),
                hashes,
                stage_moved,
            })
        })
        .collect();
    Ok(writes)
}
