//! No lost updates: with one expectedVersion exactly one writer wins; without it, concurrent
//! changes to different fields all land.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn one_expected_version_one_winner() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let id = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "start" })).await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (base, t, id) = (app.base.clone(), t.clone(), id.clone());
            tokio::spawn(async move {
                let body = json!({ "query": "mutation($id: ID!, $n: String!) { updateCustomer(id: $id, input: {name: $n}, expectedVersion: 1) { name version } }",
                                   "variables": { "id": id, "n": format!("writer {i}") } });
                let res: serde_json::Value = reqwest::Client::new().post(format!("{base}/graphql")).bearer_auth(&t).json(&body).send().await.unwrap().json().await.unwrap();
                res
            })
        })
        .collect();
    let mut wins = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let res = task.await.unwrap();
        match res["errors"][0]["extensions"]["code"].as_str() {
            None => wins.push(res["data"]["updateCustomer"]["name"].as_str().unwrap().to_owned()),
            Some("CONFLICT") => conflicts += 1,
            Some(other) => panic!("unexpected {other}: {res}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, 5);
    let now = app.gql(&t, "query($id: ID!) { customer(id: $id) { name version } }", json!({ "id": id })).await;
    assert_eq!(now["data"]["customer"], json!({ "name": wins[0], "version": 2 }));
    let log = app.gql(&t, "query($id: ID!) { auditLog(entityId: $id) { totalCount } }", json!({ "id": id })).await;
    assert_eq!(log["data"]["auditLog"]["totalCount"], 2, "one create, one update");
}

#[tokio::test]
async fn concurrent_changes_to_different_fields_all_land() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let id = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "start" })).await;
    let fields = [
        ("region", "上海"),
        ("industry", "零售"),
        ("channel", "wechat"),
        ("email", "a@b.cn"),
        ("phone", "13812345678"),
    ];
    let tasks: Vec<_> = fields
        .iter()
        .map(|(f, v)| {
            let (base, t, id) = (app.base.clone(), t.clone(), id.clone());
            let input = json!({ *f: v });
            tokio::spawn(async move {
                let body = json!({ "query": "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { id } }",
                                   "variables": { "id": id, "i": input } });
                let res: serde_json::Value = reqwest::Client::new().post(format!("{base}/graphql")).bearer_auth(&t).json(&body).send().await.unwrap().json().await.unwrap();
                assert!(res.get("errors").is_none(), "{res}");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let now = app
        .gql(
            &t,
            "query($id: ID!) { customer(id: $id) { region industry channel email phone version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        now["data"]["customer"],
        json!({ "region": "上海", "industry": "零售", "channel": "wechat", "email": "a@b.cn", "phone": "13812345678", "version": 6 })
    );
}

/// Two ADMINs changing different settings at once both see their change kept: each change reads
/// the settings it replaces only once the other has committed.
#[tokio::test]
async fn concurrent_settings_changes_lose_nothing() {
    let app = TestApp::shared_bare().await;
    let a = app.token("acme", "ADMIN", "a");
    let b = app.token("acme", "ADMIN", "b");
    let currency = "mutation($c: String!) { updateTenantSettings(input: {baseCurrency: $c}) { baseCurrency } }";
    let sla = "mutation($m: Int!) { updateTenantSettings(input: {sla: [{severity: LOW, responseMinutes: $m, resolutionMinutes: 9000}]}) { baseCurrency } }";
    let read = "{ tenantSettings { baseCurrency sla { severity responseMinutes } } }";
    let codes = ["USD", "EUR", "JPY", "GBP", "HKD", "CNY", "SGD", "AUD", "CAD", "CHF"];
    for (round, code) in codes.into_iter().enumerate() {
        let minutes = 100 + round;
        let changed = (app.gql(&a, currency, json!({ "c": code })), app.gql(&b, sla, json!({ "m": minutes })));
        let (x, y) = tokio::join!(changed.0, changed.1);
        assert!(x["errors"].is_null() && y["errors"].is_null(), "{x} {y}");
        let now = app.gql(&a, read, json!({})).await;
        let settings = &now["data"]["tenantSettings"];
        assert_eq!(settings["baseCurrency"], code, "round {round}: {now}");
        let low = settings["sla"].as_array().unwrap().iter().find(|s| s["severity"] == "LOW").unwrap().clone();
        assert_eq!(low["responseMinutes"], minutes, "round {round}: {now}");
    }
}

/// Writers racing to give one credit code to two customers: one wins, every other is told the
/// code is taken (`CONFLICT`, `DUPLICATE`), whether the check before the write saw the winner or
/// only the unique key did (on PostgreSQL, writers of different customers run at once).
#[tokio::test]
async fn racing_writers_of_one_credit_code_get_one_winner_and_duplicates() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let create = "mutation($n: String!) { createCustomer(input: {kind: ORGANIZATION, name: $n, creditCode: \"91350100M000100Y43\"}) { id } }";
    let writers = (0..8).map(|i| {
        let (app, t) = (&app, &t);
        async move { app.gql(t, create, json!({ "n": format!("writer {i}") })).await }
    });
    let answers = futures_util::future::join_all(writers).await;
    let won = answers.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(won, 1, "{answers:?}");
    for res in answers.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(res["errors"][0]["extensions"]["code"], "CONFLICT", "{res}");
        assert_eq!(res["errors"][0]["extensions"]["reason"], "DUPLICATE", "{res}");
    }
}
