//! Documents sent by hash: Apollo's automatic persisted queries (registered per tenant, shared by
//! replicas, cacheable over GET) and a tenant's trusted documents, enforced on every path.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, code};
use crate::subscriptions;

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn by_hash(hash: &str) -> Value {
    json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } })
}

async fn post(app: &TestApp, token: &str, body: &Value) -> Value {
    app.post(token, body).await.json().await.expect("json body")
}

const CUSTOMERS: &str = "query Customers { customers(first: 5, orderBy: [{ field: NAME, direction: ASC }]) { \
                         nodes { name } } }";

#[tokio::test]
async fn an_unknown_hash_is_asked_for_then_the_document_runs_by_hash_on_every_replica_of_its_tenant_only() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let admin = app.token("apq", "ADMIN", "admin");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "王小明" })).await;
    let hash = sha256(CUSTOMERS);

    // Apollo's clients look for this message and code, then send the document with its hash.
    let unknown = post(&app, &admin, &by_hash(&hash)).await;
    assert_eq!(code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");

    let mut full = by_hash(&hash);
    full["query"] = json!(CUSTOMERS);
    let first = post(&app, &admin, &full).await;
    assert_eq!(first["data"]["customers"]["nodes"][0]["name"], "王小明", "{first}");

    let again = post(&app, &admin, &by_hash(&hash)).await;
    assert_eq!(again["data"], first["data"], "{again}");
    // Another server on the same database knows it too.
    let there = post(&replica, &admin, &by_hash(&hash)).await;
    assert_eq!(there["data"], first["data"], "{there}");
    // Another tenant does not.
    let other = post(&app, &app.token("apq-other", "ADMIN", "admin"), &by_hash(&hash)).await;
    assert_eq!(code(&other), "PERSISTED_QUERY_NOT_FOUND", "{other}");

    // A hash that is not the document's is refused, and nothing is registered under it.
    let wrong = sha256("{ __typename }");
    let mut lying = by_hash(&wrong);
    lying["query"] = json!(CUSTOMERS);
    let refused = post(&app, &admin, &lying).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "HASH_MISMATCH", "{refused}");
    assert_eq!(code(&post(&app, &admin, &by_hash(&wrong)).await), "PERSISTED_QUERY_NOT_FOUND");
    for bad in [json!({ "version": 2, "sha256Hash": hash }), json!({ "version": 1, "sha256Hash": "abc" }), json!("x")] {
        let res = post(&app, &admin, &json!({ "extensions": { "persistedQuery": bad } })).await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    }
    replica.stop().await;
}

#[tokio::test]
async fn a_get_by_hash_carries_an_etag_and_an_unchanged_answer_is_not_sent_again() {
    let app = TestApp::shared().await;
    let admin = app.token("apq-get", "ADMIN", "admin");
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "李雷" })).await;
    let query = "query One($id: ID!) { customer(id: $id) { name } }";
    let hash = sha256(query);
    let mut full = by_hash(&hash);
    full["query"] = json!(query);
    full["variables"] = json!({ "id": id });
    assert_eq!(post(&app, &admin, &full).await["data"]["customer"]["name"], "李雷");

    let url = format!("{}/graphql", app.base);
    let params =
        [("extensions", by_hash(&hash)["extensions"].to_string()), ("variables", json!({ "id": id }).to_string())];
    let get = |etag: Option<String>| {
        let mut request = app.client.get(&url).bearer_auth(&admin).query(&params);
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        request.send()
    };
    let first = get(None).await.expect("GET");
    assert_eq!(first.status(), 200);
    let etag = first.headers().get("etag").expect("an ETag").to_str().expect("text").to_owned();
    assert_eq!(first.headers().get("cache-control").expect("Cache-Control"), "private, no-cache");
    let body: Value = first.json().await.expect("json");
    assert_eq!(body["data"]["customer"]["name"], "李雷", "{body}");

    let unchanged = get(Some(etag.clone())).await.expect("GET");
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert!(unchanged.bytes().await.expect("body").is_empty());

    let renamed = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"韩梅梅\" }) { name } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(renamed["data"]["updateCustomer"]["name"], "韩梅梅", "{renamed}");
    let changed = get(Some(etag.clone())).await.expect("GET");
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert_eq!(changed.json::<Value>().await.expect("json")["data"]["customer"]["name"], "韩梅梅");
}

const SET_TRUSTED: &str =
    "mutation($d: [TrustedDocumentInput!]!, $e: Boolean!) { setTrustedDocuments(documents: $d, enforce: $e) }";

#[tokio::test]
async fn with_trusted_documents_enforced_every_other_document_is_refused_for_every_role_but_admin_on_every_path() {
    let app = TestApp::spawn().await;
    let admin = app.token("trusted", "ADMIN", "admin");
    let agent = app.token("trusted", "AGENT", "agent");
    app.create_customer(&agent, json!({ "kind": "INDIVIDUAL", "name": "张三" })).await;
    let subscription = "subscription { customerChanged { kind } }";
    let documents = json!([
        // As graphql-codegen names them.
        { "sha256Hash": format!("sha256:{}", sha256(CUSTOMERS)), "document": CUSTOMERS },
        { "sha256Hash": sha256(subscription).to_uppercase(), "document": subscription },
    ]);

    // Only an ADMIN sets them; every hash must be its document's, every document a document.
    let by_agent = app.gql(&agent, SET_TRUSTED, json!({ "d": documents, "e": true })).await;
    assert_eq!(code(&by_agent), "FORBIDDEN", "{by_agent}");
    // Nested deeper than a request may be: scanned, as a request is, before the parser sees it.
    let deep = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));
    let long = format!("{{ __typename }} #{}", "长".repeat(11_000));
    let bad = json!([
        { "sha256Hash": sha256("{ a }"), "document": "{ b }" },
        { "sha256Hash": sha256("{ a"), "document": "{ a" },
        { "sha256Hash": sha256(&deep), "document": deep },
        { "sha256Hash": sha256(&long), "document": long },
    ]);
    let refused = app.gql(&admin, SET_TRUSTED, json!({ "d": bad, "e": true })).await;
    assert_eq!(
        crate::helpers::violations(&refused),
        vec![
            ("documents.0.sha256Hash".into(), "HASH_MISMATCH".into()),
            ("documents.1.document".into(), "INVALID_DOCUMENT".into()),
            ("documents.2.document".into(), "INVALID_DOCUMENT".into()),
            ("documents.3.document".into(), "TOO_LONG".into())
        ],
        "every problem at once: {refused}"
    );
    // Nothing was enforced by the refused call.
    assert!(app.gql(&agent, "{ viewer { role } }", json!({})).await.get("errors").is_none());
    // A subscription the agent started before the rule is ended by it at its next event.
    let mut early = subscriptions::connect(&app, &agent).await;
    let untrusted = "subscription { customerChanged { kind customer { name } } }";
    subscriptions::send(&mut early, json!({ "type": "subscribe", "id": "early", "payload": { "query": untrusted } }))
        .await;
    subscriptions::send(&mut early, json!({ "type": "ping" })).await;
    assert_eq!(subscriptions::next(&mut early, Duration::from_secs(5)).await["type"], "pong");

    let set = app.gql(&admin, SET_TRUSTED, json!({ "d": documents, "e": true })).await;
    assert_eq!(set["data"]["setTrustedDocuments"], 2, "{set}");
    app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "规则之后" })).await;
    let ended = subscriptions::next(&mut early, Duration::from_secs(5)).await;
    assert_eq!(ended["type"], "error", "told, not sent the change: {ended}");
    assert_eq!(ended["payload"][0]["extensions"]["reason"], "UNTRUSTED_DOCUMENT", "{ended}");
    let settings = app.gql(&admin, "{ tenantSettings { enforceTrustedDocuments } }", json!({})).await;
    assert_eq!(settings["data"]["tenantSettings"]["enforceTrustedDocuments"], true, "{settings}");

    // A trusted document runs by hash alone (no client registered it) and in full.
    let by_hash_only = post(&app, &agent, &by_hash(&sha256(CUSTOMERS))).await;
    assert_eq!(by_hash_only["data"]["customers"]["nodes"][0]["name"], "张三", "{by_hash_only}");
    assert!(app.gql(&agent, CUSTOMERS, json!({})).await.get("errors").is_none());
    // Any other is refused, however it comes.
    let other = app.gql(&agent, "{ viewer { role } }", json!({})).await;
    assert_eq!(code(&other), "FORBIDDEN", "{other}");
    assert_eq!(other["errors"][0]["extensions"]["reason"], "UNTRUSTED_DOCUMENT", "{other}");
    assert!(other.get("data").is_none(), "nothing of it ran: {other}");
    let mut registering = by_hash(&sha256("{ viewer { role } }"));
    registering["query"] = json!("{ viewer { role } }");
    assert_eq!(post(&app, &agent, &registering).await["errors"][0]["extensions"]["reason"], "UNTRUSTED_DOCUMENT");
    let get = app
        .client
        .get(format!("{}/graphql", app.base))
        .bearer_auth(&agent)
        .query(&[("query", "{ viewer { role } }")])
        .send()
        .await
        .expect("GET");
    let get: Value = get.json().await.expect("json");
    assert_eq!(get["errors"][0]["extensions"]["reason"], "UNTRUSTED_DOCUMENT", "{get}");
    let mut ws = subscriptions::connect(&app, &agent).await;
    let other_subscription = "subscription { interactionChanged { kind } }";
    subscriptions::send(&mut ws, json!({ "type": "subscribe", "id": "1", "payload": { "query": other_subscription } }))
        .await;
    let answer = subscriptions::next(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["payload"][0]["extensions"]["reason"], "UNTRUSTED_DOCUMENT", "{answer}");
    subscriptions::send(&mut ws, json!({ "type": "subscribe", "id": "2", "payload": { "query": subscription } })).await;
    subscriptions::send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(subscriptions::next(&mut ws, Duration::from_secs(5)).await["type"], "pong", "the trusted one started");

    // An ADMIN may send anything, so it can change the list; lifting the enforcement frees all.
    assert!(app.gql(&admin, "{ viewer { role } }", json!({})).await.get("errors").is_none());
    let lifted = app.gql(&admin, SET_TRUSTED, json!({ "d": [], "e": false })).await;
    assert_eq!(lifted["data"]["setTrustedDocuments"], 0, "{lifted}");
    assert!(app.gql(&agent, "{ viewer { role } }", json!({})).await.get("errors").is_none());
}

#[tokio::test]
async fn a_mutation_retried_by_hash_under_its_idempotency_key_is_replayed_not_run_again() {
    let app = TestApp::shared().await;
    let admin = app.token("apq-retry", "ADMIN", "admin");
    let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    let mut first = by_hash(&sha256(create));
    first["query"] = json!(create);
    first["variables"] = json!({ "i": { "kind": "ORGANIZATION", "name": "重试贸易" } });
    let send = |body: Value| {
        app.client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "apq-retry-1")
            .json(&body)
            .send()
    };
    let made: Value = send(first.clone()).await.expect("POST").json().await.expect("json");
    let id = made["data"]["createCustomer"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_owned();

    let mut retry = by_hash(&sha256(create));
    retry["variables"] = first["variables"].clone();
    let replayed = send(retry.clone()).await.expect("POST");
    assert_eq!(replayed.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let replayed: Value = replayed.json().await.expect("json");
    assert_eq!(replayed["data"]["createCustomer"]["id"], id.as_str(), "{replayed}");
    let named: Value =
        app.gql(&admin, "{ customers(filter: { name: { eq: \"重试贸易\" } }) { totalCount } }", json!({})).await;
    assert_eq!(named["data"]["customers"]["totalCount"], 1, "written once: {named}");

    // Other variables under the same key are another request.
    retry["variables"] = json!({ "i": { "kind": "ORGANIZATION", "name": "另一家" } });
    let reused: Value = send(retry).await.expect("POST").json().await.expect("json");
    assert_eq!(reused["errors"][0]["extensions"]["violations"][0]["code"], "IDEMPOTENCY_KEY_REUSED", "{reused}");
}
