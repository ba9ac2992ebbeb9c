//! One call in a fresh store: an empty WASI context (no files, environment, arguments or
//! network; clocks pinned; seeded randomness; captured output), a resource limiter that records
//! what the guest asked for, fuel and an epoch deadline — and the classification of how it ended.

use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, StoreContextMut, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::{CallError, Limits, Reason, RunRecord};

/// How often the epoch advances: the granularity of wall-clock deadlines (the host's ticker).
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// What stdout and stderr may hold during a call; the record keeps `Limits::log_bytes` of it.
const PIPE_BYTES: usize = 64 * 1024;

/// Interfaces a plugin may import: what a Rust `wasm32-wasip2` guest's standard library needs,
/// the pinned clocks, seeded randomness, and the contract's own types. Nothing reaches files,
/// sockets or the host's environment (the context gives none).
const ALLOWED_IMPORTS: [&str; 5] = ["wasi:io/", "wasi:cli/", "wasi:clocks/", "wasi:random/", "guanxi:plugin/types@"];

/// May a plugin import `name`?
#[must_use]
pub fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORTS.iter().any(|prefix| name.starts_with(prefix))
}

/// Records what the guest asked of its memory; refuses past the limit, remembering that it did,
/// so an out-of-memory abort is told apart from a panic.
pub struct Limiter {
    max: usize,
    pub peak: usize,
    pub hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// What a store holds.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The wall clock shows the snapshot's `now`, whatever the time.
struct PinnedWall(Duration);

impl HostWallClock for PinnedWall {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// The monotonic clock stands still.
struct PinnedMonotonic;

impl HostMonotonicClock for PinnedMonotonic {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A sleep in the sandbox: its clock stands still, so every deadline has passed already and a
/// sleeping guest spends fuel, not the host's threads.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

fn elapsed(mut store: StoreContextMut<'_, State>) -> wasmtime::Result<(Resource<DynPollable>,)> {
    let table = &mut store.data_mut().table;
    let sleep = table.push(Elapsed)?;
    Ok((subscribe(table, sleep)?,))
}

/// WASI for plugins: the standard p2 interfaces, with sleeps that end at once (WASI's own
/// sleep waits in real time on the calling thread, out of reach of the epoch deadline).
///
/// # Errors
/// The interfaces cannot be linked.
pub fn add_wasi(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap("subscribe-duration", |store: StoreContextMut<'_, State>, (_,): (u64,)| elapsed(store))?;
    clock.func_wrap("subscribe-instant", |store: StoreContextMut<'_, State>, (_,): (u64,)| elapsed(store))?;
    linker.allow_shadowing(false);
    Ok(())
}

/// How a call ended, before the host checks the answer.
pub struct Finished<T> {
    result: Result<T, CallError>,
    record: RunRecord,
}

impl<T> Finished<T> {
    /// Applies the contract's checks to a successful answer; the record tells the final outcome.
    pub fn finish<U>(self, check: impl FnOnce(T) -> Result<U, CallError>) -> (Result<U, CallError>, RunRecord) {
        let mut record = self.record;
        let result = self.result.and_then(check);
        record.outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
        (result, record)
    }
}

/// A call of a capability the plugin does not have.
pub fn not_a<T>(what: &str) -> (Result<T, CallError>, RunRecord) {
    let err = CallError::new(Reason::InvalidOutput, format!("the plugin does not export the {what} interface"));
    let record = RunRecord {
        outcome: Err(err.clone()),
        fuel_used: 0,
        peak_memory: 0,
        duration: Duration::ZERO,
        logs: String::new(),
    };
    (Err(err), record)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Seconds since 1970 of an RFC 3339 UTC timestamp (`2026-11-26T08:00:00.000000Z`), for the
/// pinned clock; anything else pins it to the epoch.
fn unix_time(rfc3339: Option<&str>) -> Duration {
    let Some(s) = rfc3339 else { return Duration::ZERO };
    let num = |range: std::ops::Range<usize>| s.get(range).and_then(|x| x.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return Duration::ZERO;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Duration::from_secs(u64::try_from(days * 86_400 + h * 3_600 + mi * 60 + se).unwrap_or(0))
}

/// Runs `body` in a fresh store under `limits`, with `fuel`, after checking `input_bytes`.
pub fn run<T>(
    engine: &Engine,
    limits: Limits,
    fuel: u64,
    input_bytes: usize,
    body: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, String>>,
) -> Finished<T> {
    run_with(engine, limits, fuel, input_bytes, 0, None, body)
}

/// [`run`] with the random seed and the moment the clock shows.
pub fn run_with<T>(
    engine: &Engine,
    limits: Limits,
    fuel: u64,
    input_bytes: usize,
    seed: u64,
    now: Option<&str>,
    body: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, String>>,
) -> Finished<T> {
    let started = Instant::now();
    let record = |outcome: Result<(), CallError>| RunRecord {
        outcome,
        fuel_used: 0,
        peak_memory: 0,
        duration: started.elapsed(),
        logs: String::new(),
    };
    if input_bytes > limits.input_bytes {
        let err = CallError::new(
            Reason::InputTooLarge,
            format!("the input is {input_bytes} bytes; at most {} are allowed", limits.input_bytes),
        );
        return Finished { result: Err(err.clone()), record: record(Err(err)) };
    }
    let (stdout, stderr) = (MemoryOutputPipe::new(PIPE_BYTES), MemoryOutputPipe::new(PIPE_BYTES));
    let seed_bytes: Vec<u8> = seed.to_le_bytes().iter().chain(&[0x9e, 0x37, 0x79, 0xb9]).copied().collect();
    let wasi = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(PinnedWall(unix_time(now)))
        .monotonic_clock(PinnedMonotonic)
        .secure_random(Deterministic::new(seed_bytes.clone()))
        .insecure_random(Deterministic::new(seed_bytes))
        .insecure_random_seed(u128::from(seed))
        .build();
    let limiter = Limiter { max: limits.memory_bytes, peak: 0, hit: false };
    let mut store = Store::new(engine, State { wasi, table: ResourceTable::new(), limiter });
    store.limiter(|s| &mut s.limiter);
    let ticks = u64::try_from(limits.timeout.as_millis() / EPOCH_TICK.as_millis()).unwrap_or(u64::MAX).max(1);
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    let result = match store.set_fuel(fuel) {
        Ok(()) => body(&mut store),
        Err(e) => Err(e),
    };
    let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let (peak_memory, memory_hit) = (store.data().limiter.peak, store.data().limiter.hit);
    drop(store);
    let out = String::from_utf8_lossy(&stdout.contents()).into_owned();
    let err_text = String::from_utf8_lossy(&stderr.contents()).into_owned();
    let result = match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(message)) => Err(CallError::new(Reason::GuestError, truncate(message, 1024))),
        Err(e) => Err(classify(&e, memory_hit, &err_text, limits)),
    };
    let logs = truncate(if err_text.is_empty() { out } else { format!("{out}{err_text}") }, limits.log_bytes);
    let record = RunRecord {
        outcome: result.as_ref().map(|_| ()).map_err(Clone::clone),
        fuel_used,
        peak_memory,
        duration: started.elapsed(),
        logs,
    };
    Finished { result, record }
}

/// Which limit a failed call hit. A memory refusal makes a Rust guest abort like a panic; the
/// limiter's flag tells them apart.
fn classify(e: &wasmtime::Error, memory_hit: bool, stderr: &str, limits: Limits) -> CallError {
    if memory_hit {
        return CallError::new(
            Reason::MemoryLimit,
            format!("the plugin needed more than {} bytes of memory", limits.memory_bytes),
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CallError::new(Reason::OutOfFuel, "the plugin used all its fuel"),
        Some(Trap::Interrupt) => {
            CallError::new(Reason::Timeout, format!("the plugin ran longer than {} ms", limits.timeout.as_millis()))
        }
        Some(Trap::StackOverflow) => CallError::new(Reason::Trap, "the plugin overflowed its stack"),
        other => {
            // A panicking Rust guest prints its message to stderr before it aborts.
            let said = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
                .unwrap_or_default();
            let what = other.map_or_else(|| format!("{e:#}"), ToString::to_string);
            let message = if said.is_empty() { what } else { format!("{what}; the plugin said: {said}") };
            CallError::new(Reason::Trap, truncate(message, 1024))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_clock_reads_the_snapshot_time() {
        assert_eq!(unix_time(Some("1970-01-02T00:00:01Z")), Duration::from_secs(86_401));
        assert_eq!(unix_time(Some("2026-11-26T08:00:00.000000Z")), Duration::from_secs(1_795_680_000));
        assert_eq!(unix_time(Some("garbage")), Duration::ZERO);
    }

    #[test]
    fn only_the_sandboxed_interfaces_may_be_imported() {
        assert!(import_allowed("wasi:cli/stdout@0.2.6"));
        assert!(import_allowed("guanxi:plugin/types@0.1.0"));
        assert!(import_allowed("guanxi:plugin/types@0.2.0"));
        for bad in ["wasi:filesystem/types@0.2.6", "wasi:sockets/tcp@0.2.6", "wasi:http/outgoing-handler@0.2.6"] {
            assert!(!import_allowed(bad), "{bad}");
        }
    }
}
