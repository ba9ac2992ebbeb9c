//! The host against real components: the example value scorer, a hostile plugin that misbehaves
//! as its config says, and one that imports the filesystem. Each failure must end in its named
//! reason within its limits, and the host must stay usable for the next call. Components of both
//! contract versions run side by side: the embedded defaults and `hostile` speak 0.1.0, the
//! examples built from their sources and `checked_scorer` 0.2.0.

#![expect(clippy::expect_used, reason = "a bench or test that cannot set itself up fails")]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use guanxi_plugin_host::{
    Batch, Contract, Host, HostConfig, InstallError, Limits, Plugin, Reason, ScoreValue, ValidationRequest,
};

#[path = "support/snapshots.rs"]
mod snapshots;
use guanxi_test_programs::components;
use snapshots::snapshot;

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(components().join(format!("{name}.wasm"))).expect("component built")
}

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| Host::new(HostConfig { max_concurrent_calls: 4, ..HostConfig::default() }).expect("host"))
}

/// A host whose fuel is practically endless, so only the wall-clock deadline stops a loop.
fn roomy_host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let limits = Limits { fuel_base: u64::MAX / 4, timeout: Duration::from_millis(300), ..Limits::default() };
        Host::new(HostConfig { max_concurrent_calls: 4, limits, ..HostConfig::default() }).expect("host")
    })
}

fn plugin(name: &str) -> Arc<Plugin> {
    host().load(&bytes(name)).expect("installs")
}

fn config(mode: &str) -> String {
    format!(r#"{{"mode": "{mode}"}}"#)
}

/// Awaits a plugin call, failing the test if it has not ended within a minute: a call that
/// escaped its limits fails here instead of hanging the suite. How fast calls end is for the
/// benchmarks; their records say how long they ran.
async fn within_a_minute<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), call).await.expect("the call ended within its limits")
}

/// The caches are bounded: beyond `max_loaded` the least recently used plugin leaves memory
/// (and is loaded again when next used), and the artifact directory keeps at most
/// `max_artifact_bytes`, the artifacts used least recently going first.
#[test]
fn compiled_plugins_are_kept_within_their_bounds() {
    let dir = tempfile::tempdir().expect("dir");
    let scorer = bytes("value_scorer");
    let hostile = bytes("hostile");
    let sizes = {
        let probe_dir = tempfile::tempdir().expect("dir");
        let probe = Host::new(HostConfig { artifact_dir: Some(probe_dir.path().to_owned()), ..HostConfig::default() })
            .expect("host");
        let total = || -> u64 {
            std::fs::read_dir(probe_dir.path())
                .expect("dir")
                .filter_map(Result::ok)
                .map(|e| e.metadata().unwrap().len())
                .sum()
        };
        probe.load(&scorer).expect("installs");
        let s = total();
        probe.load(&hostile).expect("installs");
        (s, total() - s)
    };
    let config = HostConfig {
        artifact_dir: Some(dir.path().to_owned()),
        max_loaded: 1,
        // Room for either artifact, not for both.
        max_artifact_bytes: sizes.0.max(sizes.1) + sizes.0.min(sizes.1) / 2,
        ..HostConfig::default()
    };
    let host = Host::new(config).expect("host");
    let first = host.load(&scorer).expect("installs");
    let sha = first.inspection().sha256.clone();
    host.load(&hostile).expect("installs");
    assert_eq!(host.loaded_count(), 1, "one plugin in memory");
    assert!(host.loaded(&sha).is_none(), "the least recently used left memory");
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "one artifact fits the directory's bound: {files:?}");
    assert!(!files[0].starts_with(&sha), "the artifact used least recently went: {files:?}");
    // Still usable: loaded (compiled) again.
    assert!(host.load(&scorer).expect("loads again").inspection().scorer);
    // The plugin let go still serves a call that holds it.
    assert!(first.inspection().scorer);
}

#[tokio::test]
async fn the_value_scorer_scores_deterministically_with_explanations() {
    let p = plugin("value_scorer");
    assert!(p.inspection().scorer && !p.inspection().validator);
    let (keys, _) = host().keys(&p, Limits::default()).await;
    let keys: Vec<String> = keys.expect("keys").into_iter().map(|k| k.key).collect();
    assert_eq!(keys, ["value_score", "rfm_segment"]);
    let batch = vec![
        snapshot("Customer:a", 14, "88000.00", Some("2026-11-20T10:00:00.000000Z")),
        snapshot("Customer:b", 0, "0", None),
        snapshot("Customer:c", 4, "3000.50", Some("2026-03-01T10:00:00.000000Z")),
    ];
    let (first, record) = host().score(&p, batch.clone(), "{}".into(), Limits::default()).await;
    let first = first.expect("scores");
    assert!(record.outcome.is_ok() && record.fuel_used > 0 && record.peak_memory > 0, "{record:?}");
    let value = |i: usize| match &first[i].scores[0].value {
        ScoreValue::Number(n) => *n,
        ScoreValue::Label(l) => panic!("a label {l}"),
    };
    assert_eq!(value(0), 100.0, "recent, frequent and big");
    assert_eq!(value(1), 20.0, "never bought");
    assert!(value(2) > value(1) && value(2) < value(0));
    assert_eq!(first[0].scores[1].value, ScoreValue::Label("CHAMPION".into()));
    let why = first[0].scores[0].explanation.clone().unwrap_or_default();
    assert!(why.contains("last purchase 6 days ago"), "{why}");
    let (again, _) = host().score(&p, batch, "{}".into(), Limits::default()).await;
    assert_eq!(again.expect("scores"), first, "the same snapshot gives the same scores");
}

#[tokio::test]
async fn each_hostile_behaviour_ends_in_its_reason_within_its_limits() {
    let p = plugin("hostile");
    assert!(p.inspection().scorer && p.inspection().validator);
    let batch = vec![snapshot("Customer:a", 1, "1", None)];
    let tight = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let looping = roomy_host().load(&bytes("hostile")).expect("installs");
    let (result, record) =
        within_a_minute(roomy_host().score(&looping, batch.clone(), config("loop"), roomy_host().limits())).await;
    // With fuel for hours, only the 300 ms deadline (counted in 5 ms ticks) can have stopped it.
    assert_eq!(result.expect_err("loops").reason, Reason::Timeout);
    assert!(record.duration >= Duration::from_millis(290), "it ran until its deadline: {record:?}");
    let cases = [
        ("loop", Reason::OutOfFuel, tight),
        ("recursion", Reason::Trap, tight),
        ("memory", Reason::MemoryLimit, tight),
        ("panic", Reason::Trap, tight),
        // The sandbox's clock stands still: a sleep returns at once, so a sleeping loop spins
        // until its fuel or its deadline runs out (which first depends on the build), never
        // holding a thread for the hour it asked.
        ("sleep", Reason::Timeout, tight),
        ("error", Reason::GuestError, tight),
        ("invalid", Reason::InvalidOutput, tight),
        ("nan", Reason::InvalidOutput, tight),
        ("huge", Reason::OutputTooLarge, tight),
    ];
    for (mode, reason, limits) in cases {
        let (result, record) = within_a_minute(host().score(&p, batch.clone(), config(mode), limits)).await;
        let err = result.expect_err(mode);
        if mode == "sleep" && err.reason == Reason::OutOfFuel {
            // Spinning ran out of fuel before the deadline: as good an end.
        } else {
            assert_eq!(err.reason, reason, "{mode}: {err}");
        }
        assert_eq!(record.outcome, Err(err.clone()), "{mode}: the record says the same");
        assert!(record.duration > Duration::ZERO, "{mode}: the record says how long it ran: {record:?}");
        if mode == "panic" {
            assert!(err.message.contains("panics on purpose"), "the guest's message is kept: {err}");
        }
        if mode == "memory" {
            assert!(record.peak_memory <= Limits::default().memory_bytes, "{record:?}");
        }
    }
    // The host is still fine: the same plugin answers normally right after.
    let (ok, _) = host().score(&p, batch, config("ok"), Limits::default()).await;
    assert_eq!(ok.expect("scores").len(), 1);
}

#[tokio::test]
async fn the_clock_and_randomness_are_pinned_so_runs_repeat() {
    let p = plugin("hostile");
    let batch = vec![snapshot("Customer:a", 1, "1", None)];
    let note =
        |r: Result<Vec<guanxi_plugin_host::CustomerScores>, _>| match r.expect("scores")[0].scores[1].value.clone() {
            ScoreValue::Label(l) => l,
            ScoreValue::Number(n) => panic!("{n}"),
        };
    let (a, _) = host().score(&p, batch.clone(), config("clock"), Limits::default()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (b, _) = host().score(&p, batch, config("clock"), Limits::default()).await;
    let (a, b) = (note(a), note(b));
    assert_eq!(a, b, "same snapshot, same clock and random numbers");
    assert!(a.starts_with("1795680000 "), "the wall clock shows the snapshot's now: {a}");
    assert!(a.ends_with(" 0"), "the monotonic clock stands still: {a}");
}

#[tokio::test]
async fn logs_are_captured_and_cut_to_the_limit() {
    let p = plugin("hostile");
    let (result, record) =
        host().score(&p, vec![snapshot("Customer:a", 1, "1", None)], config("print"), Limits::default()).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(record.logs.starts_with("log line 0 of a chatty plugin"), "{}", record.logs);
    assert!(record.logs.len() <= Limits::default().log_bytes);
}

#[tokio::test]
async fn validators_answer_violations_and_fail_with_reasons() {
    let p = plugin("hostile");
    let request = |value: &str, mode: &str| ValidationRequest {
        entity: "CUSTOMER".into(),
        field: "card_no".into(),
        value_json: value.into(),
        record_json: "{}".into(),
        config_json: config(mode),
    };
    let (ok, _) = host().validate(&p, request("\"fine\"", "ok"), Limits::default()).await;
    assert_eq!(ok.expect("answer"), vec![]);
    let (bad, _) = host().validate(&p, request("\"bad\"", "ok"), Limits::default()).await;
    assert_eq!(bad.expect("answer")[0].code, "BAD_VALUE");
    let (looped, record) = host().validate(&p, request("1", "loop"), Limits::default()).await;
    assert_eq!(looped.expect_err("loops").reason, Reason::OutOfFuel);
    assert_eq!(record.fuel_used, Limits::default().fuel_base);
    let big = "x".repeat(300 * 1024);
    let (too_big, _) = host().validate(&p, request(&big, "ok"), Limits::default()).await;
    assert_eq!(too_big.expect_err("too big").reason, Reason::InputTooLarge);
    let scorer_only = plugin("value_scorer");
    let (not_validator, _) = host().validate(&scorer_only, request("1", "ok"), Limits::default()).await;
    assert!(not_validator.is_err());
}

#[test]
fn install_refuses_garbage_core_modules_oversize_and_filesystem_access() {
    assert!(matches!(host().load(b"definitely not wasm"), Err(InstallError::NotAComponent(_))));
    // A core module (the `\0asm` magic with version 1) is not a component.
    assert!(matches!(host().load(b"\0asm\x01\0\0\0"), Err(InstallError::NotAComponent(_))));
    assert!(matches!(host().load(&vec![0; guanxi_plugin_host::MAX_PLUGIN_BYTES + 1]), Err(InstallError::TooLarge(_))));
    match host().load(&bytes("fs_reader")) {
        Err(InstallError::ForbiddenImport(name)) => assert!(name.starts_with("wasi:filesystem/"), "{name}"),
        other => panic!("expected a refusal, got {:?}", other.map(|p| p.inspection().clone())),
    }
}

#[tokio::test]
async fn compiled_artifacts_are_kept_so_a_restart_does_not_compile_again() {
    let dir = tempfile::tempdir().expect("dir");
    let config = HostConfig { artifact_dir: Some(dir.path().to_owned()), ..HostConfig::default() };
    let wasm = bytes("value_scorer");
    let first = Host::new(config.clone()).expect("host");
    first.load(&wasm).expect("installs");
    drop(first);
    let artifacts: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(artifacts.len(), 1, "one artifact per sha256");
    let written = std::fs::metadata(&artifacts[0]).expect("artifact");
    let second = Host::new(config).expect("host");
    let p = second.load(&wasm).expect("installs from the artifact");
    assert!(p.inspection().scorer);
    // A compile would have written the artifact anew (a new file renamed over the old one);
    // reading it back leaves the very file that was there.
    let read = std::fs::metadata(&artifacts[0]).expect("artifact");
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!((read.dev(), read.ino()), (written.dev(), written.ino()), "the second host compiled again");
    let (keys, _) = second.keys(&p, Limits::default()).await;
    assert!(!keys.expect("the plugin read back works").is_empty());
}

#[tokio::test]
async fn a_hostile_tenant_does_not_slow_another_tenants_validations() {
    // Two calls of one tenant loop until their deadline while another tenant validates on the
    // same host, whose validations may not wait for a slot at all: each one that found the pool
    // full behind the loops would fail BUSY. The pool has room for both.
    let limits = Limits { fuel_base: u64::MAX / 4, timeout: Duration::from_millis(300), ..Limits::default() };
    let config_of_host =
        HostConfig { max_concurrent_calls: 4, limits, validator_slot_wait: Duration::ZERO, ..HostConfig::default() };
    let host = Arc::new(Host::new(config_of_host).expect("host"));
    let looping = host.load(&bytes("hostile")).expect("installs");
    let batch = vec![snapshot("Customer:a", 1, "1", None)];
    let storms: Vec<_> = (0..2)
        .map(|_| {
            let (host, looping, batch) = (host.clone(), looping.clone(), batch.clone());
            tokio::spawn(async move { host.score(&looping, batch, config("loop"), host.limits()).await })
        })
        .collect();
    // Validate until both loops have ended, counting the validations that ended while both
    // still ran.
    let mut during_the_storm = 0;
    while !storms.iter().all(tokio::task::JoinHandle::is_finished) {
        let request = ValidationRequest {
            entity: "CUSTOMER".into(),
            field: "card_no".into(),
            value_json: "\"ok\"".into(),
            record_json: "{}".into(),
            config_json: config("ok"),
        };
        let (r, record) = within_a_minute(host.validate(&looping, request, Limits::default())).await;
        assert_eq!(r.expect("a free slot at once"), vec![], "{record:?}");
        if storms.iter().all(|s| !s.is_finished()) {
            during_the_storm += 1;
        }
    }
    assert!(during_the_storm > 0, "no validation ended while the loops ran");
    for storm in storms {
        let (r, _) = storm.await.expect("joined");
        assert_eq!(r.expect_err("loops").reason, Reason::Timeout);
    }
}

fn validation(field: &str, value: &str, config: &str) -> ValidationRequest {
    ValidationRequest {
        entity: "CUSTOMER".into(),
        field: field.into(),
        value_json: value.into(),
        record_json: "{}".into(),
        config_json: config.into(),
    }
}

/// The violation codes a validator answers for `value`.
async fn codes(p: &Arc<Plugin>, value: &str, config: &str) -> Vec<String> {
    let (result, _) = host().validate(p, validation("id_no", value, config), Limits::default()).await;
    result.expect("answers").into_iter().map(|v| v.code).collect()
}

#[tokio::test]
async fn the_identity_number_validator_checks_region_birth_date_and_check_character() {
    let p = plugin("cn_id_validator");
    assert!(p.inspection().validator && !p.inspection().scorer);
    assert!(codes(&p, r#""11010519491231002X""#, "{}").await.is_empty());
    assert!(codes(&p, r#""11010519491231002x""#, "{}").await.is_empty(), "a lowercase x is fine");
    assert!(codes(&p, r#""440308199001011239""#, "{}").await.is_empty());
    assert!(codes(&p, "null", "{}").await.is_empty(), "no value, nothing to check");
    for (value, code) in [
        (r#""110105194912310021""#, "INVALID_CHECK_CHARACTER"),
        (r#""1101051949123100""#, "INVALID_LENGTH"),
        (r#""11010519491231002Y""#, "INVALID_CHARACTER"),
        (r#""990105194912310021""#, "INVALID_REGION"),
        (r#""110105194902300021""#, "INVALID_BIRTH_DATE"),
        ("42", "INVALID_TYPE"),
    ] {
        assert_eq!(codes(&p, value, "{}").await, [code], "{value}");
    }
}

#[tokio::test]
async fn the_card_validator_checks_luhn_and_the_programme_prefix() {
    let p = plugin("card_validator");
    assert!(codes(&p, r#""4539 1488 0343 6467""#, "{}").await.is_empty());
    assert!(codes(&p, r#""6222-0202-0011-2230""#, r#"{"prefix": "6222"}"#).await.is_empty());
    assert_eq!(codes(&p, r#""4539148803436468""#, "{}").await, ["INVALID_CHECK_DIGIT"]);
    assert_eq!(codes(&p, r#""4539148803436467""#, r#"{"prefix": "6222"}"#).await, ["WRONG_PROGRAMME"]);
    assert_eq!(codes(&p, r#""12345""#, "{}").await, ["INVALID_LENGTH"]);
    assert_eq!(codes(&p, r#""4539-1488-0343-646A""#, "{}").await, ["INVALID_CHARACTER"]);
}

#[tokio::test]
async fn the_lifecycle_scorer_follows_the_product_rules_and_the_tenant_thresholds() {
    let p = plugin("lifecycle_scorer");
    let with = |id: &str, purchases: i64, first: Option<&str>, last: Option<&str>, satisfaction: Option<f64>| {
        let mut s = snapshot(id, purchases, "1000.00", last);
        s.first_purchase_at = first.map(Into::into);
        s.average_satisfaction = satisfaction;
        s
    };
    let batch = vec![
        with("prospect", 0, None, None, None),
        with("new", 1, Some("2026-11-01T00:00:00Z"), Some("2026-11-01T00:00:00Z"), None),
        with("loyal", 6, Some("2025-06-01T00:00:00Z"), Some("2026-11-10T00:00:00Z"), Some(4.6)),
        with("active", 6, Some("2025-06-01T00:00:00Z"), Some("2026-11-10T00:00:00Z"), Some(3.0)),
        // Bought every 30 days for five months, then nothing for 200 days.
        with("at_risk", 6, Some("2025-10-19T00:00:00Z"), Some("2026-05-10T00:00:00Z"), None),
        with("churned", 3, Some("2024-01-01T00:00:00Z"), Some("2025-06-01T00:00:00Z"), None),
    ];
    let stages = |scores: Vec<guanxi_plugin_host::CustomerScores>| -> Vec<(String, String)> {
        scores
            .into_iter()
            .map(|c| match &c.scores[0].value {
                ScoreValue::Label(l) => (c.customer_id.clone(), l.clone()),
                ScoreValue::Number(n) => panic!("{n}"),
            })
            .collect()
    };
    let (result, _) = host().score(&p, batch.clone(), "{}".into(), Limits::default()).await;
    let got = stages(result.expect("scores"));
    let want: Vec<(String, String)> = [
        ("prospect", "PROSPECT"),
        ("new", "NEW"),
        ("loyal", "LOYAL"),
        ("active", "ACTIVE"),
        ("at_risk", "AT_RISK"),
        ("churned", "CHURNED"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(got, want);
    // A tenant that calls customers churned after 150 quiet days.
    let (result, _) = host().score(&p, batch, r#"{"churnDays": 150}"#.into(), Limits::default()).await;
    assert_eq!(stages(result.expect("scores"))[4], ("at_risk".to_owned(), "CHURNED".to_owned()));
    let (bad, _) = host().score(&p, vec![], r#"{"churnDays": -1}"#.into(), Limits::default()).await;
    let err = bad.expect_err("refuses the config");
    assert_eq!(err.reason, Reason::GuestError);
    assert!(err.message.contains("churnDays"), "{err}");
}

/// The server embeds `plugins/examples/dist/*.wasm` as every new tenant's scorers: they must
/// answer exactly as a fresh build of their sources does (run `plugins/examples/dist/build.sh`
/// after changing them).
#[tokio::test]
async fn the_embedded_default_scorers_match_their_sources() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dist");
    let batch = vec![
        snapshot("Customer:a", 14, "88000.00", Some("2026-11-20T10:00:00.000000Z")),
        snapshot("Customer:b", 0, "0", None),
        snapshot("Customer:c", 4, "3000.50", Some("2026-03-01T10:00:00.000000Z")),
        snapshot("Customer:d", 1, "99.90", Some("2025-01-01T10:00:00.000000Z")),
    ];
    for name in ["value-scorer", "lifecycle-scorer"] {
        let embedded =
            host().load(&std::fs::read(dist.join(format!("{name}.wasm"))).expect("dist file")).expect("loads");
        let fresh = plugin(&name.replace('-', "_"));
        let (a, _) = host().keys(&embedded, Limits::default()).await;
        let (b, _) = host().keys(&fresh, Limits::default()).await;
        assert_eq!(a.expect("keys"), b.expect("keys"), "{name}: keys differ; rebuild dist");
        let (a, _) = host().score(&embedded, batch.clone(), "{}".into(), Limits::default()).await;
        let (b, _) = host().score(&fresh, batch.clone(), "{}".into(), Limits::default()).await;
        assert_eq!(a.expect("scores"), b.expect("scores"), "{name}: scores differ; rebuild dist");
    }
}

#[tokio::test]
async fn a_validator_that_finds_every_slot_taken_fails_busy_instead_of_waiting() {
    // One slot, held by a scorer that loops until its 300 ms deadline; validators wait 20 ms.
    let limits = Limits { fuel_base: u64::MAX / 4, timeout: Duration::from_millis(300), ..Limits::default() };
    let config_of_host = HostConfig {
        max_concurrent_calls: 1,
        limits,
        validator_slot_wait: Duration::from_millis(20),
        ..HostConfig::default()
    };
    let host = Arc::new(Host::new(config_of_host).expect("host"));
    let p = host.load(&bytes("hostile")).expect("installs");
    let (busy_host, busy_plugin) = (host.clone(), p.clone());
    let holder = tokio::spawn(async move {
        let batch = vec![snapshot("Customer:a", 1, "1", None)];
        busy_host.score(&busy_plugin, batch, config("loop"), busy_host.limits()).await
    });
    let request = ValidationRequest {
        entity: "CUSTOMER".into(),
        field: "card_no".into(),
        value_json: "\"fine\"".into(),
        record_json: "{}".into(),
        config_json: config("ok"),
    };
    // Until the scorer has the slot, a validation may still find it free and run.
    let record = loop {
        assert!(!holder.is_finished(), "no validation found the slot taken while the scorer ran");
        let (result, record) = within_a_minute(host.validate(&p, request.clone(), Limits::default())).await;
        match result {
            Err(err) if err.reason == Reason::Busy => break record,
            Err(err) => panic!("{err}"),
            Ok(violations) => assert_eq!(violations, vec![]),
        }
    };
    assert_eq!(record.fuel_used, 0, "the call never started");
    let (held, _) = holder.await.expect("scorer");
    assert_eq!(held.expect_err("loops").reason, Reason::Timeout);
    // With the slot free again, the same call runs.
    let (ok, _) = host.validate(&p, request, Limits::default()).await;
    assert_eq!(ok.expect("answer"), vec![]);
}

/// The embedded default scorers, built against contract 0.1.0 (never rebuilt by the tests).
fn dist(name: &str) -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dist");
    std::fs::read(dir.join(format!("{name}.wasm"))).expect("dist file")
}

/// The first customer's score of `key`, if it has one.
fn score_of(scores: &[guanxi_plugin_host::CustomerScores], key: &str) -> Option<ScoreValue> {
    scores[0].scores.iter().find(|s| s.key == key).map(|s| s.value.clone())
}

fn label_of(scores: &[guanxi_plugin_host::CustomerScores], key: &str) -> Option<String> {
    match score_of(scores, key)? {
        ScoreValue::Label(l) => Some(l),
        ScoreValue::Number(_) => None,
    }
}

fn number_of(scores: &[guanxi_plugin_host::CustomerScores], key: &str) -> Option<f64> {
    match score_of(scores, key)? {
        ScoreValue::Number(n) => Some(n),
        ScoreValue::Label(_) => None,
    }
}

#[tokio::test]
async fn scorers_of_both_contract_versions_score_side_by_side() {
    let old = host().load(&dist("value-scorer")).expect("a 0.1.0 component installs");
    let new = plugin("value_scorer");
    assert_eq!((old.inspection().contract, old.inspection().checks_config), (Contract::V0_1, false));
    assert_eq!((new.inspection().contract, new.inspection().checks_config), (Contract::V0_2, true));
    let batch = vec![
        snapshot("Customer:a", 14, "88000.00", Some("2026-11-20T10:00:00.000000Z")),
        snapshot("Customer:b", 0, "0", None),
    ];
    let (a, old_run) = host().score(&old, batch.clone(), "{}".into(), Limits::default()).await;
    let (b, _) = host().score(&new, batch.clone(), "{}".into(), Limits::default()).await;
    let a = a.expect("the 0.1.0 scorer scores");
    assert_eq!(a, b.expect("the 0.2.0 scorer scores"), "the same rules give the same scores in both versions");
    assert!(old_run.outcome.is_ok() && old_run.fuel_used > 0, "{old_run:?}");
    assert_eq!(number_of(&a, "value_score"), Some(100.0));

    // What each version is given: the 0.2.0 snapshot's new figures and typed custom values, and
    // for a 0.1.0 scorer the custom values as 0.1.0 carried them.
    let mut customer = snapshot("Customer:a", 3, "300.00", Some("2026-11-20T10:00:00.000000Z"));
    customer.interactions_last30_days = vec![("CALL".into(), 2), ("VISIT".into(), 1)];
    customer.interactions_last90_days = vec![("CALL".into(), 4), ("PURCHASE".into(), 3), ("VISIT".into(), 2)];
    customer.days_since_last_interaction = vec![("CALL".into(), 1), ("PURCHASE".into(), 5), ("VISIT".into(), 12)];
    customer.custom_fields_json = r#"{"member_since":"2020-05-01","points":30.5,"vip":true}"#.into();
    let stored = r#"{"member_since":"2020-05-01","points":"30.5","vip":true}"#;
    let both = Batch::new(vec![customer]).with_custom_fields_0_1(vec![stored.to_owned()]);
    let checked = plugin("checked_scorer");
    let (scores, _) = host().score(&checked, both.clone(), "null".into(), Limits::default()).await;
    let scores = scores.expect("the 0.2.0 scorer scores");
    assert_eq!(number_of(&scores, "window_interactions"), Some(9.0), "the 90-day window, every kind");
    assert_eq!(number_of(&scores, "days_since_visit"), Some(12.0));
    assert_eq!(label_of(&scores, "custom_types").as_deref(), Some("member_since:string,points:number,vip:boolean"));
    let (scores, _) = host().score(&checked, both.clone(), r#"{"window_days": 30}"#.into(), Limits::default()).await;
    assert_eq!(number_of(&scores.expect("scores"), "window_interactions"), Some(3.0));
    let hostile = plugin("hostile");
    assert_eq!(hostile.inspection().contract, Contract::V0_1);
    let (scores, _) = host().score(&hostile, both, config("fields"), Limits::default()).await;
    let note = label_of(&scores.expect("the 0.1.0 scorer scores"), "note");
    assert_eq!(note.as_deref(), Some(stored), "0.1.0 keeps the stored forms");
}

#[tokio::test]
async fn a_configuration_check_accepts_or_refuses_with_the_plugins_message() {
    let p = plugin("checked_scorer");
    for accepted in ["null", r#"{"window_days": 30}"#, r#"{"window_days": 365}"#] {
        let (result, record) = host().check_config(&p, accepted.into(), Limits::default()).await;
        assert_eq!(result, Ok(()), "{accepted}");
        assert!(record.outcome.is_ok() && record.fuel_used > 0, "{record:?}");
    }
    let (result, record) = host().check_config(&p, r#"{"window_days": "soon"}"#.into(), Limits::default()).await;
    let err = result.expect_err("refused");
    assert_eq!(err.reason, Reason::GuestError);
    assert_eq!(err.message, r#"window_days must be 30, 90 or 365, not "soon""#);
    assert_eq!(record.outcome, Err(err));
    // An example built with the SDK checks its thresholds when they are set.
    let lifecycle = plugin("lifecycle_scorer");
    let (result, _) = host().check_config(&lifecycle, r#"{"churnDays": -1}"#.into(), Limits::default()).await;
    assert!(result.expect_err("refused").message.contains("churnDays"));
    let (result, _) = host().check_config(&lifecycle, r#"{"churnDays": 150}"#.into(), Limits::default()).await;
    assert_eq!(result, Ok(()));
    // A 0.1.0 component has no check to call.
    let old = host().load(&dist("lifecycle-scorer")).expect("installs");
    let (result, record) = host().check_config(&old, "null".into(), Limits::default()).await;
    assert!(result.expect_err("no config interface").message.contains("config interface"), "{record:?}");
}

#[tokio::test]
async fn a_configuration_check_that_traps_or_spins_ends_in_its_reason() {
    let p = plugin("checked_scorer");
    let (result, record) = within_a_minute(host().check_config(&p, config("panic"), Limits::default())).await;
    let err = result.expect_err("panics");
    assert_eq!(err.reason, Reason::Trap, "{err}");
    assert!(err.message.contains("panics on purpose"), "the guest's message is kept: {err}");
    assert_eq!(record.outcome, Err(err));
    let limits = Limits { fuel_base: 1_000_000, ..Limits::default() };
    let (result, record) = within_a_minute(host().check_config(&p, config("loop"), limits)).await;
    assert_eq!(result.expect_err("spins").reason, Reason::OutOfFuel);
    assert_eq!(record.fuel_used, 1_000_000, "the check runs on the base fuel");
    let (result, _) = host().check_config(&p, "x".repeat(300 * 1024), Limits::default()).await;
    assert_eq!(result.expect_err("too big").reason, Reason::InputTooLarge);
    // The plugin is still fine right after.
    let (result, _) = host().check_config(&p, "null".into(), Limits::default()).await;
    assert_eq!(result, Ok(()));
}
