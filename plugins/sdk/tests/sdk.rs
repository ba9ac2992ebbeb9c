//! The SDK's harness against the real host: the example plugins (written with this SDK) built
//! from their sources, scored and validated under the server's sandbox, with their limits.

use std::path::PathBuf;
use std::sync::OnceLock;

use guanxi_plugin_sdk::host::Component;
use guanxi_plugin_sdk::testing::{request, snapshot};
use guanxi_plugin_sdk::{ScoreKind, ScoreValue};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

fn value_scorer() -> &'static Component {
    static C: OnceLock<Component> = OnceLock::new();
    C.get_or_init(|| Component::build(example("value-scorer")).expect("the value scorer builds and installs"))
}

#[test]
fn a_scorer_built_with_the_sdk_runs_under_the_host() {
    let plugin = value_scorer();
    let keys = plugin.keys().result.expect("keys");
    assert_eq!(
        keys.iter().map(|k| (k.key.as_str(), k.kind)).collect::<Vec<_>>(),
        [("value_score", ScoreKind::Number), ("rfm_segment", ScoreKind::Label)]
    );
    let mut loyal = snapshot("Customer:1", "2026-11-26T00:00:00.000000Z");
    loyal.purchase_count = 14;
    loyal.purchases_last365_days = 14;
    loyal.purchase_total = "88000.00".into();
    loyal.last_purchase_at = Some("2026-11-20T10:00:00.000000Z".into());
    let fresh = snapshot("Customer:2", "2026-11-26T00:00:00.000000Z");
    let run = plugin.score(vec![loyal, fresh], "null");
    assert!(run.fuel_used > 0 && run.peak_memory_bytes > 0, "{run:?}");
    let scores = run.result.expect("scores");
    assert_eq!(scores[0].scores[0].value, ScoreValue::Number(100.0));
    assert_eq!(scores[0].scores[1].value, ScoreValue::Label("CHAMPION".into()));
    assert_eq!(scores[1].scores[0].value, ScoreValue::Number(20.0));
}

#[test]
fn a_validator_built_with_the_sdk_runs_under_the_host() {
    let plugin = Component::build(example("card-validator")).expect("builds");
    let codes = |value: &str| -> Vec<String> {
        plugin
            .validate(request("CUSTOMER", "card", value))
            .result
            .expect("validates")
            .into_iter()
            .map(|v| v.code)
            .collect()
    };
    assert_eq!(codes("\"4111 1111 1111 1111\""), Vec::<String>::new());
    assert_eq!(codes("\"4111 1111 1111 1112\""), ["INVALID_CHECK_DIGIT"]);
    assert_eq!(codes("12"), ["INVALID_TYPE"]);
}

#[test]
fn the_host_refuses_what_the_server_would() {
    let err = Component::load(b"\0asm\x01\0\0\0".to_vec()).err().expect("a core module is refused");
    assert!(err.contains("not a WebAssembly component"), "{err}");
    assert!(value_scorer().bytes.len() < 4 * 1024 * 1024);
    assert_eq!(value_scorer().limits().memory_bytes, 16 * 1024 * 1024);
}

#[test]
fn a_configuration_check_built_with_the_sdk_runs_under_the_host() {
    let plugin = Component::build(example("lifecycle-scorer")).expect("builds");
    assert_eq!(plugin.contract(), "0.2.0");
    assert!(plugin.check_config(r#"{"churnDays": 400}"#).result.is_ok());
    assert!(plugin.check_config("null").result.is_ok());
    let refused = plugin.check_config(r#"{"churnDays": "soon"}"#);
    assert!(refused.fuel_used > 0, "it ran in the sandbox: {refused:?}");
    assert_eq!(refused.result, Err("GUEST_ERROR: churnDays must be a positive number".to_owned()));
    // Without an override, the export macros' check accepts anything.
    assert!(value_scorer().check_config(r#"{"anything": ["at", "all"]}"#).result.is_ok());
    // A component of contract 0.1.0 (an embedded default) has no check: any configuration is
    // taken, as on the server.
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/dist/lifecycle-scorer.wasm");
    let old = Component::load(std::fs::read(dist).expect("dist file")).expect("loads");
    assert_eq!(old.contract(), "0.1.0");
    let taken = old.check_config(r#"{"churnDays": "soon"}"#);
    assert!(taken.result.is_ok() && taken.fuel_used == 0, "{taken:?}");
}
