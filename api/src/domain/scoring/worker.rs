//! The scoring worker: the loop that takes a round's customers (claimed from the queue, then a
//! stretch of a sweep), scores them tenant by tenant while the next round is taken and the last
//! one leaves the queue, and ranks a tenant once it has nothing left to score; and the periodic
//! re-score that sweeps every scored tenant again. Apart from the round because this is about
//! pace, leases and turns, not about what a score is.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::round::score_customers;
use super::service::rank;
use crate::domain::plugins::Plugins;
use crate::error::{Error, Result};
use crate::store;
use crate::store::scoring::{Claimed, Sweep};
use crate::tasks::Tasks;

/// How long a claim is trusted before another worker may take the customers.
const LEASE: Duration = Duration::from_secs(120);

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
    let now = crate::clock::now();
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
pub(super) async fn finish<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
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
    let now = crate::clock::now();
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
        let now = crate::clock::now();
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
