//! GraphQL over HTTP (spec's MUST rules) and the operational routes.

use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn graphql_over_http() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let url = format!("{}/graphql", app.base);

    // GET runs queries...
    let res = app.client.get(&url).bearer_auth(&t).query(&[("query", "{ viewer { role } }")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(res.json::<Value>().await.unwrap()["data"]["viewer"]["role"], "ADMIN");
    // ... with variables and operationName ...
    let res = app
        .client
        .get(&url)
        .bearer_auth(&t)
        .query(&[
            ("query", "query A { viewer { role } } query B($n: Int) { customers(first: $n) { totalCount } }"),
            ("operationName", "B"),
            ("variables", "{\"n\": 1}"),
        ])
        .send()
        .await
        .unwrap();
    let body = res.json::<Value>().await.unwrap();
    assert_eq!(body["data"]["customers"]["totalCount"], 0, "{body}");
    // ... but never mutations.
    let res = app
        .client
        .get(&url)
        .bearer_auth(&t)
        .query(&[("query", "mutation { createCustomer(input: {kind: INDIVIDUAL, name: \"x\"}) { id } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 0);

    // POST needs a JSON body.
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body("{ viewer { role } }")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // application/graphql-response+json: 400 for a request that cannot run, 200 when it ran.
    let gr = "application/graphql-response+json";
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("accept", gr)
        .json(&json!({ "query": "{ viewer { role" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], gr);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("data").is_none());
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("accept", gr)
        .json(&json!({ "query": "{ nope }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("accept", gr)
        .json(&json!({ "query": "{ customer(id: \"bad\") { id } viewer { role } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a request that ran is 200 even with field errors");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["role"], "ADMIN");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // The same parse error in application/json is 200.
    let res = app.client.post(&url).bearer_auth(&t).json(&json!({ "query": "{ viewer { role" })).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Nothing acceptable: 406.
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("accept", "text/html")
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 406);
    let res = app.client.put(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn operational_routes() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "VIEWER", "v");
    let get = |path: &str| app.client.get(format!("{}{path}", app.base));
    assert_eq!(get("/healthz").send().await.unwrap().status(), 200);
    let ready = get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let sdl = get("/schema.graphql").bearer_auth(&t).send().await.unwrap().text().await.unwrap();
    for needle in [
        "type Customer implements Node",
        "input CustomerFilter",
        "enum CustomerOrderField",
        "scalar DateTime",
        "customers(",
    ] {
        assert!(sdl.contains(needle), "{needle} in SDL");
    }
    let page = get("/graphiql").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    app.gql(&t, "{ nope }", json!({})).await;
    let metrics = get("/metrics").send().await.unwrap().text().await.unwrap();
    for needle in
        ["http_requests_total", "http_request_duration_seconds_bucket", "graphql_errors_total", "db_pool_connections"]
    {
        assert!(metrics.contains(needle), "{needle} in /metrics:\n{metrics}");
    }
}

/// A field that fails answers `null` (when nullable) with an error naming its `path`; the rest
/// of the answer stands, and a request that ran is 200 under `application/graphql-response+json`.
#[tokio::test]
async fn a_failed_field_is_null_and_its_error_names_its_path() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "manager");
    let url = format!("{}/graphql", app.base);
    let res = app.gql(&t, "{ a: customer(id: \"bad\") { id } viewer { role } }", json!({})).await;
    assert_eq!(res["data"]["a"], Value::Null, "{res}");
    assert_eq!(res["data"]["viewer"]["role"], "MANAGER", "the rest of the answer stands: {res}");
    assert_eq!(res["errors"][0]["path"], json!(["a"]), "{res}");
    assert_eq!(res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{res}");

    // Below a list: the path goes through the index.
    let agent = app.token("acme", "AGENT", "agent");
    let agent_id =
        app.gql(&agent, "{ viewer { user { id } } }", json!({})).await["data"]["viewer"]["user"]["id"].clone();
    let customer = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let filed = app
        .gql(&t, "mutation($c: ID!, $a: ID!) { fileComplaint(input: {customerId: $c, title: \"t\", category: DELIVERY, severity: LOW, assigneeId: $a}) { id } }", json!({ "c": customer, "a": agent_id }))
        .await;
    assert!(filed["errors"].is_null(), "{filed}");
    let res = app
        .gql(&agent, "{ complaints { nodes { title customer { name stats { purchaseTotal } } } } }", json!({}))
        .await;
    assert_eq!(res["data"]["complaints"]["nodes"][0]["customer"]["name"], "王芳", "{res}");
    assert_eq!(res["data"]["complaints"]["nodes"][0]["customer"]["stats"], Value::Null, "{res}");
    assert_eq!(res["errors"][0]["path"], json!(["complaints", "nodes", 0, "customer", "stats"]), "{res}");
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");

    // A mutation that ran and failed is an answer (200, with `data`), not a refused request.
    let res = app
        .client
        .post(&url)
        .bearer_auth(&t)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "mutation { deleteCustomer(id: \"Q3VzdG9tZXI6MDE5MDAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw\") }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("data").is_some(), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["deleteCustomer"]), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
}

/// `docs/schema.graphql` is the schema a new tenant gets (the default scorers' fields included),
/// so the reference in the repository cannot drift from the code. After a deliberate change to
/// the schema, `GUANXI_UPDATE_SCHEMA=1 cargo test --test api docs_schema` writes it again.
#[tokio::test]
async fn docs_schema_graphql_is_the_schema_of_a_new_tenant() {
    let app = TestApp::shared().await;
    let t = app.token("fresh", "ADMIN", "admin");
    let sdl = crate::custom_fields::sdl(&app, &t).await;
    assert!(sdl.contains("type Query"), "{sdl}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.graphql");
    if std::env::var("GUANXI_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &sdl).expect("write docs/schema.graphql");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != sdl {
        let first = checked_in.lines().zip(sdl.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "docs/schema.graphql differs from a new tenant's schema from line {}: {:?} in the file, {:?} served. \
             If the change is deliberate: GUANXI_UPDATE_SCHEMA=1 cargo test --test api docs_schema",
            first + 1,
            checked_in.lines().nth(first),
            sdl.lines().nth(first)
        );
    }
}
