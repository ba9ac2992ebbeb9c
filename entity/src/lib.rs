//! sea-orm entities of Guanxi: one module per table, no logic.
//!
//! Every tenant-owned table carries `tenant_id` first in its primary key, so a query that forgets
//! the tenant cannot use the key and stands out in review. Enumerations (status, kind, role, …) are
//! stored as their SCREAMING_CASE names in text columns; the `api` crate owns their meaning.

pub mod audit_entry;
pub mod complaint;
pub mod complaint_transition;
pub mod custom_field_definition;
pub mod customer;
pub mod customer_score;
pub mod customer_stats;
pub mod event;
pub mod idempotency_record;
pub mod interaction;
pub mod key_account_plan;
pub mod outbox_reader;
pub mod persisted_document;
pub mod plan_action;
pub mod plugin;
pub mod plugin_binary;
pub mod plugin_run;
pub mod plugin_validator;
pub mod score_run;
pub mod tenant;
pub mod user;
pub mod webhook;
pub mod webhook_attempt;
pub mod webhook_delivery;
