//! What each role may and may not do.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

const CREATE: &str = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id owner { name } } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id name } }";
const DELETE: &str = "mutation($id: ID!) { deleteCustomer(id: $id) }";

async fn user_id(app: &TestApp, token: &str) -> String {
    let v = app.gql(token, "{ viewer { user { id } } }", json!({})).await;
    v["data"]["viewer"]["user"]["id"].as_str().unwrap().to_owned()
}

fn names(res: &Value) -> Vec<String> {
    let mut v: Vec<String> = res["data"]["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn roles_are_enforced() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "admin");
    let manager = app.token("acme", "MANAGER", "manager");
    let agent_a = app.token("acme", "AGENT", "agent-a");
    let agent_b = app.token("acme", "AGENT", "agent-b");
    let viewer = app.token("acme", "VIEWER", "viewer");
    let a_id = user_id(&app, &agent_a).await;
    let b_id = user_id(&app, &agent_b).await;

    // AGENTs own what they create; they cannot give it to someone else.
    let created = app.gql(&agent_a, CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": "A's customer" } })).await;
    assert_eq!(created["data"]["createCustomer"]["owner"]["name"], "agent-a", "{created}");
    let a_cust = created["data"]["createCustomer"]["id"].as_str().unwrap().to_owned();
    let refused =
        app.gql(&agent_a, CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": "gift", "ownerId": b_id } })).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let refused = app.gql(&agent_a, UPDATE, json!({ "id": a_cust, "i": { "ownerId": b_id } })).await;
    assert_eq!(code(&refused), "FORBIDDEN");

    // MANAGERs and ADMINs create for anyone and see everything.
    let b_cust =
        app.create_customer(&manager, json!({ "kind": "INDIVIDUAL", "name": "B's customer", "ownerId": b_id })).await;
    let unowned = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Unowned" })).await;
    let all = app.gql(&manager, "{ customers { totalCount nodes { name } } }", json!({})).await;
    assert_eq!(names(&all), ["A's customer", "B's customer", "Unowned"]);

    // AGENTs read only their own, in lists, by id and through node.
    let mine = app.gql(&agent_a, "{ customers { totalCount nodes { name } } }", json!({})).await;
    assert_eq!(names(&mine), ["A's customer"]);
    assert_eq!(mine["data"]["customers"]["totalCount"], 1);
    let other = app
        .gql(&agent_a, "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }", json!({ "id": b_cust }))
        .await;
    assert_eq!(other["data"], json!({ "customer": null, "node": null }));
    // ... and write only their own: someone else's customer reads exactly like one that does
    // not exist, so a write cannot tell an AGENT what others own.
    let missing = guanxi_api::domain::ids::encode("Customer", uuid::Uuid::now_v7());
    for (query, vars) in [
        (UPDATE, json!({ "id": b_cust, "i": { "name": "hijack" } })),
        (DELETE, json!({ "id": unowned })),
        (UPDATE, json!({ "id": missing, "i": { "name": "hijack" } })),
        (DELETE, json!({ "id": missing })),
    ] {
        let res = app.gql(&agent_a, query, vars).await;
        assert_eq!(code(&res), "NOT_FOUND", "{res}");
        assert!(res["errors"][0]["message"].as_str().unwrap().starts_with("no customer "), "{res}");
    }
    let ok = app.gql(&agent_a, UPDATE, json!({ "id": a_cust, "i": { "name": "A's best customer" } })).await;
    assert_eq!(ok["data"]["updateCustomer"]["name"], "A's best customer");

    // A MANAGER reassigns; the new owner then sees it.
    let moved = app.gql(&manager, UPDATE, json!({ "id": a_cust, "i": { "ownerId": b_id } })).await;
    assert!(moved.get("errors").is_none(), "{moved}");
    let b_sees = app.gql(&agent_b, "{ customers { nodes { name } } }", json!({})).await;
    assert_eq!(names(&b_sees), ["A's best customer", "B's customer"]);
    let _ = a_id;

    // VIEWERs read everything and write nothing.
    let seen = app.gql(&viewer, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(seen["data"]["customers"]["totalCount"], 3);
    for (query, vars) in [
        (CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": "v" } })),
        (UPDATE, json!({ "id": unowned, "i": { "name": "v" } })),
        (DELETE, json!({ "id": unowned })),
    ] {
        let res = app.gql(&viewer, query, vars).await;
        assert_eq!(code(&res), "FORBIDDEN", "{res}");
    }

    // The audit log is for ADMIN and MANAGER.
    for t in [&agent_a, &viewer] {
        assert_eq!(code(&app.gql(t, "{ auditLog { totalCount } }", json!({})).await), "FORBIDDEN");
    }
    for t in [&admin, &manager] {
        let log = app.gql(t, "{ auditLog { totalCount } }", json!({})).await;
        assert_eq!(log["data"]["auditLog"]["totalCount"], 5, "3 creates, 2 updates: {log}");
    }
    // Nothing the refused calls tried was written.
    let names_now = app.gql(&admin, "{ customers { nodes { name } } }", json!({})).await;
    assert_eq!(names(&names_now), ["A's best customer", "B's customer", "Unowned"]);
}
