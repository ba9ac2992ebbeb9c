//! Black-box tests of the whole server, over HTTP. Most tests share one of two servers started
//! once per run (with and without the default scorers) and work in tenants of their own there;
//! a test that changes the server's settings, stops or replicates it, or reads what all tenants
//! share starts a server of its own. Every server listens on port 0 and starts on a fresh
//! database: SQLite in a temporary directory, or a fresh PostgreSQL database when
//! `GUANXI_TEST_DATABASE_URL` is set. See `helpers.rs`.

// A helper's failed expectation is the failure of the test that called it.
#![expect(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail their test")]

mod helpers;

mod access;
mod access_model;
mod auth;
mod cli;
mod clients;
mod complaints;
mod concurrency;
mod cost;
mod custom_fields;
mod customer360;
mod customers;
mod demo_page;
mod events;
mod faults;
mod filters;
mod fuzz;
mod graphiql;
mod hardening;
mod http;
mod idempotency;
mod interactions;
mod languages;
mod limits;
mod lists;
mod pagination;
mod persisted;
mod plans;
mod plugin_authors;
mod plugin_contract;
mod plugins;
mod replicas;
mod roles;
mod shapes;
mod snapshot;
mod stats;
mod subscriptions;
mod tenancy;
mod webhooks;
