//! Schema migrations of Guanxi. Every migration runs on SQLite and PostgreSQL and has a `down`.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tenants_and_users;
mod m20261126_000002_create_customers;
mod m20261126_000003_create_audit_and_idempotency;
mod m20261126_000004_create_interactions_and_complaints;
mod m20261126_000005_create_key_account_plans;
mod m20261126_000006_create_custom_fields;
mod m20261126_000007_create_plugins;
mod m20261126_000008_move_scores;
mod m20261126_000009_index_active_plans;
mod m20261126_000010_index_purchases;
mod m20261127_000011_move_computed_values;
mod m20261127_000012_create_score_sweeps;
mod m20261127_000013_fingerprint_scores;
mod m20261127_000014_sqlite_statistics;
mod m20261206_000015_field_index_state;
mod m20261206_000016_sweep_turns;
mod m20261206_000017_create_events;
mod m20261206_000018_customer_website;
mod m20261206_000019_idempotency_committed;
mod m20261207_000020_event_readers;
mod m20261207_000021_sla_breaches_told;
mod m20261207_000022_create_webhooks;
mod m20261207_000023_interaction_duration;
mod m20261207_000024_persisted_documents;
mod m20261207_000025_last_interaction_by_kind;
mod partial_index;
pub mod statistics;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tenants_and_users::Migration),
            Box::new(m20261126_000002_create_customers::Migration),
            Box::new(m20261126_000003_create_audit_and_idempotency::Migration),
            Box::new(m20261126_000004_create_interactions_and_complaints::Migration),
            Box::new(m20261126_000005_create_key_account_plans::Migration),
            Box::new(m20261126_000006_create_custom_fields::Migration),
            Box::new(m20261126_000007_create_plugins::Migration),
            Box::new(m20261126_000008_move_scores::Migration),
            Box::new(m20261126_000009_index_active_plans::Migration),
            Box::new(m20261126_000010_index_purchases::Migration),
            Box::new(m20261127_000011_move_computed_values::Migration),
            Box::new(m20261127_000012_create_score_sweeps::Migration),
            Box::new(m20261127_000013_fingerprint_scores::Migration),
            Box::new(m20261127_000014_sqlite_statistics::Migration),
            Box::new(m20261206_000015_field_index_state::Migration),
            Box::new(m20261206_000016_sweep_turns::Migration),
            Box::new(m20261206_000017_create_events::Migration),
            Box::new(m20261206_000018_customer_website::Migration),
            Box::new(m20261206_000019_idempotency_committed::Migration),
            Box::new(m20261207_000020_event_readers::Migration),
            Box::new(m20261207_000021_sla_breaches_told::Migration),
            Box::new(m20261207_000022_create_webhooks::Migration),
            Box::new(m20261207_000023_interaction_duration::Migration),
            Box::new(m20261207_000024_persisted_documents::Migration),
            Box::new(m20261207_000025_last_interaction_by_kind::Migration),
        ]
    }
}
