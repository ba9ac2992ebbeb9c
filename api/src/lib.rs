//! Guanxi's server: configuration, HTTP, GraphQL, domain rules and storage.
//!
//! The binary (`src/main.rs` of the root package) only parses its command line and calls into this
//! crate. [`Application::build`] connects and migrates the database, binds the listener and returns
//! a server that [`Application::run_until_stopped`] drives until SIGTERM/SIGINT, draining requests.
//! Dependencies point one way: `app` → `http` → `graphql` → `domain` → `store`, and all of them
//! speak `query` (filters, orders, pages), read `clock` (the request's time and counters) and
//! `locale` (messages in the caller's language), leaves that import none of them. The domain never sees
//! actix or GraphQL types; GraphQL reaches the database only through the domain.
//!
//! The crate's interface is what the command line needs: [`Application`] and [`Config`], the
//! operator's tasks re-exported below, and the small `auth`, `demo` and `seed` modules. Everything
//! else is crate-private. The `internals` feature makes `clock`, `domain`, `graphql`, `query`,
//! `rate` and `store` public for the black-box tests' white-box corners and the benches; it is not an API.

/// Declares modules that are crate-private unless the `internals` feature is on.
macro_rules! internal_modules {
    ($($name:ident),+) => {$(
        #[cfg(feature = "internals")]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    )+};
}

pub(crate) mod app;
pub mod auth;
pub(crate) mod config;
pub mod demo;
pub(crate) mod error;
pub(crate) mod http;
pub mod seed;
pub(crate) mod tasks;
internal_modules!(clock, domain, graphql, locale, query, rate, store);

pub use app::{Application, Stopper};
pub use config::Config;
pub use domain::ids::encode as global_id;
pub use domain::plugins::{
    InstallInput, OperatorInstall, Plugins, TYPE_NAME as PLUGIN_TYPE_NAME, install_as_operator, tenant_for,
};
pub use error::{Error, Result};
pub use http::AppState;
pub use store::{connect, migrate, redact_url};
