//! Compile time and artifact size of every example plugin; the per-call overhead of the example
//! card validator — fresh store and instance, the call, teardown — against the same Luhn check
//! written natively, p50 and p99 over many calls; the scoring throughput of the example value
//! scorer in batches, built from its sources (contract 0.2.0) and as embedded (0.1.0, whose
//! batches the host converts down). `cargo bench -p guanxi-plugin-host --bench validator`.

#![expect(clippy::expect_used, reason = "a bench or test that cannot set itself up fails")]

#[path = "../tests/support/snapshots.rs"]
mod snapshots;

use std::time::{Duration, Instant};

use guanxi_plugin_host::{CustomerSnapshot, Host, HostConfig, Limits, ValidationRequest};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list of timings"
    )]
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
    let dir = guanxi_test_programs::components();
    for name in ["value_scorer", "lifecycle_scorer", "cn_id_validator", "card_validator", "hostile"] {
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
    let card = "6222 0202 0011 2233 446";
    let validators = [
        ("card validator", "card_validator.wasm", format!("\"{card}\""), "{}"),
        // The first figures' validator (its check is `contains("bad")`), to compare machines.
        ("hostile test validator", "hostile.wasm", format!("\"{card}\""), r#"{"mode": "ok"}"#),
    ];
    let calls = 5_000;
    for (label, file, value_json, config_json) in validators {
        let validator = host.load(&std::fs::read(dir.join(file)).expect("built")).expect("installs");
        let request = || ValidationRequest {
            entity: "CUSTOMER".into(),
            field: "card".into(),
            value_json: value_json.clone(),
            record_json: format!(r#"{{"name":"王芳","customFields":{{"card":{value_json}}}}}"#),
            config_json: config_json.into(),
        };
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
                assert!(result.expect("validates").is_empty(), "{card} passes");
            }
            report(&format!("{label} call through the host (queue + blocking thread + store + instance + call)"), wasm);
            report("  of which in the sandbox (store, instance, call, teardown)", inside);
        });
    }
    let request = || format!("\"{card}\"");
    let mut native = Vec::with_capacity(calls);
    for _ in 0..calls {
        let value_json = request();
        let started = Instant::now();
        let valid = native_card_check(std::hint::black_box(&value_json));
        native.push(started.elapsed());
        assert!(valid);
    }
    report("the same card check (Luhn) in native Rust", native);

    let fresh = host.load(&std::fs::read(dir.join("value_scorer.wasm")).expect("built")).expect("installs");
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dist/value-scorer.wasm");
    let embedded = host.load(&std::fs::read(dist).expect("dist file")).expect("installs");
    // Batches as large as the 64 KiB output limit allows with this scorer's explanations.
    let batch: Vec<CustomerSnapshot> = (0..200_usize)
        .map(|i| {
            let last = format!("2026-{:02}-15T00:00:00.000000Z", 1 + i % 11);
            let purchases = i64::try_from(i % 20).unwrap_or_default();
            snapshots::snapshot(&format!("Customer:{i}"), purchases, &format!("{}.50", i * 37 % 90_000), Some(&last))
        })
        .collect();
    let batch: std::sync::Arc<[CustomerSnapshot]> = batch.into();
    for (what, scorer) in [("value scorer (0.2.0)", &fresh), ("value scorer (0.1.0, embedded)", &embedded)] {
        runtime.block_on(async {
            let started = Instant::now();
            let mut scored = 0;
            let mut fuel = 0;
            for _ in 0..100 {
                let (result, record) = host.score(scorer, batch.clone(), "{}".into(), Limits::default()).await;
                scored += result.expect("scores").len();
                fuel = record.fuel_used;
            }
            let elapsed = started.elapsed();
            #[expect(clippy::cast_precision_loss, reason = "a count far below 2^52")]
            let rate = scored as f64 / elapsed.as_secs_f64();
            println!("{what}: {scored} customers in {elapsed:?} in batches of 200, {rate:.0} customers/s, {fuel} fuel per batch");
        });
    }
}

/// The card validator's check done natively: the digits of the JSON string, 12 to 19 of them,
/// the last one the Luhn check digit.
fn native_card_check(value_json: &str) -> bool {
    let digits: Vec<u32> = value_json
        .trim_matches('"')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .filter_map(|c| c.to_digit(10))
        .collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d })
        .sum();
    (12..=19).contains(&digits.len()) && sum.is_multiple_of(10)
}
