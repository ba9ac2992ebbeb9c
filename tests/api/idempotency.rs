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
    let app = std::sync::Arc::new(TestApp::shared().await);
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
    let app = TestApp::shared().await;
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
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let create = |name: &str| {
        json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                "variables": { "i": { "kind": "INDIVIDUAL", "name": name } } })
    };
    let count = |name: &'static str| {
        let (app, t) = (&app, &t);
        async move {
            let res = app
                .gql(
                    t,
                    "query($n: String!) { customers(filter: {name: {eq: $n}}) { totalCount } }",
                    json!({ "n": name }),
                )
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
    // A server of its own: the table it takes away is every tenant's.
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

/// The caller's tenant and user ids, and a connection to the server's database: what the
/// store's idempotency functions are keyed by.
async fn store_keys(app: &TestApp, token: &str) -> (sea_orm::DatabaseConnection, uuid::Uuid, uuid::Uuid) {
    let viewer = app.gql(token, "{ viewer { user { id } } }", json!({})).await;
    let user = viewer["data"]["viewer"]["user"]["id"].as_str().unwrap_or_else(|| panic!("{viewer}"));
    let (_, user) = guanxi_api::domain::ids::decode_any(user).expect("a user id");
    let db = guanxi_api::store::connect(&app.database_url, 2).await.expect("db");
    let tenant = app.tenant_id(&db, "acme").await;
    (db, tenant, user)
}

/// Sends `body` exactly as these bytes, so the server hashes what the test hashed.
async fn send_raw(app: &TestApp, token: &str, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// While the first request with a key runs (its claim is pending, as the server leaves it
/// between claiming the key and storing the answer), a request with another body is refused at
/// once, and a retry with the same body waits for the first answer and replays it.
#[tokio::test]
async fn while_the_first_runs_another_body_is_refused_and_the_same_body_waits_for_its_answer() {
    use guanxi_api::store::idempotency;
    let app = std::sync::Arc::new(TestApp::shared().await);
    let t = app.token("acme", "MANAGER", "mgr");
    let (db, tenant, user) = store_keys(&app, &t).await;
    let first = json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"第一个\"}) { id } }" })
        .to_string();
    let hash = hash_of(&first);
    assert_eq!(idempotency::begin(&db, tenant, user, "running", &hash).await.unwrap(), idempotency::Begin::Proceed);

    let other = json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"第二个\"}) { id } }" })
        .to_string();
    let refused: Value = send_raw(&app, &t, "running", &other).await.json().await.unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "IDEMPOTENCY_KEY_REUSED", "{refused}");

    let retry = {
        let (app, t, first) = (app.clone(), t.clone(), first.clone());
        tokio::spawn(async move { send_raw(&app, &t, "running", &first).await })
    };
    // However slow the machine, a retry cannot have an answer before the first has one.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!retry.is_finished(), "the retry waits for the first answer");
    let answer = r#"{"data":{"createCustomer":{"id":"the first answer"}}}"#;
    idempotency::complete(&db, tenant, user, "running", 200, answer).await.unwrap();
    let replayed = retry.await.unwrap();
    assert_eq!(replayed.headers().get("Idempotent-Replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replayed.text().await.unwrap(), answer);
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 0, "neither body ran: {count}");
}

/// A key is remembered for 24 hours: a record older than that no longer answers (the key runs
/// again, even with another body), and the periodic purge deletes it.
#[tokio::test]
async fn a_key_is_forgotten_after_24_hours() {
    use guanxi_api::store::idempotency;
    use guanxi_entity::idempotency_record::{Column, Entity};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    // A server of its own: the purge's count is of every tenant's records.
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let (db, _, _) = store_keys(&app, &t).await;
    let create = |name: &str| {
        json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                "variables": { "i": { "kind": "INDIVIDUAL", "name": name } } })
    };
    let age = |key: &'static str, by: chrono::Duration| {
        let db = &db;
        async move {
            let now = chrono::Utc::now();
            let aged = Entity::update_many()
                .col_expr(Column::CreatedAt, Expr::value(now - by))
                .filter(Column::Key.eq(key))
                .exec(db)
                .await
                .unwrap();
            assert_eq!(aged.rows_affected, 1);
        }
    };

    let (_, first) = send(&app, &t, "daily", &create("昨天")).await;
    let first_id = first["data"]["createCustomer"]["id"].clone();
    assert!(first_id.is_string(), "{first}");
    // Just inside the retention: still the first answer, and another body is still refused.
    age("daily", chrono::Duration::hours(24) - chrono::Duration::minutes(5)).await;
    assert_eq!(send(&app, &t, "daily", &create("昨天")).await.1, first);
    let (_, refused) = send(&app, &t, "daily", &create("今天")).await;
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "IDEMPOTENCY_KEY_REUSED", "{refused}");
    // Past it: the key is new again, whatever the body.
    age("daily", chrono::Duration::hours(24) + chrono::Duration::minutes(5)).await;
    let (_, again) = send(&app, &t, "daily", &create("今天")).await;
    let again_id = again["data"]["createCustomer"]["id"].clone();
    assert!(again_id.is_string() && again_id != first_id, "{again}");
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 2);

    // The purge deletes what is past retention, and only that.
    let (_, kept) = send(&app, &t, "fresh", &create("新的")).await;
    age("daily", chrono::Duration::hours(24) + chrono::Duration::minutes(5)).await;
    assert_eq!(idempotency::purge_expired(&db).await.unwrap(), 1);
    assert_eq!(Entity::find().filter(Column::Key.eq("daily")).count(&db).await.unwrap(), 0);
    assert_eq!(send(&app, &t, "fresh", &create("新的")).await.1, kept, "a fresh key still answers");
}

/// A server that died after a request's change committed and before its answer was stored
/// leaves a claim without an answer. Once that claim is old enough to be taken over, a retry is
/// told what happened (409, `ANSWER_LOST`) and does not make the change again; a claim whose
/// request committed nothing is still taken over and run.
#[tokio::test]
async fn a_retry_after_the_answer_was_lost_does_not_write_again() {
    use guanxi_api::store::idempotency;
    use guanxi_entity::idempotency_record::{Column, Entity};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let (db, tenant, user) = store_keys(&app, &t).await;
    let count = async || {
        let res = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
        res["data"]["customers"]["totalCount"].as_i64().unwrap()
    };
    let lose_answer = async |key: &str| {
        let three_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(3);
        let lost = Entity::update_many()
            .col_expr(Column::ResponseStatus, Expr::value(Option::<i32>::None))
            .col_expr(Column::ResponseBody, Expr::value(Option::<String>::None))
            .col_expr(Column::CreatedAt, Expr::value(three_minutes_ago))
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::UserId.eq(user))
            .filter(Column::Key.eq(key))
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(lost.rows_affected, 1);
    };

    let body = json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"只建一次\"}) { id } }" })
        .to_string();
    assert_eq!(send_raw(&app, &t, "lost", &body).await.status(), 200);
    lose_answer("lost").await;
    let retry = send_raw(&app, &t, "lost", &body).await;
    assert_eq!(retry.status(), 409);
    let res: Value = retry.json().await.unwrap();
    assert_eq!(res["errors"][0]["extensions"]["code"], "CONFLICT", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "ANSWER_LOST", "{res}");
    assert_eq!(count().await, 1, "the customer was created once");

    // Claimed, then the server died before anything committed: the retry runs.
    let other = json!({ "query": "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"第二个\"}) { id } }" })
        .to_string();
    let hash = hash_of(&other);
    assert_eq!(idempotency::begin(&db, tenant, user, "died", &hash).await.unwrap(), idempotency::Begin::Proceed);
    lose_answer("died").await;
    assert_eq!(send_raw(&app, &t, "died", &other).await.status(), 200);
    assert_eq!(count().await, 2);
}

/// The hash the server knows a raw request body by under its key.
fn hash_of(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap();
    let variables = body.get("variables").cloned().unwrap_or_else(|| json!({}));
    guanxi_api::store::idempotency::request_hash(body["query"].as_str().unwrap(), None, &variables)
}
