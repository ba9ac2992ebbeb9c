//! The plugin runtime the server shares: the host that compiles and calls components, the
//! background log of every call's run record, and the bell that wakes the scoring worker; with
//! what one call of a stored plugin runs with (its limits, its configuration) and how its
//! failure reaches the caller. Apart from the lifecycle because it lives as long as the server,
//! not a request.

use std::sync::Arc;

use guanxi_entity::{plugin, plugin_run};
use guanxi_plugin_host::{CallError, Host, InstallError, Limits, RunRecord};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::stored::overrides;
use crate::error::{Error, Result};
use crate::store;
use crate::tasks::Tasks;

/// The plugin runtime the server shares: the host, the run log and the scoring worker's bell.
pub struct Plugins {
    pub(super) host: Arc<Host>,
    runs: Option<mpsc::Sender<plugin_run::Model>>,
    wake: Notify,
    /// One compilation at a time: compiling takes every core it is given, and a tenant
    /// installing plugin after plugin must not take them from everyone's requests.
    compiling: tokio::sync::Semaphore,
}

impl Plugins {
    /// A runtime without a run log (the command line).
    #[must_use]
    pub fn new(host: Arc<Host>) -> Self {
        Self { host, runs: None, wake: Notify::new(), compiling: tokio::sync::Semaphore::new(1) }
    }

    /// A runtime whose run records are written by a background task, in batches, outside the
    /// transactions of the calls (a refused write must still leave its record). At shutdown the
    /// task writes what is buffered before it stops.
    #[must_use]
    pub fn with_run_log(host: Arc<Host>, db: DatabaseConnection, tasks: &Tasks) -> Self {
        let (tx, mut rx) = mpsc::channel::<plugin_run::Model>(10_000);
        tasks.spawn("plugin run log", |stop| async move {
            loop {
                let first = tokio::select! {
                    biased;
                    run = rx.recv() => run,
                    () = stop.cancelled() => None,
                };
                let mut batch: Vec<plugin_run::Model> = first.into_iter().collect();
                while let Ok(run) = rx.try_recv() {
                    batch.push(run);
                    if batch.len() >= 500 {
                        write_runs(&db, std::mem::take(&mut batch)).await;
                    }
                }
                if batch.is_empty() {
                    break;
                }
                write_runs(&db, batch).await;
            }
        });
        Self { host, runs: Some(tx), wake: Notify::new(), compiling: tokio::sync::Semaphore::new(1) }
    }

    #[must_use]
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Rings the scoring worker (customers were queued).
    pub fn wake_scorer(&self) {
        self.wake.notify_one();
    }

    /// Waits for [`Plugins::wake_scorer`].
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// The compiled plugin of `sha256`, read from the database and compiled (see
    /// [`Plugins::compile`]) if this replica has not loaded it.
    ///
    /// # Errors
    /// The bytes are missing or no longer load (a different engine); database failures.
    pub async fn load(&self, conn: &impl ConnectionTrait, sha256: &str) -> Result<Arc<guanxi_plugin_host::Plugin>> {
        self.load_stored(conn, sha256)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("plugin binary {sha256} is missing")))
    }

    /// As [`Plugins::load`], but `None` when the bytes are no longer stored: the version was
    /// upgraded or uninstalled since it was read.
    ///
    /// # Errors
    /// The bytes no longer load (a different engine); database failures.
    pub async fn load_stored(
        &self,
        conn: &impl ConnectionTrait,
        sha256: &str,
    ) -> Result<Option<Arc<guanxi_plugin_host::Plugin>>> {
        if let Some(p) = self.host.loaded(sha256) {
            return Ok(Some(p));
        }
        let Some(bytes) = store::plugins::binary(conn, sha256).await? else { return Ok(None) };
        let loaded = self.compile(bytes).await;
        loaded.map(Some).map_err(|e| Error::Internal(anyhow::anyhow!("loading plugin {sha256}: {e}")))
    }

    /// Checks and compiles a component on the blocking pool, one compilation at a time, never
    /// on a thread that serves requests (nor, by its callers, inside a write transaction).
    ///
    /// # Errors
    /// Why the host refuses the component.
    pub async fn compile(&self, bytes: Vec<u8>) -> std::result::Result<Arc<guanxi_plugin_host::Plugin>, InstallError> {
        let _turn = self.compiling.acquire().await.map_err(|e| InstallError::Link(e.to_string()))?;
        let host = self.host.clone();
        tokio::task::spawn_blocking(move || host.load(&bytes))
            .await
            .unwrap_or_else(|e| Err(InstallError::Link(format!("the compilation stopped: {e}"))))
    }

    /// Keeps the record of one call (dropped, with a warning, if the log is far behind).
    pub fn record(&self, p: &plugin::Model, call: &str, items: usize, run: &RunRecord) {
        let Some(tx) = &self.runs else { return };
        let (outcome, error) = match &run.outcome {
            Ok(()) => ("OK".to_owned(), None),
            Err(e) => (e.reason.as_str().to_owned(), Some(e.message.clone())),
        };
        let row = plugin_run::Model {
            tenant_id: p.tenant_id,
            id: Uuid::now_v7(),
            plugin_id: p.id,
            version: p.version.clone(),
            call: call.to_owned(),
            items: i32::try_from(items).unwrap_or(i32::MAX),
            outcome,
            error,
            fuel_used: i64::try_from(run.fuel_used).unwrap_or(i64::MAX),
            memory_peak_bytes: i64::try_from(run.peak_memory).unwrap_or(i64::MAX),
            duration_us: i64::try_from(run.duration.as_micros()).unwrap_or(i64::MAX),
            logs: run.logs.clone(),
            at: crate::clock::now(),
        };
        if tx.try_send(row).is_err() {
            tracing::warn!(plugin = %p.name, "plugin run log is full; a run record was dropped");
        }
    }
}

/// The limits a call of `p` runs with.
#[must_use]
pub fn limits_of(plugins: &Plugins, p: &plugin::Model) -> Limits {
    overrides(p).over(plugins.host.limits())
}

/// `config` as the JSON text calls receive (`null` when unset).
#[must_use]
pub fn config_json(p: &plugin::Model) -> String {
    p.config.as_ref().map_or_else(|| "null".to_owned(), Value::to_string)
}

/// A plugin failure as the error a caller sees.
#[must_use]
pub fn call_failed(p: &plugin::Model, err: &CallError) -> Error {
    Error::Plugin { plugin: p.name.clone(), reason: err.reason.as_str(), message: err.message.clone() }
}

async fn write_runs(db: &DatabaseConnection, batch: Vec<plugin_run::Model>) {
    if let Err(err) = store::in_write(db, async |txn| store::plugins::record_runs(txn, batch).await).await {
        tracing::warn!(error = %err, "recording plugin runs");
    }
}
