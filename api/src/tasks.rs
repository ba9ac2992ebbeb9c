//! The server's background tasks and their owner. Every task the server starts (the scoring
//! worker, the re-scorer, the index builder, the plugin run log, the purge of idempotency
//! records and old change events, the schema and event listeners, the event reader and
//! announcer, the SLA checker, the socket closer, the webhook sender) is spawned here, so that shutdown can tell
//! each to stop and wait for it: a task stops between units of work, never in the middle of a
//! transaction.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Owns the background tasks: hands each a token that says when to stop, and waits for them.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `task`, which is given the token that is cancelled at shutdown and must return
    /// soon after it is (finishing the unit of work in hand).
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.stop.clone());
        self.tracker.spawn(async move {
            future.await;
            tracing::debug!(task = name, "stopped");
        });
    }

    /// The token cancelled at shutdown.
    #[must_use]
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Tells every task to stop and waits up to `grace` for them; true when all stopped in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_waits_for_the_unit_of_work_in_hand() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let tasks = Tasks::new();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        tasks.spawn("worker", |stop| async move {
            started_tx.send(()).ok();
            stop.cancelled().await;
            // The unit of work in hand, finished after the stop was asked for.
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        started_rx.await.unwrap();
        assert!(tasks.shutdown(Duration::from_secs(5)).await);
        assert!(finished.load(Ordering::SeqCst), "shutdown returned before the task finished");
    }

    #[tokio::test]
    async fn shutdown_gives_up_after_the_grace_period() {
        let tasks = Tasks::new();
        tasks.spawn("stubborn", |_stop| async move { tokio::time::sleep(Duration::from_secs(3600)).await });
        assert!(!tasks.shutdown(Duration::from_millis(50)).await);
    }
}
