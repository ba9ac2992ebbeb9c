//! Building and running the server: [`Application::build`] checks the configuration, connects,
//! migrates and binds; [`Application::run_until_stopped`] serves until SIGTERM/SIGINT and then
//! drains in-flight requests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::AppConfig;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::identity::IdentityCache;
use crate::domain::plugins::Plugins;
use crate::domain::{field_indexes, scoring};
use crate::graphql::SchemaCache;
use crate::http::AppState;
use crate::rate::RateLimiter;
use crate::tasks::Tasks;
use crate::{http, store};

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    plugins: Arc<Plugins>,
    tasks: Tasks,
    /// How long in-flight requests, then background tasks, may take to finish at shutdown.
    grace: Duration,
    /// Cancelled when the server is told to stop: sockets close at once (1001).
    closing: tokio_util::sync::CancellationToken,
}

/// Stops a running server as SIGTERM does, for a process that embeds it (or a test): open
/// sockets close with 1001, in-flight requests drain, then [`Application::run_until_stopped`]
/// stops the background tasks and returns.
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    closing: tokio_util::sync::CancellationToken,
}

impl Stopper {
    /// Begins the shutdown and waits until requests have drained.
    pub async fn stop(&self) {
        self.closing.cancel();
        self.server.stop(true).await;
    }
}

/// The plugin host the configuration asks for.
///
/// # Errors
/// The engine cannot be created.
pub fn plugin_host(config: &Config) -> anyhow::Result<guanxi_plugin_host::Host> {
    let artifact_dir = Some(config.plugin_cache_dir.clone()).filter(|d| !d.as_os_str().is_empty());
    let mut host_config = guanxi_plugin_host::HostConfig {
        artifact_dir,
        max_loaded: config.plugin_max_loaded.max(1),
        max_artifact_bytes: config.plugin_cache_max_mb.saturating_mul(1 << 20),
        ..Default::default()
    };
    if config.plugin_concurrency > 0 {
        host_config.max_concurrent_calls = config.plugin_concurrency;
    }
    guanxi_plugin_host::Host::new(host_config).map_err(|e| anyhow::anyhow!("GUANXI_PLUGIN_*: {e}"))
}

/// How often expired idempotency records, old change events and webhook deliveries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Cancels `closing` at SIGTERM or SIGINT, the signals that stop the server: sockets do not
/// count as requests to drain, and their clients reconnect elsewhere.
fn close_sockets_at_signal(tasks: &Tasks, closing: tokio_util::sync::CancellationToken) {
    tasks.spawn("socket closer", |stop| async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
        tokio::select! {
            () = stop.cancelled() => {}
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        closing.cancel();
    });
}

impl Application {
    /// Checks the configuration, connects and migrates the database, and binds the listener.
    ///
    /// # Errors
    /// A setting is unusable (no JWT key, unreadable key file, unreachable database, address in
    /// use); the message names the setting.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let auth = Authenticator::from_config(&config)?;
        let rates = RateLimiter::new(config.rate_settings().map_err(|e| anyhow::anyhow!(e))?);
        let db = store::connect(&config.database_url, config.db_max_connections).await?;
        store::migrate(&db).await?;
        if config.is_sqlite() {
            tracing::info!("using embedded SQLite: run one process only; use PostgreSQL for several replicas");
        }
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("GUANXI_LISTEN: cannot listen on {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            config.workers
        };
        let schemas = Arc::new(SchemaCache::new(Duration::from_millis(config.schema_poll_ms)));
        let heard = schemas.clone();
        let tasks = Tasks::new();
        store::notifications::listen_for_schema_changes(&tasks, &db, move |tenant| match tenant {
            Some(id) => heard.invalidate(id),
            None => heard.clear(),
        });
        let plugins = Arc::new(Plugins::with_run_log(Arc::new(plugin_host(&config)?), db.clone(), &tasks));
        // On PostgreSQL the worker has connections of its own (one per batch in flight, one for
        // the queue) that plan every statement afresh; SQLite plans without cached statistics
        // (and an in-memory database exists only in its own pool).
        let in_flight = config.score_batches_in_flight.max(1);
        let batches = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            store::connect_for_batches(&config.database_url, u32::try_from(in_flight + 1).unwrap_or(8)).await?
        } else {
            db.clone()
        };
        scoring::spawn_worker(
            &tasks,
            batches,
            plugins.clone(),
            Duration::from_millis(config.score_poll_ms.max(10)),
            scoring::Work { claim: config.score_claim.max(1), in_flight },
        );
        // The index builder's DDL runs outside transactions and may take as long as a table is
        // large: on PostgreSQL it has a connection of its own, beside the requests' pool.
        let builder_db = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            store::connect(&config.database_url, 1).await?
        } else {
            db.clone()
        };
        field_indexes::spawn_builder(&tasks, builder_db, config.max_field_indexes);
        if config.rescore_secs > 0 {
            scoring::spawn_rescorer(&tasks, db.clone(), plugins.clone(), Duration::from_secs(config.rescore_secs));
        }
        let grace = Duration::from_secs(config.shutdown_grace_secs);
        let event_retention = chrono::Duration::days(i64::from(config.event_retention_days));
        let feed = crate::domain::feed::Feed::start(
            &tasks,
            &db,
            Duration::from_millis(config.event_poll_ms.max(10)),
            usize::try_from(config.event_buffer).unwrap_or(usize::MAX),
        );
        crate::domain::sla::spawn_checker(
            &tasks,
            db.clone(),
            feed.clone(),
            config.clock.clone(),
            Duration::from_millis(config.sla_check_ms.max(10)),
        );
        let webhooks = Arc::new(config.webhook_rules());
        store::webhooks::start_reader(&db).await?;
        crate::domain::webhooks::sender::spawn(
            &tasks,
            db.clone(),
            feed.clone(),
            webhooks.clone(),
            config.webhook_sending(),
        )?;
        let closing = tokio_util::sync::CancellationToken::new();
        close_sockets_at_signal(&tasks, closing.clone());
        let sockets_closing = closing.clone();
        let state = web::Data::new(AppState {
            db: db.clone(),
            auth,
            identities: IdentityCache::default(),
            documents: crate::domain::documents::Documents::default(),
            schemas,
            plugins: plugins.clone(),
            rates,
            turns: config.in_flight(),
            config,
            metrics: http::metrics::handle(),
            feed,
            subscribers: http::ws::Subscribers::default(),
            runs: http::ws::SharedRuns::default(),
            webhooks,
            closing,
        });
        // What actix-web's `HttpServer` builds, with its settings, plus one thing it does not
        // offer: WebSocket upgrades handed over with the connection itself (`http::ws::upgrade`).
        let builder = actix_server::Server::build();
        let draining = builder.graceful_shutdown_signal();
        let server = builder
            .listen("guanxi", listener, move || {
                let sockets = state.clone();
                let draining = draining.clone();
                let app = App::new()
                    .wrap(from_fn(http::metrics::track))
                    .wrap(TracingLogger::default())
                    .configure(|cfg| http::routes(cfg, state.clone()));
                actix_http::HttpService::build()
                    .graceful_shutdown_signal(move || {
                        let draining = draining.clone();
                        async move { draining.notified().await }
                    })
                    .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(5)))
                    .client_request_timeout(Duration::from_secs(5))
                    // Lingers a second after an answer that closes the connection (a body too
                    // large), so the client reads it instead of a reset.
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .upgrade(actix_service::fn_service(move |(req, framed)| {
                        let sockets = sockets.clone().into_inner();
                        // Boxed, so that every connection's task is not as large as a socket's.
                        Box::pin(async move {
                            http::ws::upgrade(sockets, req, framed).await.map_err(actix_web::Error::from)
                        })
                    }))
                    .h1(actix_service::map_config(app, |()| AppConfig::default()))
                    .tcp()
            })?
            .workers(workers)
            .shutdown_timeout(grace.as_secs())
            .run();
        let purge_db = db.clone();
        tasks.spawn("purge", |stop| async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(err) = store::idempotency::purge_expired(&purge_db).await {
                    tracing::warn!(error = %err, "purging idempotency records");
                }
                let cutoff = chrono::Utc::now() - event_retention;
                if let Err(err) = store::events::purge_before(&purge_db, cutoff).await {
                    tracing::warn!(error = %err, "purging change events");
                }
                if let Err(err) = store::webhooks::purge_before(&purge_db, cutoff).await {
                    tracing::warn!(error = %err, "purging webhook deliveries");
                }
            }
        });
        Ok(Self { port, server, db, plugins, tasks, grace, closing: sockets_closing })
    }

    /// The plugin runtime (for seeding the demo tenant with its default plugins).
    #[must_use]
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// A handle that stops the server as SIGTERM does.
    #[must_use]
    pub fn stopper(&self) -> Stopper {
        Stopper { server: self.server.handle(), closing: self.closing.clone() }
    }

    /// The bound port (useful when listening on port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database the server uses (for seeding the demo tenant).
    #[must_use]
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGTERM or SIGINT, then shuts down in order: stops accepting connections and
    /// lets in-flight requests finish (within the grace period), tells the background tasks to
    /// stop and waits for them (each finishes the unit of work in hand; the plugin run log
    /// writes what it buffered), and closes the database.
    ///
    /// # Errors
    /// The server fails to run.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        tracing::info!("requests drained; stopping background tasks");
        if !self.tasks.shutdown(self.grace).await {
            tracing::warn!(grace_secs = self.grace.as_secs(), "background tasks did not stop within the grace period");
        }
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err, "closing the database");
        }
        tracing::info!("stopped");
        served
    }
}
