//! Interactions: each kind's rules, the timeline, versions, and who may touch which.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const RECORD: &str = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id kind amount currency satisfaction wouldBuyAgain occurredAt staff { name } customer { name } version } }";

fn now_plus(minutes: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339()
}

async fn record(app: &TestApp, t: &str, input: Value) -> Value {
    app.gql(t, RECORD, json!({ "i": input })).await
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[tokio::test]
async fn each_kind_has_its_rules() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王伟" })).await;
    let at = now_plus(-60);

    let ok = record(
        &app,
        &t,
        json!({ "customerId": c, "kind": "PURCHASE", "occurredAt": at, "amount": "1299.90", "currency": "cny" }),
    )
    .await;
    let p = &ok["data"]["recordInteraction"];
    assert_eq!(
        (p["amount"].as_str(), p["currency"].as_str(), &p["staff"]["name"]),
        (Some("1299.90"), Some("CNY"), &json!("mgr")),
        "{ok}"
    );
    let survey = record(
        &app,
        &t,
        json!({ "customerId": c, "kind": "SURVEY", "occurredAt": at, "satisfaction": 4, "wouldBuyAgain": true }),
    )
    .await;
    assert_eq!(survey["data"]["recordInteraction"]["satisfaction"], 4, "{survey}");
    for kind in ["VISIT", "CALL", "EMAIL", "MEETING", "MESSAGE", "FOLLOW_UP", "CARE", "SUPPORT", "EVENT"] {
        let res = record(
            &app,
            &t,
            json!({ "customerId": c, "kind": kind, "occurredAt": at, "summary": "ok", "channel": "wechat" }),
        )
        .await;
        assert_eq!(res["data"]["recordInteraction"]["kind"], kind, "{res}");
    }

    let cases = [
        (json!({ "kind": "PURCHASE" }), vec![("amount", "REQUIRED"), ("currency", "REQUIRED")]),
        (json!({ "kind": "PURCHASE", "amount": "0", "currency": "CNY" }), vec![("amount", "NOT_POSITIVE")]),
        (
            json!({ "kind": "PURCHASE", "amount": "-5", "currency": "RMB" }),
            vec![("amount", "NOT_POSITIVE"), ("currency", "INVALID_CURRENCY")],
        ),
        (json!({ "kind": "PURCHASE", "amount": "1.23456", "currency": "USD" }), vec![("amount", "INVALID_AMOUNT")]),
        (json!({ "kind": "SURVEY" }), vec![("satisfaction", "REQUIRED")]),
        (json!({ "kind": "SURVEY", "satisfaction": 6 }), vec![("satisfaction", "OUT_OF_RANGE")]),
        (json!({ "kind": "SURVEY", "satisfaction": 0 }), vec![("satisfaction", "OUT_OF_RANGE")]),
        (
            json!({ "kind": "VISIT", "amount": "5", "currency": "CNY", "satisfaction": 3, "wouldBuyAgain": false }),
            vec![
                ("amount", "NOT_ALLOWED"),
                ("currency", "NOT_ALLOWED"),
                ("satisfaction", "NOT_ALLOWED"),
                ("wouldBuyAgain", "NOT_ALLOWED"),
            ],
        ),
    ];
    for (extra, want) in cases {
        let mut input = json!({ "customerId": c, "occurredAt": at });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let res = record(&app, &t, input.clone()).await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "{input}");
        let want: Vec<(String, String)> = want.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
        assert_eq!(sorted(violations(&res)), sorted(want), "{input}");
    }
    // The future is refused beyond five minutes of clock drift.
    let res = record(&app, &t, json!({ "customerId": c, "kind": "CALL", "occurredAt": now_plus(10) })).await;
    assert_eq!(violations(&res), vec![("occurredAt".into(), "IN_THE_FUTURE".into())]);
    let res = record(&app, &t, json!({ "customerId": c, "kind": "CALL", "occurredAt": now_plus(2) })).await;
    assert!(res.get("errors").is_none(), "{res}");
    // An unknown customer is a violation.
    let nobody = guanxi_api::domain::ids::encode("Customer", uuid::Uuid::now_v7());
    let res = record(&app, &t, json!({ "customerId": nobody, "kind": "CALL", "occurredAt": at })).await;
    assert_eq!(violations(&res), vec![("customerId".into(), "NOT_FOUND".into())]);

    let count = app.gql(&t, "{ interactions { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["interactions"]["totalCount"], 12, "only valid ones were written");
}

#[tokio::test]
async fn timeline_update_delete_and_versions() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "Li Na" })).await;
    let mut ids = Vec::new();
    for (i, kind) in ["VISIT", "CALL", "EMAIL", "MEETING"].iter().enumerate() {
        let at = (chrono::Utc::now() - chrono::Duration::days(10 - i64::try_from(i).unwrap())).to_rfc3339();
        let res = record(&app, &t, json!({ "customerId": c, "kind": kind, "occurredAt": at })).await;
        ids.push(res["data"]["recordInteraction"]["id"].as_str().unwrap().to_owned());
    }
    let timeline = app
        .gql(&t, "query($id: ID!) { customer(id: $id) { interactions(first: 3) { totalCount pageInfo { hasNextPage } nodes { kind } } } }", json!({ "id": c }))
        .await;
    let conn = &timeline["data"]["customer"]["interactions"];
    assert_eq!(
        conn["nodes"],
        json!([{ "kind": "MEETING" }, { "kind": "EMAIL" }, { "kind": "CALL" }]),
        "newest first: {timeline}"
    );
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    assert_eq!(conn["totalCount"], 4);
    let filtered = app
        .gql(&t, "query($id: ID!) { customer(id: $id) { interactions(filter: {kind: {in: [VISIT, CALL]}}, orderBy: [{field: OCCURRED_AT, direction: ASC}]) { nodes { kind } } } }", json!({ "id": c }))
        .await;
    assert_eq!(filtered["data"]["customer"]["interactions"]["nodes"], json!([{ "kind": "VISIT" }, { "kind": "CALL" }]));

    let upd = app
        .gql(&t, "mutation($id: ID!) { updateInteraction(id: $id, input: {kind: PURCHASE, amount: \"88\", currency: \"USD\"}, expectedVersion: 1) { kind amount version } }", json!({ "id": ids[0] }))
        .await;
    assert_eq!(upd["data"]["updateInteraction"], json!({ "kind": "PURCHASE", "amount": "88", "version": 2 }), "{upd}");
    let stale = app
        .gql(
            &t,
            "mutation($id: ID!) { updateInteraction(id: $id, input: {summary: \"late\"}, expectedVersion: 1) { id } }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(code(&stale), "CONFLICT");
    // Changing the kind away from PURCHASE without clearing the money is refused.
    let bad = app
        .gql(
            &t,
            "mutation($id: ID!) { updateInteraction(id: $id, input: {kind: CALL}) { id } }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(
        sorted(violations(&bad)),
        vec![("amount".into(), "NOT_ALLOWED".into()), ("currency".into(), "NOT_ALLOWED".into())]
    );
    let del = app.gql(&t, "mutation($id: ID!) { deleteInteraction(id: $id) }", json!({ "id": ids[1] })).await;
    assert_eq!(del["data"]["deleteInteraction"], ids[1]);
    let node = app.gql(&t, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": ids[1] })).await;
    assert_eq!(node["data"]["node"], json!(null));
    let stats = app.gql(&t, "query($id: ID!) { customer(id: $id) { stats { interactionCount purchaseCount purchaseTotal baseCurrency purchaseTotals { currency amount } } } }", json!({ "id": c })).await;
    assert_eq!(
        stats["data"]["customer"]["stats"],
        json!({ "interactionCount": 3, "purchaseCount": 1, "purchaseTotal": "0", "baseCurrency": "CNY", "purchaseTotals": [{ "currency": "USD", "amount": "88" }] })
    );
    // The tenant's base currency decides purchaseTotal.
    let admin = app.token("acme", "ADMIN", "admin");
    let set = app
        .gql(&admin, "mutation { updateTenantSettings(input: {baseCurrency: \"usd\"}) { baseCurrency } }", json!({}))
        .await;
    assert_eq!(set["data"]["updateTenantSettings"]["baseCurrency"], "USD", "{set}");
    let stats =
        app.gql(&t, "query($id: ID!) { customer(id: $id) { stats { purchaseTotal } } }", json!({ "id": c })).await;
    assert_eq!(stats["data"]["customer"]["stats"]["purchaseTotal"], "88");
    // Deleting the customer takes its timeline along; the audit trail keeps it.
    app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": c })).await;
    let left = app.gql(&t, "{ interactions { totalCount } }", json!({})).await;
    assert_eq!(left["data"]["interactions"]["totalCount"], 0);
    let log = app
        .gql(&admin, "query($id: ID) { auditLog(entityId: $id) { nodes { action } } }", json!({ "id": ids[0] }))
        .await;
    assert_eq!(log["data"]["auditLog"]["nodes"], json!([{ "action": "UPDATE" }, { "action": "CREATE" }]));
}

#[tokio::test]
async fn interactions_follow_customer_access() {
    let app = TestApp::shared().await;
    let manager = app.token("acme", "MANAGER", "mgr");
    let agent_a = app.token("acme", "AGENT", "agent-a");
    let agent_b = app.token("acme", "AGENT", "agent-b");
    let viewer = app.token("acme", "VIEWER", "viewer");
    let a_customer = app.create_customer(&agent_a, json!({ "kind": "INDIVIDUAL", "name": "A's" })).await;
    let b_customer = app.create_customer(&agent_b, json!({ "kind": "INDIVIDUAL", "name": "B's" })).await;
    let at = now_plus(-5);
    let a_int = record(&app, &agent_a, json!({ "customerId": a_customer, "kind": "VISIT", "occurredAt": at })).await;
    let a_int = a_int["data"]["recordInteraction"]["id"].as_str().unwrap().to_owned();
    record(&app, &manager, json!({ "customerId": b_customer, "kind": "CALL", "occurredAt": at })).await;

    // Another agent's customer is answered like one that does not exist.
    let refused = record(&app, &agent_a, json!({ "customerId": b_customer, "kind": "CALL", "occurredAt": at })).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "NOT_FOUND", "{refused}");
    let refused = record(&app, &viewer, json!({ "customerId": a_customer, "kind": "CALL", "occurredAt": at })).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let mine = app.gql(&agent_a, "{ interactions { totalCount nodes { customer { name } } } }", json!({})).await;
    assert_eq!(mine["data"]["interactions"], json!({ "totalCount": 1, "nodes": [{ "customer": { "name": "A's" } }] }));
    let theirs = app
        .gql(&agent_b, "query($id: ID!) { interaction(id: $id) { id } node(id: $id) { id } }", json!({ "id": a_int }))
        .await;
    assert_eq!(theirs["data"], json!({ "interaction": null, "node": null }));
    let del = app.gql(&agent_b, "mutation($id: ID!) { deleteInteraction(id: $id) }", json!({ "id": a_int })).await;
    assert_eq!(code(&del), "NOT_FOUND", "{del}");
    let all = app.gql(&viewer, "{ interactions { totalCount } }", json!({})).await;
    assert_eq!(all["data"]["interactions"]["totalCount"], 2);
    let other_tenant = app.token("globex", "ADMIN", "x");
    let none = app
        .gql(
            &other_tenant,
            "query($id: ID!) { interaction(id: $id) { id } interactions { totalCount } }",
            json!({ "id": a_int }),
        )
        .await;
    assert_eq!(none["data"], json!({ "interaction": null, "interactions": { "totalCount": 0 } }));
}

/// `durationMinutes` was added to interactions by one line of their declaration and a migration:
/// it is shown, recorded, checked, filtered, sorted, cleared and audited like every field.
#[tokio::test]
async fn a_duration_is_recorded_checked_filtered_sorted_and_audited() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "admin");
    let c = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "赵敏" })).await;
    let at = now_plus(-30);
    let record = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id durationMinutes } }";
    let mut ids = Vec::new();
    for minutes in [45, 10, 90] {
        let input = json!({ "customerId": c, "kind": "VISIT", "occurredAt": at, "durationMinutes": minutes });
        let res = app.gql(&admin, record, json!({ "i": input })).await;
        assert_eq!(res["data"]["recordInteraction"]["durationMinutes"], minutes, "{res}");
        ids.push(res["data"]["recordInteraction"]["id"].as_str().unwrap().to_owned());
    }
    for (minutes, want) in [(0, "OUT_OF_RANGE"), (1441, "OUT_OF_RANGE")] {
        let input = json!({ "customerId": c, "kind": "CALL", "occurredAt": at, "durationMinutes": minutes });
        let res = app.gql(&admin, record, json!({ "i": input })).await;
        assert_eq!(violations(&res), vec![("durationMinutes".into(), want.into())], "{res}");
    }

    let list = "query($id: ID!) { customer(id: $id) { interactions(filter: {durationMinutes: {gte: 30}}, orderBy: [{field: DURATION, direction: DESC}]) { nodes { durationMinutes } } } }";
    let res = app.gql(&admin, list, json!({ "id": c })).await;
    assert_eq!(
        res["data"]["customer"]["interactions"]["nodes"],
        json!([{ "durationMinutes": 90 }, { "durationMinutes": 45 }]),
        "{res}"
    );

    let clear =
        "mutation($id: ID!) { updateInteraction(id: $id, input: {durationMinutes: null}) { durationMinutes version } }";
    let res = app.gql(&admin, clear, json!({ "id": ids[0] })).await;
    assert_eq!(res["data"]["updateInteraction"], json!({ "durationMinutes": null, "version": 2 }), "{res}");
    let log = "query($id: ID) { auditLog(entityId: $id) { nodes { action changes } } }";
    let res = app.gql(&admin, log, json!({ "id": ids[0] })).await;
    let nodes = &res["data"]["auditLog"]["nodes"];
    assert_eq!(nodes[0]["changes"]["durationMinutes"], json!({ "before": 45, "after": null }), "{res}");
    assert_eq!(nodes[1]["action"], "CREATE");
}
