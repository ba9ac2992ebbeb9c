//! Per-call overhead of a validator — fresh store and instance, the call, teardown — against the
//! same check written natively; p50 and p99 over many calls. Also the scoring throughput of the
//! example value scorer in batches. `cargo bench -p guanxi-plugin-host --bench validator`.

#[path = "../tests/support/guests.rs"]
mod guests;
#[path = "../tests/support/snapshots.rs"]
mod snapshots;

use std::time::{Duration, Instant};

use guanxi_plugin_host::{CustomerSnapshot, Host, HostConfig, Limits, ValidationRequest};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:.2} µs, p99 {:.2} µs over {} calls",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let dir = guests::components();
    for name in ["value_scorer", "hostile"] {
        let wasm = std::fs::read(dir.join(format!("{name}.wasm"))).expect("built");
        let cache = std::env::temp_dir().join(format!("guanxi-bench-artifacts-{}", std::process::id()));
        let fresh = Host::new(HostConfig { artifact_dir: Some(cache.clone()), ..HostConfig::default() }).expect("host");
        let started = Instant::now();
        fresh.load(&wasm).expect("installs");
        let compile = started.elapsed();
        let artifact: u64 =
            std::fs::read_dir(&cache).expect("dir").filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
        drop(fresh);
        let again = Host::new(HostConfig { artifact_dir: Some(cache.clone()), ..HostConfig::default() }).expect("host");
        let started = Instant::now();
        again.load(&wasm).expect("installs");
        let reload = started.elapsed();
        let _ = std::fs::remove_dir_all(&cache);
        println!(
            "{name}: {} bytes of wasm, compiled in {:.1} ms to a {artifact}-byte artifact, reloaded from it in {:.2} ms",
            wasm.len(),
            compile.as_secs_f64() * 1e3,
            reload.as_secs_f64() * 1e3
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let host = Host::new(HostConfig::default()).expect("host");
    let validator = host.load(&std::fs::read(dir.join("hostile.wasm")).expect("built")).expect("installs");
    let request = || ValidationRequest {
        entity: "CUSTOMER".into(),
        field: "card_no".into(),
        value_json: "\"6222020200112233445\"".into(),
        record_json: r#"{"name":"王芳","customFields":{"card_no":"6222020200112233445"}}"#.into(),
        config_json: r#"{"mode": "ok"}"#.into(),
    };
    let calls = 5_000;
    runtime.block_on(async {
        for _ in 0..200 {
            let _ = host.validate(&validator, request(), Limits::default()).await;
        }
        let mut wasm = Vec::with_capacity(calls);
        let mut inside = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            let (result, record) = host.validate(&validator, request(), Limits::default()).await;
            wasm.push(started.elapsed());
            inside.push(record.duration);
            assert!(result.expect("validates").is_empty());
        }
        report("validator call through the host (queue + blocking thread + store + instance + call)", wasm);
        report("  of which in the sandbox (store, instance, call, teardown)", inside);
    });
    let mut native = Vec::with_capacity(calls);
    for _ in 0..calls {
        let r = request();
        let started = Instant::now();
        let refused = std::hint::black_box(&r.value_json).contains("bad");
        native.push(started.elapsed());
        assert!(!refused);
    }
    report("the same check in native Rust", native);

    let scorer = host.load(&std::fs::read(dir.join("value_scorer.wasm")).expect("built")).expect("installs");
    // Batches as large as the 64 KiB output limit allows with this scorer's explanations.
    let batch: Vec<CustomerSnapshot> = (0..200_usize)
        .map(|i| {
            let last = format!("2026-{:02}-15T00:00:00.000000Z", 1 + i % 11);
            let purchases = i64::try_from(i % 20).unwrap_or_default();
            snapshots::snapshot(&format!("Customer:{i}"), purchases, &format!("{}.50", i * 37 % 90_000), Some(&last))
        })
        .collect();
    runtime.block_on(async {
        let started = Instant::now();
        let mut scored = 0;
        let mut fuel = 0;
        for _ in 0..100 {
            let (result, record) = host.score(&scorer, batch.clone(), "{}".into(), Limits::default()).await;
            scored += result.expect("scores").len();
            fuel = record.fuel_used;
        }
        let elapsed = started.elapsed();
        #[allow(clippy::cast_precision_loss)]
        let rate = scored as f64 / elapsed.as_secs_f64();
        println!("value scorer: {scored} customers in {elapsed:?} in batches of 200, {rate:.0} customers/s, {fuel} fuel per batch");
    });
}
