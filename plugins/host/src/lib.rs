//! Runs Guanxi's WebAssembly plugins (components of the `guanxi:plugin` WIT package, contract
//! 0.2.0 or 0.1.0) safely.
//!
//! One wasmtime [`Engine`] (cranelift, pooling allocator, fuel, epoch interruption) serves every
//! plugin. A plugin is checked and compiled once per sha256 ([`Host::load`]); the compiled
//! artifact can be kept on disk so a restart does not compile again. **Every call gets a fresh
//! store and instance**, with its own limits: fuel, a wall-clock deadline, memory, input and
//! output size, and captured logs. Calls run off the async runtime's threads, a bounded number at
//! a time. Each call returns a [`RunRecord`] — outcome, fuel, peak memory, duration, logs — and a
//! failure names the limit that was hit ([`Reason`]).
//!
//! Both contract versions load side by side: the host has bindings of each version's worlds and
//! calls whichever interfaces a component exports. A 0.1.0 scorer gets the 0.2.0 snapshot
//! converted down ([`Batch`]); its scores, keys and violations come back in the 0.2.0 types.
//!
//! The crate knows nothing of HTTP, GraphQL or the database.

mod bindings;
mod limits;
mod sandbox;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use bindings::{
    Batch, Contract, CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue, ValidationRequest,
    Violation,
};
pub use limits::Limits;
use sandbox::State;

/// Removes the artifacts used least recently until the directory's artifacts take at most
/// `max_bytes` (another process's artifact may go too: it is compiled again when needed).
fn prune_artifacts(dir: &std::path::Path, max_bytes: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut artifacts: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
    artifacts.sort();
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
        }
    }
}

/// Largest plugin accepted, in bytes.
pub const MAX_PLUGIN_BYTES: usize = 4 * 1024 * 1024;

/// Why a plugin was refused at install.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("the plugin is {0} bytes; at most {MAX_PLUGIN_BYTES} are accepted")]
    TooLarge(usize),
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component exports neither guanxi:plugin/scorer nor guanxi:plugin/validator (@0.2.0 or @0.1.0)")]
    NoPluginInterface,
    #[error("the component imports {0}, which plugins may not use (no files, network or host state)")]
    ForbiddenImport(String),
    #[error("the compiled plugin cannot be used: {0}")]
    Link(String),
}

/// Which limit ended a call, or what else went wrong (`extensions.reason` of a PLUGIN_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    OutOfFuel,
    Timeout,
    MemoryLimit,
    /// The guest trapped (a panic, `unreachable`, a stack overflow…).
    Trap,
    /// The guest answered something the contract does not allow.
    InvalidOutput,
    OutputTooLarge,
    InputTooLarge,
    /// The guest returned an error (`result::err`) itself.
    GuestError,
    /// Every call slot stayed taken past the wait a call allows: the call never started.
    Busy,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfFuel => "OUT_OF_FUEL",
            Reason::Timeout => "TIMEOUT",
            Reason::MemoryLimit => "MEMORY_LIMIT",
            Reason::Trap => "TRAP",
            Reason::InvalidOutput => "INVALID_OUTPUT",
            Reason::OutputTooLarge => "OUTPUT_TOO_LARGE",
            Reason::InputTooLarge => "INPUT_TOO_LARGE",
            Reason::GuestError => "GUEST_ERROR",
            Reason::Busy => "BUSY",
        }
    }
}

/// A failed call: the reason and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct CallError {
    pub reason: Reason,
    pub message: String,
}

impl CallError {
    fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// What one call did, success or not.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub outcome: Result<(), CallError>,
    pub fuel_used: u64,
    /// The largest linear memory the instance asked for, in bytes.
    pub peak_memory: usize,
    pub duration: Duration,
    /// stdout then stderr, cut to the limit's log size.
    pub logs: String,
}

/// What a component offers, read at install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub sha256: String,
    pub size: usize,
    pub scorer: bool,
    pub validator: bool,
    /// Exports `guanxi:plugin/config`: its configuration is checked when a tenant sets it.
    pub checks_config: bool,
    /// The newest contract version among its `guanxi:plugin` exports.
    pub contract: Contract,
    /// Every import, by name (all within the allowed WASI set).
    pub imports: Vec<String>,
}

/// How the host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Calls running at once; more wait their turn.
    pub max_concurrent_calls: usize,
    /// Where compiled artifacts are kept between restarts (`None`: compile on every start).
    pub artifact_dir: Option<PathBuf>,
    /// The limits of a call unless a tenant lowers them.
    pub limits: Limits,
    /// How long a validator call waits for a free slot before it fails as `BUSY`. Validators
    /// run inside a write's transaction (on SQLite, holding the one writer): waiting without end
    /// there would let one tenant's slow plugins stall every tenant's writes. Scorers run in the
    /// background and wait their turn.
    pub validator_slot_wait: Duration,
    /// Compiled plugins kept in memory; the least recently used is let go beyond this (and
    /// compiled, or read from the artifact directory, again when next used).
    pub max_loaded: usize,
    /// Bytes the artifact directory may hold; the artifacts used least recently are removed
    /// beyond this.
    pub max_artifact_bytes: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            artifact_dir: None,
            limits: Limits::default(),
            validator_slot_wait: Duration::from_secs(2),
            max_loaded: 256,
            max_artifact_bytes: 1 << 30,
        }
    }
}

/// The compiled plugins in memory, with when each was last used.
#[derive(Default)]
struct Loaded {
    plugins: HashMap<String, (Arc<Plugin>, u64)>,
    clock: u64,
}

impl Loaded {
    fn get(&mut self, sha256: &str) -> Option<Arc<Plugin>> {
        self.clock += 1;
        let now = self.clock;
        self.plugins.get_mut(sha256).map(|(p, used)| {
            *used = now;
            p.clone()
        })
    }

    /// Keeps `plugin`, letting the least recently used go while more than `max` are kept. A
    /// plugin let go stays alive while calls hold it.
    fn insert(&mut self, sha256: String, plugin: Arc<Plugin>, max: usize) {
        self.clock += 1;
        self.plugins.insert(sha256, (plugin, self.clock));
        while self.plugins.len() > max.max(1) {
            let Some(oldest) = self.plugins.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else {
                break;
            };
            self.plugins.remove(&oldest);
        }
    }
}

/// An installed plugin, compiled and linked, ready for calls.
pub struct Plugin {
    inspection: Inspection,
    scorer: Option<bindings::Scorer>,
    validator: Option<bindings::Validator>,
    config: Option<bindings::config::ConfigCheckerPre<State>>,
}

impl Plugin {
    #[must_use]
    pub fn inspection(&self) -> &Inspection {
        &self.inspection
    }
}

/// The plugin runtime: one engine, a compile cache, bounded concurrency.
pub struct Host {
    engine: Engine,
    linker: Linker<State>,
    config: HostConfig,
    permits: Arc<Semaphore>,
    compiled: Mutex<Loaded>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl Host {
    /// Builds the engine and starts the epoch ticker.
    ///
    /// # Errors
    /// The engine cannot be created (e.g. the pool cannot reserve its memory).
    pub fn new(config: HostConfig) -> Result<Self, String> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = u32::try_from(config.max_concurrent_calls.max(1) * 4).unwrap_or(64);
        pool.total_component_instances(slots)
            .total_core_instances(slots * 4)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .max_memory_size(config.limits.memory_bytes);
        let mut engine_config = Config::new();
        engine_config
            .consume_fuel(true)
            .epoch_interruption(true)
            .parallel_compilation(true)
            .max_wasm_stack(512 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&engine_config).map_err(|e| format!("creating the wasm engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        sandbox::add_wasi(&mut linker).map_err(|e| format!("linking WASI: {e}"))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(sandbox::EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| format!("starting the epoch ticker: {e}"))?;
        let permits = Arc::new(Semaphore::new(config.max_concurrent_calls.max(1)));
        Ok(Self { engine, linker, config, permits, compiled: Mutex::new(Loaded::default()), stop_ticker })
    }

    /// The host's default limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// Checks a component and makes it ready for calls: size, validity, exports, imports;
    /// compiled once per sha256 (and read back from the artifact directory when it was compiled
    /// before).
    ///
    /// # Errors
    /// Why the plugin cannot be installed.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, InstallError> {
        if bytes.len() > MAX_PLUGIN_BYTES {
            return Err(InstallError::TooLarge(bytes.len()));
        }
        let sha256: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        if let Some(p) = self.loaded(&sha256) {
            return Ok(p);
        }
        let component = self.compile(bytes, &sha256)?;
        let plugin = Arc::new(self.link(&component, sha256.clone(), bytes.len())?);
        if let Ok(mut m) = self.compiled.lock() {
            m.insert(sha256, plugin.clone(), self.config.max_loaded);
        }
        Ok(plugin)
    }

    /// The plugin of `sha256` if it is loaded (no bytes needed).
    #[must_use]
    pub fn loaded(&self, sha256: &str) -> Option<Arc<Plugin>> {
        self.compiled.lock().ok().and_then(|mut m| m.get(sha256))
    }

    /// How many compiled plugins are kept in memory.
    #[must_use]
    pub fn loaded_count(&self) -> usize {
        self.compiled.lock().map_or(0, |m| m.plugins.len())
    }

    /// [`Host::load`]'s verdict without keeping the plugin.
    ///
    /// # Errors
    /// Why the plugin cannot be installed.
    pub fn inspect(&self, bytes: &[u8]) -> Result<Inspection, InstallError> {
        self.load(bytes).map(|p| p.inspection.clone())
    }

    fn artifact_path(&self, sha256: &str) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.config.artifact_dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", h.finish())))
    }

    #[expect(unsafe_code, reason = "reading back an artifact this host compiled; see SAFETY below")]
    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component, InstallError> {
        if let Some(path) = self.artifact_path(sha256)
            && path.exists()
        {
            // SAFETY: the directory holds only artifacts this host serialized, named by the
            // sha256 of their source and the engine's compatibility hash.
            if let Ok(c) = unsafe { Component::deserialize_file(&self.engine, &path) } {
                // Its time of use, which the directory's bound goes by.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                return Ok(c);
            }
        }
        if !is_component(bytes) {
            return Err(InstallError::NotAComponent(
                "a core module or other bytes; build with `cargo build --target wasm32-wasip2`".into(),
            ));
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| InstallError::NotAComponent(format!("{e:#}")))?;
        if let Some(path) = self.artifact_path(sha256)
            && let Ok(serialized) = component.serialize()
        {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
            // A name of its own: hosts in other threads or processes may write the same artifact.
            static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITES.fetch_add(1, Ordering::Relaxed);
            let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
            if std::fs::write(&tmp, serialized).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
            if let Some(dir) = path.parent() {
                prune_artifacts(dir, self.config.max_artifact_bytes);
            }
        }
        Ok(component)
    }

    fn link(&self, component: &Component, sha256: String, size: usize) -> Result<Plugin, InstallError> {
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        if let Some(bad) = imports.iter().find(|name| !sandbox::import_allowed(name)) {
            return Err(InstallError::ForbiddenImport(bad.clone()));
        }
        let exports: Vec<String> = ty.exports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        let exports = |name: &str| exports.iter().any(|e| e == name);
        let link = |e: wasmtime::Error| InstallError::Link(format!("{e:#}"));
        let pre = self.linker.instantiate_pre(component).map_err(link)?;
        // The newest version of each interface the component exports.
        let scorer = if exports(bindings::SCORER_INTERFACE) {
            Some(bindings::Scorer::V0_2(bindings::scorer::ScorerPluginPre::new(pre.clone()).map_err(link)?))
        } else if exports(bindings::SCORER_INTERFACE_0_1) {
            Some(bindings::Scorer::V0_1(bindings::v0_1::scorer::ScorerPluginPre::new(pre.clone()).map_err(link)?))
        } else {
            None
        };
        let validator = if exports(bindings::VALIDATOR_INTERFACE) {
            Some(bindings::Validator::V0_2(bindings::validator::ValidatorPluginPre::new(pre.clone()).map_err(link)?))
        } else if exports(bindings::VALIDATOR_INTERFACE_0_1) {
            let pre = bindings::v0_1::validator::ValidatorPluginPre::new(pre.clone()).map_err(link)?;
            Some(bindings::Validator::V0_1(pre))
        } else {
            None
        };
        if scorer.is_none() && validator.is_none() {
            return Err(InstallError::NoPluginInterface);
        }
        let config = if exports(bindings::CONFIG_INTERFACE) {
            Some(bindings::config::ConfigCheckerPre::new(pre).map_err(link)?)
        } else {
            None
        };
        let contract =
            [scorer.as_ref().map(bindings::Scorer::contract), validator.as_ref().map(bindings::Validator::contract)]
                .into_iter()
                .flatten()
                .chain(config.is_some().then_some(Contract::V0_2))
                .max()
                .unwrap_or(Contract::CURRENT);
        let inspection = Inspection {
            sha256,
            size,
            scorer: scorer.is_some(),
            validator: validator.is_some(),
            checks_config: config.is_some(),
            contract,
            imports,
        };
        Ok(Plugin { inspection, scorer, validator, config })
    }

    /// The score keys a scorer declares.
    ///
    /// # Errors
    /// The plugin is no scorer, or the call failed.
    pub async fn keys(&self, plugin: &Arc<Plugin>, limits: Limits) -> (Result<Vec<ScoreKey>, CallError>, RunRecord) {
        let (plugin, limits) = (plugin.clone(), limits.at_most(self.config.limits));
        self.blocking(None, move |engine| {
            let Some(pre) = &plugin.scorer else {
                return sandbox::not_a("scorer");
            };
            sandbox::run(engine, limits, limits.fuel_base, 0, |store| pre.keys(store).map(Ok::<_, String>))
                .finish(|keys| bindings::check_keys(&keys, limits.output_bytes).map(|()| keys))
        })
        .await
    }

    /// Scores a batch of customers. The fuel budget grows with the batch. The batch may be
    /// shared ([`Batch`], or an `Arc<[CustomerSnapshot]>`): several scorers read one batch
    /// without copying it. A scorer of contract 0.1.0 gets it converted down (see [`Batch`]).
    ///
    /// # Errors
    /// The plugin is no scorer, the input is too large, a limit was hit, the guest returned an
    /// error or an answer outside the contract (unknown customers or keys, non-finite numbers).
    pub async fn score(
        &self,
        plugin: &Arc<Plugin>,
        batch: impl Into<Batch>,
        config_json: String,
        limits: Limits,
    ) -> (Result<Vec<CustomerScores>, CallError>, RunRecord) {
        let (plugin, limits) = (plugin.clone(), limits.at_most(self.config.limits));
        let batch: Batch = batch.into();
        self.blocking(None, move |engine| {
            let Some(pre) = &plugin.scorer else {
                return sandbox::not_a("scorer");
            };
            let input = batch.size(pre.contract()) + config_json.len();
            let fuel = limits.fuel_base.saturating_add(limits.fuel_per_item.saturating_mul(batch.len() as u64));
            let seed = bindings::seed_of(batch.snapshots());
            let now = batch.snapshots().first().map(|s| s.now.clone());
            let record = sandbox::run_with(engine, limits, fuel, input, seed, now.as_deref(), |store| {
                pre.score(store, &batch, &config_json)
            });
            record.finish(|(keys, scores)| {
                bindings::check_scores(&keys, batch.snapshots(), &scores, limits.output_bytes).map(|()| scores)
            })
        })
        .await
    }

    /// Checks one value with a validator.
    ///
    /// # Errors
    /// The plugin is no validator, the input is too large, a limit was hit, or the guest
    /// returned an error.
    pub async fn validate(
        &self,
        plugin: &Arc<Plugin>,
        request: ValidationRequest,
        limits: Limits,
    ) -> (Result<Vec<Violation>, CallError>, RunRecord) {
        let (plugin, limits) = (plugin.clone(), limits.at_most(self.config.limits));
        self.blocking(Some(self.config.validator_slot_wait), move |engine| {
            let Some(pre) = &plugin.validator else {
                return sandbox::not_a("validator");
            };
            let input = request.value_json.len() + request.record_json.len() + request.config_json.len();
            sandbox::run(engine, limits, limits.fuel_base, input, |store| pre.validate(store, &request))
                .finish(|v| bindings::check_violations(&v, limits.output_bytes).map(|()| v))
        })
        .await
    }

    /// Asks a plugin exporting `guanxi:plugin/config` whether it accepts a configuration
    /// (`config_json`, `null` for none): `Ok` accepts it; the guest's refusal is a
    /// `GUEST_ERROR` with its message. Runs under `limits` with their base fuel.
    ///
    /// # Errors
    /// The plugin does not check its configuration ([`Inspection::checks_config`]), the input is
    /// too large, a limit was hit, or the guest refused the configuration.
    pub async fn check_config(
        &self,
        plugin: &Arc<Plugin>,
        config_json: String,
        limits: Limits,
    ) -> (Result<(), CallError>, RunRecord) {
        let (plugin, limits) = (plugin.clone(), limits.at_most(self.config.limits));
        self.blocking(None, move |engine| {
            let Some(pre) = &plugin.config else {
                return sandbox::not_a("config");
            };
            sandbox::run(engine, limits, limits.fuel_base, config_json.len(), |store| {
                bindings::check_config(pre, store, &config_json)
            })
            .finish(Ok)
        })
        .await
    }

    /// Runs `call` on a blocking thread once a permit is free; with `wait`, fails as `BUSY` if
    /// none is free within it.
    async fn blocking<T: Send + 'static>(
        &self,
        wait: Option<Duration>,
        call: impl FnOnce(&Engine) -> (Result<T, CallError>, RunRecord) + Send + 'static,
    ) -> (Result<T, CallError>, RunRecord) {
        let started = Instant::now();
        let acquire = self.permits.clone().acquire_owned();
        let permit = match wait {
            None => acquire.await,
            Some(wait) => match tokio::time::timeout(wait, acquire).await {
                Ok(permit) => permit,
                Err(_) => {
                    let message = format!("every plugin slot stayed busy for {} ms; try again", wait.as_millis());
                    return failed_in_host(CallError::new(Reason::Busy, message), started);
                }
            },
        };
        let engine = self.engine.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            call(&engine)
        })
        .await;
        joined.unwrap_or_else(|e| {
            failed_in_host(CallError::new(Reason::Trap, format!("the plugin call panicked in the host: {e}")), started)
        })
    }
}

/// A call that failed in the host, before or around the guest: no fuel, memory or logs.
fn failed_in_host<T>(err: CallError, started: Instant) -> (Result<T, CallError>, RunRecord) {
    let record = RunRecord {
        outcome: Err(err.clone()),
        fuel_used: 0,
        peak_memory: 0,
        duration: started.elapsed(),
        logs: String::new(),
    };
    (Err(err), record)
}

/// A component starts with the wasm magic and the component layer's version (0x0d 0x00 0x01 0x00).
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [0x0d, 0x00, 0x01, 0x00]
}
