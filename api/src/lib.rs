//! Guanxi's server: configuration, HTTP, GraphQL, domain rules and storage.
//!
//! The binary (`src/main.rs` of the root package) only parses its command line and calls into this
//! crate. [`Application::build`] connects and migrates the database, binds the listener and returns
//! a server that [`Application::run_until_stopped`] drives until SIGTERM/SIGINT, draining requests.
//! Dependencies point one way: `app` → `http` → `graphql` → `domain` → `store`, and all of them
//! speak `query` (filters, orders, pages), a leaf that imports none of them. The domain never sees
//! actix or GraphQL types; GraphQL reaches the database only through the domain.
//!
//! Modules only this crate uses are `pub(crate)`; the command line, the black-box tests and the
//! benches reach the rest (and the re-exports below).

pub(crate) mod app;
pub mod auth;
pub(crate) mod config;
pub mod demo;
pub mod domain;
pub(crate) mod error;
pub mod graphql;
pub(crate) mod http;
pub mod query;
pub mod rate;
pub mod seed;
pub mod store;
pub(crate) mod tasks;

pub use app::Application;
pub use config::Config;
pub use error::{Error, Result};
pub use http::AppState;
