//! Black-box tests of the whole server: each test starts the real server on port 0 against a
//! fresh database (SQLite in a temp dir, or a fresh PostgreSQL database when
//! `GUANXI_TEST_DATABASE_URL` is set) and talks HTTP to it.

mod helpers;

/// Builds the plugin components (examples and the host's test guests) for wasm32-wasip2.
#[path = "../../plugins/host/tests/support/guests.rs"]
mod guests;

mod access;
mod access_model;
mod auth;
mod cli;
mod complaints;
mod concurrency;
mod cost;
mod custom_fields;
mod customer360;
mod customers;
mod faults;
mod filters;
mod fuzz;
mod graphiql;
mod hardening;
mod http;
mod idempotency;
mod interactions;
mod limits;
mod lists;
mod pagination;
mod plans;
mod plugins;
mod replicas;
mod roles;
mod snapshot;
mod stats;
mod tenancy;
