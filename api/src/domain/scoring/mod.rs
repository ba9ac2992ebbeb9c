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
//!
//! `round` scores some of a tenant's customers: snapshots through every enabled scorer, and
//! what changed written back. `worker` is the loop around it: what a round takes from the queue
//! and the sweeps, the pipeline that overlaps the queue's work with scoring, when a tenant is
//! ranked, and the periodic re-score. `service` is what callers ask: a re-score of the tenant,
//! its progress, a ranking into tiers.

mod round;
mod service;
mod worker;

pub use service::{RUN_TYPE_NAME, progress, rank, recompute};
pub use worker::{Work, spawn_rescorer, spawn_worker};

/// The score key of the lifecycle scorer's stage (`Customer.lifecycleStage`); a round that
/// moves it tells `customer.scored`.
pub const LIFECYCLE_KEY: &str = "lifecycle_stage";
