//! Contract 0.2.0 through HTTP: a plugin's own check of its configuration, run by
//! `installPlugin` and `configurePlugin`; the richer snapshot (interactions per kind over 30, 90
//! and 365 days, days since the last of each kind, custom values typed) in
//! `Customer.scoringSnapshot` and in what a 0.2.0 scorer computes from it; and components of
//! 0.1.0, as the embedded defaults are, installing and scoring as before, with the custom values
//! they always had.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};
use crate::plugins::{eventually, wasm};

const INSTALL: &str =
    "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { id name config revision scoreKeys } }";
const CONFIGURE: &str = "mutation($id: ID!, $c: JSON) { configurePlugin(id: $id, config: $c) { config revision } }";
const PLUGIN: &str =
    "query($id: ID!) { plugin(id: $id) { config revision lastRuns(first: 20) { call outcome error } } }";
const DEFINE: &str = "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { key } }";
const RECORD: &str = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }";

/// An embedded default scorer as the server ships it: a component of contract 0.1.0.
fn dist(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("plugins/examples/dist/{name}.wasm"));
    STANDARD.encode(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn the_violation(res: &Value) -> &Value {
    &res["errors"][0]["extensions"]["violations"][0]
}

async fn define(app: &TestApp, admin: &str, key: &str, ty: &str) {
    let input = json!({ "entity": "CUSTOMER", "key": key, "label": key, "type": ty });
    let res = app.gql(admin, DEFINE, json!({ "i": input })).await;
    assert!(res["errors"].is_null(), "{res}");
}

#[tokio::test]
async fn a_plugin_that_checks_its_configuration_refuses_a_bad_one_at_once() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "root");
    let input =
        |config: Value| json!({ "i": { "name": "checked", "wasmBase64": wasm("checked-scorer"), "config": config } });

    let res = app.gql(&admin, INSTALL, input(json!({ "window_days": "soon" }))).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("config".to_owned(), "INVALID_CONFIG".to_owned())]);
    assert_eq!(the_violation(&res)["message"], "window_days must be 30, 90 or 365, not \"soon\" (plugin checked)");
    assert_eq!(the_violation(&res)["plugin"], "checked");
    // A check that traps refuses the install too, saying why.
    let res = app.gql(&admin, INSTALL, input(json!({ "mode": "panic" }))).await;
    assert_eq!(code(&res), "PLUGIN_ERROR", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "TRAP", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("panics on purpose"), "{res}");
    let none = app.gql(&admin, "{ plugins { name } }", json!({})).await;
    assert_eq!(none["data"]["plugins"], json!([]), "nothing was installed: {none}");

    let res = app.gql(&admin, INSTALL, input(json!({ "window_days": 30 }))).await;
    assert!(res["errors"].is_null(), "{res}");
    let id = res["data"]["installPlugin"]["id"].clone();

    let res = app.gql(&admin, CONFIGURE, json!({ "id": id, "c": { "window_days": "soon" } })).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("config".to_owned(), "INVALID_CONFIG".to_owned())]);
    assert_eq!(the_violation(&res)["message"], "window_days must be 30, 90 or 365, not \"soon\" (plugin checked)");
    let res = app.gql(&admin, CONFIGURE, json!({ "id": id, "c": { "mode": "loop" } })).await;
    assert_eq!(code(&res), "PLUGIN_ERROR", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "OUT_OF_FUEL", "{res}");
    let after = app.gql(&admin, PLUGIN, json!({ "id": id })).await;
    assert_eq!(after["data"]["plugin"]["config"], json!({ "window_days": 30 }), "the old configuration stays: {after}");
    assert_eq!(after["data"]["plugin"]["revision"], 1, "{after}");

    // Each check of the installed plugin is in its run log, the refusals with the plugin's
    // reason. (The install's own check may be dropped from the log: it ends before the plugin's
    // row commits, like the install's KEYS.)
    let runs = eventually(&app, &admin, PLUGIN, json!({ "id": id }), |r| {
        r["data"]["plugin"]["lastRuns"]
            .as_array()
            .is_some_and(|runs| runs.iter().any(|run| run["call"] == "CHECK_CONFIG" && run["outcome"] == "OUT_OF_FUEL"))
    })
    .await;
    let checks: Vec<(String, String)> = runs["data"]["plugin"]["lastRuns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["call"] == "CHECK_CONFIG")
        .map(|run| (run["outcome"].as_str().unwrap().to_owned(), run["error"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(checks[0].0, "OUT_OF_FUEL", "{runs}");
    assert_eq!(checks[1], ("GUEST_ERROR".to_owned(), "window_days must be 30, 90 or 365, not \"soon\"".to_owned()));

    let res = app.gql(&admin, CONFIGURE, json!({ "id": id, "c": { "window_days": 365 } })).await;
    assert_eq!(res["data"]["configurePlugin"], json!({ "config": { "window_days": 365 }, "revision": 2 }), "{res}");
    // No configuration is one too: this plugin takes it (90 days).
    let res = app.gql(&admin, CONFIGURE, json!({ "id": id, "c": null })).await;
    assert_eq!(res["data"]["configurePlugin"], json!({ "config": null, "revision": 3 }), "{res}");
}

/// The scores of [`components_of_contract_0_1_install_and_score_as_before`]'s customer.
const SCORED: &str = "query($id: ID!) { customer(id: $id) { custom { valueScore note customTypes } score(key: \"valueScore\") { plugin { name } } } }";

#[tokio::test]
async fn components_of_contract_0_1_install_and_score_as_before() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "root");
    define(&app, &admin, "points", "DECIMAL").await;
    define(&app, &admin, "vip", "BOOLEAN").await;
    // The embedded value scorer and the hostile test guest speak 0.1.0; the checked scorer 0.2.0.
    for (name, wasm_base64, config) in [
        ("value-scorer", dist("value-scorer"), Value::Null),
        ("hostile", wasm("hostile"), json!({ "mode": "fields" })),
        ("checked", wasm("checked-scorer"), json!({ "window_days": 365 })),
    ] {
        let res = app
            .gql(&admin, INSTALL, json!({ "i": { "name": name, "wasmBase64": wasm_base64, "config": config } }))
            .await;
        assert!(res["errors"].is_null(), "{name}: {res}");
    }
    let plugins = app.gql(&admin, "{ plugins { id name } }", json!({})).await;
    let hostile = plugins["data"]["plugins"][1]["id"].clone();
    // A 0.1.0 component has no check: any configuration is taken, as before.
    let res = app.gql(&admin, CONFIGURE, json!({ "id": hostile, "c": { "mode": "fields", "why": "no check" } })).await;
    assert!(res["errors"].is_null(), "{res}");

    let customer = app
        .create_customer(
            &admin,
            json!({ "kind": "INDIVIDUAL", "name": "王芳", "customFields": { "points": "30.50", "vip": true } }),
        )
        .await;
    let at = (Utc::now() - Duration::days(10)).to_rfc3339();
    let purchase =
        json!({ "customerId": customer, "kind": "PURCHASE", "occurredAt": at, "amount": "880.00", "currency": "CNY" });
    let res = app.gql(&admin, RECORD, json!({ "i": purchase })).await;
    assert!(res["errors"].is_null(), "{res}");
    let scored = eventually(&app, &admin, SCORED, json!({ "id": customer }), |r| {
        let custom = &r["data"]["customer"]["custom"];
        // The purchase moved the value score off a customer's without purchases.
        custom["valueScore"].as_str().is_some_and(|v| v != "20")
            && !custom["note"].is_null()
            && !custom["customTypes"].is_null()
    })
    .await;
    let custom = &scored["data"]["customer"]["custom"];
    assert_eq!(scored["data"]["customer"]["score"]["plugin"]["name"], "value-scorer", "{scored}");
    // 0.1.0 gets the values as it always did: a decimal as exact text; 0.2.0 gets them typed.
    assert_eq!(custom["note"], r#"{"points":"30.5","vip":true}"#, "{scored}");
    assert_eq!(custom["customTypes"], "points:number,vip:boolean", "{scored}");
}

/// What a snapshot as of `now` says of interactions written at `written`: per kind, how many
/// in the last 30, 90 and 365 days, and whole days since the latest.
fn expected(written: &[(&str, DateTime<Utc>)], now: DateTime<Utc>) -> Value {
    let mut windows: [BTreeMap<&str, i64>; 3] = Default::default();
    let mut since: BTreeMap<&str, i64> = BTreeMap::new();
    for (kind, at) in written.iter().filter(|(_, at)| *at <= now) {
        for (window, days) in windows.iter_mut().zip([30, 90, 365]) {
            if now - *at <= Duration::days(days) {
                *window.entry(kind).or_default() += 1;
            }
        }
        let days = (now - *at).num_days();
        since.entry(kind).and_modify(|d| *d = (*d).min(days)).or_insert(days);
    }
    let [d30, d90, d365] = windows;
    json!({
        "interactionsLast30Days": d30,
        "interactionsLast90Days": d90,
        "interactionsLast365Days": d365,
        "daysSinceLastInteraction": since,
    })
}

const SNAPSHOT: &str =
    "query($id: ID!) { customer(id: $id) { scoringSnapshot stats { purchasesLast90Days purchasesLast365Days } } }";

#[tokio::test]
async fn the_snapshot_counts_interactions_per_kind_and_window_as_the_clock_moves() {
    let clock = guanxi_api::clock::Clock::default();
    let server_clock = clock.clone();
    let app = TestApp::spawn_with(move |c| {
        c.clock = server_clock;
        c.default_plugins = false;
    })
    .await;
    let admin = app.token("acme", "ADMIN", "root");
    for (key, ty) in
        [("points", "DECIMAL"), ("visits", "INT"), ("vip", "BOOLEAN"), ("joined", "DATE"), ("note", "STRING")]
    {
        define(&app, &admin, key, ty).await;
    }
    let custom = json!({ "points": "1234.50", "visits": 12, "vip": false, "joined": "2020-05-01", "note": "茶" });
    let customer =
        app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "李雷", "customFields": custom })).await;
    let written_at = Utc::now();
    let mut written = Vec::new();
    for (kind, days_ago) in [
        ("VISIT", 2),
        ("VISIT", 20),
        ("VISIT", 60),
        ("VISIT", 200),
        ("VISIT", 340),
        ("VISIT", 500),
        ("CALL", 45),
        ("CALL", 100),
        ("PURCHASE", 10),
        ("PURCHASE", 400),
        ("MEETING", 700),
    ] {
        let at = written_at - Duration::days(days_ago) - Duration::minutes(1);
        let mut input = json!({ "customerId": customer, "kind": kind, "occurredAt": at.to_rfc3339() });
        if kind == "PURCHASE" {
            input["amount"] = json!("99.00");
            input["currency"] = json!("CNY");
        }
        let res = app.gql(&admin, RECORD, json!({ "i": input })).await;
        assert!(res["errors"].is_null(), "{res}");
        written.push((kind, at));
    }

    // Now, and 40 days on: the figures follow the server's clock without a write.
    for ahead in [0, 40] {
        clock.advance(Duration::days(ahead));
        let res = app.gql(&admin, SNAPSHOT, json!({ "id": customer })).await;
        let snapshot = &res["data"]["customer"]["scoringSnapshot"];
        let now = DateTime::parse_from_rfc3339(snapshot["now"].as_str().unwrap()).unwrap().with_timezone(&Utc);
        let want = expected(&written, now);
        for key in
            ["interactionsLast30Days", "interactionsLast90Days", "interactionsLast365Days", "daysSinceLastInteraction"]
        {
            assert_eq!(snapshot[key], want[key], "{key}, {ahead} days on: {res}");
        }
        let stats = &res["data"]["customer"]["stats"];
        assert_eq!(snapshot["purchasesLast90Days"], stats["purchasesLast90Days"], "{res}");
        assert_eq!(snapshot["purchasesLast365Days"], stats["purchasesLast365Days"], "{res}");
        assert_eq!(snapshot["interactionCounts"], json!({ "CALL": 2, "MEETING": 1, "PURCHASE": 2, "VISIT": 6 }));
    }
    let res = app.gql(&admin, SNAPSHOT, json!({ "id": customer })).await;
    let snapshot = &res["data"]["customer"]["scoringSnapshot"];
    // Hand-checked once, 40 days on: the 2-day visit left the 30-day window, the 340-day one the
    // year, and the 700-day meeting is still the latest of its kind.
    assert_eq!(snapshot["interactionsLast30Days"], json!({}), "{res}");
    assert_eq!(snapshot["interactionsLast90Days"], json!({ "CALL": 1, "PURCHASE": 1, "VISIT": 2 }), "{res}");
    assert_eq!(snapshot["daysSinceLastInteraction"]["MEETING"], 740, "{res}");
    // Custom values as JSON of their types: a decimal is a number, not its stored text.
    assert_eq!(
        snapshot["customFields"],
        json!({ "joined": "2020-05-01", "note": "茶", "points": 1234.5, "visits": 12, "vip": false }),
        "{res}"
    );
    assert!(snapshot["customFields"]["points"].is_f64());
}

/// A 0.2.0 scorer reads the new figures the server gives it: the checked scorer's sum over its
/// window and days since the last visit agree with the snapshot's.
#[tokio::test]
async fn a_scorer_of_contract_0_2_computes_from_the_new_figures() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "root");
    define(&app, &admin, "points", "DECIMAL").await;
    let customer = app
        .create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Li", "customFields": { "points": "7" } }))
        .await;
    for (kind, days_ago) in [("VISIT", 3), ("VISIT", 50), ("CALL", 20), ("CALL", 120)] {
        let at = (Utc::now() - Duration::days(days_ago) - Duration::minutes(1)).to_rfc3339();
        let res =
            app.gql(&admin, RECORD, json!({ "i": { "customerId": customer, "kind": kind, "occurredAt": at } })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let res = app
        .gql(
            &admin,
            INSTALL,
            json!({ "i": { "name": "checked", "wasmBase64": wasm("checked-scorer"), "config": { "window_days": 90 } } }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let query = "query($id: ID!) { customer(id: $id) { custom { windowInteractions daysSinceVisit customTypes } } }";
    let scored = eventually(&app, &admin, query, json!({ "id": customer }), |r| {
        !r["data"]["customer"]["custom"]["customTypes"].is_null()
    })
    .await;
    assert_eq!(
        scored["data"]["customer"]["custom"],
        json!({ "windowInteractions": "3", "daysSinceVisit": "3", "customTypes": "points:number" }),
        "{scored}"
    );
    let res = app.gql(&admin, SNAPSHOT, json!({ "id": customer })).await;
    let snapshot = &res["data"]["customer"]["scoringSnapshot"];
    assert_eq!(snapshot["interactionsLast90Days"], json!({ "CALL": 1, "VISIT": 2 }), "{res}");
    assert_eq!(snapshot["daysSinceLastInteraction"], json!({ "CALL": 20, "VISIT": 3 }), "{res}");
    assert_eq!(snapshot["customFields"], json!({ "points": 7 }), "{res}");
}
