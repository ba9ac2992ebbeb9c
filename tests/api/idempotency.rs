//! `Idempotency-Key`: retries return the first result and write once, even when concurrent.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn send(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn concurrent_retries_write_once() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let t = app.token("acme", "AGENT", "mobile-user");
    let body = json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id name version } }",
                       "variables": { "i": { "kind": "INDIVIDUAL", "name": "王芳", "phone": "13912345678" } } });
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, t, body) = (app.clone(), t.clone(), body.clone());
            tokio::spawn(async move { send(&app, &t, "retry-key-1", &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "every retry gets the first result: {answers:?}");
    assert_eq!(answers[0].0, 200);
    let id = answers[0].1["data"]["createCustomer"]["id"].as_str().unwrap().to_owned();
    // A later retry too.
    assert_eq!(send(&app, &t, "retry-key-1", &body).await, answers[0]);
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 1, "written once");
    let admin = app.token("acme", "ADMIN", "admin");
    let log = app.gql(&admin, "query($id: ID) { auditLog(entityId: $id) { totalCount } }", json!({ "id": id })).await;
    assert_eq!(log["data"]["auditLog"]["totalCount"], 1);

    // The same key with another body is refused and writes nothing.
    let other =
        json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"someone else\"}) { id } }" });
    let (_, refused) = send(&app, &t, "retry-key-1", &other).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
    // Keys are per user: another user's same key is a new request.
    let t2 = app.token("acme", "AGENT", "another-user");
    let (_, fresh) = send(&app, &t2, "retry-key-1", &other).await;
    assert!(fresh["data"]["createCustomer"]["id"].is_string(), "{fresh}");
    let count = app.gql(&admin, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 2);
}

#[tokio::test]
async fn a_refused_request_is_remembered_too() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let bad = json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"\"}) { id } }" });
    let first = send(&app, &t, "k2", &bad).await;
    assert_eq!(first.1["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(send(&app, &t, "k2", &bad).await, first);
}

/// A key of 256 characters is refused before anything runs, whatever the body; 255 is the most
/// a key may have, and works as any key.
#[tokio::test]
async fn a_key_longer_than_255_characters_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let create = |name: &str| {
        json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                "variables": { "i": { "kind": "INDIVIDUAL", "name": name } } })
    };
    let count = |name: &'static str| {
        let (app, t) = (&app, &t);
        async move {
            let res = app
                .gql(t, "query($n: String!) { customers(filter: {name: {eq: $n}}) { totalCount } }", json!({ "n": name }))
                .await;
            res["data"]["customers"]["totalCount"].as_i64().unwrap_or_else(|| panic!("{res}"))
        }
    };

    let (_, refused) = send(&app, &t, &"k".repeat(256), &create("too long")).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("Idempotency-Key"), "{refused}");
    assert!(refused.get("data").is_none(), "nothing ran: {refused}");
    assert_eq!(count("too long").await, 0, "nothing was written");

    let longest = "k".repeat(255);
    let (status, first) = send(&app, &t, &longest, &create("just right")).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["data"]["createCustomer"]["id"].is_string(), "{first}");
    assert_eq!(send(&app, &t, &longest, &create("just right")).await, (status, first), "the retry replays it");
    assert_eq!(count("just right").await, 1, "written once");
}

/// A document of two mutations whose first commits and whose second fails inside the server:
/// the answer is kept, so a retry replays it instead of writing the first again.
#[tokio::test]
async fn a_retry_after_an_internal_failure_does_not_repeat_what_committed() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn_bare().await;
    let t = app.token("acme", "MANAGER", "manager");
    let customer = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "老客户" })).await;
    // The second mutation's table is gone: it fails with INTERNAL after the first committed.
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    db.execute_unprepared("ALTER TABLE key_account_plans RENAME TO key_account_plans_away").await.expect("rename");
    let body = json!({ "query": "mutation($c: ID!) { a: createCustomer(input: {kind: INDIVIDUAL, name: \"新客户\"}) { id }
        b: createKeyAccountPlan(input: {customerId: $c, title: \"计划\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\"}) { id } }",
        "variables": { "c": customer } });
    let (status, first) = send(&app, &t, "half-committed", &body).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["data"]["a"]["id"].is_string(), "the first mutation committed: {first}");
    assert_eq!(first["errors"][0]["extensions"]["code"], "INTERNAL", "{first}");
    let count = "{ customers(filter: {name: {eq: \"新客户\"}}) { totalCount } }";
    assert_eq!(app.gql(&t, count, json!({})).await["data"]["customers"]["totalCount"], 1);

    let retry = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&t)
        .header("Idempotency-Key", "half-committed")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.headers().get("Idempotent-Replayed").map(|v| v.to_str().unwrap().to_owned()), Some("true".into()));
    let replayed: Value = retry.json().await.unwrap();
    assert_eq!(replayed["data"]["a"], first["data"]["a"], "the first answer, replayed");
    assert_eq!(app.gql(&t, count, json!({})).await["data"]["customers"]["totalCount"], 1, "written once");

    // Once the table is back, a new key runs both for real.
    db.execute_unprepared("ALTER TABLE key_account_plans_away RENAME TO key_account_plans").await.expect("rename");
    let (_, fresh) = send(&app, &t, "another-key", &body).await;
    assert!(fresh["errors"].is_null(), "{fresh}");
}
