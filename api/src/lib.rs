//! Guanxi's server: configuration, HTTP, GraphQL, domain rules and storage.
//!
//! The binary (`src/main.rs` of the root package) only parses its command line and calls into this
//! crate. [`Application::build`] connects and migrates the database, binds the listener and returns
//! a server that [`Application::run_until_stopped`] drives until SIGTERM/SIGINT, draining requests.
//! Dependencies point one way: `app` → `http` → `graphql` → `domain` → `store`, and all of them
//! speak `query` (filters, orders, pages), a leaf that imports none of them. The domain never sees
//! actix or GraphQL types; GraphQL reaches the database only through the domain.

pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod query;
pub mod rate;
pub mod seed;
pub mod store;
pub mod tasks;

pub use app::Application;
pub use config::Config;
pub use error::{Error, Result};
pub use http::AppState;
