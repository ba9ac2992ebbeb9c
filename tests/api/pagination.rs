//! Keyset pagination: forward and backward walks see every row once, in order, even while rows
//! are being inserted.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: [CustomerOrder!]) {
  customers(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    edges { cursor node { id name status createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

async fn walk(app: &TestApp, token: &str, order: &Value, size: i64, backward: bool) -> Vec<Value> {
    walk_customers(app, token, order, size, backward, "id name status createdAt").await
}

/// Reads every customer in `order`, `size` at a time, forward (`first`/`after`) or backward
/// (`last`/`before`, from the end), selecting `select` of each; the rows come back in `order`
/// either way.
pub async fn walk_customers(
    app: &TestApp,
    token: &str,
    order: &Value,
    size: i64,
    backward: bool,
    select: &str,
) -> Vec<Value> {
    let query = format!(
        "query($first: Int, $after: String, $last: Int, $before: String, $order: [CustomerOrder!]) {{
           customers(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {{
             nodes {{ {select} }}
             pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
           }}
         }}"
    );
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let vars = if backward {
            json!({ "last": size, "before": cursor, "order": order })
        } else {
            json!({ "first": size, "after": cursor, "order": order })
        };
        let res = app.gql(token, &query, vars).await;
        let conn = &res["data"]["customers"];
        let mut page = conn["nodes"].as_array().unwrap_or_else(|| panic!("{order}: {res}")).clone();
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

/// Asserts that `rows` follow `order` (the default, `[]`, is by name ascending). Rows with equal
/// keys may come in any order here: the id tiebreak is checked by the walks agreeing.
fn assert_in_order(rows: &[Value], order: &Value) {
    let keys: Vec<(&str, bool)> = match order.as_array().unwrap().as_slice() {
        [] => vec![("NAME", false)],
        keys => keys.iter().map(|k| (k["field"].as_str().unwrap(), k["direction"] == "DESC")).collect(),
    };
    let compare = |a: &Value, b: &Value| {
        for &(field, descending) in &keys {
            let ordering = match field {
                "NAME" => a["name"].as_str().cmp(&b["name"].as_str()),
                "STATUS" => a["status"].as_str().cmp(&b["status"].as_str()),
                "CREATED_AT" => created_at(a).cmp(&created_at(b)),
                other => panic!("no comparison for {other}"),
            };
            let ordering = if descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    };
    for w in rows.windows(2) {
        assert!(compare(&w[0], &w[1]).is_le(), "{order}: {} comes before {}", w[0], w[1]);
    }
}

fn created_at(row: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(row["createdAt"].as_str().unwrap()).unwrap()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn walks_forward_and_backward_without_gaps_or_duplicates() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let statuses = ["PROSPECT", "TARGET", "ACTIVE", "LOST", "NON_CUSTOMER"];
    // Few distinct names, so many rows tie and the id tiebreak matters.
    let inputs: Vec<Value> = (0..260)
        .map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户{:02}", i % 37), "status": statuses[i % 5] }))
        .collect();
    let created: HashSet<String> = app.create_customers(&t, &inputs).await.into_iter().collect();
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
        assert_in_order(&forward, &order);
        let backward = walk(&app, &t, &order, 17, true).await;
        assert_in_order(&backward, &order);
        assert_eq!(ids(&backward), fids, "{order}: backward walk is the same sequence");
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

/// A cursor is the server's to make: one a client changed to hold U+0000 (no stored text holds
/// it, and PostgreSQL cannot compare text that does) is refused like any malformed cursor, not
/// failed inside the database.
#[tokio::test]
async fn a_cursor_changed_to_hold_nul_is_refused() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "ADMIN", "admin");
    for name in ["a", "b"] {
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": name })).await;
    }
    let order = json!([{ "field": "NAME" }]);
    let first = app.gql(&t, PAGE, json!({ "first": 1, "order": order })).await;
    let cursor = first["data"]["customers"]["pageInfo"]["endCursor"].as_str().unwrap_or_else(|| panic!("{first}"));
    let mut body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap();
    body["k"][0] = json!("a\u{0}");
    let changed = URL_SAFE_NO_PAD.encode(body.to_string());
    let res = app.gql(&t, PAGE, json!({ "first": 1, "after": changed, "order": order })).await;
    assert_eq!(res["errors"][0]["extensions"]["violations"][0]["code"], "INVALID_CURSOR", "{res}");
}

#[tokio::test]
async fn concurrent_inserts_do_not_disturb_a_walk() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let old: Vec<Value> = (0..150).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("old {i:03}") })).collect();
    let before: HashSet<String> = app.create_customers(&t, &old).await.into_iter().collect();
    let writer = {
        let (base, token) = (app.base.clone(), t.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut written = HashSet::new();
            for i in 0..120 {
                let body = json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                                   "variables": { "i": { "kind": "INDIVIDUAL", "name": format!("new {i:03}") } } });
                let res = client.post(format!("{base}/graphql")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(res.status(), 200, "write {i}");
                let answer: Value = res.json().await.unwrap();
                let id = answer["data"]["createCustomer"]["id"].as_str();
                written.insert(id.unwrap_or_else(|| panic!("write {i} failed: {answer}")).to_owned());
            }
            written
        })
    };
    // By name, new rows land before and after the cursor; by creation time, only after.
    let by_name = walk(&app, &t, &json!([{ "field": "NAME" }]), 10, false).await;
    let by_time = walk(&app, &t, &json!([{ "field": "CREATED_AT" }]), 10, false).await;
    let written = writer.await.unwrap();
    assert_eq!(written.len(), 120, "every write answered with a new customer");
    for rows in [&by_name, &by_time] {
        let seen = ids(rows);
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no row twice");
        assert!(before.is_subset(&unique), "every row that existed before the walk is seen");
        assert!(unique.difference(&before).all(|id| written.contains(id)), "nothing but what was written");
    }
    assert_in_order(&by_name, &json!([{ "field": "NAME" }]));
    assert_in_order(&by_time, &json!([{ "field": "CREATED_AT" }]));
    // The writes all landed: a walk now sees exactly the old and the new rows.
    let after = walk(&app, &t, &json!([{ "field": "NAME" }]), 50, false).await;
    let all: HashSet<String> = before.union(&written).cloned().collect();
    assert_eq!(ids(&after).into_iter().collect::<HashSet<_>>(), all);
    assert_eq!(after.len(), 270);
}
