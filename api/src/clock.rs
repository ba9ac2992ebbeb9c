//! A request's time and counters: task-locals the HTTP layer scopes around a request, which its
//! loaders carry into their own tasks and the store reads. A leaf: every layer uses it, it
//! uses none.

use chrono::{DateTime, SubsecRound, Utc};

tokio::task_local! {
    /// Counts the SQL statements of one request: the HTTP layer scopes a counter around each
    /// execution (and its loaders' tasks), the pool's metric callback increments it.
    pub static STATEMENTS: std::sync::Arc<std::sync::atomic::AtomicU64>;

    /// Counts the write transactions one request committed: an idempotent request whose
    /// answer is an error but that committed a write keeps that answer, so that its retry does
    /// not write again.
    pub static COMMITS: std::sync::Arc<std::sync::atomic::AtomicU64>;

    /// The server's clock for one request: [`now`] reads it. Only tests move it, to see what
    /// deadlines do once they pass without waiting for them.
    pub static CLOCK: Clock;
}

/// The current time at the precision both databases keep (microseconds), so a value read back
/// equals the value written and cursors compare exactly.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let ahead = CLOCK.try_with(Clock::ahead).unwrap_or_default();
    (Utc::now() + ahead).trunc_subsecs(6)
}

/// How far a server's clock runs ahead of the wall clock: zero, unless a test moved it.
#[derive(Debug, Clone, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    /// Moves the clock forward by `by` (whole milliseconds).
    pub fn advance(&self, by: chrono::Duration) {
        self.0.fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::Relaxed);
    }

    fn ahead(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}
