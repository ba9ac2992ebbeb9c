//! Hardening: inputs that used to fail inside the server (or take it down) are refused with a
//! typed error, labels a client chooses stay bounded, and what only ADMINs may read stays theirs.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const DEFINE: &str = "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { id key name } }";

async fn define(app: &TestApp, token: &str, input: Value) -> Value {
    let res = app.gql(token, DEFINE, json!({ "i": input })).await;
    assert!(res.get("errors").is_none(), "define {input}: {res}");
    res["data"]["defineCustomField"].clone()
}

/// `options` is `[String!]`: null for types without options, the list for ENUM and MULTI_ENUM.
#[tokio::test]
async fn definitions_list_with_options_null_unless_the_type_has_them() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "nickname", "label": "Nickname", "type": "STRING" }))
        .await;
    define(
        &app,
        &admin,
        json!({ "entity": "CUSTOMER", "key": "grade", "label": "Grade", "type": "ENUM", "options": ["gold", "silver"] }),
    )
    .await;
    let res = app.gql(&admin, "{ customFieldDefinitions { key options } }", json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(
        res["data"]["customFieldDefinitions"],
        json!([{ "key": "nickname", "options": null }, { "key": "grade", "options": ["gold", "silver"] }])
    );
    let introspect = r#"{ __type(name: "CustomFieldDefinition") { fields { name type { kind ofType { kind ofType { name } } } } } }"#;
    let res = app.gql(&admin, introspect, json!({})).await;
    let options = res["data"]["__type"]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "options"))
        .unwrap_or_else(|| panic!("{res}"));
    assert_eq!(
        options["type"],
        json!({ "kind": "LIST", "ofType": { "kind": "NON_NULL", "ofType": { "name": "String" } } })
    );
}

const COUNT: &str = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }";

/// A list operator takes at most 1,000 values (and a filter 10,000 in all), refused by name
/// before any SQL runs; 1,000 work.
#[tokio::test]
async fn filter_lists_are_bounded_and_name_their_path() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let names = |n: usize| -> Vec<String> {
        let mut v: Vec<String> = (1..n).map(|i| format!("nobody-{i}")).collect();
        v.push("王芳".into());
        v
    };
    let res = app.gql(&t, COUNT, json!({ "f": { "name": { "in": names(1_000) } } })).await;
    assert_eq!(res["data"]["customers"]["totalCount"], 1, "1,000 values work: {res}");

    let res = app.gql(&t, COUNT, json!({ "f": { "name": { "in": names(1_001) } } })).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("filter.name.in".to_owned(), "TOO_MANY".to_owned())]);

    let res = app.gql(&t, COUNT, json!({ "f": { "not": { "name": { "notIn": names(1_001) } } } })).await;
    assert_eq!(violations(&res), [("filter.not.name.notIn".to_owned(), "TOO_MANY".to_owned())], "{res}");

    let ids: Vec<String> =
        (0..1_001).map(|_| guanxi_api::domain::ids::encode("Customer", uuid::Uuid::now_v7())).collect();
    let res = app.gql(&t, COUNT, json!({ "f": { "id": { "in": ids } } })).await;
    assert_eq!(violations(&res), [("filter.id.in".to_owned(), "TOO_MANY".to_owned())], "{res}");

    let many: Vec<Value> = (0..11).map(|_| json!({ "name": { "in": names(1_000) } })).collect();
    let res = app.gql(&t, COUNT, json!({ "f": { "or": many } })).await;
    assert_eq!(violations(&res), [("filter".to_owned(), "TOO_MANY".to_owned())], "{res}");
}

/// `contains` and `startsWith` take at most 1,000 characters, refused by name before any SQL
/// runs. SQLite refused longer LIKE patterns (50,000 bytes) inside the database, as INTERNAL.
#[tokio::test]
async fn filter_text_searches_are_bounded() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let res = app.gql(&t, COUNT, json!({ "f": { "name": { "contains": "芳".repeat(1_000) } } })).await;
    assert_eq!(res["data"]["customers"]["totalCount"], 0, "1,000 characters work: {res}");
    for (op, long) in [("contains", "\u{7f}".repeat(70_000)), ("startsWith", "芳".repeat(1_001))] {
        let res = app.gql(&t, COUNT, json!({ "f": { "not": { "name": { op: long } } } })).await;
        assert_eq!(violations(&res), [(format!("filter.not.name.{op}"), "TOO_LONG".to_owned())], "{res}");
    }
}

/// A thousand values (the most a list operator takes) in `hasAny` and `hasAll`, on tags and on
/// a MULTI_ENUM custom field. SQLite refused them: one test per value, chained, nested deeper
/// than the 1,000 levels it parses.
#[tokio::test]
async fn membership_filters_take_a_thousand_values() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "ADMIN", "admin");
    let labels = json!({ "entity": "CUSTOMER", "key": "labels", "label": "Labels", "type": "MULTI_ENUM", "options": ["a", "b"] });
    define(&app, &t, labels).await;
    let customer = json!({ "kind": "INDIVIDUAL", "name": "王芳", "tags": ["vip", "new"], "customFields": { "labels": ["a", "b"] } });
    app.create_customer(&t, customer).await;
    // 999 values no customer has, and one it has; the same two values a thousand times over.
    let one_of = |have: &str| -> Vec<String> {
        let mut v: Vec<String> = (1..1_000).map(|i| format!("nobody-{i}")).collect();
        v.push(have.to_owned());
        v
    };
    let both =
        |a: &str, b: &str| -> Vec<String> { (0..1_000).map(|i| if i % 2 == 0 { a } else { b }.to_owned()).collect() };
    for (filter, expected) in [
        (json!({ "tags": { "hasAny": one_of("vip") } }), 1),
        (json!({ "tags": { "hasAll": one_of("vip") } }), 0),
        (json!({ "tags": { "hasAll": both("vip", "new") } }), 1),
        (json!({ "custom": { "labels": { "hasAny": one_of("a") } } }), 1),
        (json!({ "custom": { "labels": { "hasAll": one_of("a") } } }), 0),
        (json!({ "custom": { "labels": { "hasAll": both("b", "a") } } }), 1),
    ] {
        let res = app.gql(&t, COUNT, json!({ "f": filter })).await;
        assert_eq!(res["data"]["customers"]["totalCount"], expected, "{}: {res}", &filter.to_string()[..40]);
    }
}

/// The `http_requests_total` series in a `/metrics` text.
fn request_series(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("http_requests_total{")).collect()
}

/// Methods and paths a client makes up do not become labels: each would be a series for the
/// life of the process. (The recorder is shared by every test server of the process, so other
/// tests may add a series or two meanwhile.)
#[tokio::test]
async fn clients_cannot_grow_the_metrics_with_made_up_methods_or_paths() {
    let app = TestApp::spawn_bare().await;
    let metrics = || async {
        let res = app.client.get(format!("{}/metrics", app.base)).send().await.expect("metrics");
        res.text().await.expect("text")
    };
    let before = request_series(&metrics().await).len();
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("JUNKMETHOD{i}").as_bytes()).expect("method");
        let res = app.client.request(method, format!("{}/graphql", app.base)).send().await.expect("junk");
        assert!(res.status().is_client_error(), "{}", res.status());
        let res = app.client.get(format!("{}/made-up-path-{i}", app.base)).send().await.expect("junk path");
        assert_eq!(res.status(), 404);
    }
    let after = metrics().await;
    assert!(!after.contains("JUNKMETHOD"), "{after}");
    assert!(!after.contains("made-up-path"), "{after}");
    assert!(after.contains(r#"method="OTHER""#), "{after}");
    let grown = request_series(&after).len() - before;
    assert!(grown <= 6, "{grown} new series:\n{after}");
}

/// JSON nested `levels` deep as a GraphQL literal: `{a: {a: … 1 …}}`.
fn nested_literal(levels: usize) -> String {
    format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
}

/// A JSON value nested deeper than 32 levels is refused by field and nothing is written, so no
/// stored value is too deep to read back; 32 levels are fine.
#[tokio::test]
async fn json_custom_values_nested_too_deep_are_refused() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "blob", "label": "Blob", "type": "JSON" })).await;
    let create = |levels: usize| {
        format!(
            "mutation {{ createCustomer(input: {{kind: INDIVIDUAL, name: \"深\", customFields: {{blob: {}}}}}) {{ id }} }}",
            nested_literal(levels)
        )
    };
    let res = app.gql(&admin, &create(40), json!({})).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("customFields.blob".to_owned(), "TOO_DEEP".to_owned())]);
    // An unknown key is refused for its depth as well, before anything reads it (sent as a
    // variable: a literal this deep is refused before parsing, for its brackets).
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({ "a": deep });
    }
    let input = json!({ "kind": "INDIVIDUAL", "name": "深", "customFields": { "other": deep } });
    let res = app
        .gql(&admin, "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", json!({ "i": input }))
        .await;
    assert_eq!(violations(&res), [("customFields.other".to_owned(), "TOO_DEEP".to_owned())], "{res}");
    let literal = format!(
        "mutation {{ createCustomer(input: {{kind: INDIVIDUAL, name: \"深\", customFields: {{other: {}}}}}) {{ id }} }}",
        nested_literal(200)
    );
    assert_eq!(code(&app.gql(&admin, &literal, json!({})).await), "QUERY_TOO_COMPLEX");
    let list = "{ customers { totalCount nodes { customFields } } }";
    let res = app.gql(&admin, list, json!({})).await;
    assert_eq!(res["data"]["customers"]["totalCount"], 0, "nothing written: {res}");

    let res = app.gql(&admin, &create(32), json!({})).await;
    assert!(res.get("errors").is_none(), "32 levels are fine: {res}");
    let res = app.gql(&admin, list, json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(res["data"]["customers"]["totalCount"], 1);
}

fn conflict(res: &Value) -> (&str, &str, &str) {
    let ext = &res["errors"][0]["extensions"];
    (
        ext["code"].as_str().unwrap_or_else(|| panic!("no code in {res}")),
        ext["reason"].as_str().unwrap_or_default(),
        res["errors"][0]["message"].as_str().unwrap_or_default(),
    )
}

/// A key taken on the entity, or a key whose GraphQL name is taken (`vip_1` and `vip1` are both
/// `vip1`; `churn_risk_` is a scorer's `churnRisk`), is `CONFLICT KEY_TAKEN` at `key`.
#[tokio::test]
async fn a_custom_field_key_or_name_taken_is_a_conflict() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "boss");
    let field = |key: &str| json!({ "entity": "CUSTOMER", "key": key, "label": key, "type": "BOOLEAN" });
    define(&app, &admin, field("vip1")).await;

    let res = app.gql(&admin, DEFINE, json!({ "i": field("vip1") })).await;
    assert_eq!(conflict(&res).0, "CONFLICT", "{res}");
    assert_eq!(conflict(&res).1, "KEY_TAKEN", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["field"], "key", "{res}");

    let res = app.gql(&admin, DEFINE, json!({ "i": field("vip_1") })).await;
    let (code, reason, message) = conflict(&res);
    assert_eq!((code, reason), ("CONFLICT", "KEY_TAKEN"), "{res}");
    assert!(message.contains("'vip_1'") && message.contains("'vip1'"), "{message}");

    let res = app.gql(&admin, DEFINE, json!({ "i": field("churn_risk_") })).await;
    let (code, reason, message) = conflict(&res);
    assert_eq!((code, reason), ("CONFLICT", "KEY_TAKEN"), "{res}");
    assert!(message.contains("'churn_risk'") && message.contains("plugin"), "{message}");

    // Another entity has names of its own, and the tenant's schema still builds.
    define(&app, &admin, json!({ "entity": "COMPLAINT", "key": "vip_1", "label": "VIP", "type": "BOOLEAN" })).await;
    let res = app.gql(&admin, "{ customers { totalCount } customFieldDefinitions { key } }", json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
}

/// A scorer whose key would be the GraphQL name of an ADMIN's field (`value_score` against
/// `value_score_`) is refused at install, naming both keys; nothing is installed.
#[tokio::test]
async fn a_score_key_whose_graphql_name_is_taken_is_refused_at_install() {
    use base64::Engine as _;
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "value_score_", "label": "Mine", "type": "STRING" }))
        .await;
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/examples/dist/value-scorer.wasm"))
        .expect("the value scorer's component");
    let install = "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { id } }";
    let input = json!({ "name": "value-scorer", "wasmBase64": base64::engine::general_purpose::STANDARD.encode(wasm) });
    let res = app.gql(&admin, install, json!({ "i": input })).await;
    let (code, reason, message) = conflict(&res);
    assert_eq!((code, reason), ("CONFLICT", "KEY_TAKEN"), "{res}");
    assert!(message.contains("'value_score'") && message.contains("'value_score_'"), "{message}");
    let res = app.gql(&admin, "{ plugins { name } customers { totalCount } }", json!({})).await;
    assert_eq!(res["data"]["plugins"], json!([]), "{res}");
}

/// `Plugin.config` is ADMIN-only, and so are its values in the audit trail: a MANAGER sees that
/// it changed, not what to.
#[tokio::test]
async fn the_audit_trail_hides_plugin_configuration_from_managers() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "boss");
    let manager = app.token("acme", "MANAGER", "mgr");
    let res = app.gql(&admin, "{ plugins { id name } }", json!({})).await;
    let id = res["data"]["plugins"][0]["id"].as_str().unwrap_or_else(|| panic!("{res}")).to_owned();
    let configure = "mutation($id: ID!, $c: JSON) { configurePlugin(id: $id, config: $c) { revision } }";
    let res = app.gql(&admin, configure, json!({ "id": id, "c": { "apiKey": "sk-live-0123456789" } })).await;
    assert!(res.get("errors").is_none(), "{res}");

    let audit = "query($id: ID!) { auditLog(entityId: $id) { nodes { action changes } } }";
    let seen = app.gql(&manager, audit, json!({ "id": id })).await;
    let update = &seen["data"]["auditLog"]["nodes"][0];
    assert_eq!(update["action"], "UPDATE", "{seen}");
    assert_eq!(update["changes"]["config"], json!({ "before": null, "after": "[redacted]" }), "{seen}");
    assert!(!seen.to_string().contains("sk-live"), "{seen}");

    let seen = app.gql(&admin, audit, json!({ "id": id })).await;
    assert_eq!(seen["data"]["auditLog"]["nodes"][0]["changes"]["config"]["after"]["apiKey"], "sk-live-0123456789");
}

/// A weak HS256 secret stops the start, naming the setting.
#[tokio::test]
async fn a_weak_jwt_secret_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    for weak in ["short-secret", "change-me-to-a-long-random-secret"] {
        let mut config = guanxi_api::Config::defaults();
        config.database_url = format!("sqlite://{}/weak.db?mode=rwc", dir.path().display());
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.jwt_secret = Some(weak.into());
        config.jwt_public_key = None;
        config.jwks_file = None;
        match guanxi_api::Application::build(config).await {
            Ok(_) => panic!("{weak}: the server started"),
            Err(e) => assert!(e.to_string().contains("GUANXI_JWT_SECRET"), "{weak}: {e}"),
        }
    }
}
