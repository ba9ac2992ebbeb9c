//! The webhook sender: one task per server that makes deliveries from the outbox and sends them.
//!
//! Each pass it reads the outbox for new events (when a write committed here, another replica
//! announced writes, or every poll) and turns each into a delivery per webhook that asks for
//! it ([`store::webhooks::dispatch`]); then it claims due deliveries, a few tenants at a time in
//! turn, at most `per_tenant` of one tenant's in flight on this server and `in_flight` in all,
//! so a receiver that answers slowly holds up its own tenant's deliveries and nobody else's.
//! Every claim is a lease: a sender that dies mid-delivery leaves it to be claimed again when
//! the lease runs out, by this server after a restart or by another replica, so a delivery is
//! sent at least once and never lost. A failed attempt is tried again after an exponential
//! backoff with jitter, until the delivery's window closes and it is FAILED.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guanxi_entity::{event, webhook_delivery};
use rand::Rng as _;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Rules, address, signature};
use crate::domain::feed::Feed;
use crate::domain::ids;
use crate::store::{self, webhooks::Outcome};
use crate::tasks::Tasks;

/// How the sender works, from the server's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// An attempt without a complete answer by then failed.
    pub timeout: Duration,
    /// The wait after the first failed attempt; each further one doubles it (up to
    /// [`MAX_BACKOFF`]), then jitter takes off up to half.
    pub retry_base: Duration,
    /// Deliveries of one tenant in flight on this server at most.
    pub per_tenant: usize,
    /// Deliveries in flight on this server at most.
    pub in_flight: usize,
    /// How often the outbox is read when nothing announced a write.
    pub poll: Duration,
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Beyond the attempt's timeout, how long a claim holds: long enough to record the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Tenants one pass claims for; the next pass goes on from the last of them.
const TENANTS_PER_PASS: u32 = 32;

/// The least time between two reads of the outbox for webhooks.
const DISPATCH_GAP: Duration = Duration::from_millis(50);

/// Why the sender's loop woke, as far as reading the outbox goes.
enum Read {
    No,
    /// A write committed here or on another replica.
    Written,
    /// The poll's tick.
    Poll,
}

/// How often deliveries whose retries ran out unattended are failed.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// The longest error message kept on an attempt.
const MAX_ERROR_CHARS: usize = 300;

/// The wait before attempt `attempt + 1`, after attempt `attempt` (from 1) failed: `base`
/// doubled per attempt, at most [`MAX_BACKOFF`], of which a random part up to half is taken off
/// so that deliveries failing together do not come back together.
#[must_use]
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
    let full = base.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// Starts the sender.
///
/// # Errors
/// The HTTP client cannot be built (no TLS roots).
pub fn spawn(
    tasks: &Tasks,
    db: DatabaseConnection,
    feed: Arc<Feed>,
    rules: Arc<Rules>,
    settings: Settings,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(!rules.allow_private)
        .dns_resolver(Arc::new(address::PublicOnly { allow_private: rules.allow_private }))
        .user_agent(concat!("Guanxi-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let sender = Arc::new(Sender { db, rules, settings, client });
    tasks.spawn("webhook sender", |stop| async move {
        let mut pass = Pass::default();
        let mut poll = tokio::time::interval(sender.settings.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expired = Instant::now();
        let mut dispatched = tokio::time::Instant::now();
        loop {
            let read_outbox = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(done) = pass.sending.join_next_with_id() => {
                    pass.settle(&done);
                    Read::No
                }
                () = feed.written() => Read::Written,
                () = sender.rules.bell.notified() => Read::No,
                _ = poll.tick() => Read::Poll,
            };
            while let Some(done) = pass.sending.try_join_next_with_id() {
                pass.settle(&done);
            }
            match read_outbox {
                Read::No => {}
                // A write's wake with no webhook anywhere leaves the reading to the next poll
                // (which moves the position): nothing is lost, and writes cost nothing more.
                Read::Written if !sender.webhooks_exist().await => {}
                Read::Written | Read::Poll => {
                    // Writes in quick succession share one read.
                    tokio::time::sleep_until(dispatched + DISPATCH_GAP).await;
                    sender.dispatch().await;
                    dispatched = tokio::time::Instant::now();
                }
            }
            if expired.elapsed() >= EXPIRE_EVERY {
                expired = Instant::now();
                match store::webhooks::expire(&sender.db, crate::clock::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deliveries = n, "webhook deliveries failed: retries ran out"),
                    Err(err) => tracing::warn!(error = %err, "failing expired webhook deliveries"),
                }
            }
            if let Err(err) = sender.claim(&mut pass).await {
                tracing::warn!(error = %err, "claiming webhook deliveries");
            }
        }
        // The deliveries in hand finish (each within its timeout) and are recorded.
        while let Some(done) = pass.sending.join_next_with_id().await {
            pass.settle(&done);
        }
    });
    Ok(())
}

struct Sender {
    db: DatabaseConnection,
    rules: Arc<Rules>,
    settings: Settings,
    client: reqwest::Client,
}

/// What the sender's loop keeps between passes.
#[derive(Default)]
struct Pass {
    /// Deliveries in flight.
    sending: JoinSet<()>,
    /// The tenant of each delivery in flight, by its task (also when the task panicked).
    tenant_of: HashMap<tokio::task::Id, Uuid>,
    /// Deliveries in flight per tenant.
    busy: HashMap<Uuid, usize>,
    /// The last tenant a pass claimed for: the next goes on after it.
    after: Option<Uuid>,
}

impl Pass {
    fn settle(&mut self, done: &Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let task = match done {
            Ok((task, ())) => *task,
            Err(err) => err.id(),
        };
        if let Some(tenant) = self.tenant_of.remove(&task)
            && let Some(n) = self.busy.get_mut(&tenant)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(&tenant);
            }
        }
        self.show();
    }

    fn show(&self) {
        let in_flight = u32::try_from(self.sending.len()).unwrap_or(u32::MAX);
        metrics::gauge!("webhook_deliveries_in_flight").set(f64::from(in_flight));
    }
}

/// What a delivery is sent with.
struct Request {
    url: String,
    body: Vec<u8>,
    secrets: Vec<String>,
}

impl Sender {
    /// Is any webhook enabled, in any tenant? (On a failure, as if one were.)
    async fn webhooks_exist(&self) -> bool {
        store::webhooks::any_enabled(&self.db).await.unwrap_or(true)
    }

    async fn dispatch(&self) {
        match store::webhooks::dispatch(&self.db, self.rules.retry_for).await {
            Ok(Some(0) | None) => {}
            Ok(Some(n)) => tracing::debug!(deliveries = n, "webhook deliveries made"),
            Err(err) if is_serialization_failure(&err) => {
                tracing::debug!("another replica read the outbox for webhooks meanwhile");
            }
            Err(err) => tracing::warn!(error = %err, "making webhook deliveries"),
        }
    }

    /// Claims due deliveries for the next tenants in turn, as far as there is room, and starts
    /// sending them.
    async fn claim(self: &Arc<Self>, pass: &mut Pass) -> crate::error::Result<()> {
        let mut room = self.settings.in_flight.saturating_sub(pass.sending.len());
        if room == 0 {
            return Ok(());
        }
        // Tenants in turn: those after the last one served, then from the first again.
        let start = pass.after.unwrap_or(Uuid::nil());
        let mut tenants = store::webhooks::tenants_with_pending(&self.db, start, TENANTS_PER_PASS).await?;
        let found = u32::try_from(tenants.len()).unwrap_or(u32::MAX);
        if found < TENANTS_PER_PASS && !start.is_nil() {
            let again = store::webhooks::tenants_with_pending(&self.db, Uuid::nil(), TENANTS_PER_PASS - found).await?;
            tenants.extend(again.into_iter().filter(|t| *t <= start));
        }
        let lease = chrono::Duration::from_std(self.settings.timeout + LEASE_MARGIN).unwrap_or(chrono::Duration::MAX);
        for tenant in tenants {
            let free = self.settings.per_tenant.saturating_sub(pass.busy.get(&tenant).copied().unwrap_or(0));
            let limit = free.min(room);
            if limit == 0 {
                continue;
            }
            // Each claim's lease starts when it is taken.
            let now = crate::clock::now();
            let claimed = store::webhooks::claim(&self.db, tenant, now, now + lease, Uuid::now_v7(), limit).await?;
            if claimed.is_empty() {
                continue;
            }
            // Should this fail, the claims return when their lease ends.
            let context = store::webhooks::to_send(&self.db, &claimed).await?;
            room -= claimed.len();
            pass.after = Some(tenant);
            for delivery in claimed {
                let request = request(&delivery, &context);
                let sender = Arc::clone(self);
                let task = pass.sending.spawn(async move {
                    match request {
                        Ok(request) => sender.send(&delivery, request).await,
                        Err(why) => sender.fail_unsent(&delivery, why).await,
                    }
                });
                pass.tenant_of.insert(task.id(), tenant);
                *pass.busy.entry(tenant).or_default() += 1;
            }
            if room == 0 {
                break;
            }
        }
        pass.show();
        Ok(())
    }

    /// Sends one delivery and records what came of it.
    async fn send(&self, delivery: &webhook_delivery::Model, request: Request) {
        let at = crate::clock::now();
        let started = Instant::now();
        let answer = self.post(delivery, request).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (response_status, error) = match answer {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("answered HTTP {status}"))),
            Err(why) => (None, Some(why)),
        };
        let (status, next_attempt_at) = if error.is_none() {
            (store::webhooks::DELIVERED, None)
        } else {
            let wait = backoff(self.settings.retry_base, delivery.attempt);
            let next = at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            if next <= delivery.retry_until {
                (store::webhooks::PENDING, Some(next))
            } else {
                (store::webhooks::FAILED, None)
            }
        };
        self.record(delivery, &Outcome { at, response_status, error, duration_ms, status, next_attempt_at }).await;
    }

    /// Fails a delivery that cannot be sent at all.
    async fn fail_unsent(&self, delivery: &webhook_delivery::Model, why: String) {
        let outcome = Outcome {
            at: crate::clock::now(),
            response_status: None,
            error: Some(why),
            duration_ms: 0,
            status: store::webhooks::FAILED,
            next_attempt_at: None,
        };
        self.record(delivery, &outcome).await;
    }

    async fn record(&self, delivery: &webhook_delivery::Model, outcome: &Outcome) {
        let told = match outcome.status {
            store::webhooks::DELIVERED => "delivered",
            store::webhooks::PENDING => "retry",
            _ => "failed",
        };
        metrics::counter!("webhook_deliveries_total", "outcome" => told).increment(1);
        match store::webhooks::record(&self.db, delivery, outcome).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(delivery = %delivery.id, "a webhook delivery's lease ran out before its outcome");
            }
            Err(err) => tracing::warn!(error = %err, delivery = %delivery.id, "recording a webhook delivery"),
        }
    }

    /// POSTs the delivery; the answer's status, or why none came.
    async fn post(&self, delivery: &webhook_delivery::Model, request: Request) -> Result<i32, String> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| format!("the address is no URL: {e}"))?;
        // Addresses written as IPs are connected to without the resolver, which checks names.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if !self.rules.allow_private && literal.is_some_and(|ip| !address::is_public(ip)) {
            let host = url.host_str().unwrap_or_default();
            return Err(format!("{host} is a loopback, private or link-local address"));
        }
        let secrets: Vec<&str> = request.secrets.iter().map(String::as_str).collect();
        let signed = signature::header(crate::clock::now().timestamp(), &request.body, &secrets);
        let answer = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Guanxi-Event-Id", delivery.event_id.to_string())
            .header("Guanxi-Delivery-Id", ids::encode(super::DELIVERY_TYPE_NAME, delivery.id))
            .header("Guanxi-Delivery-Attempt", delivery.attempt.to_string())
            .header("Guanxi-Signature", signed)
            .body(request.body)
            .send()
            .await;
        match answer {
            Ok(response) => Ok(i32::from(response.status().as_u16())),
            Err(err) if err.is_timeout() => Err(format!("no answer within {} s", self.settings.timeout.as_secs())),
            Err(err) => Err(describe(&err)),
        }
    }
}

/// The request `delivery` makes, or why it cannot be made.
fn request(delivery: &webhook_delivery::Model, context: &store::webhooks::ToSend) -> Result<Request, String> {
    let hook = context.webhooks.iter().find(|h| h.id == delivery.webhook_id).ok_or("the webhook was deleted")?;
    let event = context
        .events
        .iter()
        .find(|e| e.id == delivery.event_id)
        .ok_or("the event is past retention and can no longer be sent")?;
    let slug = context.tenants.iter().find(|t| t.id == delivery.tenant_id).map_or("", |t| t.slug.as_str());
    let secrets = super::signing_secrets(hook, crate::clock::now()).into_iter().map(str::to_owned).collect();
    Ok(Request { url: hook.url.clone(), body: body(event, slug), secrets })
}

/// The JSON a delivery of `event` carries: `{ id, type, tenant, occurredAt, data }`, with the
/// record's, its customer's and the actor's ids as the API gives them.
#[must_use]
pub fn body(event: &event::Model, tenant_slug: &str) -> Vec<u8> {
    let data = json!({
        "entity": event.entity,
        "id": ids::encode(&event.entity, event.entity_id),
        "customerId": event.customer_id.map(|c| ids::encode(crate::domain::customers::TYPE_NAME, c)),
        "changedFields": event.changed_fields,
        "actorId": event.actor_id.map(|a| ids::encode("User", a)),
    });
    let body = json!({
        "id": event.id.to_string(),
        "type": event.name,
        "tenant": tenant_slug,
        "occurredAt": event.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

fn is_serialization_failure(err: &crate::Error) -> bool {
    matches!(err, crate::Error::Database(db) if db.to_string().contains("could not serialize"))
}

/// What went wrong, as a receiver's operator would want it: the innermost cause, which names
/// the address refused or the connection that failed.
fn describe(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    let mut private = None;
    while let Some(inner) = cause.source() {
        if let Some(p) = inner.downcast_ref::<address::PrivateAddress>() {
            private = Some(p.to_string());
        }
        cause = inner;
    }
    let mut text = private.unwrap_or_else(|| {
        let what = if err.is_connect() { "could not connect" } else { "the request failed" };
        format!("{what}: {cause}")
    });
    if text.chars().count() > MAX_ERROR_CHARS {
        text = text.chars().take(MAX_ERROR_CHARS).collect();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour_with_up_to_half_taken_off() {
        let base = Duration::from_secs(10);
        for (attempt, full) in [(1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (40, 3600)] {
            for _ in 0..50 {
                let wait = backoff(base, attempt);
                let full = Duration::from_secs(full);
                assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?} outside {full:?}/2..={full:?}");
            }
        }
    }
}
