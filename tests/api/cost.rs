//! The cost walk and the rate limits: hostile documents are refused before anything runs, nested
//! pages multiply, every response says what it cost, and buckets refuse what they cannot pay.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

fn cost(res: &Value) -> &Value {
    &res["extensions"]["cost"]
}

/// `levels` fragments, each spreading the next four times, the last selecting `__typename`.
fn fragment_bomb(levels: usize) -> String {
    let mut doc = String::from("query { ...F0 }");
    for i in 0..levels {
        let next = i + 1;
        doc.push_str(&format!(" fragment F{i} on Query {{ ...F{next} ...F{next} ...F{next} ...F{next} }}"));
    }
    doc.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    doc
}

/// A server without default plugins whose rate limits are on, with these buckets
/// (CAPACITY/RESTORE-PER-SECOND).
async fn rate_limited_app(user: &str, tenant: &str) -> TestApp {
    let (user, tenant) = (user.to_owned(), tenant.to_owned());
    TestApp::spawn_with(move |c| {
        c.default_plugins = false;
        c.rate_limits = "on".into();
        c.rate_user = guanxi_api::rate::BucketSpec::parse(&user).unwrap();
        c.rate_tenant = guanxi_api::rate::BucketSpec::parse(&tenant).unwrap();
    })
    .await
}

async fn healthy(app: &TestApp, token: &str) {
    let res = app.gql(token, "{ viewer { role } }", json!({})).await;
    assert_eq!(res["data"]["viewer"]["role"], "ADMIN", "{res}");
}

#[tokio::test]
async fn hostile_documents_are_refused_before_anything_runs() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "ADMIN", "admin");

    // Fragments spreading fragments: measured once each, refused for what they expand to.
    for levels in [12, 14, 40] {
        let res = app.gql(&t, &fragment_bomb(levels), json!({})).await;
        assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{levels} levels: {res}");
        assert!(res.get("data").is_none(), "nothing ran: {res}");
        assert!(res["errors"][0]["message"].as_str().unwrap().contains("fragments expanded"), "{res}");
    }
    // A fragment that spreads itself (directly or through another) is refused, not followed.
    let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { viewer { role } ...A }";
    assert_eq!(code(&app.gql(&t, cycle, json!({})).await), "QUERY_TOO_COMPLEX");

    // 500 KB of nested brackets never reach the parser.
    for open in ["{", "[", "("] {
        let body = format!("{{ customers(filter: {}) {{ totalCount }} }}", open.repeat(500_000));
        let res = app.gql(&t, &body, json!({})).await;
        assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{open}: {res}");
    }
    // A selection deeper than the parser's own recursion limit is a limit too, not bad input.
    let deep = format!("{{ {} __typename {} }}", "viewer { user { ".repeat(20), "} } ".repeat(20));
    assert_eq!(code(&app.gql(&t, &deep, json!({})).await), "QUERY_TOO_COMPLEX");

    // Aliases inside fragments count once per use.
    let aliases: String = (0..10).map(|i| format!("a{i}: viewer {{ role }} ")).collect();
    let spread = format!(
        "query {{ ...A ...B ...C ...D }} fragment A on Query {{ {aliases} }} fragment B on Query {{ ...A }} fragment C on Query {{ ...A }} fragment D on Query {{ ...A }}"
    );
    let res = app.gql(&t, &spread, json!({})).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("aliases 40"), "{res}");

    healthy(&app, &t).await;
}

#[tokio::test]
async fn nested_pages_multiply_and_every_answer_says_what_it_cost() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "ADMIN", "admin");
    let owner = app.gql(&t, "{ viewer { user { id } } }", json!({})).await["data"]["viewer"]["user"]["id"].clone();
    for name in ["a", "b", "c"] {
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": name, "ownerId": owner })).await;
    }

    // 100 customers × 100 interactions × their customer × 100 interactions.
    let bomb = "{ customers(first: 100) { nodes { interactions(first: 100) { nodes { customer { interactions(first: 100) { nodes { id } } } } } } } }";
    let res = app.gql(&t, bomb, json!({})).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["cost"]["requested"], 1_030_201, "{res}");
    assert_eq!(cost(&res)["limit"], 50_000);

    // One point per object: the connection, then 10 × (customer + owner).
    let res = app.gql(&t, "{ customers(first: 10) { nodes { id owner { name } } } }", json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(cost(&res)["requested"], 21, "{res}");
    // What came back: the connection and three customers with their owner.
    assert_eq!(cost(&res)["actual"], 7, "{res}");
    assert_eq!(cost(&res)["limit"], 50_000);
    // Rate limits are off on this server: no bucket to report.
    assert!(cost(&res).get("bucket").is_none(), "{res}");

    // Page sizes come from variables too, and the default page (20) when absent; a fragment
    // costs what its selections would cost written in place.
    let res = app.gql(&t, "query($n: Int) { customers(first: $n) { nodes { id } } }", json!({ "n": 7 })).await;
    assert_eq!(cost(&res)["requested"], 8, "{res}");
    let res = app.gql(&t, "query($n: Int = 90) { customers(first: $n) { nodes { id } } }", json!({})).await;
    assert_eq!(cost(&res)["requested"], 91, "a variable's default counts: {res}");
    let res = app.gql(&t, "{ customers { edges { node { id } } } }", json!({})).await;
    assert_eq!(cost(&res)["requested"], 41, "{res}");
    let inline = app
        .gql(
            &t,
            "{ customers(first: 5) { nodes { owner { name } interactions(first: 3) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    let fragment = app.gql(&t, "{ customers(first: 5) { nodes { ...C } } } fragment C on Customer { owner { name } interactions(first: 3) { nodes { id } } }", json!({})).await;
    assert_eq!(cost(&inline)["requested"], 1 + 5 * (1 + 1 + 4), "{inline}");
    assert_eq!(cost(&inline)["requested"], cost(&fragment)["requested"]);

    // Errors carry it too, and a cheap query stays cheap.
    let res = app.gql(&t, "{ customer(id: \"nope\") { id } }", json!({})).await;
    assert_eq!(code(&res), "BAD_USER_INPUT");
    assert_eq!(cost(&res)["requested"], 1, "{res}");
    let res = app.gql(&t, "{ __typename }", json!({})).await;
    assert_eq!(cost(&res)["requested"], 0, "{res}");
}

#[tokio::test]
async fn buckets_refuse_what_they_cannot_pay_and_other_callers_go_on() {
    let app = rate_limited_app("50/0.5", "100000/1000").await;
    let a = app.token("acme", "MANAGER", "a");
    let create = "mutation($n: String!) { createCustomer(input: {kind: INDIVIDUAL, name: $n}) { id } }";

    // A write costs 10 points of work and 1 for the customer it returns.
    let mut remaining = Vec::new();
    for n in 0..4 {
        let res = app.gql(&a, create, json!({ "n": format!("c{n}") })).await;
        assert!(res.get("errors").is_none(), "{res}");
        assert_eq!(cost(&res)["requested"], 11);
        assert_eq!(cost(&res)["actual"], 11);
        assert_eq!(cost(&res)["bucket"]["capacity"], 50);
        assert_eq!(cost(&res)["bucket"]["restorePerSecond"], 0.5);
        assert!(cost(&res)["bucket"]["resetAt"].as_str().unwrap().ends_with('Z'), "{res}");
        remaining.push(cost(&res)["bucket"]["remaining"].as_u64().unwrap());
    }
    assert!(remaining.windows(2).all(|w| w[1] < w[0]), "{remaining:?}");

    // The fifth cannot be paid: 429, Retry-After, RATE_LIMITED, and nothing written.
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&a)
        .json(&json!({ "query": create, "variables": { "n": "refused" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["bucket"], "user");
    assert!(cost(&body)["bucket"]["remaining"].as_u64().unwrap() < 11, "{body}");

    // Another user of the tenant, and another tenant, are not held back.
    let b = app.token("acme", "MANAGER", "b");
    let listed = app.gql(&b, "{ customers { totalCount nodes { name } } }", json!({})).await;
    assert_eq!(listed["data"]["customers"]["totalCount"], 4, "{listed}");
    let other = app.token("other", "ADMIN", "x");
    assert!(app.gql(&other, create, json!({ "n": "elsewhere" })).await.get("errors").is_none());

    // A re-score of the whole tenant is charged like a large read.
    let admin = app.token("acme", "ADMIN", "admin");
    let res = app.gql(&admin, "mutation { recomputeScores { id } }", json!({})).await;
    assert_eq!(code(&res), "RATE_LIMITED", "{res}");
}

#[tokio::test]
async fn a_tenant_bucket_is_shared_by_its_users() {
    let app = rate_limited_app("1000/10", "30/0.1").await;
    let create = "mutation($n: String!) { createCustomer(input: {kind: INDIVIDUAL, name: $n}) { id } }";
    let a = app.token("acme", "MANAGER", "a");
    for n in 0..2 {
        assert!(app.gql(&a, create, json!({ "n": format!("a{n}") })).await.get("errors").is_none());
    }
    let b = app.token("acme", "AGENT", "b");
    let res = app.gql(&b, create, json!({ "n": "b" })).await;
    assert_eq!(code(&res), "RATE_LIMITED", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["bucket"], "tenant");
    let other = app.token("other", "AGENT", "b");
    assert!(app.gql(&other, create, json!({ "n": "b" })).await.get("errors").is_none());
}

#[tokio::test]
async fn filters_lists_and_whole_tenant_writes_are_charged_for_their_work() {
    let app = rate_limited_app("100000/0.001", "200000/5000").await;
    let t = app.token("acme", "ADMIN", "admin");
    let remaining = |res: &Value| cost(res)["bucket"]["remaining"].as_u64().unwrap();

    // Each filter term is work the database does whatever the page returns: charged, not refunded.
    let terms: Vec<Value> = (0..10).map(|i| json!({ "summary": { "contains": format!("t{i}") } })).collect();
    let q = "query($f: InteractionFilter) { interactions(first: 1, filter: $f) { totalCount } }";
    let res = app.gql(&t, q, json!({ "f": { "or": terms } })).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(cost(&res)["requested"], 22, "the connection and 21 terms: {res}");
    assert_eq!(cost(&res)["actual"], 22, "{res}");
    // A filter of thousands of terms is refused before it reaches the database.
    let terms: Vec<Value> = (0..150).map(|i| json!({ "summary": { "contains": format!("t{i}") } })).collect();
    let res = app.gql(&t, q, json!({ "f": { "or": terms } })).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("301 terms"), "{res}");

    // A list read whole is costed at its bound (a plan's 100 actions); holding 30, it is charged
    // 30 after it ran.
    let customer = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "大客户" })).await;
    let plan = app.gql(&t, "mutation($c: ID!) { createKeyAccountPlan(input: {customerId: $c, title: \"p\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\"}) { id } }", json!({ "c": customer })).await;
    let plan = plan["data"]["createKeyAccountPlan"]["id"].as_str().unwrap().to_owned();
    for i in 0..30 {
        let res = app
            .gql(
                &t,
                "mutation($p: ID!, $t: String!) { addPlanAction(planId: $p, input: {title: $t}) { id } }",
                json!({ "p": plan, "t": format!("a{i}") }),
            )
            .await;
        assert!(res.get("errors").is_none(), "{res}");
    }
    let before = remaining(&app.gql(&t, "{ __typename }", json!({})).await);
    let res = app
        .gql(&t, "query($p: ID!) { node(id: $p) { ... on KeyAccountPlan { actions { id } } } }", json!({ "p": plan }))
        .await;
    assert_eq!(cost(&res)["requested"], 101, "{res}");
    assert_eq!(cost(&res)["actual"], 31, "{res}");
    let spent = before - remaining(&res);
    assert!((31..=32).contains(&spent), "charged {spent}");

    // Writes that redo work over the whole tenant cost like a large read.
    let res = app.gql(&t, "mutation { defineCustomField(input: {entity: CUSTOMER, key: \"vip\", label: \"VIP\", type: STRING}) { id } }", json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(cost(&res)["requested"], 1_001, "{res}");

    // A query sent with an Idempotency-Key runs and is charged every time; nothing is replayed.
    for _ in 0..2 {
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&t)
            .header("Idempotency-Key", "same-key")
            .json(&json!({ "query": "{ customers { totalCount } }" }))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("idempotent-replayed").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(cost(&body)["requested"], 1, "{body}");
    }

    // A mutation cannot hide in a named operation sent with GET.
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .bearer_auth(&t)
        .query(&[("query", "mutation M { createCustomer(input: {kind: INDIVIDUAL, name: \"via GET\"}) { id } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let names = app.gql(&t, "{ customers { nodes { name } } }", json!({})).await;
    assert!(!names.to_string().contains("via GET"), "{names}");
}

#[tokio::test]
async fn refused_documents_are_charged_too() {
    let app = rate_limited_app("150/0.001", "200000/5000").await;
    let t = app.token("acme", "ADMIN", "admin");
    let bomb = fragment_bomb(12);
    assert_eq!(code(&app.gql(&t, &bomb, json!({})).await), "QUERY_TOO_COMPLEX");
    assert_eq!(code(&app.gql(&t, &bomb, json!({})).await), "RATE_LIMITED");
}

/// A tenant runs a bounded number of operations at once; more wait their turn or are refused,
/// and another tenant's turns are its own.
#[tokio::test]
async fn a_tenant_with_every_turn_taken_waits_or_is_refused_and_another_tenant_goes_on() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::time::{Duration, Instant};

    let app = TestApp::spawn_with(|c| {
        c.default_plugins = false;
        c.rate_limits = "on".into();
        c.rate_tenant_in_flight = 1;
        c.rate_queue_wait_ms = 1_000;
    })
    .await;
    let a = app.token("a", "ADMIN", "admin");
    let b = app.token("b", "ADMIN", "admin");
    let id = app.create_customer(&a, json!({ "kind": "INDIVIDUAL", "name": "Before" })).await;
    healthy(&app, &b).await;
    let read = json!({ "query": "{ customers(first: 1) { totalCount } }" });

    // Another connection holds the customers' rows (on SQLite, the database's write lock), so
    // A's update waits inside its turn until that connection lets go.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let held = db.begin().await.unwrap();
    held.execute_unprepared("UPDATE customers SET name = name").await.unwrap();
    let update = app.gql(
        &a,
        "mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"After\" }) { name } }",
        json!({ "id": id }),
    );
    let meanwhile = async {
        // A's reads wait for the one turn the update holds, then are refused.
        let started = Instant::now();
        let refused = loop {
            let res = app.post(&a, &read).await;
            if res.status() == 429 {
                break res;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "A's read never waited for A's update");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(refused.headers()["retry-after"], "1");
        let refused: Value = refused.json().await.unwrap();
        assert_eq!(code(&refused), "RATE_LIMITED", "{refused}");
        assert_eq!(refused["errors"][0]["extensions"]["bucket"], "inFlight", "{refused}");
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("already runs as many operations at once"), "{refused}");
        assert!(refused.get("data").is_none(), "nothing ran: {refused}");
        // It was charged one point, not its cost.
        let bucket = &cost(&refused)["bucket"];
        assert!(bucket["capacity"].as_u64().unwrap() - bucket["remaining"].as_u64().unwrap() < 50, "{refused}");

        // B's turns are B's: it reads at once.
        let res = app.gql(&b, "{ customers(first: 1) { totalCount } }", json!({})).await;
        assert!(res["errors"].is_null(), "{res}");

        // A read that waits gets its turn once the update is done.
        let queued = app.gql(&a, "query($id: ID!) { customer(id: $id) { name } }", json!({ "id": id }));
        let release = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            held.commit().await.unwrap();
        };
        let (queued, ()) = tokio::join!(queued, release);
        assert_eq!(queued["data"]["customer"]["name"], "After", "{queued}");
    };
    let (updated, ()) = tokio::join!(update, meanwhile);
    assert_eq!(updated["data"]["updateCustomer"]["name"], "After", "{updated}");
}
