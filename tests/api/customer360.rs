//! A customer 360° page in one request, with a constant number of SQL statements.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const PAGE: &str = "query($n: Int) { customers(first: $n, orderBy: [{field: NAME}]) { nodes {
  id name owner { name }
  interactions(first: 5) { nodes { kind occurredAt staff { name } } }
  openComplaints { title severity slaBreached assignee { name } }
  stats { purchaseCount purchaseTotal purchasesLast90Days lastInteractionAt averageSatisfaction openComplaints }
  activePlan { title progress { visitsDone revenueActual actionsDue openComplaints } actions { title } team { name } }
} } }";

async fn statements(app: &TestApp, token: &str, n: i64) -> (u64, serde_json::Value) {
    let res = app.post(token, &json!({ "query": PAGE, "variables": { "n": n } })).await;
    let count = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
    (count, res.json().await.unwrap())
}

#[tokio::test]
async fn statements_do_not_grow_with_the_page() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let at = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let names: Vec<Value> = (0..40).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户 {i:02}") })).collect();
    let customers = app.create_customers(&t, &names).await;
    let mut interactions = Vec::new();
    for c in &customers {
        for kind in ["VISIT", "CALL"] {
            interactions.push(json!({ "customerId": c, "kind": kind, "occurredAt": at }));
        }
        interactions.push(
            json!({ "customerId": c, "kind": "PURCHASE", "occurredAt": at, "amount": "10.5", "currency": "CNY" }),
        );
    }
    app.create_all(&t, "recordInteraction", "RecordInteractionInput", &interactions).await;
    let plans: Vec<Value> = customers
        .iter()
        .step_by(2)
        .map(|c| json!({ "customerId": c, "title": "plan", "periodStart": "2020-01-01", "periodEnd": "2099-12-31", "status": "ACTIVE", "plannedVisits": 4 }))
        .collect();
    for plan in app.create_all(&t, "createKeyAccountPlan", "CreateKeyAccountPlanInput", &plans).await {
        app.gql(&t, "mutation($p: ID!) { addPlanAction(planId: $p, input: {title: \"visit\", dueDate: \"2021-01-01\"}) { id } }", json!({ "p": plan })).await;
    }
    let complaints: Vec<Value> = customers
        .iter()
        .step_by(3)
        .map(|c| json!({ "customerId": c, "title": "late", "category": "DELIVERY", "severity": "HIGH" }))
        .collect();
    app.create_all(&t, "fileComplaint", "FileComplaintInput", &complaints).await;
    let (small, small_page) = statements(&app, &t, 10).await;
    // Over 30 customers, as on the 360° pages that split: `futures::try_join_all`, which resolves
    // a list's items, joins more than 30 another way.
    let (large, large_page) = statements(&app, &t, 40).await;
    // The same page again and again: the loaders' batches must not split by how the resolvers
    // happened to be polled (it did, into 8 or 13 statements on a release build).
    for _ in 0..5 {
        assert_eq!(statements(&app, &t, 40).await.0, large, "the same page, the same statements");
    }
    let nodes = large_page["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{large_page}"));
    assert_eq!(nodes.len(), 40);
    assert_eq!(small_page["data"]["customers"]["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(nodes[0]["interactions"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(nodes[0]["stats"]["purchaseTotal"], "10.5");
    assert_eq!(nodes[0]["openComplaints"].as_array().unwrap().len(), 1);
    assert_eq!(
        nodes[0]["activePlan"]["progress"],
        json!({ "visitsDone": 1, "revenueActual": "10.5", "actionsDue": 1, "openComplaints": 1 })
    );
    assert_eq!(nodes[1]["activePlan"], json!(null));
    assert_eq!(small, large, "statements do not grow with the page size");
    assert!(large <= 10, "a 360° page takes at most about ten statements, took {large}");
}

/// The page's loads are made ahead for every way of asking: `edges { node }` as well as
/// `nodes`, two sizes of the latest interactions under aliases, and a filtered timeline, which
/// is not the plain latest page and is read per customer. Each answer is the customer's own.
#[tokio::test]
async fn every_shape_of_the_page_reads_each_customers_own_records() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let names: Vec<Value> = (0..35).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户 {i:02}") })).collect();
    let ids = app.create_customers(&t, &names).await;
    let mut interactions = Vec::new();
    for (i, c) in (0u32..).zip(&ids) {
        for day in 0..=(i % 4) {
            let at = (chrono::Utc::now() - chrono::Duration::days(i64::from(day) + 1)).to_rfc3339();
            interactions.push(json!({ "customerId": c, "kind": if day == 0 { "VISIT" } else { "CALL" }, "occurredAt": at, "summary": format!("{i}-{day}") }));
        }
    }
    app.create_all(&t, "recordInteraction", "RecordInteractionInput", &interactions).await;
    let page = "{ customers(first: 35, orderBy: [{field: NAME}]) { edges { node { id
        two: interactions(first: 2) { nodes { summary } pageInfo { hasNextPage } }
        five: interactions(first: 5) { nodes { summary } }
        visits: interactions(filter: {kind: {eq: VISIT}}) { nodes { summary } }
        activePlan { title } stats { interactionCount } } } } }";
    let res = app.post(&t, &json!({ "query": page })).await;
    let statements: u64 = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let edges = body["data"]["customers"]["edges"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(edges.len(), 35);
    for (i, edge) in edges.iter().enumerate() {
        let n = &edge["node"];
        assert_eq!(n["id"], ids[i]);
        let recorded = i % 4 + 1;
        let summaries = |list: &serde_json::Value| -> Vec<String> {
            list["nodes"].as_array().unwrap().iter().map(|x| x["summary"].as_str().unwrap().to_owned()).collect()
        };
        let newest: Vec<String> = (0..recorded).map(|day| format!("{i}-{day}")).collect();
        assert_eq!(summaries(&n["two"]), newest[..recorded.min(2)], "customer {i}");
        assert_eq!(n["two"]["pageInfo"]["hasNextPage"], recorded > 2);
        assert_eq!(summaries(&n["five"]), newest, "customer {i}");
        assert_eq!(summaries(&n["visits"]), [format!("{i}-0")], "customer {i}");
        assert_eq!(n["stats"]["interactionCount"], recorded);
        assert_eq!(n["activePlan"], json!(null));
    }
    // One batch per loader: customers, settings, the two latest sizes, plans, figures (two), and
    // the filtered timelines (one batch for the 35 customers).
    assert_eq!(statements, 1 + 1 + 2 + 1 + 2 + 1, "statements of the page");
}

/// `Customer.keyAccountPlans` and `Customer.complaints` under a page of customers: one batch per distinct set of
/// arguments, whatever the page's size, and each customer's page (order, size, `hasNextPage`,
/// filter) as the root list reads it for that customer alone.
#[tokio::test]
async fn nested_lists_are_read_in_one_batch_per_shape_and_each_is_the_customers_own() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let names: Vec<Value> = (0..30).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户 {i:02}") })).collect();
    let ids = app.create_customers(&t, &names).await;
    let (mut plans, mut complaints) = (Vec::new(), Vec::new());
    for (i, c) in ids.iter().enumerate() {
        for k in 0..(i % 4) {
            let status = if k % 2 == 0 { "ACTIVE" } else { "DRAFT" };
            plans.push(json!({ "customerId": c, "title": format!("{i}-{k}"), "periodStart": "2026-01-01", "periodEnd": "2026-12-31", "status": status }));
        }
        for (k, severity) in ["HIGH", "LOW", "HIGH"].iter().take(i % 3 + 1).enumerate() {
            complaints.push(
                json!({ "customerId": c, "title": format!("{i}-c{k}"), "category": "DELIVERY", "severity": severity }),
            );
        }
    }
    app.create_all(&t, "createKeyAccountPlan", "CreateKeyAccountPlanInput", &plans).await;
    app.create_all(&t, "fileComplaint", "FileComplaintInput", &complaints).await;
    let shape = "nodes { title } pageInfo { hasNextPage }";
    let page = format!(
        "query($n: Int) {{ customers(first: $n, orderBy: [{{field: NAME}}]) {{ nodes {{ id
            all: keyAccountPlans {{ {shape} }}
            two: keyAccountPlans(first: 2, orderBy: [{{field: TITLE, direction: DESC}}]) {{ {shape} }}
            active: keyAccountPlans(filter: {{status: {{eq: ACTIVE}}}}) {{ {shape} }}
            high: complaints(first: 1, filter: {{severity: {{eq: HIGH}}}}) {{ nodes {{ title }} pageInfo {{ hasNextPage }} }} }} }} }}"
    );
    let (app, t) = (&app, &t);
    let run = |n: i64| {
        let body = json!({ "query": page, "variables": { "n": n } });
        async move {
            let res = app.post(t, &body).await;
            let statements: u64 = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
            (statements, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (small, _) = run(5).await;
    let (large, body) = run(30).await;
    let nodes = body["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(nodes.len(), 30);
    assert_eq!(small, large, "the lists do not grow with the page");

    let alone = format!(
        "query($c: ID!) {{
            all: keyAccountPlans(filter: {{customerId: {{eq: $c}}}}) {{ {shape} }}
            two: keyAccountPlans(first: 2, filter: {{customerId: {{eq: $c}}}}, orderBy: [{{field: TITLE, direction: DESC}}]) {{ {shape} }}
            active: keyAccountPlans(filter: {{customerId: {{eq: $c}}, status: {{eq: ACTIVE}}}}) {{ {shape} }}
            high: complaints(first: 1, filter: {{customerId: {{eq: $c}}, severity: {{eq: HIGH}}}}) {{ nodes {{ title }} pageInfo {{ hasNextPage }} }} }}"
    );
    for (i, node) in nodes.iter().enumerate() {
        let c = &ids[i];
        assert_eq!(node["id"], *c);
        let root = app.gql(t, &alone, json!({ "c": c })).await;
        for list in ["all", "two", "active", "high"] {
            assert_eq!(node[list], root["data"][list], "customer {i}, {list}");
        }
        assert_eq!(node["all"]["nodes"].as_array().unwrap().len(), i % 4, "customer {i}");
    }
    // A filter of 3,000 values under each of 30 customers still reads (in more statements, each
    // within the databases' bound on parameters: 32,766 on SQLite, 65,535 on PostgreSQL).
    let mut titles: Vec<String> = (0..999).map(|k| format!("no such title {k}")).collect();
    titles.push("3-c0".into());
    let res = app
        .gql(
            t,
            "query($t: [String!]) { customers(first: 30, orderBy: [{field: NAME}]) { nodes { complaints(filter: {or: [{title: {in: $t}}, {title: {in: $t}}, {title: {in: $t}}]}) { nodes { title } } } } }",
            json!({ "t": titles }),
        )
        .await;
    let nodes = res["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{res}"));
    let found: Vec<&serde_json::Value> =
        nodes.iter().flat_map(|n| n["complaints"]["nodes"].as_array().unwrap()).collect();
    assert_eq!(found, [&json!({ "title": "3-c0" })], "{res}");
    // A batched page counts its own customer's rows only.
    let counted = app
        .gql(
            t,
            "query($c: ID!) { customer(id: $c) { keyAccountPlans(first: 1) { totalCount } } }",
            json!({ "c": ids[3] }),
        )
        .await;
    assert_eq!(counted["data"]["customer"]["keyAccountPlans"]["totalCount"], 3, "{counted}");
}

/// The batched nested lists under a large page: a filter that binds constants of its own (empty
/// `or`s) still keeps each statement within SQLite's bound on parameters; and a mutation's answer
/// reads the lists as they are after it, not as an earlier field of the same request saw them.
#[tokio::test]
async fn nested_lists_stay_within_bounds_and_read_fresh_after_a_write() {
    // 199 empty `or`s match nothing: the server answers without asking the database (SQLite
    // took 17 s to plan and run them under 90 customers, and more beside other tenants' rows).
    // Statements within the databases' bound on parameters are checked by the 3,000-value
    // filter in `nested_lists_are_read_in_one_batch_per_shape_and_each_is_the_customers_own`.
    let app = TestApp::spawn_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let names: Vec<Value> = (0..90).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户 {i:02}") })).collect();
    let first = app.create_customers(&t, &names).await.swap_remove(0);
    let empty_ors = vec!["{or: []}"; 199].join(", ");
    let res = app
        .gql(
            &t,
            &format!("{{ customers(first: 90) {{ nodes {{ complaints(first: 1, filter: {{and: [{empty_ors}]}}) {{ nodes {{ id }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(res["errors"].is_null(), "{}", &res.to_string()[..500.min(res.to_string().len())]);
    assert_eq!(res["data"]["customers"]["nodes"].as_array().unwrap().len(), 90);

    let file = |alias: &str| {
        format!(
            "{alias}: fileComplaint(input: {{customerId: $c, title: \"{alias}\", category: DELIVERY, severity: LOW}}) {{
                customer {{ complaints {{ nodes {{ title }} totalCount }} }} }}"
        )
    };
    let res = app.gql(&t, &format!("mutation($c: ID!) {{ {} {} }}", file("a"), file("b")), json!({ "c": first })).await;
    let after_b = &res["data"]["b"]["customer"]["complaints"];
    assert_eq!(after_b["totalCount"], 2, "{res}");
    assert_eq!(after_b["nodes"].as_array().map(Vec::len), Some(2), "the second answer sees both: {res}");
}
