//! Lists read whole (`KeyAccountPlan.actions`, `Complaint.history`, `Customer.openComplaints`):
//! bounded where they are written or read, costed at that bound, and read in one batch per page.

use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const FILE: &str = "mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }";

async fn file(app: &TestApp, t: &str, customer: &str, title: &str) -> String {
    let res = app
        .gql(
            t,
            FILE,
            json!({ "i": { "customerId": customer, "title": title, "category": "DELIVERY", "severity": "LOW" } }),
        )
        .await;
    res["data"]["fileComplaint"]["id"].as_str().unwrap_or_else(|| panic!("file failed: {res}")).to_owned()
}

/// The answer and the number of SQL statements it took.
async fn counted(app: &TestApp, t: &str, query: &str, variables: Value) -> (Value, u64) {
    let res = app.post(t, &json!({ "query": query, "variables": variables })).await;
    let statements = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
    (res.json().await.unwrap(), statements)
}

#[tokio::test]
async fn a_plan_holds_at_most_a_hundred_actions_and_its_list_is_costed_at_that() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let customer = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "大客户" })).await;
    let plan = app
        .gql(
            &t,
            "mutation($c: ID!) { createKeyAccountPlan(input: {customerId: $c, title: \"p\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\"}) { id } }",
            json!({ "c": customer }),
        )
        .await;
    let plan = plan["data"]["createKeyAccountPlan"]["id"].as_str().unwrap().to_owned();
    let add = "mutation($p: ID!, $t: String!) { addPlanAction(planId: $p, input: {title: $t}) { id } }";
    for i in 0..100 {
        let res = app.gql(&t, add, json!({ "p": plan, "t": format!("拜访 {i}") })).await;
        assert!(res.get("errors").is_none(), "action {i}: {res}");
    }
    let res = app.gql(&t, add, json!({ "p": plan, "t": "one too many" })).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("planId".to_owned(), "TOO_MANY".to_owned())], "{res}");

    let read =
        "query($p: ID!) { node(id: $p) { ... on KeyAccountPlan { actions { title } progress { actionsTotal } } } }";
    let res = app.gql(&t, read, json!({ "p": plan })).await;
    let actions = res["data"]["node"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 100, "the refused action was not added");
    assert!(actions.iter().all(|a| a["title"] != "one too many"));
    assert_eq!(res["data"]["node"]["progress"]["actionsTotal"], 100);
    // The node, its 100 actions at most, and its progress.
    assert_eq!(res["extensions"]["cost"]["requested"], 1 + 100 + 1, "{res}");
    // A client that shows a few asks for a few, and pays for a few.
    let few = "query($p: ID!) { node(id: $p) { ... on KeyAccountPlan { actions(first: 3) { title } } } }";
    let res = app.gql(&t, few, json!({ "p": plan })).await;
    let titles: Vec<&str> =
        res["data"]["node"]["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["拜访 0", "拜访 1", "拜访 2"], "the oldest first: {res}");
    assert_eq!(res["extensions"]["cost"]["requested"], 1 + 3, "{res}");
    let res = app
        .gql(
            &t,
            "query($p: ID!) { node(id: $p) { ... on KeyAccountPlan { actions(first: 101) { title } } } }",
            json!({ "p": plan }),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
}

#[tokio::test]
async fn a_complaint_keeps_at_most_a_hundred_transitions_and_histories_are_read_in_one_batch() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let customer = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "大客户" })).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(file(&app, &t, &customer, &format!("投诉 {i}")).await);
    }

    // The first complaint's history, filled in bulk to one short of the bound: the filing and 98.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let tenant = app.tenant_id(&db, "acme").await;
    let complaint = guanxi_api::domain::ids::decode("Complaint", &ids[0]).unwrap();
    let rows = (0..98).map(|i| {
        let (from, to) = if i % 2 == 0 { ("OPEN", "ESCALATED") } else { ("ESCALATED", "OPEN") };
        guanxi_entity::complaint_transition::ActiveModel {
            tenant_id: sea_orm::Set(tenant),
            id: sea_orm::Set(uuid::Uuid::now_v7()),
            complaint_id: sea_orm::Set(complaint),
            from_status: sea_orm::Set(Some(from.into())),
            to_status: sea_orm::Set(to.into()),
            by_id: sea_orm::Set(None),
            note: sea_orm::Set(None),
            at: sea_orm::Set(chrono::Utc::now()),
        }
    });
    guanxi_entity::complaint_transition::Entity::insert_many(rows).exec(&db).await.unwrap();

    let step = "mutation($id: ID!, $to: ComplaintStatus!) { transitionComplaint(id: $id, to: $to) { status version history { to } } }";
    let res = app.gql(&t, step, json!({ "id": ids[0], "to": "ACKNOWLEDGED" })).await;
    assert_eq!(res["data"]["transitionComplaint"]["status"], "ACKNOWLEDGED", "the hundredth: {res}");
    let history = res["data"]["transitionComplaint"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 100, "a transition's answer shows the history after it");
    assert_eq!(history[99]["to"], "ACKNOWLEDGED");
    let version = res["data"]["transitionComplaint"]["version"].clone();

    let res = app.gql(&t, step, json!({ "id": ids[0], "to": "IN_PROGRESS" })).await;
    assert_eq!(code(&res), "CONFLICT", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "HISTORY_FULL", "{res}");
    let res = app
        .gql(&t, "query($id: ID!) { complaint(id: $id) { status version history { to } } }", json!({ "id": ids[0] }))
        .await;
    assert_eq!(res["data"]["complaint"]["status"], "ACKNOWLEDGED", "nothing changed: {res}");
    assert_eq!(res["data"]["complaint"]["version"], version);
    assert_eq!(res["data"]["complaint"]["history"].as_array().unwrap().len(), 100);
    assert_eq!(res["extensions"]["cost"]["requested"], 1 + 100, "{res}");
    let res = app
        .gql(&t, "query($id: ID!) { complaint(id: $id) { history(first: 1) { to } } }", json!({ "id": ids[0] }))
        .await;
    assert_eq!(res["data"]["complaint"]["history"], json!([{ "to": "OPEN" }]), "the filing comes first: {res}");

    // Histories under a page of complaints: one statement for them all, whatever the page holds.
    let page = "query($n: Int!) { complaints(first: $n) { nodes { title history { to by { name } } } } }";
    let (two, few) = counted(&app, &t, page, json!({ "n": 2 })).await;
    let (ten, many) = counted(&app, &t, page, json!({ "n": 10 })).await;
    assert_eq!(two["data"]["complaints"]["nodes"].as_array().unwrap().len(), 2, "{two}");
    assert_eq!(ten["data"]["complaints"]["nodes"].as_array().unwrap().len(), 10, "{ten}");
    assert_eq!(few, many, "statements for 2 and for 10 complaints");
    for node in ten["data"]["complaints"]["nodes"].as_array().unwrap() {
        let history = node["history"].as_array().unwrap();
        if node["title"] == "投诉 0" {
            assert_eq!(history.len(), 100);
        } else {
            assert_eq!(history, &vec![json!({ "to": "OPEN", "by": { "name": "admin" } })], "{node}");
        }
    }
}

#[tokio::test]
async fn open_complaints_list_the_oldest_hundred_in_one_batch() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let busy = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "A 很多投诉" })).await;
    let calm = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "B 两个投诉" })).await;
    let complaint = |customer: &str, title: String| json!({ "customerId": customer, "title": title, "category": "DELIVERY", "severity": "LOW" });
    let mut complaints: Vec<Value> = (0..101).map(|i| complaint(&busy, format!("a{i:03}"))).collect();
    complaints.extend((0..2).map(|i| complaint(&calm, format!("b{i}"))));
    app.create_all(&t, "fileComplaint", "FileComplaintInput", &complaints).await;
    let page = "query($f: CustomerFilter) { customers(filter: $f, orderBy: [{field: NAME}]) { nodes { name openComplaints { title } } } }";
    let (both, statements_both) = counted(&app, &t, page, json!({})).await;
    let nodes = both["data"]["customers"]["nodes"].as_array().unwrap();
    let titles = |node: &Value| -> Vec<String> {
        node["openComplaints"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap().to_owned()).collect()
    };
    let expected: Vec<String> = (0..100).map(|i| format!("a{i:03}")).collect();
    assert_eq!(titles(&nodes[0]), expected, "the oldest hundred, oldest first");
    assert_eq!(titles(&nodes[1]), ["b0", "b1"]);
    let (few, _) = counted(
        &app,
        &t,
        "{ customers(orderBy: [{field: NAME}]) { nodes { openComplaints(first: 2) { title } } } }",
        json!({}),
    )
    .await;
    assert_eq!(titles(&few["data"]["customers"]["nodes"][0]), ["a000", "a001"], "{few}");
    assert_eq!(few["extensions"]["cost"]["requested"], 1 + 20 * (1 + 2), "{few}");
    // A page of customers costs each customer's open complaints at their bound.
    assert_eq!(both["extensions"]["cost"]["requested"], 1 + 20 * (1 + 100), "{both}");

    let (one, statements_one) = counted(&app, &t, page, json!({ "f": { "name": { "eq": "B 两个投诉" } } })).await;
    assert_eq!(one["data"]["customers"]["nodes"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(statements_one, statements_both, "one batch, whatever the page holds");

    // A filter on the SLA asks each customer's list the same question, so they are one batch too
    // (the filter is as of the whole second: the least of three tries stays clear of its edge).
    let sla = "query($f: CustomerFilter) { customers(filter: $f) { nodes { complaints(filter: {slaBreached: false}) { nodes { title } } } } }";
    let mut least = (u64::MAX, u64::MAX);
    for _ in 0..3 {
        let (res, all) = counted(&app, &t, sla, json!({})).await;
        assert_eq!(res["data"]["customers"]["nodes"].as_array().unwrap().len(), 2, "{res}");
        let (_, one) = counted(&app, &t, sla, json!({ "f": { "name": { "eq": "B 两个投诉" } } })).await;
        least = (least.0.min(all), least.1.min(one));
    }
    assert_eq!(least.0, least.1, "statements for two customers and for one");

    // The connection still pages through them all.
    let res = app
        .gql(&t, "query($id: ID!) { node(id: $id) { ... on Customer { complaints(first: 100, filter: {status: {eq: OPEN}}) { totalCount } } } }", json!({ "id": busy }))
        .await;
    assert_eq!(res["data"]["node"]["complaints"]["totalCount"], 101, "{res}");
}
