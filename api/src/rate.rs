//! Rate limits: a bucket of points per tenant and one per user, refilling at a steady rate.
//!
//! Every operation is charged its cost (see [`crate::graphql::cost`]) before it runs, from both
//! its user's bucket and its tenant's; what it did not use (its actual cost is what it returned)
//! is given back after. An operation either bucket cannot pay for is refused with the time until
//! it could be. Each user's bucket has its role's size, so a tenant can give its integrations
//! (ADMIN tokens) more than its VIEWERs; the tenant's bucket keeps one tenant's many users from
//! taking the server from the others.
//!
//! Buckets live in each replica's memory: with N replicas behind a load balancer a caller may
//! spend up to N buckets' worth, and `extensions.cost.bucket` describes the bucket of the replica
//! that answered. Sharing them through PostgreSQL would add a write to every request for a bound
//! that only needs to be right within a factor of the replica count.
//!
//! Not a `governor` limiter: its cells are not refundable and it cannot report what remains,
//! both of which clients are told (API reference, "Cost and rate limits").
//!
//! Buckets bound what a tenant spends over seconds; [`InFlight`] bounds what it holds at once.
//! A tenant with many connections would otherwise run as many operations side by side as it
//! has connections, holding every pooled database connection while another tenant's cheap read
//! waits for one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::domain::{Caller, Role};

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    pub capacity: f64,
    pub restore_per_second: f64,
}

impl BucketSpec {
    /// Parses `CAPACITY/RESTORE`, e.g. `50000/1000`.
    ///
    /// # Errors
    /// A message naming the expected form.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (capacity, restore) = s.split_once('/').ok_or_else(|| format!("'{s}' is not CAPACITY/RESTORE"))?;
        let number = |v: &str| v.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0);
        match (number(capacity), number(restore)) {
            (Some(capacity), Some(restore_per_second)) => Ok(Self { capacity, restore_per_second }),
            _ => Err(format!("'{s}' is not CAPACITY/RESTORE with two positive numbers")),
        }
    }
}

impl BucketSpec {
    /// A tenant's bucket unless told otherwise: any allowed operation's cost, restored at 500
    /// points a second per core the server has.
    #[must_use]
    pub fn tenant_default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        #[expect(clippy::cast_precision_loss, reason = "a core count")]
        let restore_per_second = 500.0 * cores as f64;
        Self { capacity: 50_000.0, restore_per_second }
    }
}

impl std::fmt::Display for BucketSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.capacity, self.restore_per_second)
    }
}

/// What the limiter is told at start.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSettings {
    pub enabled: bool,
    /// Each user's bucket, by role.
    pub user: [(Role, BucketSpec); 4],
    pub tenant: BucketSpec,
    /// Tenants (by slug) whose bucket is not `tenant`: the large ones an operator sizes apart.
    pub tenants: HashMap<String, BucketSpec>,
}

/// Where a caller's bucket stands after a charge, as `extensions.cost.bucket` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub capacity: u64,
    pub remaining: u64,
    pub restore_per_second: f64,
    /// When the bucket is full again (RFC 3339).
    pub reset_at: String,
}

/// An operation the buckets cannot pay for now.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Which bucket refused: `user` or `tenant`.
    pub bucket: &'static str,
    /// Whole seconds until the operation could be paid for (HTTP `Retry-After`).
    pub retry_after: u64,
    pub standing: Standing,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// The size it has: a user's changes with the role its latest token names.
    spec: BucketSpec,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.spec.restore_per_second).min(self.spec.capacity);
        self.updated = now;
    }

    fn standing(&self) -> Standing {
        let spec = self.spec;
        let missing = (spec.capacity - self.tokens).max(0.0);
        let full_in = Duration::from_secs_f64(missing / spec.restore_per_second);
        let reset = chrono::Utc::now() + chrono::Duration::from_std(full_in).unwrap_or_default();
        Standing {
            capacity: as_points(spec.capacity),
            remaining: as_points(self.tokens),
            restore_per_second: spec.restore_per_second,
            reset_at: reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small, non-negative, floored")]
fn as_points(x: f64) -> u64 {
    x.max(0.0).floor() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Tenant(Uuid),
    User(Uuid, Uuid),
}

/// Buckets kept before full ones are dropped: a full bucket is the same as none, so the map
/// holds only callers that spent something lately.
const PRUNE_ABOVE: usize = 10_000;

/// The server's buckets.
pub struct RateLimiter {
    settings: RateSettings,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl RateLimiter {
    #[must_use]
    pub fn new(settings: RateSettings) -> Self {
        Self { settings, buckets: Mutex::new(HashMap::new()) }
    }

    /// Whether operations are charged at all (`GUANXI_RATE_LIMITS=off` for a single trusted client).
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    fn user_spec(&self, role: Role) -> BucketSpec {
        self.settings.user.iter().find(|(r, _)| *r == role).map_or(self.settings.tenant, |(_, spec)| *spec)
    }

    /// Takes `points` from the caller's user and tenant buckets, or neither.
    ///
    /// # Errors
    /// [`Refusal`] when either bucket holds fewer points, with the time until it would hold
    /// enough (an operation larger than a bucket can never be paid for; its `retry_after` is the
    /// time to fill the bucket, and the cost limit keeps such operations out by default).
    pub fn charge(&self, caller: &Caller, points: u64) -> Result<Option<Standing>, Refusal> {
        self.take(caller, points, true)
    }

    /// Refuses at once a caller whose buckets cannot pay even one point, before its document is
    /// parsed or measured: a client that keeps sending while refused costs the server the least
    /// it can, and the other tenants' requests keep the CPU.
    ///
    /// # Errors
    /// [`Refusal`] when either bucket holds less than a point.
    pub fn admit(&self, caller: &Caller) -> Result<(), Refusal> {
        self.take(caller, 1, false).map(|_| ())
    }

    fn take(&self, caller: &Caller, points: u64, deduct: bool) -> Result<Option<Standing>, Refusal> {
        if !self.settings.enabled {
            return Ok(None);
        }
        let now = Instant::now();
        let user_spec = self.user_spec(caller.role);
        let tenant_spec = self.settings.tenants.get(&caller.tenant_slug).copied().unwrap_or(self.settings.tenant);
        #[expect(clippy::cast_precision_loss, reason = "points far below 2^52")]
        let want = points as f64;
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(None) };
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| {
                bucket.refill(now);
                bucket.tokens < bucket.spec.capacity
            });
        }
        let user = Key::User(caller.tenant_id, caller.user_id);
        let keys = [(user, user_spec, "user"), (Key::Tenant(caller.tenant_id), tenant_spec, "tenant")];
        for (key, spec, _) in keys {
            let bucket = buckets.entry(key).or_insert(Bucket { tokens: spec.capacity, updated: now, spec });
            bucket.spec = spec;
            bucket.refill(now);
        }
        for (key, spec, name) in keys {
            let tokens = buckets.get(&key).map_or(0.0, |b| b.tokens);
            if tokens < want {
                let wait = (want.min(spec.capacity) - tokens) / spec.restore_per_second;
                let retry_after = as_points(wait.ceil().max(1.0));
                let Some(standing) = buckets.get(&user).map(Bucket::standing) else { return Ok(None) };
                return Err(Refusal { bucket: name, retry_after, standing });
            }
        }
        if deduct {
            for (key, _, _) in keys {
                if let Some(bucket) = buckets.get_mut(&key) {
                    bucket.tokens -= want;
                }
            }
        }
        Ok(buckets.get(&user).map(Bucket::standing))
    }

    /// Settles an operation charged `charged` points once its actual cost is known: gives back
    /// what it did not use, and takes what it used beyond the charge (a list without `first`
    /// holding more than the walk assumed). A bucket may go below zero then; the caller waits
    /// until it has refilled.
    pub fn settle(&self, caller: &Caller, charged: u64, actual: u64) -> Option<Standing> {
        if !self.settings.enabled {
            return None;
        }
        let mut buckets = self.buckets.lock().ok()?;
        #[expect(clippy::cast_precision_loss, reason = "points far below 2^52")]
        let delta = charged as f64 - actual as f64;
        for key in [Key::Tenant(caller.tenant_id), Key::User(caller.tenant_id, caller.user_id)] {
            if let Some(b) = buckets.get_mut(&key) {
                b.tokens = (b.tokens + delta).clamp(-b.spec.capacity, b.spec.capacity);
            }
        }
        buckets.get(&Key::User(caller.tenant_id, caller.user_id)).map(Bucket::standing)
    }
}

/// How many operations each tenant may run at once, and how long one waits for its turn.
pub struct InFlight {
    per_tenant: usize,
    queue: usize,
    wait: Duration,
    lanes: Mutex<HashMap<Uuid, Arc<Lane>>>,
}

/// One tenant's turns: its slots and how many of its operations wait for one.
struct Lane {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// A turn: the operation runs while it holds one.
pub struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
}

/// An operation that found its tenant's slots taken and its queue full, or waited too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Takes a waiter off its lane's count however its wait ends (a client that hangs up drops it).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlight {
    /// `per_tenant` operations at once per tenant (0: no bound), and as many as four times that
    /// waiting, each at most `wait`.
    #[must_use]
    pub fn new(per_tenant: usize, wait: Duration) -> Self {
        Self { per_tenant, queue: per_tenant.saturating_mul(4), wait, lanes: Mutex::new(HashMap::new()) }
    }

    /// Waits for a turn of `tenant`'s. Other tenants' turns are not touched: a tenant that has
    /// taken all of its own waits for itself only.
    ///
    /// # Errors
    /// [`Busy`] when the tenant's queue is full or no turn came within the wait.
    pub async fn enter(&self, tenant: Uuid) -> Result<Turn, Busy> {
        if self.per_tenant == 0 {
            return Ok(Turn { _permit: None });
        }
        let lane = {
            let Ok(mut lanes) = self.lanes.lock() else { return Ok(Turn { _permit: None }) };
            if lanes.len() > PRUNE_ABOVE {
                let idle = |lane: &Arc<Lane>| {
                    Arc::strong_count(lane) == 1 && lane.slots.available_permits() == self.per_tenant
                };
                lanes.retain(|_, lane| !idle(lane));
            }
            lanes
                .entry(tenant)
                .or_insert_with(|| {
                    Arc::new(Lane { slots: Arc::new(Semaphore::new(self.per_tenant)), waiting: AtomicUsize::new(0) })
                })
                .clone()
        };
        if let Ok(permit) = lane.slots.clone().try_acquire_owned() {
            return Ok(Turn { _permit: Some(permit) });
        }
        if lane.waiting.fetch_add(1, Ordering::Relaxed) >= self.queue {
            lane.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Busy);
        }
        let _waiting = Waiting(&lane.waiting);
        match tokio::time::timeout(self.wait, lane.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn { _permit: Some(permit) }),
            _ => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            tenant_id: Uuid::nil(),
            tenant_slug: "t".into(),
            tenant_name: "t".into(),
            user_id: Uuid::now_v7(),
            subject: "u".into(),
            name: None,
            email: None,
            role,
            locale: None,
        }
    }

    fn settings(user: &str, tenant: &str) -> RateSettings {
        let spec = BucketSpec::parse(user).unwrap();
        RateSettings {
            enabled: true,
            user: Role::ALL.map(|r| (r, spec)),
            tenant: BucketSpec::parse(tenant).unwrap(),
            tenants: HashMap::new(),
        }
    }

    #[test]
    fn a_bucket_pays_until_empty_then_refuses_with_the_wait() {
        let limiter = RateLimiter::new(settings("100/10", "1000/100"));
        let me = caller(Role::Agent);
        assert_eq!(limiter.charge(&me, 60).unwrap().unwrap().remaining, 40);
        let refused = limiter.charge(&me, 60).unwrap_err();
        assert_eq!(refused.bucket, "user");
        // 20 points missing at 10 a second.
        assert_eq!(refused.retry_after, 2);
        // A refusal takes nothing.
        assert_eq!(limiter.charge(&me, 40).unwrap().unwrap().remaining, 0);
        assert_eq!(limiter.settle(&me, 40, 10).unwrap().remaining, 30);
        // Using more than was charged takes the rest, below zero if need be.
        assert_eq!(limiter.settle(&me, 10, 80).unwrap().remaining, 0);
        assert_eq!(limiter.charge(&me, 1).unwrap_err().bucket, "user");
    }

    #[test]
    fn admission_takes_nothing_and_refuses_an_empty_bucket() {
        let limiter = RateLimiter::new(settings("100/1", "1000/100"));
        let me = caller(Role::Agent);
        for _ in 0..3 {
            limiter.admit(&me).unwrap();
        }
        assert_eq!(limiter.charge(&me, 100).unwrap().unwrap().remaining, 0, "admission took nothing");
        let refused = limiter.admit(&me).unwrap_err();
        assert_eq!((refused.bucket, refused.retry_after), ("user", 1));
    }

    #[test]
    fn the_tenant_bucket_is_shared_by_its_users() {
        let limiter = RateLimiter::new(settings("100/1", "150/1"));
        let (a, b) = (caller(Role::Agent), caller(Role::Agent));
        limiter.charge(&a, 100).unwrap();
        let refused = limiter.charge(&b, 100).unwrap_err();
        assert_eq!(refused.bucket, "tenant");
        // The refused user's own bucket was not touched.
        assert_eq!(refused.standing.remaining, 100);
    }

    #[test]
    fn a_tenant_sized_apart_has_its_own_bucket_size() {
        let mut settings = settings("1000000/1", "100/1");
        settings.tenants.insert("big".into(), BucketSpec::parse("10000/1").unwrap());
        let limiter = RateLimiter::new(settings);
        let small = caller(Role::Agent);
        let mut big = caller(Role::Agent);
        big.tenant_id = Uuid::now_v7();
        big.tenant_slug = "big".into();
        assert_eq!(limiter.charge(&small, 500).unwrap_err().bucket, "tenant");
        limiter.charge(&big, 5000).unwrap();
    }

    #[test]
    fn specs_parse_or_say_why() {
        assert_eq!(BucketSpec::parse("50000/1000").unwrap().capacity, 50_000.0);
        assert!(BucketSpec::parse("50000").is_err());
        assert!(BucketSpec::parse("0/5").is_err());
        assert!(BucketSpec::parse("x/5").is_err());
    }

    #[tokio::test]
    async fn a_tenant_waits_for_its_own_turns_only() {
        let turns = InFlight::new(1, Duration::from_millis(50));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = turns.enter(a).await.unwrap();
        // A's second operation waits its turn, then gives up; B's runs at once.
        assert_eq!(turns.enter(a).await.err(), Some(Busy));
        let _b = turns.enter(b).await.unwrap();
        // A waiter gets the turn as soon as it is free.
        let waiter = turns.enter(a);
        tokio::pin!(waiter);
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut waiter).await.is_err(), "waits");
        drop(first);
        assert!(waiter.await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_hung_up_waiters_leave_it() {
        let turns = InFlight::new(1, Duration::from_secs(60));
        let a = Uuid::now_v7();
        let _running = turns.enter(a).await.unwrap();
        let mut waiters: Vec<_> = (0..4).map(|_| Box::pin(turns.enter(a))).collect();
        for w in &mut waiters {
            assert!(tokio::time::timeout(Duration::from_millis(1), w.as_mut()).await.is_err());
        }
        // The fifth waiter finds the queue (four per slot) full.
        let started = Instant::now();
        assert_eq!(turns.enter(a).await.err(), Some(Busy));
        assert!(started.elapsed() < Duration::from_secs(30), "refused without waiting");
        // Waiters that hang up free their places.
        waiters.clear();
        let mut again = Box::pin(turns.enter(a));
        assert!(tokio::time::timeout(Duration::from_millis(1), again.as_mut()).await.is_err(), "queued, not refused");
    }

    #[tokio::test]
    async fn no_bound_means_no_wait() {
        let turns = InFlight::new(0, Duration::ZERO);
        let a = Uuid::now_v7();
        let mut held = Vec::new();
        for _ in 0..100 {
            held.push(turns.enter(a).await.expect("unbounded"));
        }
    }
}
