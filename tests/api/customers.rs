//! Creating, reading, changing and deleting customers, with validation that lists every problem.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const FIELDS: &str = "id kind name email phone region industry creditCode channel tags status relationshipType owner { name } version createdAt updatedAt";

#[tokio::test]
async fn customer_round_trip() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let res = app
        .gql(
            &t,
            &format!("mutation($i: CreateCustomerInput!) {{ createCustomer(input: $i) {{ {FIELDS} }} }}"),
            json!({ "i": {
                "kind": "ORGANIZATION", "name": "  上海华信科技有限公司 ", "email": "Sales@HuaXin.CN", "phone": "+86 138-1234-5678",
                "region": "上海", "industry": "信息技术", "creditCode": "91350100m000100y43", "channel": "referral",
                "tags": ["vip", "B2B", "vip"], "status": "ACTIVE", "relationshipType": "COOPERATIVE"
            }}),
        )
        .await;
    let c = &res["data"]["createCustomer"];
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(c["name"], "上海华信科技有限公司");
    assert_eq!(c["email"], "Sales@huaxin.cn");
    assert_eq!(c["phone"], "+8613812345678");
    assert_eq!(c["creditCode"], "91350100M000100Y43");
    assert_eq!(c["tags"], json!(["vip", "B2B"]));
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["version"], 1);
    assert_eq!(c["owner"], json!(null));
    let id = c["id"].as_str().unwrap();

    let got =
        app.gql(&t, &format!("query($id: ID!) {{ customer(id: $id) {{ {FIELDS} }} }}"), json!({ "id": id })).await;
    assert_eq!(&got["data"]["customer"], c);
    let node =
        app.gql(&t, "query($id: ID!) { node(id: $id) { id ... on Customer { name } } }", json!({ "id": id })).await;
    assert_eq!(node["data"]["node"]["name"], "上海华信科技有限公司");

    // Update: absent fields stay, null clears, version increases.
    let upd = app
        .gql(
            &t,
            "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i, expectedVersion: 1) { name email channel status version updatedAt } }",
            json!({ "id": id, "i": { "channel": null, "status": "LOST" } }),
        )
        .await;
    let u = &upd["data"]["updateCustomer"];
    assert_eq!(u["name"], "上海华信科技有限公司");
    assert_eq!(u["email"], "Sales@huaxin.cn");
    assert_eq!(u["channel"], json!(null));
    assert_eq!(u["status"], "LOST");
    assert_eq!(u["version"], 2);
    assert!(u["updatedAt"].as_str() > c["updatedAt"].as_str());

    // A stale version is a conflict and changes nothing.
    let stale = app
        .gql(
            &t,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"X\"}, expectedVersion: 1) { name } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&stale), "CONFLICT");
    assert_eq!(stale["errors"][0]["extensions"]["reason"], "STALE_VERSION");

    // Delete: gone from queries.
    let del = app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;
    assert_eq!(del["data"]["deleteCustomer"], id);
    let gone = app
        .gql(
            &t,
            "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } customers { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["data"], json!({ "customer": null, "node": null, "customers": { "totalCount": 0 } }));
    let again = app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;
    assert_eq!(code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn validation_lists_every_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "ADMIN", "admin");
    let res = app
        .gql(
            &t,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": {
                "kind": "ORGANIZATION", "name": "x".repeat(201), "email": "not-an-email", "phone": "12345",
                "creditCode": "91350100M000100Y44", "tags": ["ok", "", "y".repeat(51)], "ownerId": "bogus"
            }}),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT");
    let mut got = violations(&res);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("creditCode", "INVALID_CREDIT_CODE"),
        ("email", "INVALID_EMAIL"),
        ("name", "TOO_LONG"),
        ("ownerId", "INVALID_ID"),
        ("phone", "INVALID_PHONE"),
        ("tags.1", "TOO_SHORT"),
        ("tags.2", "TOO_LONG"),
    ]
    .iter()
    .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{res}");

    let too_many_tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let res = app
        .gql(&t, "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", json!({ "i": { "kind": "INDIVIDUAL", "name": " ", "tags": too_many_tags, "creditCode": "91350100M000100Y43" } }))
        .await;
    let mut got = violations(&res);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("creditCode".into(), "NOT_ALLOWED".into()),
            ("name".into(), "TOO_SHORT".into()),
            ("tags".into(), "TOO_MANY".into())
        ]
    );
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 0, "nothing was written");

    // An unknown owner is a violation, not a dangling reference.
    let stranger = guanxi_api::domain::ids::encode("User", uuid::Uuid::now_v7());
    let res = app
        .gql(
            &t,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "A", "ownerId": stranger } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("ownerId".into(), "NOT_FOUND".into())]);
}

#[tokio::test]
async fn a_credit_code_belongs_to_one_customer_of_a_tenant() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let input = json!({ "kind": "ORGANIZATION", "name": "A", "creditCode": "91110000600037341L" });
    app.create_customer(&t, input.clone()).await;
    let dup = app
        .gql(&t, "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", json!({ "i": input }))
        .await;
    assert_eq!(code(&dup), "CONFLICT");
    assert_eq!(dup["errors"][0]["extensions"]["field"], "creditCode");
    // Another tenant may have the same organization.
    let other = app.token("globex", "MANAGER", "mgr");
    app.create_customer(&other, json!({ "kind": "ORGANIZATION", "name": "A", "creditCode": "91110000600037341L" }))
        .await;
}

#[tokio::test]
async fn audit_entries_match_the_changes() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "ADMIN", "admin");
    let id =
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "李娜", "email": "li.na@example.com" })).await;
    app.gql(
        &t,
        "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"李娜娜\", tags: [\"vip\"]}) { id } }",
        json!({ "id": id }),
    )
    .await;
    // An update that changes nothing leaves no line and keeps the version.
    let same = app
        .gql(
            &t,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"李娜娜\"}) { version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(same["data"]["updateCustomer"]["version"], 2);
    app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;

    let log = app
        .gql(&t, "query($id: ID) { auditLog(entityId: $id) { totalCount nodes { action entityKind entityId changes actor { name } at } } }", json!({ "id": id }))
        .await;
    let nodes = log["data"]["auditLog"]["nodes"].as_array().unwrap_or_else(|| panic!("{log}"));
    assert_eq!(log["data"]["auditLog"]["totalCount"], 3);
    let actions: Vec<&str> = nodes.iter().map(|n| n["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["DELETE", "UPDATE", "CREATE"], "newest first");
    assert!(
        nodes.iter().all(|n| n["entityId"] == id && n["entityKind"] == "Customer" && n["actor"]["name"] == "admin")
    );
    assert_eq!(
        nodes[1]["changes"],
        json!({ "name": { "before": "李娜", "after": "李娜娜" }, "tags": { "before": [], "after": ["vip"] } })
    );
    assert_eq!(nodes[2]["changes"]["name"], json!({ "before": null, "after": "李娜" }));
    assert_eq!(nodes[2]["changes"]["email"], json!({ "before": null, "after": "li.na@example.com" }));
    // The deleted customer's last state stays in the trail.
    assert_eq!(nodes[0]["changes"]["name"], json!({ "before": "李娜娜", "after": null }));
    assert_eq!(nodes[0]["changes"]["tags"], json!({ "before": ["vip"], "after": null }));
}

/// `orderBy` takes one order as well as a list of them (GraphQL coerces a single value to a
/// list of one), as a literal and as a variable; the single form was once ignored.
#[tokio::test]
async fn a_single_order_object_orders_like_a_list_of_one() {
    let app = TestApp::spawn_bare().await;
    let t = app.token("acme", "MANAGER", "manager");
    for name in ["b", "a", "c"] {
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": name })).await;
    }
    let names = |res: &Value| -> Vec<String> {
        res["data"]["customers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let literal =
        app.gql(&t, "{ customers(orderBy: {field: NAME, direction: DESC}) { nodes { name } } }", json!({})).await;
    assert_eq!(names(&literal), ["c", "b", "a"], "{literal}");
    let variable = app
        .gql(
            &t,
            "query($o: [CustomerOrder!]) { customers(orderBy: $o) { nodes { name } } }",
            json!({ "o": { "field": "NAME", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(names(&variable), ["c", "b", "a"], "{variable}");
    let list =
        app.gql(&t, "{ customers(orderBy: [{field: NAME, direction: ASC}]) { nodes { name } } }", json!({})).await;
    assert_eq!(names(&list), ["a", "b", "c"], "{list}");
}
