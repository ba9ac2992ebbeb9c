//! The scoring snapshot: the batch builder takes a fixed number of statements and agrees with
//! `Customer.scoringSnapshot` and `Customer.stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn snapshots_are_batched_deterministic_and_match_the_api() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let admin = app.token("acme", "ADMIN", "boss");
    for (key, ty) in [("member_no", "STRING"), ("retired", "STRING")] {
        let res = app
            .gql(
                &admin,
                "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { id } }",
                json!({ "i": { "entity": "CUSTOMER", "key": key, "label": key, "type": ty } }),
            )
            .await;
        assert!(res.get("errors").is_none(), "{res}");
    }
    let at = (chrono::Utc::now() - chrono::Duration::days(100)).to_rfc3339();
    let recent = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let mut ids = Vec::new();
    for i in 0..12 {
        let c =
            app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": format!("c{i}"), "tags": ["vip"], "customFields": { "member_no": format!("M{i}"), "retired": "x" } })).await;
        for (when, amount) in [(&at, "100.10"), (&recent, "0.90")] {
            app.gql(
                &t,
                "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }",
                json!({ "i": { "customerId": c, "kind": "PURCHASE", "occurredAt": when, "amount": amount, "currency": "CNY" } }),
            )
            .await;
        }
        app.gql(
            &t,
            "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }",
            json!({ "i": { "customerId": c, "kind": "SURVEY", "occurredAt": recent, "satisfaction": 1 + i % 5 } }),
        )
        .await;
        ids.push(c);
    }
    let api = app.gql(&t, "query($id: ID!) { customer(id: $id) { scoringSnapshot stats { purchaseTotal purchasesLast90Days averageSatisfaction } } }", json!({ "id": ids[3] })).await;
    let from_api = api["data"]["customer"]["scoringSnapshot"].clone();
    assert_eq!(from_api["purchaseTotal"], api["data"]["customer"]["stats"]["purchaseTotal"], "{api}");
    assert_eq!(from_api["purchaseTotal"], "101");
    assert_eq!(from_api["purchasesLast90Days"], 1);
    assert_eq!(from_api["purchasesLast365Days"], 2);
    assert_eq!(from_api["averageSatisfaction"], api["data"]["customer"]["stats"]["averageSatisfaction"]);
    assert_eq!(from_api["interactionCounts"], json!({ "PURCHASE": 2, "SURVEY": 1 }));
    assert_eq!(from_api["interactionsLast30Days"], json!({ "PURCHASE": 1, "SURVEY": 1 }));
    assert_eq!(from_api["interactionsLast90Days"], json!({ "PURCHASE": 1, "SURVEY": 1 }));
    assert_eq!(from_api["interactionsLast365Days"], json!({ "PURCHASE": 2, "SURVEY": 1 }));
    assert_eq!(from_api["daysSinceLastInteraction"], json!({ "PURCHASE": 2, "SURVEY": 2 }));
    assert_eq!(from_api["tags"], json!(["vip"]));
    // Live custom fields only: an archived field's value stays out of plugins' sight.
    let defs = app.gql(&admin, "{ customFieldDefinitions { id key } }", json!({})).await;
    let retired = defs["data"]["customFieldDefinitions"][1]["id"].clone();
    app.gql(&admin, "mutation($id: ID!) { archiveCustomField(id: $id) { id } }", json!({ "id": retired })).await;
    let api = app.gql(&t, "query($id: ID!) { customer(id: $id) { scoringSnapshot } }", json!({ "id": ids[3] })).await;
    assert_eq!(api["data"]["customer"]["scoringSnapshot"]["customFields"], json!({ "member_no": "M3" }), "{api}");
    let from_api = api["data"]["customer"]["scoringSnapshot"].clone();

    let db = guanxi_api::store::connect(&app.database_url, 2).await.unwrap();
    let tenant = app.tenant_id(&db, "acme").await;
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|g| guanxi_api::domain::ids::decode("Customer", g).unwrap()).collect();
    let now = chrono::Utc::now();
    let counted = |n: usize| {
        let (db, uuids) = (db.clone(), uuids[..n].to_vec());
        async move {
            let statements = Arc::new(AtomicU64::new(0));
            let snaps = guanxi_api::clock::STATEMENTS
                .scope(statements.clone(), guanxi_api::domain::snapshot::build(&db, tenant, &uuids, "CNY", now))
                .await
                .unwrap();
            (snaps, statements.load(Ordering::Relaxed))
        }
    };
    let (one, one_statements) = counted(1).await;
    let (all, all_statements) = counted(12).await;
    assert_eq!(all.len(), 12);
    assert_eq!(one_statements, all_statements, "a fixed number of statements whatever the batch");
    assert_eq!(all_statements, 4);
    assert_eq!(one[0], all[0], "deterministic");
    let mut built = serde_json::to_value(&all[3]).unwrap();
    let mut from_api = from_api;
    for v in [&mut built, &mut from_api] {
        v.as_object_mut().unwrap().remove("now");
    }
    assert_eq!(built, from_api);
}
