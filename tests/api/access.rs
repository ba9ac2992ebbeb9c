//! Access rules on every path to a customer: an AGENT handling a complaint on another agent's
//! customer sees the case view (who and how to reach them), never the timeline, figures, plans,
//! scores or custom values, however the query reaches the customer.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

async fn user_id(app: &TestApp, token: &str) -> String {
    let v = app.gql(token, "{ viewer { user { id } } }", json!({})).await;
    v["data"]["viewer"]["user"]["id"].as_str().unwrap().to_owned()
}

async fn ok(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let res = app.gql(token, query, vars).await;
    assert!(res.get("errors").is_none(), "{query}: {res}");
    res["data"].clone()
}

/// Everything that hangs below a customer, asked through a complaint.
const THROUGH_COMPLAINT: &str =
    "{ complaints { nodes { title customer { id name email phone region industry channel website tags
    status tier lifecycleStage relationshipType customFields custom { vip } scores { key }
    interactions { totalCount nodes { amount } } complaints { totalCount nodes { title } } openComplaints { title }
    keyAccountPlans { totalCount nodes { title } } activePlan { title } owner { name } } } } }";

#[tokio::test]
async fn an_agent_sees_only_the_case_view_of_a_customer_it_does_not_own() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "admin");
    let manager = app.token("acme", "MANAGER", "manager");
    let agent_a = app.token("acme", "AGENT", "agent-a");
    let agent_b = app.token("acme", "AGENT", "agent-b");
    let a_id = user_id(&app, &agent_a).await;
    let b_id = user_id(&app, &agent_b).await;
    ok(
        &app,
        &admin,
        "mutation { defineCustomField(input: {entity: CUSTOMER, key: \"vip\", label: \"VIP\", type: STRING}) { id } }",
        json!({}),
    )
    .await;

    // B's customer, with a purchase, a plan and a complaint assigned to A.
    let customer = app
        .create_customer(
            &manager,
            json!({ "kind": "INDIVIDUAL", "name": "王芳", "email": "wang@example.cn", "phone": "+8613812345678",
                    "region": "上海", "industry": "retail", "channel": "wechat", "website": "https://wang.example.cn",
                    "tags": ["private-note"],
                    "relationshipType": "LOYAL", "ownerId": b_id, "customFields": { "vip": "gold" } }),
        )
        .await;
    ok(&app, &manager, "mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: PURCHASE, occurredAt: \"2026-01-05T10:00:00Z\", amount: \"98765.43\", currency: \"CNY\"}) { id } }", json!({ "c": customer })).await;
    ok(&app, &manager, "mutation($c: ID!) { createKeyAccountPlan(input: {customerId: $c, title: \"secret plan\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\", status: ACTIVE}) { id } }", json!({ "c": customer })).await;
    ok(&app, &manager, "mutation($c: ID!, $a: ID!) { fileComplaint(input: {customerId: $c, title: \"assigned to A\", category: DELIVERY, severity: HIGH, assigneeId: $a}) { id } }", json!({ "c": customer, "a": a_id })).await;
    ok(&app, &manager, "mutation($c: ID!) { fileComplaint(input: {customerId: $c, title: \"not for A\", category: BILLING, severity: LOW}) { id } }", json!({ "c": customer })).await;

    // The owner and a MANAGER see the whole customer through the same query (so the
    // assertions below can fail).
    for t in [&manager, &agent_b] {
        let all = ok(&app, t, THROUGH_COMPLAINT, json!({})).await;
        let c = &all["complaints"]["nodes"][0]["customer"];
        assert_eq!(c["region"], "上海", "{all}");
        assert_eq!(c["website"], "https://wang.example.cn/", "{all}");
        assert_eq!(c["interactions"]["totalCount"], 1, "{all}");
        assert_eq!(c["keyAccountPlans"]["totalCount"], 1, "{all}");
        assert_eq!(c["custom"]["vip"], "gold", "{all}");
    }

    // A sees its complaint only, and of the customer who and how to reach them.
    let seen = ok(&app, &agent_a, THROUGH_COMPLAINT, json!({})).await;
    let nodes = seen["complaints"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{seen}");
    assert_eq!(nodes[0]["title"], "assigned to A");
    let c = &nodes[0]["customer"];
    assert_eq!(c["id"], customer.as_str());
    assert_eq!(
        (&c["name"], &c["email"], &c["phone"]),
        (&json!("王芳"), &json!("wang@example.cn"), &json!("+8613812345678"))
    );
    assert_eq!(c["owner"]["name"], "agent-b");
    for hidden in
        ["region", "industry", "channel", "website", "tier", "lifecycleStage", "relationshipType", "activePlan"]
    {
        assert_eq!(c[hidden], Value::Null, "{hidden}: {seen}");
    }
    assert_eq!(c["tags"], json!([]));
    assert_eq!(c["customFields"], json!({}));
    assert_eq!(c["custom"]["vip"], Value::Null);
    assert_eq!(c["scores"], json!([]));
    assert_eq!(c["interactions"], json!({ "totalCount": 0, "nodes": [] }));
    assert_eq!(c["complaints"], json!({ "totalCount": 0, "nodes": [] }));
    assert_eq!(c["openComplaints"], json!([]));
    assert_eq!(c["keyAccountPlans"], json!({ "totalCount": 0, "nodes": [] }));
    let body = seen.to_string();
    for secret in ["98765", "secret plan", "private-note", "gold", "not for A", "上海", "wang.example"] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
    }

    // Figures are refused outright on the case view, whichever edge reaches it.
    for field in ["stats { purchaseTotal purchaseCount }", "scoringSnapshot"] {
        let q = format!("{{ complaints {{ nodes {{ customer {{ name {field} }} }} }} }}");
        let res = app.gql(&agent_a, &q, json!({})).await;
        assert_eq!(code(&res), "FORBIDDEN", "{res}");
        assert!(!res.to_string().contains("98765"), "{res}");
    }

    // The customer itself stays out of reach by id, through node, and in lists.
    let direct = ok(
        &app,
        &agent_a,
        "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } customers { totalCount } }",
        json!({ "id": customer }),
    )
    .await;
    assert_eq!(direct, json!({ "customer": null, "node": null, "customers": { "totalCount": 0 } }));
    // ... and A may not write its timeline: it reads like a customer that does not exist.
    let refused = app.gql(&agent_a, "mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: CALL, occurredAt: \"2026-01-05T10:00:00Z\"}) { id } }", json!({ "c": customer })).await;
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "NOT_FOUND", "{refused}");
}

#[tokio::test]
async fn customers_behind_a_page_of_complaints_load_in_one_batch() {
    let app = TestApp::shared_bare().await;
    let manager = app.token("acme", "MANAGER", "manager");
    let mut statements = Vec::new();
    for n in [2, 8] {
        while {
            let have = ok(&app, &manager, "{ complaints { totalCount } }", json!({})).await;
            have["complaints"]["totalCount"].as_u64().unwrap() < n
        } {
            let c = app.create_customer(&manager, json!({ "kind": "INDIVIDUAL", "name": format!("c{n}") })).await;
            ok(&app, &manager, "mutation($c: ID!) { fileComplaint(input: {customerId: $c, title: \"t\", category: OTHER, severity: LOW}) { id } }", json!({ "c": c })).await;
        }
        let res =
            app.post(&manager, &json!({ "query": "{ complaints(first: 20) { nodes { customer { name } } } }" })).await;
        let count: u64 = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["data"]["complaints"]["nodes"].as_array().unwrap().len() as u64, n, "{body}");
        statements.push(count);
    }
    assert_eq!(statements[0], statements[1], "statements for 2 and 8 complaints: {statements:?}");
}
