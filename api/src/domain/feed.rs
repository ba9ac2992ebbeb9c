//! The change events this process hears, for the subscriptions it serves.
//!
//! One reader per process follows the outbox (`store::events`) and hands each new event to the
//! subscribers of its tenant; while nobody on this process listens it reads nothing. It reads when a write of this process commits ([`Feed::committed`]),
//! when another replica announces writes (PostgreSQL's NOTIFY, sent once the writes committed,
//! carrying nothing), and every `GUANXI_EVENT_POLL_MS` (a second) whatever happens, so a lost
//! notification delays an event by that much at most and never loses it.
//!
//! Each read hands each tenant's subscribers one [`Batch`] (of at most [`BATCH`] events): one
//! large change (a ranking that moves thousands of tiers) is one or a few batches, shared by
//! every subscriber, which a socket listening to none of it passes over at once. A tenant's
//! channel keeps `GUANXI_EVENT_BUFFER` batches: a subscriber that falls further behind is told so
//! ([`broadcast::error::RecvError::Lagged`]) and dropped by its connection, rather than
//! buffered without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guanxi_entity::event;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::error::Result;
use crate::store;
use crate::tasks::Tasks;

/// One event, shared by every subscriber that hears it.
pub type Heard = Arc<event::Model>;

/// The events of one tenant that one read found, in commit order per record (at most
/// [`BATCH`]).
pub type Batch = Arc<[Heard]>;

/// The most events in one batch: a read that found more for a tenant hands them out in batches
/// of this many, so what a tenant's channel keeps for its slowest socket is at most
/// `GUANXI_EVENT_BUFFER` × `BATCH` events (128 × 1,024 by default) however large its changes.
pub const BATCH: usize = 1024;

/// The events of this process's subscribers' tenants, as they commit.
pub struct Feed {
    db: DatabaseConnection,
    tenants: Mutex<HashMap<Uuid, broadcast::Sender<Batch>>>,
    /// Batches a tenant's channel keeps for its slowest subscriber.
    buffered: usize,
    /// Where the reader stands; `None` while nobody here listens, when it reads nothing.
    position: tokio::sync::Mutex<Option<store::events::Position>>,
    /// Rings the reader.
    read: Notify,
    /// Rings the announcer (PostgreSQL): other replicas should read.
    announce: Notify,
    /// Rings the webhook sender, which reads the outbox whether anyone here listens or not.
    written: Notify,
}

/// The least time between two announcements of one replica: the commits in between share the
/// second, so a busy replica sends at most 50 a second.
const ANNOUNCE_GAP: Duration = Duration::from_millis(20);

impl Feed {
    /// Starts the reader (which reads when rung, and every `poll`, while someone here listens),
    /// and on PostgreSQL the listener and the announcer.
    pub fn start(tasks: &Tasks, db: &DatabaseConnection, poll: Duration, buffered: usize) -> Arc<Self> {
        let feed = Arc::new(Self {
            db: db.clone(),
            tenants: Mutex::default(),
            buffered: buffered.max(1),
            position: tokio::sync::Mutex::new(None),
            read: Notify::new(),
            announce: Notify::new(),
            written: Notify::new(),
        });
        let reader = feed.clone();
        tasks.spawn("event reader", |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = reader.read.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
                reader.read_new().await;
            }
        });
        let heard = feed.clone();
        store::notifications::listen_for_events(tasks, db, move || {
            heard.read.notify_one();
            heard.written.notify_one();
        });
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let (announcer, announce_db) = (feed.clone(), db.clone());
            tasks.spawn("event announcer", |stop| async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = announcer.announce.notified() => {}
                    }
                    if let Err(err) = store::notifications::announce_events(&announce_db).await {
                        tracing::warn!(error = %err, "announcing change events");
                    }
                    tokio::time::sleep(ANNOUNCE_GAP).await;
                }
            });
        }
        feed
    }

    /// Reads what committed since the last read and hands it out; forgets the position once
    /// nobody listens.
    async fn read_new(&self) {
        let mut position = self.position.lock().await;
        let Some(current) = position.as_ref() else { return };
        let tenants = self.subscribed();
        if tenants.is_empty() {
            *position = None;
            return;
        }
        match store::events::read_since(&self.db, current, &tenants).await {
            Ok((events, next)) => {
                *position = Some(next);
                self.dispatch(events);
            }
            Err(err) => tracing::warn!(error = %err, "reading change events"),
        }
    }

    /// The events of `tenant` from now on. While nobody here listens the reader reads nothing;
    /// the first listener makes it start from now.
    ///
    /// # Errors
    /// Database failures while finding where the outbox stands.
    pub async fn subscribe(&self, tenant: Uuid) -> Result<broadcast::Receiver<Batch>> {
        let receiver = {
            let mut tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            tenants.entry(tenant).or_insert_with(|| broadcast::channel(self.buffered).0).subscribe()
        };
        let mut position = self.position.lock().await;
        if position.is_none() {
            *position = Some(store::events::start(&self.db).await?);
        }
        Ok(receiver)
    }

    /// Writes of this process committed: read the outbox now, and tell the other replicas.
    pub fn committed(&self) {
        self.read.notify_one();
        self.announce.notify_one();
        self.written.notify_one();
    }

    /// Waits until events may have been written: a write here committed, or another replica
    /// announced writes. (For the webhook sender, which also reads on a timer.)
    pub async fn written(&self) {
        self.written.notified().await;
    }

    /// The tenants someone here listens to.
    fn subscribed(&self) -> Vec<Uuid> {
        let tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants.iter().filter(|(_, channel)| channel.receiver_count() > 0).map(|(tenant, _)| *tenant).collect()
    }

    /// Hands each tenant's subscribers its events of this read, as one batch (or several of
    /// [`BATCH`]); a tenant nobody listens to any more is forgotten.
    fn dispatch(&self, events: Vec<event::Model>) {
        if events.is_empty() {
            return;
        }
        let mut batches: HashMap<Uuid, Vec<Heard>> = HashMap::new();
        for event in events {
            batches.entry(event.tenant_id).or_default().push(Arc::new(event));
        }
        let mut tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (tenant, events) in batches {
            let Some(channel) = tenants.get(&tenant) else { continue };
            if events.chunks(BATCH).any(|batch| channel.send(batch.into()).is_err()) {
                tenants.remove(&tenant);
            }
        }
        tenants.retain(|_, channel| channel.receiver_count() > 0);
    }
}
