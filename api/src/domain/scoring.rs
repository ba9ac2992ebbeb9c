//! Scoring: a background worker takes customers from the durable
//! queue that every snapshot-changing write feeds, and whole tenants stretch by stretch from
//! their sweeps (`recomputeScores`, a scorer installed or changed, the periodic re-score),
//! builds their snapshots, runs the tenant's enabled scorers over them in batches, writes the
//! scores back (the computed custom field values and the details, both into the customer's
//! `customer_scores` row), and, once a tenant has nothing left to score, ranks its customers
//! into value tiers with the tenant's cut points (one read, then the changed tiers).
//!
//! A scorer that fails leaves its customers' last scores as they were; the failure is in its
//! `lastRuns`. The customers are not retried until something changes them again (or a
//! `recomputeScores`), so a broken plugin cannot keep the worker busy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use guanxi_entity::{plugin, score_run};
use guanxi_plugin_host::{CustomerScores, CustomerSnapshot, Reason, ScoreValue};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use sea_orm::{DatabaseBackend, DatabaseConnection};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::plugins::{self, Plugins};
use super::snapshot::{self, Snapshot};
use super::{Caller, Role, ids, tenant};
use crate::error::{Error, Result};
use crate::store;
use crate::store::customers::ScoreHashes;
use crate::store::scoring::{Claimed, CutPoints, ScoreWrite, Sweep};
use crate::tasks::Tasks;

pub const RUN_TYPE_NAME: &str = "ScoreRun";

/// Customers per scorer call to start with; halved when a batch's input or output is too large.
const BATCH: usize = 200;

/// How long a claim is trusted before another worker may take the customers.
const LEASE: Duration = Duration::from_secs(120);

/// The snapshot in the contract's shape.
#[must_use]
pub fn to_wit(s: Snapshot) -> CustomerSnapshot {
    CustomerSnapshot {
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
        complaints_open: s.complaints_open.into_iter().collect(),
        complaints_total: s.complaints_total.into_iter().collect(),
        survey_count: s.survey_count,
        average_satisfaction: s.average_satisfaction,
        would_buy_again_rate: s.would_buy_again_rate,
        now: s.now,
    }
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
    batch: &Arc<[CustomerSnapshot]>,
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
                    todo.push(a.into());
                    todo.push(b.into());
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

/// Writes scores, values and details together or neither.
async fn write(db: &DatabaseConnection, tenant_id: Uuid, writes: &[ScoreWrite]) -> Result<()> {
    if !writes.is_empty() {
        store::in_write(db, async |txn| store::scoring::write_scores(txn, tenant_id, writes).await).await?;
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
#[allow(clippy::type_complexity)] // two JSON objects per customer, named where they are built
async fn score_batch(round: &Round, customer_ids: &[Uuid]) -> Result<Vec<ScoreWrite>> {
    let Round { db, plugins, tenant_id, now, .. } = round;
    let (tenant_id, now) = (*tenant_id, *now);
    let (snapshots, rows) = snapshot::build_with_rows(db, tenant_id, customer_ids, &round.base_currency, now).await?;
    let batch: Arc<[CustomerSnapshot]> = snapshots.into_iter().map(to_wit).collect();
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
    let stored: HashMap<Uuid, ScoreHashes> = rows.iter().map(|(c, hashes)| (c.id, *hashes)).collect();
    let writes: Vec<ScoreWrite> = writes
        .into_iter()
        .filter_map(|(customer, (values, mut details))| {
            let customer_id = ids::decode(super::customers::TYPE_NAME, &customer).ok()?;
            let current = stored.get(&customer_id)?;
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
            })
        })
        .collect();
    Ok(writes)
}

/// Ranks the tenant's customers into tiers by its tier score, if an enabled scorer computes it.
///
/// # Errors
/// Database failures.
pub async fn rank(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64> {
    let settings = tenant::settings(db, tenant_id).await?;
    let key = settings.tier_score_key.clone();
    let computed = store::plugins::all(db, tenant_id)
        .await?
        .iter()
        .any(|p| p.enabled && plugins::score_keys(p).iter().any(|k| k.key == key && k.kind == "NUMBER"));
    if !computed {
        return Ok(0);
    }
    let cuts = &settings.tier_cut_points;
    let bp = |percent: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 ≤ percent ≤ 100, checked
        let bp = (percent * 100.0).round() as u32;
        bp
    };
    let cuts = CutPoints {
        key_primary: bp(cuts.key_primary),
        key_secondary: bp(cuts.key_secondary),
        ordinary: bp(cuts.ordinary),
    };
    store::scoring::rank_tiers(db, tenant_id, &key, cuts).await
}

/// How long a tenant whose queue never empties (a steady stream of writes) waits at most for
/// its tiers to be ranked again. Ranking in the middle of a large backlog rewrites the tiers of
/// most customers each time, so it is not done often.
const RANK_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// How often the worker vacuums the queue while working off a backlog.
const VACUUM_EVERY: Duration = Duration::from_secs(60);

/// How much the worker takes on at once.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    /// Customers claimed from the queue per round.
    pub claim: u64,
    /// Batches of a round being scored at the same time.
    pub in_flight: usize,
}

/// When the worker last ranked each tenant (or first saw it queued).
pub type Ranked = HashMap<Uuid, std::time::Instant>;

/// What one round scores: customers claimed from the queue and, if there was room, a stretch
/// of one tenant's sweep.
#[derive(Debug, Default)]
pub struct Taken {
    queued: Vec<Claimed>,
    stretch: Option<Stretch>,
    /// A sweep the worker holds but had no room for this round, to go on with later.
    kept: Option<Sweep>,
}

/// The next customers, in id order, of a sweep the worker holds.
#[derive(Debug)]
struct Stretch {
    sweep: Sweep,
    ids: Vec<Uuid>,
    /// No customer follows these: the round ends the sweep.
    last: bool,
}

impl Stretch {
    /// The sweep as it stands once this stretch is scored; `None` if it ends here.
    fn next(&self) -> Option<Sweep> {
        (!self.last).then(|| Sweep { scored_to: self.ids.last().copied().or(self.sweep.scored_to), ..self.sweep })
    }
}

/// What a round did, for the worker's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worked {
    /// Customers taken from the queue.
    pub queued: usize,
    /// Customers of a sweep.
    pub swept: usize,
}

/// The worker's own claims, and the queue work it overlaps with scoring: claiming the next
/// round took 14 ms per 2,000 customers on PostgreSQL and removing a scored round 12 ms, in
/// which nothing was scored.
pub struct Pipeline {
    /// Whose claims on sweeps these are.
    worker: Uuid,
    /// The next round's customers, taken while the current one is being scored.
    taken_ahead: Option<tokio::task::JoinHandle<Result<Taken>>>,
    /// The last round leaving the queue (and its sweep moving on) while the next one is scored.
    leaving: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl Pipeline {
    #[must_use]
    pub fn new() -> Self {
        Self { worker: Uuid::now_v7(), taken_ahead: None, leaving: None }
    }

    /// Waits for the work the pipeline started: the last round leaving the queue, and the
    /// claim taken ahead (whose customers return to the queue when its lease ends).
    pub async fn settle(&mut self) {
        if let Some(task) = self.leaving.take()
            && let Err(err) = finish(task).await
        {
            tracing::warn!(error = %err, "scoring worker stopping");
        }
        if let Some(task) = self.taken_ahead.take()
            && let Err(err) = finish(task).await
        {
            tracing::warn!(error = %err, "scoring worker stopping");
        }
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::new()
    }
}

/// Takes a round's work, in one write: up to `n` customers claimed from the queue, then, if
/// there is room, the next stretch of the sweep the worker goes on with (`holding`, if it is
/// still its own) or of one it claims.
async fn take(db: &DatabaseConnection, worker: Uuid, n: u64, holding: Option<Sweep>) -> Result<Taken> {
    let now = store::now();
    let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::minutes(2));
    // The worker's writes take their turn at SQLite's writer like every other write.
    store::in_write(db, async |txn| {
        let queued = store::scoring::claim(txn, now, lease, n).await?;
        let room = n.saturating_sub(queued.len() as u64);
        if room == 0 {
            return Ok(Taken { queued, stretch: None, kept: holding });
        }
        // Sweeps take turns by tenant, a stretch each: a tenant that keeps asking for
        // re-scores, or has many customers, does not keep the worker from the others. The sweep
        // the worker lets go of stands where the round being scored leaves it (should that round
        // fail, its stretch waits for the next sweep).
        let sweep = match holding {
            Some(s) => match store::scoring::claim_sweep(txn, worker, now, lease, Some(s.tenant_id)).await? {
                Some(other) => {
                    store::scoring::yield_sweep(txn, &s, worker).await?;
                    Some(other)
                }
                None if store::scoring::renew_sweep(txn, &s, worker, lease).await? => Some(s),
                None => store::scoring::claim_sweep(txn, worker, now, lease, None).await?,
            },
            None => store::scoring::claim_sweep(txn, worker, now, lease, None).await?,
        };
        let stretch = match sweep {
            Some(sweep) => {
                let ids = store::scoring::sweep_ids(txn, &sweep, room).await?;
                Some(Stretch { last: (ids.len() as u64) < room, ids, sweep })
            }
            None => None,
        };
        Ok(Taken { queued, stretch, kept: None })
    })
    .await
}

/// Waits for a task the worker started.
async fn finish<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    task.await.map_err(|e| Error::Internal(e.into()))?
}

/// One round of the worker: takes the customers taken ahead (or takes some), takes the next
/// round's while it scores these tenant by tenant, ranks the tenants that this round leaves
/// with nothing to score (or that waited long enough), and only then lets the customers leave
/// the queue and the sweep move on — so a finished `ScoreRun` has its tiers — while the next
/// round is scored.
///
/// A customer queued again while it is scored is free to be claimed ahead, and is then scored
/// again, as with two replicas. The last round has left the queue before a tenant's queue is
/// counted, so the count sees only what is still to score.
///
/// # Errors
/// Database failures (the claimed customers and sweeps come back when the lease ends).
pub async fn work_once(
    db: &DatabaseConnection,
    plugins: &Arc<Plugins>,
    work: Work,
    ranked: &mut Ranked,
    pipeline: &mut Pipeline,
) -> Result<Worked> {
    let worker = pipeline.worker;
    let taken = match pipeline.taken_ahead.take() {
        Some(task) => finish(task).await?,
        None => take(db, worker, work.claim, None).await?,
    };
    if taken.queued.is_empty() && taken.stretch.is_none() {
        return Ok(Worked { queued: 0, swept: 0 });
    }
    let now = store::now();
    let holding = taken.stretch.as_ref().map_or(taken.kept, Stretch::next);
    let next_db = db.clone();
    pipeline.taken_ahead = Some(tokio::spawn(async move { take(&next_db, worker, work.claim, holding).await }));
    // Per tenant: how many of its customers came from the queue, and all of them.
    let mut by_tenant: BTreeMap<Uuid, (u64, Vec<Uuid>)> = BTreeMap::new();
    for c in &taken.queued {
        let (queued, ids) = by_tenant.entry(c.tenant_id).or_default();
        *queued += 1;
        ids.push(c.customer_id);
    }
    if let Some(s) = &taken.stretch {
        by_tenant.entry(s.sweep.tenant_id).or_default().1.extend(&s.ids);
    }
    for (tenant_id, (queued, mut ids)) in by_tenant {
        ids.sort_unstable();
        ids.dedup();
        score_customers(db, plugins, tenant_id, &ids, now, work.in_flight).await?;
        if let Some(task) = pipeline.leaving.take() {
            finish(task).await?;
        }
        let swept = match taken.stretch.as_ref().filter(|s| s.sweep.tenant_id == tenant_id) {
            Some(s) => s.last,
            None => !store::scoring::sweeping(db, tenant_id).await?,
        };
        let nothing_left = swept && !store::scoring::queued_more_than(db, tenant_id, queued).await?;
        // A tenant first seen now starts its wait now: ranking it on the first round after every
        // start cost a whole ranking (0.25 s at 100,000 customers) in the middle of a backlog.
        let overdue = ranked.entry(tenant_id).or_insert_with(std::time::Instant::now).elapsed() > RANK_AT_LEAST_EVERY;
        if nothing_left || overdue {
            rank(db, tenant_id).await?;
            ranked.insert(tenant_id, std::time::Instant::now());
        }
    }
    let worked = Worked { queued: taken.queued.len(), swept: taken.stretch.as_ref().map_or(0, |s| s.ids.len()) };
    let done_db = db.clone();
    pipeline.leaving = Some(tokio::spawn(async move {
        store::in_write(&done_db, async |txn| {
            store::scoring::done(txn, &taken.queued).await?;
            match &taken.stretch {
                Some(s) if s.last => store::scoring::end_sweep(txn, &s.sweep, worker).await,
                Some(Stretch { sweep, ids, .. }) => match ids.last() {
                    Some(to) => store::scoring::advance_sweep(txn, sweep, worker, *to).await,
                    None => Ok(()),
                },
                None => Ok(()),
            }
        })
        .await
    }));
    Ok(worked)
}

/// The scoring worker: works while there is work, then waits to be woken or for `poll`. At
/// shutdown it finishes the round in hand and lets it leave the queue before it stops; what it
/// had claimed ahead returns to the queue when the claim's lease ends.
pub fn spawn_worker(tasks: &Tasks, db: DatabaseConnection, plugins: Arc<Plugins>, poll: Duration, work: Work) {
    tasks.spawn("scoring worker", |stop| async move {
        let mut ranked = Ranked::new();
        let mut pipeline = Pipeline::new();
        let mut vacuumed: Option<std::time::Instant> = None;
        let mut in_backlog = false;
        while !stop.is_cancelled() {
            if ranked.len() > 10_000 {
                ranked.clear();
            }
            let round = work_once(&db, &plugins, work, &mut ranked, &mut pipeline).await;
            let full = matches!(round, Ok(w) if w.queued as u64 >= work.claim);
            // A full claim from the queue means a backlog, which bulk writes make faster than
            // autovacuum follows: clean the queue when one starts, and now and then while it lasts.
            if full && (!in_backlog || vacuumed.is_none_or(|at| at.elapsed() > VACUUM_EVERY)) {
                if let Err(err) = store::scoring::vacuum(&db).await {
                    tracing::warn!(error = %err, "vacuuming the score queue");
                }
                vacuumed = Some(std::time::Instant::now());
            }
            in_backlog = full;
            let pause = match round {
                Ok(Worked { queued: 0, swept: 0 }) => Some(poll),
                Ok(_) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "scoring worker");
                    Some(poll)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::time::timeout(pause, plugins.woken()) => {}
                }
            }
        }
        pipeline.settle().await;
    });
}

/// Sweeps every tenant with a scorer again, every `every`: scores that depend on the time
/// (recency, churn risk, lifecycle stage) move without any write. A sweep under way goes on
/// rather than starting over, so a tenant too large to sweep within `every`, or several
/// replicas ticking, still get to the end.
pub fn spawn_rescorer(tasks: &Tasks, db: DatabaseConnection, plugins: Arc<Plugins>, every: Duration) {
    tasks.spawn("re-scorer", |stop| async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await; // the first tick is now: the seed or the writes queued what is new
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let swept = async {
                let ticket = Uuid::now_v7();
                let tenants = store::plugins::tenants_with_scorers(&db).await?;
                for &tenant_id in &tenants {
                    store::in_write(&db, async |txn| {
                        store::scoring::sweep_unless_sweeping(txn, tenant_id, ticket).await
                    })
                    .await?;
                }
                Result::<usize>::Ok(tenants.len())
            };
            match swept.await {
                Ok(n) => {
                    tracing::info!(tenants = n, "sweeping every scored tenant again");
                    plugins.wake_scorer();
                }
                Err(err) => tracing::warn!(error = %err, "starting the periodic re-score"),
            }
        }
    });
}

/// Re-scores every customer of the caller's tenant (`pluginId`: check that this scorer is
/// installed and enabled; every enabled scorer runs). Progress: [`progress`].
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND` for an unknown plugin; `BAD_USER_INPUT` for a plugin that is no
/// enabled scorer; database failures.
pub async fn recompute(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    plugin_id: Option<Uuid>,
) -> Result<score_run::Model> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN may recompute scores".into()));
    }
    if let Some(id) = plugin_id {
        let p = plugins::get(db, caller, id).await?;
        if !(p.enabled && plugins::is_scorer(&p)) {
            return Err(Error::invalid(
                "pluginId",
                "NOT_AN_ENABLED_SCORER",
                format!("{} is no enabled scorer", p.name),
            ));
        }
    }
    let run = score_run::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        plugin_id,
        total: 0,
        started_at: store::now(),
    };
    let txn = store::begin_write(db).await?;
    store::scoring::sweep_all(&txn, caller.tenant_id, run.id).await?;
    let run = score_run::Model { total: store::scoring::customers_ahead(&txn, caller.tenant_id, None).await?, ..run };
    store::scoring::insert_run(&txn, &run).await?;
    txn.commit().await?;
    plugins.wake_scorer();
    Ok(run)
}

/// A recompute request and how many of its customers still wait.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn progress(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<(score_run::Model, i64)> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN may follow score runs".into()));
    }
    let run = store::scoring::find_run(db, caller.tenant_id, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no score run {}", ids::encode(RUN_TYPE_NAME, id))))?;
    let pending = store::scoring::pending(db, caller.tenant_id, Some(run.id)).await?;
    Ok((run, pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round whose room the queue fills keeps the sweep the worker holds, and the next round
    /// with room goes on with it: dropping it left the sweep leased to the worker itself, which
    /// may not claim a leased sweep, until the lease ran out.
    #[tokio::test]
    async fn a_full_round_keeps_the_sweep_for_the_next_one() {
        let db = store::connect("sqlite::memory:", 1).await.expect("database");
        store::migrate(&db).await.expect("migrations");
        let (tenant, worker) = (Uuid::now_v7(), Uuid::now_v7());
        let ticket = Uuid::now_v7();
        store::scoring::sweep_all(&db, tenant, ticket).await.unwrap();
        let now = store::now();
        let held =
            store::scoring::claim_sweep(&db, worker, now, now + chrono::Duration::minutes(2), None).await.unwrap();
        let held = held.expect("the sweep");

        store::scoring::enqueue(&db, tenant, &[Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()]).await.unwrap();
        let full = take(&db, worker, 3, Some(held)).await.unwrap();
        assert_eq!(full.queued.len(), 3);
        assert!(full.stretch.is_none(), "no room for the sweep");
        assert_eq!(full.kept, Some(held));

        store::scoring::done(&db, &full.queued).await.unwrap();
        let next = take(&db, worker, 3, full.kept).await.unwrap();
        let stretch = next.stretch.expect("the kept sweep goes on");
        assert_eq!((stretch.sweep.tenant_id, stretch.sweep.ticket), (tenant, ticket));
        assert!(stretch.last, "the tenant has no customers");
    }
}
