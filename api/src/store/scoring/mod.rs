//! The durable queue of customers to score, the scores written into the customers' scores rows,
//! and the ranking of a tenant's customers into value tiers.
//!
//! A queue row carries a ticket (uuid v7) renewed by every enqueue. A worker claims rows for a
//! while (a lease, so a crashed worker's rows come back) and deletes them afterwards only if
//! their ticket is still the one it claimed: a customer changed while it was being scored stays
//! queued and is scored again. On PostgreSQL, replicas share the queue with `SKIP LOCKED`.
//!
//! A whole tenant is not queued customer by customer but swept: one row per tenant with the
//! last customer scored, in id order, claimed by one worker at a time under the same kind of
//! lease. A new whole-tenant request starts the sweep over.
//!
//! Apart by table: `queue` is the queue of single customers, `sweeps` the sweeps of whole
//! tenants, `runs` the recompute requests and how much of them is still to score, `scores` the
//! customers' scores rows, `tiers` the ranking; `sql` holds the pieces their statements share:
//! the placeholders of the two databases, VALUES lists of customers, counts.

mod queue;
mod runs;
mod scores;
mod sql;
mod sweeps;
mod tiers;

pub use queue::{Claimed, claim, done, enqueue, queued_more_than, vacuum};
pub use runs::{find_run, insert_run, pending};
pub use scores::{ScoreWrite, add_rows, delete_row, details_of, write_scores};
pub use sweeps::{
    Sweep, advance_sweep, claim_sweep, customers_ahead, end_sweep, renew_sweep, sweep_all, sweep_ids,
    sweep_unless_sweeping, sweeping, yield_sweep,
};
pub use tiers::{CutPoints, rank_tiers};
