//! Nothing crosses tenants: B can neither see nor touch A's customers.

use serde_json::json;

use crate::helpers::{TestApp, code};

#[tokio::test]
async fn tenants_are_isolated() {
    let app = TestApp::shared().await;
    let a = app.token("tenant-a", "ADMIN", "same-user");
    let b = app.token("tenant-b", "ADMIN", "same-user");
    let id = app.create_customer(&a, json!({ "kind": "INDIVIDUAL", "name": "A only", "email": "a@example.com" })).await;
    let before = app
        .gql(&a, "query($id: ID!) { customer(id: $id) { name email version updatedAt } }", json!({ "id": id }))
        .await;

    let list = app
        .gql(
            &b,
            "query($id: ID!) { customers { totalCount nodes { id } } auditLog(entityId: $id) { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(list["data"]["customers"], json!({ "totalCount": 0, "nodes": [] }));
    assert_eq!(list["data"]["auditLog"]["totalCount"], 0);
    let get =
        app.gql(&b, "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(get["data"], json!({ "customer": null, "node": null }));
    let filtered =
        app.gql(&b, "query($id: ID!) { customers(filter: {id: {eq: $id}}) { totalCount } }", json!({ "id": id })).await;
    assert_eq!(filtered["data"]["customers"]["totalCount"], 0);
    let upd = app
        .gql(
            &b,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"B was here\"}) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&upd), "NOT_FOUND");
    let del = app.gql(&b, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;
    assert_eq!(code(&del), "NOT_FOUND");

    let after = app
        .gql(&a, "query($id: ID!) { customer(id: $id) { name email version updatedAt } }", json!({ "id": id }))
        .await;
    assert_eq!(before, after, "A's data is unchanged");
    // The same subject in two tenants is two users.
    let ua = app.gql(&a, "{ viewer { user { id } tenant { slug } } }", json!({})).await;
    let ub = app.gql(&b, "{ viewer { user { id } tenant { slug } } }", json!({})).await;
    assert_ne!(ua["data"]["viewer"]["user"]["id"], ub["data"]["viewer"]["user"]["id"]);
    assert_eq!(ub["data"]["viewer"]["tenant"]["slug"], app.slug("tenant-b"));
    // B cannot make A's user the owner of its customer either.
    let a_user = ua["data"]["viewer"]["user"]["id"].clone();
    let res = app
        .gql(
            &b,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "x", "ownerId": a_user } }),
        )
        .await;
    assert_eq!(res["errors"][0]["extensions"]["violations"][0]["code"], "NOT_FOUND");
}
