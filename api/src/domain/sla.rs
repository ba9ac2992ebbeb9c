//! Telling of breached deadlines: when a complaint's response or resolution deadline passes
//! unmet, one `complaint.sla_breached` event, whichever replica notices first.
//!
//! Every replica checks every `GUANXI_SLA_CHECK_MS`; a check marks the complaints it tells and
//! records their events in one transaction, so a breach is told exactly once, survives a restart
//! (what was not marked is found by the next check), and is told late by at most the check's
//! period. The complaint itself does not change: its `version` stays, and no audit entry is made.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::feed::Feed;
use crate::error::Result;
use crate::store::complaints::Deadline;
use crate::clock::Clock;
use crate::store;
use crate::tasks::Tasks;

/// Breaches one transaction tells, per deadline.
const BATCH: u64 = 500;

/// Tells of every deadline that passed unmet since the last check: returns how many.
///
/// # Errors
/// Database failures; nothing is told then, and the next check tries again.
pub async fn tell_breaches(db: &DatabaseConnection) -> Result<usize> {
    let mut told = 0;
    loop {
        let now = crate::clock::now();
        let txn = store::begin_write(db).await?;
        let mut full = false;
        for (deadline, field) in [(Deadline::Response, "responseDueAt"), (Deadline::Resolution, "resolutionDueAt")] {
            let breaches = store::complaints::tell_breaches(&txn, deadline, now, BATCH).await?;
            full |= breaches.len() as u64 == BATCH;
            told += breaches.len();
            for breach in breaches {
                let event = store::events::by_the_server(
                    breach.tenant_id,
                    "complaint.sla_breached",
                    (super::complaints::TYPE_NAME, breach.id),
                    breach.customer_id,
                    field,
                    now,
                );
                store::events::append(&txn, event).await?;
            }
        }
        txn.commit().await?;
        if !full {
            return Ok(told);
        }
    }
}

/// Checks for breaches every `every`, on the server's clock, until shutdown.
pub fn spawn_checker(tasks: &Tasks, db: DatabaseConnection, feed: Arc<Feed>, clock: Clock, every: Duration) {
    tasks.spawn("sla checker", |stop| async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            match crate::clock::CLOCK.scope(clock.clone(), tell_breaches(&db)).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(breaches = n, "told of breached deadlines");
                    feed.committed();
                }
                Err(err) => tracing::warn!(error = %err, "checking for breached deadlines"),
            }
        }
    });
}
