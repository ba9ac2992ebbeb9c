//! Keyset pagination: forward and backward walks see every row once, in order, even while rows
//! are being inserted.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::TestApp;

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: [CustomerOrder!]) {
  customers(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    edges { cursor node { id name status createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn walk(app: &TestApp, token: &str, order: &Value, size: i64, backward: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let vars = if backward {
            json!({ "last": size, "before": cursor, "order": order })
        } else {
            json!({ "first": size, "after": cursor, "order": order })
        };
        let res = app.gql(token, PAGE, vars).await;
        let conn = &res["data"]["customers"];
        let edges = conn["edges"].as_array().unwrap_or_else(|| panic!("{res}"));
        let mut page: Vec<Value> = edges.iter().map(|e| e["node"].clone()).collect();
        let info = &conn["pageInfo"];
        if backward {
            page.reverse();
            rows.extend(page);
            if !info["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            cursor = info["startCursor"].as_str().map(str::to_owned);
        } else {
            rows.extend(page);
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            cursor = info["endCursor"].as_str().map(str::to_owned);
        }
        assert!(rows.len() < 10_000, "runaway walk");
    }
    if backward {
        rows.reverse();
    }
    rows
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn walks_forward_and_backward_without_gaps_or_duplicates() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let statuses = ["PROSPECT", "TARGET", "ACTIVE", "LOST", "NON_CUSTOMER"];
    let mut created = HashSet::new();
    for i in 0..260 {
        // Few distinct names, so many rows tie and the id tiebreak matters.
        let id = app
            .create_customer(
                &t,
                json!({ "kind": "INDIVIDUAL", "name": format!("客户{:02}", i % 37), "status": statuses[i % 5] }),
            )
            .await;
        created.insert(id);
    }
    for order in [
        json!([]),
        json!([{ "field": "NAME", "direction": "DESC" }]),
        json!([{ "field": "STATUS" }, { "field": "NAME", "direction": "DESC" }]),
        json!([{ "field": "CREATED_AT", "direction": "DESC" }]),
    ] {
        let forward = walk(&app, &t, &order, 23, false).await;
        let fids = ids(&forward);
        assert_eq!(fids.len(), 260, "{order}");
        assert_eq!(fids.iter().cloned().collect::<HashSet<_>>(), created, "{order}: every row once");
        let backward = walk(&app, &t, &order, 17, true).await;
        assert_eq!(ids(&backward), fids, "{order}: backward walk is the same sequence");
        let key = |r: &Value| (r["status"].as_str().unwrap().to_owned(), r["name"].as_str().unwrap().to_owned());
        if order == json!([{ "field": "STATUS" }, { "field": "NAME", "direction": "DESC" }]) {
            for w in forward.windows(2) {
                let (a, b) = (key(&w[0]), key(&w[1]));
                assert!(a.0 < b.0 || (a.0 == b.0 && a.1 >= b.1), "{a:?} then {b:?}");
            }
        }
    }
    // A first page says there is no previous page; the page size bounds hold.
    let first = app.gql(&t, PAGE, json!({ "first": 100 })).await;
    assert_eq!(first["data"]["customers"]["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(first["data"]["customers"]["edges"].as_array().unwrap().len(), 100);
    let default = app.gql(&t, PAGE, json!({})).await;
    assert_eq!(default["data"]["customers"]["edges"].as_array().unwrap().len(), 20);
    let too_big = app.gql(&t, PAGE, json!({ "first": 101 })).await;
    assert_eq!(too_big["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // A cursor from one order is refused under another.
    let cursor = first["data"]["customers"]["pageInfo"]["endCursor"].clone();
    let mismatch = app
        .gql(&t, PAGE, json!({ "first": 5, "after": cursor, "order": [{ "field": "NAME", "direction": "DESC" }] }))
        .await;
    assert_eq!(mismatch["errors"][0]["extensions"]["violations"][0]["code"], "INVALID_CURSOR");
}

#[tokio::test]
async fn concurrent_inserts_do_not_disturb_a_walk() {
    let app = TestApp::spawn().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let mut before = HashSet::new();
    for i in 0..150 {
        before.insert(app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": format!("old {i:03}") })).await);
    }
    let writer = {
        let (base, token) = (app.base.clone(), t.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..120 {
                let body = json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                                   "variables": { "i": { "kind": "INDIVIDUAL", "name": format!("new {i:03}") } } });
                client.post(format!("{base}/graphql")).bearer_auth(&token).json(&body).send().await.unwrap();
            }
        })
    };
    // By name, new rows land before and after the cursor; by creation time, only after.
    let by_name = walk(&app, &t, &json!([{ "field": "NAME" }]), 10, false).await;
    let by_time = walk(&app, &t, &json!([{ "field": "CREATED_AT" }]), 10, false).await;
    writer.await.unwrap();
    for rows in [&by_name, &by_time] {
        let seen = ids(rows);
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no row twice");
        assert!(before.is_subset(&unique), "every row that existed before the walk is seen");
    }
    for w in by_name.windows(2) {
        assert!(w[0]["name"].as_str() <= w[1]["name"].as_str());
    }
    for w in by_time.windows(2) {
        assert!(w[0]["createdAt"].as_str() <= w[1]["createdAt"].as_str());
    }
}
