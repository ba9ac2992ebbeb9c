//! WebAssembly plugins through HTTP: the default scorers, scores, lifecycle and tiers
//! following purchases; validators refusing values inside writes; hostile plugins failing
//! clearly while another tenant carries on; install, upgrade, disable, uninstall; roles.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

/// A built component (an example or a test guest), base64-encoded.
pub fn wasm(name: &str) -> String {
    let path = guanxi_test_programs::components().join(format!("{}.wasm", name.replace('-', "_")));
    STANDARD.encode(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Asks `query` until `done` holds for the answer (scoring runs in the background).
pub async fn eventually(app: &TestApp, token: &str, query: &str, vars: Value, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let res = app.gql(token, query, vars.clone()).await;
        if done(&res) {
            return res;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not reached within 60 s; last answer: {res}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const INSTALL: &str = "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { id name version sha256 capabilities enabled scoreKeys revision } }";
const ATTACH: &str = "mutation($p: ID!, $e: EntityKind!, $f: String!) { attachValidator(pluginId: $p, entity: $e, field: $f) { key name source validators { name } } }";
const CREATE: &str = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
const RECORD: &str = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }";

async fn install(app: &TestApp, token: &str, input: Value) -> Value {
    let res = app.gql(token, INSTALL, json!({ "i": input })).await;
    assert!(res["errors"].is_null(), "install failed: {res}");
    res["data"]["installPlugin"].clone()
}

async fn purchase(app: &TestApp, token: &str, customer: &str, amount: u32, days_ago: i64) {
    let at = (chrono::Utc::now() - chrono::Duration::days(days_ago) - chrono::Duration::minutes(1)).to_rfc3339();
    let input = json!({ "customerId": customer, "kind": "PURCHASE", "occurredAt": at, "amount": amount.to_string(), "currency": "CNY" });
    let res = app.gql(token, RECORD, json!({ "i": input })).await;
    assert!(res["errors"].is_null(), "{res}");
}

async fn customer_count(app: &TestApp, token: &str) -> i64 {
    app.gql(token, "{ customers { totalCount } }", json!({})).await["data"]["customers"]["totalCount"].as_i64().unwrap()
}

/// The check digit that makes `body` pass Luhn.
fn luhn_complete(body: &str) -> String {
    let sum: u32 = body
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

const SCORED: &str = "{ customers(first: 50) { nodes { id name tier lifecycleStage custom { valueScore churnRisk lifecycleStage } score(key: \"valueScore\") { key value explanation computedAt plugin { name } } scores { key } } } }";

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story: install, score, rank, read through the schema")]
async fn default_scorers_score_customers_rank_tiers_and_extend_the_schema() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");

    let res = app.gql(&admin, "{ plugins { name capabilities enabled scoreKeys } }", json!({})).await;
    assert_eq!(
        res["data"]["plugins"],
        json!([
            { "name": "value-scorer", "capabilities": ["SCORER"], "enabled": true, "scoreKeys": ["value_score", "rfm_segment"] },
            { "name": "lifecycle-scorer", "capabilities": ["SCORER"], "enabled": true, "scoreKeys": ["lifecycle_stage", "churn_risk", "loyalty"] },
        ])
    );
    let defs =
        app.gql(&admin, "{ customFieldDefinitions(entity: CUSTOMER) { key type source indexed } }", json!({})).await;
    assert!(
        defs["data"]["customFieldDefinitions"]
            .as_array()
            .unwrap()
            .contains(&json!({ "key": "value_score", "type": "DECIMAL", "source": "PLUGIN", "indexed": true })),
        "{defs}"
    );

    // Ten customers: the n-th buys n times, for n × 100 CNY each; the first never buys.
    let mut ids = Vec::new();
    for n in 0..10u32 {
        let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("C{n}") })).await;
        for i in 0..n {
            purchase(&app, &admin, &id, 100 * n, i64::from(3 + 20 * i)).await;
        }
        ids.push(id);
    }
    // Every write queued its customer; a re-score of the whole tenant reports its progress, and
    // once it is done every customer is scored and ranked as of the last purchase.
    let res = app.gql(&admin, "mutation { recomputeScores { id total pending done } }", json!({})).await;
    let run = &res["data"]["recomputeScores"];
    assert_eq!(run["total"], 10, "{res}");
    let progress = "query($id: ID!) { scoreRun(id: $id) { pending done total } }";
    eventually(&app, &admin, progress, json!({ "id": run["id"] }), |r| r["data"]["scoreRun"]["done"] == true).await;
    let res = app.gql(&admin, SCORED, json!({})).await;
    let nodes = res["data"]["customers"]["nodes"].as_array().unwrap().clone();
    let by_name = |n: &str| nodes.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by_name("C0")["lifecycleStage"], "PROSPECT");
    assert_eq!(by_name("C0")["custom"]["lifecycleStage"], "PROSPECT");
    assert_ne!(by_name("C9")["lifecycleStage"], "PROSPECT");
    let top = by_name("C9");
    assert_eq!(top["score"]["key"], "value_score");
    assert_eq!(top["score"]["plugin"]["name"], "value-scorer");
    assert!(top["score"]["explanation"].as_str().is_some_and(|e| !e.is_empty()), "{top}");
    let keys: Vec<&str> = top["scores"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["value_score", "rfm_segment", "lifecycle_stage", "churn_risk", "loyalty"]);

    // Tiers: ranks by value score with the default cut points 1 / 19 / 30 / 50 % of 10
    // customers: ceil(0.1) = 1, ceil(2) − 1 = 1, ceil(5) − 2 = 3, and 5 SMALL.
    let dist = app.gql(&admin, "{ tierDistribution { tier count } }", json!({})).await;
    assert_eq!(
        dist["data"]["tierDistribution"],
        json!([{ "tier": "KEY_PRIMARY", "count": 1 }, { "tier": "KEY_SECONDARY", "count": 1 }, { "tier": "ORDINARY", "count": 3 }, { "tier": "SMALL", "count": 5 }])
    );
    // Counts filtered by what scoring wrote (tier, computed fields) agree with the lists, and
    // with a filter on the customer's own columns.
    let counts = app
        .gql(
            &admin,
            "{ ordinary: customers(filter: { tier: { eq: ORDINARY } }) { totalCount nodes { id } } \
               prospects: customers(filter: { custom: { lifecycleStage: { eq: \"PROSPECT\" } } }) { totalCount nodes { id } } \
               nine: customers(filter: { name: { eq: \"C9\" } }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(counts["data"]["ordinary"]["totalCount"], 3, "{counts}");
    assert_eq!(counts["data"]["ordinary"]["nodes"].as_array().unwrap().len(), 3, "{counts}");
    let prospects = counts["data"]["prospects"]["totalCount"].as_u64().unwrap();
    assert!(prospects >= 1, "C0 is a prospect: {counts}");
    assert_eq!(counts["data"]["prospects"]["nodes"].as_array().unwrap().len() as u64, prospects, "{counts}");
    assert_eq!(counts["data"]["nine"]["totalCount"], 1, "{counts}");
    // Tiers follow the value score (ties are broken by id, which the test does not know).
    let value = |c: &Value| c["score"]["value"].as_f64().unwrap();
    let rank =
        |c: &Value| ["KEY_PRIMARY", "KEY_SECONDARY", "ORDINARY", "SMALL"].iter().position(|t| c["tier"] == *t).unwrap();
    for a in &nodes {
        for b in &nodes {
            if value(a) > value(b) {
                assert!(rank(a) <= rank(b), "{a} ranks below {b}");
            }
        }
    }
    let mut ranked = nodes.clone();
    ranked.sort_by(|a, b| value(b).total_cmp(&value(a)));
    assert_eq!(value(&nodes.iter().find(|c| c["tier"] == "KEY_PRIMARY").unwrap().clone()), value(&ranked[0]));

    // Sorting by tier walks the pyramid top down (bottom up descending), across pages.
    let by_tier = "query($d: OrderDirection!, $after: String) { customers(first: 3, after: $after, orderBy: [{ field: TIER, direction: $d }]) { nodes { tier } pageInfo { endCursor hasNextPage } } }";
    for (direction, expected) in [
        (
            "ASC",
            [
                "KEY_PRIMARY",
                "KEY_SECONDARY",
                "ORDINARY",
                "ORDINARY",
                "ORDINARY",
                "SMALL",
                "SMALL",
                "SMALL",
                "SMALL",
                "SMALL",
            ],
        ),
        (
            "DESC",
            [
                "SMALL",
                "SMALL",
                "SMALL",
                "SMALL",
                "SMALL",
                "ORDINARY",
                "ORDINARY",
                "ORDINARY",
                "KEY_SECONDARY",
                "KEY_PRIMARY",
            ],
        ),
    ] {
        let (mut seen, mut after) = (Vec::new(), Value::Null);
        loop {
            let res = app.gql(&admin, by_tier, json!({ "d": direction, "after": after })).await;
            let page = &res["data"]["customers"];
            seen.extend(
                page["nodes"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{res}"))
                    .iter()
                    .map(|n| n["tier"].as_str().unwrap().to_owned()),
            );
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, expected, "{direction}");
    }

    // Computed values live in the customers' scores rows, apart from the customer row that
    // scoring never rewrites, and are indexed there: "churn risk known, highest value first"
    // walks the value score's index.
    {
        use guanxi_api::domain::custom_fields::FieldType;
        use guanxi_api::query::{CustomKey, Filter, Op, OrderKey, SortField, page_request};
        use sea_orm::ConnectionTrait;
        // The computed fields' indexes are built in the background.
        let ready = "{ customFieldDefinitions(entity: CUSTOMER) { key indexState } }";
        eventually(&app, &admin, ready, json!({}), |r| {
            r["data"]["customFieldDefinitions"].as_array().is_some_and(|defs| {
                defs.iter()
                    .filter(|d| d["key"] == "value_score" || d["key"] == "churn_risk")
                    .all(|d| d["indexState"] == "READY")
            })
        })
        .await;
        let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
        let backend = db.get_database_backend();
        let tenant = app.tenant_id(&db, "acme").await;
        let value_score =
            CustomKey { key: "value_score".into(), ty: FieldType::Decimal, computed: true, indexed: true };
        let churn_risk = CustomKey { key: "churn_risk".into(), ty: FieldType::Decimal, computed: true, indexed: true };
        let filter = Filter::Custom(churn_risk, Op::IsNull(false));
        let order = vec![OrderKey { field: SortField::Custom(value_score), descending: true }];
        let page = page_request(Some(3), None, None, None, &order).expect("page");
        let statement = guanxi_api::store::customers::list_statement(backend, tenant, &filter, &order, &page);
        let rows = db.query_all_raw(statement.clone()).await.expect("query");
        let mut names: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").expect("name")).collect();
        // A page of 3 reads one more, to learn whether more follow; the four best buyers tie.
        names.sort();
        assert_eq!(names, ["C6", "C7", "C8", "C9"], "the statement answers the query");
        let plan = crate::helpers::plan(&db, &statement).await;
        assert!(plan.contains("customer_scores_cf_"), "the value score's index is not used:\n{plan}");
        let versions = app.gql(&admin, "{ customers(first: 10) { nodes { version } } }", json!({})).await;
        let versions = versions["data"]["customers"]["nodes"].as_array().unwrap().iter().map(|n| n["version"].clone());
        assert!(versions.into_iter().all(|v| v == 1), "scoring moved a customer's version");
    }

    // … and by lifecycle stage (alphabetically), which the lifecycle scorer computes.
    let res = app
        .gql(
            &admin,
            "{ customers(first: 20, orderBy: [{ field: LIFECYCLE_STAGE }]) { nodes { lifecycleStage } } }",
            json!({}),
        )
        .await;
    let stages: Vec<&str> = res["data"]["customers"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .map(|n| n["lifecycleStage"].as_str().unwrap())
        .collect();
    let mut sorted = stages.clone();
    sorted.sort_unstable();
    assert_eq!(stages, sorted);
    assert_eq!(stages.len(), 10);

    // Computed fields filter and sort like any custom field.
    let threshold = value(&ranked[4]);
    let res = app
        .gql(
            &admin,
            "query($t: Decimal!) { customers(filter: { custom: { valueScore: { gte: $t } } }, orderBy: [{ customField: \"valueScore\", direction: DESC }]) { nodes { name } } }",
            json!({ "t": threshold.to_string() }),
        )
        .await;
    let names: Vec<&str> = res["data"]["customers"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{res}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> =
        ranked.iter().filter(|c| value(c) >= threshold).map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), expected.len(), "{res}");
    assert_eq!(names.iter().collect::<std::collections::BTreeSet<_>>(), expected.iter().collect());

    // Purchases move the scores: the prospect buys and stops being one.
    purchase(&app, &admin, &ids[0], 500, 1).await;
    eventually(
        &app,
        &admin,
        "query($id: ID!) { customer(id: $id) { lifecycleStage } }",
        json!({ "id": ids[0] }),
        |r| r["data"]["customer"]["lifecycleStage"].as_str().is_some_and(|s| s != "PROSPECT"),
    )
    .await;

    // A re-score that changes nothing writes nothing: every score keeps its computedAt.
    let times = "{ customers(first: 50) { nodes { id scores { key value computedAt } } } }";
    let before = app.gql(&admin, times, json!({})).await;
    let res = app.gql(&admin, "mutation { recomputeScores { id } }", json!({})).await;
    eventually(&app, &admin, progress, json!({ "id": res["data"]["recomputeScores"]["id"] }), |r| {
        r["data"]["scoreRun"]["done"] == true
    })
    .await;
    assert_eq!(app.gql(&admin, times, json!({})).await, before, "unchanged scores were written again");

    // Changing the cut points ranks again at once.
    let res = app
        .gql(&admin, "mutation { updateTenantSettings(input: { tierCutPoints: { keyPrimary: 10, keySecondary: 10, ordinary: 30 } }) { tierCutPoints { keyPrimary } } }", json!({}))
        .await;
    assert_eq!(res["data"]["updateTenantSettings"]["tierCutPoints"]["keyPrimary"], 10.0, "{res}");
    let dist = app.gql(&admin, "{ tierDistribution { tier count } }", json!({})).await;
    assert_eq!(dist["data"]["tierDistribution"][0], json!({ "tier": "KEY_PRIMARY", "count": 1 }));
    assert_eq!(dist["data"]["tierDistribution"][1], json!({ "tier": "KEY_SECONDARY", "count": 1 }));
    assert_eq!(dist["data"]["tierDistribution"][3], json!({ "tier": "SMALL", "count": 5 }));
    let res = app
        .gql(&admin, "mutation { updateTenantSettings(input: { tierCutPoints: { keyPrimary: 60, keySecondary: 50, ordinary: 0 } }) { baseCurrency } }", json!({}))
        .await;
    assert_eq!(violations(&res), [("tierCutPoints".to_owned(), "OUT_OF_RANGE".to_owned())]);

    // Every scorer call is on record.
    let res = app
        .gql(
            &admin,
            "{ plugins { name lastRuns(first: 5) { call outcome items fuelUsed memoryPeakBytes durationMs } } }",
            json!({}),
        )
        .await;
    let runs = &res["data"]["plugins"][0]["lastRuns"];
    let score_runs: Vec<&Value> = runs.as_array().unwrap().iter().filter(|r| r["call"] == "SCORE").collect();
    assert!(!score_runs.is_empty(), "{res}");
    assert!(
        score_runs.iter().all(|r| r["outcome"] == "OK" && r["fuelUsed"].as_str().unwrap().parse::<u64>().unwrap() > 0)
    );

    // Score details live beside the customers and go with a deleted one.
    let details = || async {
        use sea_orm::ConnectionTrait as _;
        let db = guanxi_api::store::connect(&app.database_url, 1).await.unwrap();
        let tenant = app.tenant_id(&db, "acme").await;
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => "SELECT COUNT(*) AS n FROM customer_scores WHERE tenant_id = $1",
            _ => "SELECT COUNT(*) AS n FROM customer_scores WHERE tenant_id = ?",
        };
        let stmt = sea_orm::Statement::from_sql_and_values(backend, sql, [tenant.into()]);
        let row = db.query_one_raw(stmt).await.unwrap().unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(details().await, 10);
    let res = app.gql(&admin, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": ids[9] })).await;
    assert_eq!(res["data"]["deleteCustomer"], ids[9], "{res}");
    assert_eq!(details().await, 9);
}

/// Walks the customers in `order` forward and backward and checks, with `key` reading each
/// row's sort value: every customer once, sorted (nulls last ascending, first descending), and
/// the backward walk row for row the forward one. Returns the forward walk.
async fn assert_walks<K: Ord + std::fmt::Debug>(
    app: &TestApp,
    token: &str,
    order: Value,
    descending: bool,
    key: impl Fn(&Value) -> Option<K>,
    every: &std::collections::BTreeSet<String>,
) -> Vec<Value> {
    let select = "id name lifecycleStage custom { valueScore }";
    let forward = crate::pagination::walk_customers(app, token, &order, 5, false, select).await;
    let ids: Vec<String> = forward.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), every.len(), "{order}: {forward:?}");
    assert_eq!(&ids.iter().cloned().collect::<std::collections::BTreeSet<_>>(), every, "{order}: every row once");
    for w in forward.windows(2) {
        let (a, b) = (key(&w[0]), key(&w[1]));
        let ordering = match (&a, &b) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let ordering = if descending { ordering.reverse() } else { ordering };
        assert!(ordering.is_le(), "{order}: {a:?} before {b:?}");
    }
    let backward = crate::pagination::walk_customers(app, token, &order, 3, true, select).await;
    let back_ids: Vec<String> = backward.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(back_ids, ids, "{order}: backward is the same sequence");
    forward
}

/// Computed values sort like stored ones, nulls included: customers made while the scorers are
/// off have no computed values. Many rows tie (non-buyers, nulls), so the id tiebreak decides
/// much of the order, and a backward walk must still be the forward one exactly.
#[tokio::test]
async fn computed_orders_with_nulls_walk_backward_as_forward() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let mut every = std::collections::BTreeSet::new();
    for n in 0..12u32 {
        let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("S{n:02}") })).await;
        for i in 0..n % 4 {
            purchase(&app, &admin, &id, 100 * (n + 1), i64::from(3 + 20 * i)).await;
        }
        every.insert(id);
    }
    let res = app.gql(&admin, "mutation { recomputeScores { id } }", json!({})).await;
    let progress = "query($id: ID!) { scoreRun(id: $id) { done } }";
    eventually(&app, &admin, progress, json!({ "id": res["data"]["recomputeScores"]["id"] }), |r| {
        r["data"]["scoreRun"]["done"] == true
    })
    .await;
    let plugins = app.gql(&admin, "{ plugins { id } }", json!({})).await;
    let toggle = "mutation($id: ID!) { setPluginEnabled(id: $id, enabled: false) { enabled } }";
    for plugin in plugins["data"]["plugins"].as_array().unwrap() {
        let res = app.gql(&admin, toggle, json!({ "id": plugin["id"] })).await;
        assert_eq!(res["data"]["setPluginEnabled"]["enabled"], false, "{res}");
    }
    for n in 0..8 {
        every.insert(app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("U{n}") })).await);
    }

    let value = |r: &Value| r["custom"]["valueScore"].as_str().map(|v| v.parse::<rust_decimal::Decimal>().unwrap());
    let stage = |r: &Value| r["lifecycleStage"].as_str().map(str::to_owned);
    for direction in ["ASC", "DESC"] {
        let descending = direction == "DESC";
        let order = json!([{ "customField": "valueScore", "direction": direction }]);
        let walked = assert_walks(&app, &admin, order, descending, value, &every).await;
        // Scored before the switch, and only those.
        let scored = |r: &Value| r["name"].as_str().unwrap().starts_with('S');
        assert!(walked.iter().all(|r| value(r).is_some() == scored(r)), "{walked:?}");
        let order = json!([{ "field": "LIFECYCLE_STAGE", "direction": direction }]);
        let walked = assert_walks(&app, &admin, order, descending, stage, &every).await;
        assert!(walked.iter().all(|r| stage(r).is_some() == scored(r)), "{walked:?}");
    }
}

/// The worker claims its next round while it scores one, and removes a scored round from the
/// queue (or moves the tenant's sweep on) while it scores the next. With rounds of 3
/// customers, a re-score of 10 that only scorers switched on after the writes can score, with
/// more writes queued while the switch's own sweep may be under way, still scores every one,
/// reports done only when all are, and ranks the tenant once nothing is left to score.
#[tokio::test]
async fn a_rescore_in_small_rounds_scores_everyone_and_ends_ranked() {
    let app = TestApp::spawn_with(|c| c.score_claim = 3).await;
    let admin = app.token("acme", "ADMIN", "root");
    let plugins = app.gql(&admin, "{ plugins { id } }", json!({})).await;
    let ids: Vec<Value> = plugins["data"]["plugins"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    let toggle = "mutation($id: ID!, $on: Boolean!) { setPluginEnabled(id: $id, enabled: $on) { enabled } }";
    for id in &ids {
        app.gql(&admin, toggle, json!({ "id": id, "on": false })).await;
    }
    let mut created = Vec::new();
    for n in 0..10u32 {
        let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("C{n}") })).await;
        for i in 0..n {
            purchase(&app, &admin, &id, 100 * n, i64::from(3 + 20 * i)).await;
        }
        created.push(id);
    }
    let unscored = app.gql(&admin, "{ tierDistribution { tier count } }", json!({})).await;
    let counts = unscored["data"]["tierDistribution"].as_array().unwrap();
    assert!(counts.iter().all(|t| t["count"] == 0), "nobody is ranked before a scorer runs: {unscored}");
    for id in &ids {
        app.gql(&admin, toggle, json!({ "id": id, "on": true })).await;
    }
    // Writes queued beside the sweep that switching the scorers on started.
    for (n, customer) in (1..).zip(&created) {
        purchase(&app, &admin, customer, 50 * n, 1).await;
    }

    let res = app.gql(&admin, "mutation { recomputeScores { id total } }", json!({})).await;
    assert_eq!(res["data"]["recomputeScores"]["total"], 10, "{res}");
    let progress = "query($id: ID!) { scoreRun(id: $id) { pending done } }";
    let run = json!({ "id": res["data"]["recomputeScores"]["id"] });
    eventually(&app, &admin, progress, run, |r| r["data"]["scoreRun"]["done"] == true).await;

    let res =
        app.gql(&admin, "{ customers(first: 50) { nodes { name tier custom { valueScore } } } }", json!({})).await;
    let nodes = res["data"]["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 10);
    assert!(nodes.iter().all(|c| c["custom"]["valueScore"].is_string() && c["tier"].is_string()), "{res}");
    let dist = app.gql(&admin, "{ tierDistribution { tier count } }", json!({})).await;
    assert_eq!(
        dist["data"]["tierDistribution"],
        json!([{ "tier": "KEY_PRIMARY", "count": 1 }, { "tier": "KEY_SECONDARY", "count": 1 }, { "tier": "ORDINARY", "count": 3 }, { "tier": "SMALL", "count": 5 }])
    );
    // Ranked by the scores of this run: the top tier holds a highest score (ties go by id).
    let value = |c: &Value| c["custom"]["valueScore"].as_str().unwrap().parse::<f64>().unwrap();
    let best = nodes.iter().map(value).fold(f64::MIN, f64::max);
    assert_eq!(value(nodes.iter().find(|c| c["tier"] == "KEY_PRIMARY").unwrap()), best, "{res}");
}

#[tokio::test]
async fn validators_refuse_bad_values_inside_the_write_and_name_the_plugin() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let res = app
        .gql(&admin, "mutation { defineCustomField(input: { entity: CUSTOMER, key: \"loyalty_card\", label: \"Loyalty card\", type: STRING }) { key } }", json!({}))
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let card = install(
        &app,
        &admin,
        json!({ "name": "card-validator", "wasmBase64": wasm("card-validator"), "config": { "prefix": "6222" } }),
    )
    .await;
    assert_eq!(card["capabilities"], json!(["VALIDATOR"]));
    assert_eq!(card["version"], "1");
    let res = app.gql(&admin, ATTACH, json!({ "p": card["id"], "e": "CUSTOMER", "f": "loyaltyCard" })).await;
    assert_eq!(
        res["data"]["attachValidator"],
        json!({ "key": "loyalty_card", "name": "loyaltyCard", "source": "USER", "validators": [{ "name": "card-validator" }] })
    );

    let good = luhn_complete("622200001234567");
    let bad = format!("{}{}", &good[..15], (good[15..].parse::<u32>().unwrap() + 1) % 10);
    let before = customer_count(&app, &admin).await;
    let res = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "kind": "INDIVIDUAL", "name": "Bad card", "customFields": { "loyalty_card": bad } } }),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    assert_eq!(violations(&res), [("customFields.loyalty_card".to_owned(), "INVALID_CHECK_DIGIT".to_owned())]);
    assert_eq!(res["errors"][0]["extensions"]["violations"][0]["plugin"], "card-validator");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("card-validator"), "{res}");
    assert_eq!(customer_count(&app, &admin).await, before, "nothing is written");
    let res = app.gql(&admin, CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": "Wrong programme", "customFields": { "loyalty_card": luhn_complete("411111111111111") } } })).await;
    assert_eq!(violations(&res), [("customFields.loyalty_card".to_owned(), "WRONG_PROGRAMME".to_owned())]);
    // Every problem at once: the built-in checks' and the validator's, in one answer.
    let res = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "kind": "INDIVIDUAL", "name": "Two problems", "email": "not-an-email", "customFields": { "loyalty_card": bad } } }),
        )
        .await;
    let found = violations(&res);
    assert!(found.iter().any(|(field, _)| field == "email"), "{res}");
    assert!(found.contains(&("customFields.loyalty_card".to_owned(), "INVALID_CHECK_DIGIT".to_owned())), "{res}");
    assert_eq!(customer_count(&app, &admin).await, before, "nothing is written");
    let id = app
        .create_customer(
            &admin,
            json!({ "kind": "INDIVIDUAL", "name": "Good card", "customFields": { "loyalty_card": good } }),
        )
        .await;

    // Updates are checked too; an update that leaves the field alone does not call the plugin.
    let update = "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { name } }";
    let res = app.gql(&admin, update, json!({ "id": id, "i": { "customFields": { "loyalty_card": bad } } })).await;
    assert_eq!(code(&res), "BAD_USER_INPUT");
    let res = app
        .gql(&admin, update, json!({ "id": id, "i": { "email": "nope", "customFields": { "loyalty_card": bad } } }))
        .await;
    assert_eq!(violations(&res).len(), 2, "the update is told both: {res}");
    let res = app.gql(&admin, update, json!({ "id": id, "i": { "kind": "INDIVIDUAL", "name": "Renamed" } })).await;
    assert_eq!(res["data"]["updateCustomer"]["name"], "Renamed", "{res}");

    // A built-in field can carry a validator too.
    let res = app.gql(&admin, ATTACH, json!({ "p": card["id"], "e": "CUSTOMER", "f": "channel" })).await;
    assert_eq!(res["data"]["attachValidator"]["source"], "BUILT_IN", "{res}");
    let res =
        app.gql(&admin, CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": "Web", "channel": "website" } })).await;
    assert_eq!(violations(&res), [("channel".to_owned(), "INVALID_CHARACTER".to_owned())]);
    let res = app
        .gql(&admin, "mutation($p: ID!) { detachValidator(pluginId: $p, entity: CUSTOMER, field: \"channel\") { validators { name } } }", json!({ "p": card["id"] }))
        .await;
    assert_eq!(res["data"]["detachValidator"]["validators"], json!([]), "{res}");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Web", "channel": "website" })).await;

    // Disabled: nothing is checked; enabled again: checked again.
    let toggle = "mutation($id: ID!, $on: Boolean!) { setPluginEnabled(id: $id, enabled: $on) { enabled revision } }";
    let res = app.gql(&admin, toggle, json!({ "id": card["id"], "on": false })).await;
    assert_eq!(res["data"]["setPluginEnabled"], json!({ "enabled": false, "revision": 2 }));
    app.create_customer(
        &admin,
        json!({ "kind": "INDIVIDUAL", "name": "Unchecked", "customFields": { "loyalty_card": bad } }),
    )
    .await;
    app.gql(&admin, toggle, json!({ "id": card["id"], "on": true })).await;
    let res = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "kind": "INDIVIDUAL", "name": "Checked", "customFields": { "loyalty_card": bad } } }),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT");

    // Upgrade hot-swaps the component: the resident-id validator now checks the field.
    let res = app
        .gql(&admin, "mutation($id: ID!, $w: String!) { upgradePlugin(id: $id, wasmBase64: $w, version: \"2.0\") { version sha256 revision } }", json!({ "id": card["id"], "w": wasm("cn-id-validator") }))
        .await;
    let upgraded = &res["data"]["upgradePlugin"];
    assert_eq!(upgraded["version"], "2.0", "{res}");
    assert_ne!(upgraded["sha256"], card["sha256"]);
    let res = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "kind": "INDIVIDUAL", "name": "Card as id", "customFields": { "loyalty_card": good } } }),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "{res}");
    app.create_customer(
        &admin,
        json!({ "kind": "INDIVIDUAL", "name": "Resident", "customFields": { "loyalty_card": "11010519491231002X" } }),
    )
    .await;

    // Every call is on record (run records are written in the background, just after the call).
    let res = eventually(
        &app,
        &admin,
        "query($id: ID!) { plugin(id: $id) { lastRuns(first: 50) { call outcome version fuelUsed durationMs } } }",
        json!({ "id": card["id"] }),
        |r| {
            r["data"]["plugin"]["lastRuns"].as_array().is_some_and(|runs| {
                runs.iter().any(|r| r["version"] == "2.0") && runs.iter().any(|r| r["version"] == "1")
            })
        },
    )
    .await;
    let runs = res["data"]["plugin"]["lastRuns"].as_array().unwrap_or_else(|| panic!("{res}")).clone();
    // Besides the validations, the install's check of the (absent) configuration, if its record
    // was written once the plugin's row was there.
    let calls = |r: &Value| r["call"] == "VALIDATE" || r["call"] == "CHECK_CONFIG";
    assert!(runs.iter().all(|r| calls(r) && r["outcome"] == "OK"), "{res}");

    // Uninstalled: the field is unchecked again and lists no validator.
    let res = app.gql(&admin, "mutation($id: ID!) { uninstallPlugin(id: $id) }", json!({ "id": card["id"] })).await;
    assert_eq!(res["data"]["uninstallPlugin"], card["id"]);
    let defs =
        app.gql(&admin, "{ customFieldDefinitions(entity: CUSTOMER) { key validators { name } } }", json!({})).await;
    let loyalty = defs["data"]["customFieldDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "loyalty_card")
        .unwrap()
        .clone();
    assert_eq!(loyalty["validators"], json!([]));
    app.create_customer(
        &admin,
        json!({ "kind": "INDIVIDUAL", "name": "Free again", "customFields": { "loyalty_card": bad } }),
    )
    .await;
}

#[tokio::test]
async fn hostile_plugins_fail_clearly_and_another_tenant_carries_on() {
    let app = TestApp::shared().await;
    let evil = app.token("evil", "ADMIN", "root");
    let good = app.token("good", "ADMIN", "root");
    for token in [&evil, &good] {
        let res = app
            .gql(token, "mutation { defineCustomField(input: { entity: CUSTOMER, key: \"card\", label: \"Card\", type: STRING }) { key } }", json!({}))
            .await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let hostile =
        install(&app, &evil, json!({ "name": "hostile", "wasmBase64": wasm("hostile"), "config": { "mode": "loop" } }))
            .await;
    app.gql(&evil, ATTACH, json!({ "p": hostile["id"], "e": "CUSTOMER", "f": "card" })).await;
    let card = install(&app, &good, json!({ "name": "card-validator", "wasmBase64": wasm("card-validator") })).await;
    app.gql(&good, ATTACH, json!({ "p": card["id"], "e": "CUSTOMER", "f": "card" })).await;

    // The good tenant validates throughout, counting the writes that succeed while the attack
    // is still going on.
    let attacking = std::sync::atomic::AtomicBool::new(false);
    let good_app = &app;
    let good_token = good.clone();
    let steady = async {
        let mut during_the_attack = 0;
        for i in 0..30 {
            let res = good_app
                .gql(&good_token, CREATE, json!({ "i": { "kind": "INDIVIDUAL", "name": format!("G{i}"), "customFields": { "card": luhn_complete("622200001234567") } } }))
                .await;
            assert!(res["errors"].is_null(), "{res}");
            if attacking.load(std::sync::atomic::Ordering::SeqCst) {
                during_the_attack += 1;
            }
        }
        during_the_attack
    };
    let configure = "mutation($id: ID!, $c: JSON) { configurePlugin(id: $id, config: $c) { revision } }";
    let attack = async {
        attacking.store(true, std::sync::atomic::Ordering::SeqCst);
        let before = customer_count(&app, &evil).await;
        // A sleeping plugin's sleeps end at once; then it spins on host calls until its fuel or
        // its wall-clock budget runs out, whichever comes first.
        for (mode, reasons) in [
            ("loop", &["OUT_OF_FUEL"][..]),
            ("sleep", &["OUT_OF_FUEL", "TIMEOUT"]),
            ("memory", &["MEMORY_LIMIT"]),
            ("recursion", &["TRAP"]),
            ("panic", &["TRAP"]),
            ("error", &["GUEST_ERROR"]),
        ] {
            let res = app.gql(&evil, configure, json!({ "id": hostile["id"], "c": { "mode": mode } })).await;
            assert!(res["errors"].is_null(), "{res}");
            let res = app
                .gql(
                    &evil,
                    CREATE,
                    json!({ "i": { "kind": "INDIVIDUAL", "name": mode, "customFields": { "card": "x" } } }),
                )
                .await;
            assert_eq!(code(&res), "PLUGIN_ERROR", "{mode}: {res}");
            assert_eq!(res["errors"][0]["extensions"]["plugin"], "hostile", "{res}");
            let reason = res["errors"][0]["extensions"]["reason"].as_str().unwrap_or_default();
            assert!(reasons.contains(&reason), "{mode}: {res}");
        }
        assert_eq!(customer_count(&app, &evil).await, before, "refused writes leave nothing");
        attacking.store(false, std::sync::atomic::Ordering::SeqCst);
    };
    let (during_the_attack, ()) = tokio::join!(steady, attack);
    // A hostile call ends at its fuel or its validator deadline, so the other tenant's writes go
    // on between the hostile ones, even on SQLite, whose single writer each hostile write holds
    // meanwhile. How long it waits is for the benchmarks, not for this test.
    assert!(during_the_attack > 0, "the good tenant wrote nothing while the attack went on");
    assert_eq!(customer_count(&app, &good).await, 30);

    // The server is healthy, and the failures are on record.
    let health = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert!(health.status().is_success());
    let runs = eventually(
        &app,
        &evil,
        "query($id: ID!) { plugin(id: $id) { lastRuns(first: 50) { call outcome error durationMs } } }",
        json!({ "id": hostile["id"] }),
        |r| {
            r["data"]["plugin"]["lastRuns"]
                .as_array()
                .is_some_and(|runs| runs.iter().filter(|x| x["call"] == "VALIDATE").count() >= 6)
        },
    )
    .await;
    let outcomes: Vec<&str> = runs["data"]["plugin"]["lastRuns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["call"] == "VALIDATE")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    for reason in ["OUT_OF_FUEL", "MEMORY_LIMIT", "TRAP", "GUEST_ERROR"] {
        assert!(outcomes.contains(&reason), "{reason} in {outcomes:?}");
    }
    // Each failed call is on record with how long it ran.
    let validations = runs["data"]["plugin"]["lastRuns"].as_array().unwrap().iter().filter(|r| r["call"] == "VALIDATE");
    assert!(validations.clone().all(|r| r["durationMs"].is_number()), "{runs}");
}

/// A customer's scores from the hostile plugin: its computed fields and the details of one.
const HOSTILE_SCORES: &str =
    "query($id: ID!) { customer(id: $id) { custom { risk note } score(key: \"risk\") { value computedAt } } }";

/// Installs the hostile plugin in its harmless mode and makes a customer: the plugin, the
/// customer's id and the customer's first scores ([`HOSTILE_SCORES`]).
async fn scored_by_hostile(app: &TestApp, admin: &str) -> (Value, String, Value) {
    let hostile =
        install(app, admin, json!({ "name": "hostile", "wasmBase64": wasm("hostile"), "config": { "mode": "ok" } }))
            .await;
    assert_eq!(hostile["capabilities"], json!(["SCORER", "VALIDATOR"]));
    let id = app.create_customer(admin, json!({ "kind": "INDIVIDUAL", "name": "Scored" })).await;
    // The computed field and the details are written in one transaction but read by two
    // statements of one request, so wait until one answer shows both.
    let first = eventually(app, admin, HOSTILE_SCORES, json!({ "id": id }), |r| {
        !r["data"]["customer"]["score"].is_null() && !r["data"]["customer"]["custom"]["risk"].is_null()
    })
    .await;
    assert_eq!(first["data"]["customer"]["custom"], json!({ "risk": "0.5", "note": "fine" }), "{first}");
    (hostile, id, first)
}

#[tokio::test]
async fn a_failing_scorer_keeps_the_last_scores_and_shows_the_failure() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let (hostile, id, first) = scored_by_hostile(&app, &admin).await;

    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { configurePlugin(id: $id, config: { mode: \"panic\" }) { revision } }",
            json!({ "id": hostile["id"] }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let runs = "query($id: ID!) { plugin(id: $id) { lastRuns(first: 5) { call outcome error } } }";
    let failed = eventually(&app, &admin, runs, json!({ "id": hostile["id"] }), |r| {
        r["data"]["plugin"]["lastRuns"][0]["outcome"] == "TRAP"
    })
    .await;
    assert!(
        failed["data"]["plugin"]["lastRuns"][0]["error"].as_str().unwrap().contains("panics on purpose"),
        "{failed}"
    );
    let after = app.gql(&admin, HOSTILE_SCORES, json!({ "id": id })).await;
    assert_eq!(after["data"]["customer"], first["data"]["customer"], "the last scores stay");
}

/// A re-score whose values come out as before but whose details move (here a new version of
/// the scorer) writes the details alone: the values, and the filters over them, stay.
#[tokio::test]
async fn a_rescore_that_moves_only_the_details_keeps_the_values() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let (hostile, id, first) = scored_by_hostile(&app, &admin).await;

    let res = app
        .gql(
            &admin,
            "mutation($id: ID!, $w: String!) { upgradePlugin(id: $id, wasmBase64: $w, version: \"2.0\") { version } }",
            json!({ "id": hostile["id"], "w": wasm("hostile") }),
        )
        .await;
    assert_eq!(res["data"]["upgradePlugin"]["version"], "2.0", "{res}");
    let at = first["data"]["customer"]["score"]["computedAt"].clone();
    let after = eventually(&app, &admin, HOSTILE_SCORES, json!({ "id": id }), |r| {
        !r["data"]["customer"]["score"]["computedAt"].is_null() && r["data"]["customer"]["score"]["computedAt"] != at
    })
    .await;
    assert_eq!(after["data"]["customer"]["custom"], first["data"]["customer"]["custom"], "{after}");
    assert_eq!(after["data"]["customer"]["score"]["value"], 0.5, "{after}");
    let res = app
        .gql(
            &admin,
            "{ customers(filter: { custom: { risk: { gte: \"0.5\" }, note: { eq: \"fine\" } } }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(res["data"]["customers"]["nodes"], json!([{ "id": id }]), "{res}");
}

#[tokio::test]
async fn installs_refuse_garbage_forbidden_imports_and_other_roles() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let refused = |res: &Value| violations(res)[0].1.clone();
    let res = app.gql(&admin, INSTALL, json!({ "i": { "name": "x", "wasmBase64": "not base64!" } })).await;
    assert_eq!(refused(&res), "INVALID_BASE64");
    let res = app
        .gql(
            &admin,
            INSTALL,
            json!({ "i": { "name": "x", "wasmBase64": STANDARD.encode(b"garbage bytes, not wasm") } }),
        )
        .await;
    assert_eq!(refused(&res), "NOT_A_COMPONENT", "{res}");
    let res = app.gql(&admin, INSTALL, json!({ "i": { "name": "reader", "wasmBase64": wasm("fs-reader") } })).await;
    assert_eq!(refused(&res), "FORBIDDEN_IMPORT", "{res}");
    assert!(res["errors"][0]["message"].as_str().unwrap().contains("wasi:filesystem"), "{res}");
    let res =
        app.gql(&admin, INSTALL, json!({ "i": { "name": "Bad Name", "wasmBase64": wasm("card-validator") } })).await;
    assert_eq!(refused(&res), "INVALID_NAME");
    let res = app
        .gql(&admin, INSTALL, json!({ "i": { "name": "value-scorer", "wasmBase64": wasm("card-validator") } }))
        .await;
    assert_eq!(code(&res), "CONFLICT", "{res}");
    // A second scorer may not compute a key another one does.
    let res = app.gql(&admin, INSTALL, json!({ "i": { "name": "value-2", "wasmBase64": wasm("value-scorer") } })).await;
    assert_eq!(res["errors"][0]["extensions"]["reason"], "KEY_TAKEN", "{res}");

    for role in ["MANAGER", "AGENT", "VIEWER"] {
        let token = app.token("acme", role, "someone");
        let res =
            app.gql(&token, INSTALL, json!({ "i": { "name": "card", "wasmBase64": wasm("card-validator") } })).await;
        assert_eq!(code(&res), "FORBIDDEN", "{role}: {res}");
        let res = app.gql(&token, "{ plugins { name } }", json!({})).await;
        assert_eq!(code(&res), "FORBIDDEN", "{role}: {res}");
    }
    let res = app.gql(&admin, "{ plugins { name } }", json!({})).await;
    assert_eq!(res["data"]["plugins"].as_array().unwrap().len(), 2, "nothing refused was installed: {res}");
}

#[tokio::test]
async fn uninstalling_a_scorer_takes_its_fields_away_and_installing_it_brings_them_back() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Scored" })).await;
    let query = "query($id: ID!) { customer(id: $id) { custom { valueScore } } }";
    let scored = eventually(&app, &admin, query, json!({ "id": id }), |r| {
        !r["data"]["customer"]["custom"]["valueScore"].is_null()
    })
    .await;
    let plugins = app.gql(&admin, "{ plugins { id name } }", json!({})).await;
    let value =
        plugins["data"]["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "value-scorer").unwrap()["id"]
            .clone();

    let res = app.gql(&admin, "mutation($id: ID!) { uninstallPlugin(id: $id) }", json!({ "id": value })).await;
    assert!(res["errors"].is_null(), "{res}");
    let res = app.gql(&admin, query, json!({ "id": id })).await;
    assert_eq!(code(&res), "BAD_USER_INPUT", "valueScore left the schema: {res}");
    let res = app.gql(&admin, "query($id: ID!) { customer(id: $id) { scores { key } } }", json!({ "id": id })).await;
    assert_eq!(
        res["data"]["customer"]["scores"],
        json!([{ "key": "lifecycle_stage" }, { "key": "churn_risk" }, { "key": "loyalty" }])
    );

    install(&app, &admin, json!({ "name": "value-scorer", "wasmBase64": wasm("value-scorer") })).await;
    let res = app.gql(&admin, query, json!({ "id": id })).await;
    assert_eq!(res["data"], scored["data"], "the values are back with the field: {res}");
}

#[tokio::test]
async fn every_customer_is_scored_again_periodically_without_writes() {
    // Recency and churn risk change with time alone: the server sweeps scored tenants again.
    let app = TestApp::spawn_with(|c| c.rescore_secs = 1).await;
    let admin = app.token("acme", "ADMIN", "root");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Quiet" })).await;
    let runs = "{ plugins { name lastRuns(first: 200) { call } } }";
    let scoring_calls = |res: &Value| {
        res["data"]["plugins"][0]["lastRuns"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|x| x["call"] == "SCORE").count())
    };
    let first = scoring_calls(&eventually(&app, &admin, runs, json!({}), |r| scoring_calls(r) >= 1).await);
    // No writes from here on; the scorer still runs again.
    eventually(&app, &admin, runs, json!({}), |r| scoring_calls(r) >= first + 2).await;
}

#[tokio::test]
async fn tenants_start_without_plugins_when_the_operator_says_so() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("bare", "ADMIN", "root");
    let res = app.gql(&admin, "{ plugins { name } customFieldDefinitions { key } }", json!({})).await;
    assert_eq!(res["data"], json!({ "plugins": [], "customFieldDefinitions": [] }));
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "Plain" })).await;
    let res = app
        .gql(
            &admin,
            "query($id: ID!) { customer(id: $id) { tier lifecycleStage scores { key } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(res["data"]["customer"], json!({ "tier": null, "lifecycleStage": null, "scores": [] }));
    let res = app.gql(&admin, "{ customers(orderBy: [{ field: LIFECYCLE_STAGE }]) { totalCount } }", json!({})).await;
    assert_eq!(violations(&res), [("orderBy.0.field".to_owned(), "NOT_COMPUTED".to_owned())]);
}

#[tokio::test]
async fn a_new_tenant_is_never_seen_without_its_default_plugins() {
    let app = TestApp::shared().await;
    let admin = app.token("newco", "ADMIN", "root");
    // The first requests of a new tenant race to create it; every one of them must find the
    // tenant with its default scorers and their computed fields already in place.
    let query = "{ plugins { name } customFieldDefinitions(entity: CUSTOMER) { key } }";
    let answers = futures_util::future::join_all((0..8).map(|_| app.gql(&admin, query, json!({})))).await;
    for res in answers {
        assert!(res["errors"].is_null(), "{res}");
        let mut names: Vec<&str> =
            res["data"]["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["lifecycle-scorer", "value-scorer"], "{res}");
        let keys = res["data"]["customFieldDefinitions"].as_array().unwrap();
        assert!(keys.iter().any(|k| k["key"] == "value_score"), "{res}");
    }
}

/// Sweeps take turns by tenant: a tenant that asks for a re-score over and over (each one
/// starting its sweep again) does not keep the scoring worker from another tenant's re-score.
#[tokio::test]
async fn a_tenant_re_scoring_in_a_loop_does_not_starve_another() {
    // Small rounds, so the loud tenant's sweep takes many of them.
    let app = TestApp::spawn_with(|c| c.score_claim = 4).await;
    let loud = app.token("loud", "ADMIN", "admin");
    let quiet = app.token("quiet", "ADMIN", "admin");
    let named = |prefix: &str, n: usize| -> Vec<Value> {
        (0..n).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("{prefix}{i}") })).collect()
    };
    app.create_customers(&loud, &named("L", 40)).await;
    app.create_customers(&quiet, &named("Q", 4)).await;
    let recompute = "mutation { recomputeScores { id } }";
    // The loud tenant's sweep starts first, so it is first in line.
    let res = app.gql(&loud, recompute, json!({})).await;
    assert!(res["errors"].is_null(), "{res}");
    let res = app.gql(&quiet, recompute, json!({})).await;
    let run = res["data"]["recomputeScores"]["id"].clone();
    let progress = "query($id: ID!) { scoreRun(id: $id) { pending done } }";
    let started = Instant::now();
    loop {
        // The loud tenant starts its sweep over, again and again.
        let res = app.gql(&loud, recompute, json!({})).await;
        assert!(res["errors"].is_null(), "{res}");
        let res = app.gql(&quiet, progress, json!({ "id": run })).await;
        if res["data"]["scoreRun"]["done"] == true {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the quiet tenant's re-score never finished: {res}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration holding U+0000, in a value or a key, is refused by field: PostgreSQL's jsonb
/// cannot store it, and the write failed inside the database.
#[tokio::test]
async fn a_configuration_holding_nul_is_refused() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let plugins = app.gql(&t, "{ plugins { id } }", json!({})).await;
    let id = plugins["data"]["plugins"][0]["id"].clone();
    let configure = "mutation($id: ID!, $c: JSON) { configurePlugin(id: $id, config: $c) { revision } }";
    for config in [json!({ "mode": "a\u{0}b" }), json!({ "a\u{0}": 1 }), json!([["\u{0}"]])] {
        let res = app.gql(&t, configure, json!({ "id": id, "c": config })).await;
        assert_eq!(violations(&res), [("config".to_owned(), "INVALID_CHARACTER".to_owned())], "{res}");
    }
}

/// How a write of [`a_validator_changed_under_writes_checks_each_write_with_one_version`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Written,
    /// Refused by the validator of this version.
    RefusedBy(&'static str),
    PluginFailed,
}

/// One write: when it was sent and answered, and how it ended.
struct Write {
    sent: Instant,
    answered: Instant,
    ended: Ended,
}

/// When a plugin change was sent and answered: it took effect in between.
struct Change {
    sent: Instant,
    answered: Instant,
}

impl Change {
    fn overlaps(&self, w: &Write) -> bool {
        w.sent < self.answered && w.answered > self.sent
    }
}

/// Version 1 (the card validator) refuses "bad-…" as INVALID_CHARACTER, version 2 (the hostile
/// guest, harmless) as BAD_VALUE: each refusal names the version that checked the write.
fn ended(res: &Value) -> Ended {
    if res["errors"].is_null() {
        assert!(res["data"]["createCustomer"]["id"].is_string(), "{res}");
        return Ended::Written;
    }
    match code(res) {
        "BAD_USER_INPUT" => {
            assert_eq!(res["errors"][0]["extensions"]["violations"][0]["plugin"], "card-validator", "{res}");
            match violations(res).as_slice() {
                [(field, c)] if field == "customFields.card" && c == "INVALID_CHARACTER" => Ended::RefusedBy("1"),
                [(field, c)] if field == "customFields.card" && c == "BAD_VALUE" => Ended::RefusedBy("2"),
                other => panic!("refused by no one version: {other:?} {res}"),
            }
        }
        "PLUGIN_ERROR" => {
            assert_eq!(res["errors"][0]["extensions"]["plugin"], "card-validator", "{res}");
            Ended::PluginFailed
        }
        other => panic!("{other}: {res}"),
    }
}

/// Writes `total` customers whose card the validator refuses, four at a time, two writers on
/// each server, counting the answers in `answered` as they come.
async fn bad_cards(
    servers: [&TestApp; 2],
    token: &str,
    total: usize,
    answered: &std::sync::atomic::AtomicUsize,
) -> Vec<Write> {
    use std::sync::atomic::Ordering::SeqCst;
    let next = &std::sync::atomic::AtomicUsize::new(0);
    let writer = |k: usize| async move {
        let app = servers[k % 2];
        let mut writes = Vec::new();
        loop {
            let i = next.fetch_add(1, SeqCst);
            if i >= total {
                return writes;
            }
            let input = json!({ "kind": "INDIVIDUAL", "name": format!("W{i}"), "customFields": { "card": format!("bad-{i}") } });
            let sent = Instant::now();
            let res = app.gql(token, CREATE, json!({ "i": input })).await;
            writes.push(Write { sent, answered: Instant::now(), ended: ended(&res) });
            answered.fetch_add(1, SeqCst);
        }
    };
    futures_util::future::join_all((0..4).map(writer)).await.into_iter().flatten().collect()
}

/// Once `after` writes were answered, sends `mutation` and checks its answer.
async fn change_after(
    app: &TestApp,
    token: &str,
    answered: &std::sync::atomic::AtomicUsize,
    after: usize,
    mutation: &str,
    vars: Value,
) -> Change {
    while answered.load(std::sync::atomic::Ordering::SeqCst) < after {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sent = Instant::now();
    let res = app.gql(token, mutation, vars).await;
    let change = Change { sent, answered: Instant::now() };
    assert!(res["errors"].is_null(), "{mutation}: {res}");
    change
}

/// While writes that run a validator are in flight, on the server that changes it and on a
/// replica, the validator is upgraded, disabled, enabled and uninstalled. Every write is checked by exactly one version, the one in place
/// at some moment between its request and its answer, or by none while the plugin is off or
/// gone; every call's record names the version that ran; and exactly the accepted writes are
/// stored.
#[tokio::test]
async fn a_validator_changed_under_writes_checks_each_write_with_one_version() {
    use std::sync::atomic::AtomicUsize;
    let app = TestApp::spawn_bare().await;
    let admin = app.token("acme", "ADMIN", "root");
    let res = app
        .gql(&admin, "mutation { defineCustomField(input: { entity: CUSTOMER, key: \"card\", label: \"Card\", type: STRING }) { key } }", json!({}))
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let card = install(&app, &admin, json!({ "name": "card-validator", "wasmBase64": wasm("card-validator") })).await;
    assert_eq!(card["version"], "1");
    let res = app.gql(&admin, ATTACH, json!({ "p": card["id"], "e": "CUSTOMER", "f": "card" })).await;
    assert!(res["errors"].is_null(), "{res}");
    // Compiled once beforehand, so the writes race the upgrade's commit rather than a long
    // compilation.
    let warm = install(&app, &admin, json!({ "name": "warm-up", "wasmBase64": wasm("hostile") })).await;
    let res = app.gql(&admin, "mutation($id: ID!) { uninstallPlugin(id: $id) }", json!({ "id": warm["id"] })).await;
    assert!(res["errors"].is_null(), "{res}");
    let replica = app.replica().await;

    let upgrade =
        "mutation($id: ID!, $w: String!) { upgradePlugin(id: $id, wasmBase64: $w, version: \"2\") { version } }";
    let toggle = "mutation($id: ID!, $on: Boolean!) { setPluginEnabled(id: $id, enabled: $on) { enabled } }";
    let answered = AtomicUsize::new(0);
    let changes = async {
        let up =
            change_after(&app, &admin, &answered, 15, upgrade, json!({ "id": card["id"], "w": wasm("hostile") })).await;
        let off = change_after(&app, &admin, &answered, 45, toggle, json!({ "id": card["id"], "on": false })).await;
        let on = change_after(&app, &admin, &answered, 75, toggle, json!({ "id": card["id"], "on": true })).await;
        (up, off, on)
    };
    let (writes, (up, off, on)) = tokio::join!(bad_cards([&app, &replica], &admin, 120, &answered), changes);
    for w in &writes {
        match w.ended {
            Ended::RefusedBy("1") => assert!(w.sent < up.answered, "version 1 ran after the upgrade was answered"),
            Ended::RefusedBy(_) => {
                assert!(w.answered > up.sent, "version 2 ran before the upgrade was sent");
                assert!(!(w.sent > off.answered && w.answered < on.sent), "a disabled validator ran");
            }
            Ended::Written => assert!(
                w.answered > off.sent && w.sent < on.answered,
                "a write went unchecked while the validator was on"
            ),
            Ended::PluginFailed => {}
        }
    }
    let count = |e: Ended| writes.iter().filter(|w| w.ended == e).count();
    let (by_1, by_2, written) = (count(Ended::RefusedBy("1")), count(Ended::RefusedBy("2")), count(Ended::Written));
    let took = |c: &Change| c.answered - c.sent;
    assert!(
        by_1 > 0 && by_2 > 0 && written > 0,
        "every phase saw writes: {by_1} {by_2} {written}; the changes took {:?} {:?} {:?}",
        took(&up),
        took(&off),
        took(&on)
    );
    for change in [&up, &off, &on] {
        assert!(writes.iter().any(|w| change.overlaps(w)), "no write was in flight during a change");
    }

    // Records are written in the background, just after the calls.
    let runs = "query($id: ID!) { plugin(id: $id) { lastRuns(first: 200) { call outcome version } } }";
    let validations = |r: &Value, version: &str| {
        r["data"]["plugin"]["lastRuns"].as_array().map_or(0, |runs| {
            runs.iter().filter(|x| x["call"] == "VALIDATE" && x["outcome"] == "OK" && x["version"] == version).count()
        })
    };
    let res = eventually(&app, &admin, runs, json!({ "id": card["id"] }), |r| {
        validations(r, "1") >= by_1 && validations(r, "2") >= by_2
    })
    .await;
    assert_eq!((validations(&res, "1"), validations(&res, "2")), (by_1, by_2), "one record per checked write");
    let records = res["data"]["plugin"]["lastRuns"].as_array().unwrap();
    let failed = records.iter().filter(|x| x["call"] == "VALIDATE" && x["outcome"] != "OK").count();
    assert!(failed <= count(Ended::PluginFailed), "{res}");
    for run in records {
        match run["call"].as_str() {
            Some("VALIDATE") => assert!(run["version"] == "1" || run["version"] == "2", "{run}"),
            // Only version 2 is a scorer: its key listing and scoring are its own.
            Some("KEYS" | "SCORE") => assert_eq!(run["version"], "2", "{run}"),
            // Version 1's check of its configuration at install (an upgrade checks none).
            Some("CHECK_CONFIG") => assert_eq!(run["version"], "1", "{run}"),
            _ => panic!("{run}"),
        }
    }

    // Uninstalled under writes: checked by version 2, or not at all once it is gone.
    let answered = AtomicUsize::new(0);
    let uninstall = change_after(
        &app,
        &admin,
        &answered,
        20,
        "mutation($id: ID!) { uninstallPlugin(id: $id) }",
        json!({ "id": card["id"] }),
    );
    let (more, gone) = tokio::join!(bad_cards([&app, &replica], &admin, 60, &answered), uninstall);
    for w in &more {
        match w.ended {
            Ended::RefusedBy("2") => assert!(w.sent < gone.answered, "an uninstalled validator ran"),
            Ended::Written => assert!(w.answered > gone.sent, "a write went unchecked before the uninstall"),
            Ended::RefusedBy(_) => panic!("version 1 ran after the upgrade"),
            Ended::PluginFailed => {}
        }
    }
    let last = more.iter().map(|w| w.answered).max().unwrap();
    assert!(
        more.iter().any(|w| w.ended == Ended::Written),
        "no write after the uninstall: it took {:?}, and ended {:?} after the last write",
        gone.answered - gone.sent,
        gone.answered.saturating_duration_since(last)
    );
    assert!(more.iter().any(|w| gone.overlaps(w)), "no write was in flight during the uninstall");
    let res = app.gql(&admin, runs, json!({ "id": card["id"] })).await;
    assert_eq!(res["data"]["plugin"], Value::Null, "gone, with its run records: {res}");
    // Calls that ended after the uninstall leave no record behind. Every call ended before its
    // write answered, and each server writes its records within milliseconds of a call.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let plugin = guanxi_api::domain::ids::decode("Plugin", card["id"].as_str().unwrap()).unwrap();
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let left = guanxi_entity::plugin_run::Entity::find()
        .filter(guanxi_entity::plugin_run::Column::PluginId.eq(plugin))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 0, "run records of an uninstalled plugin");
    let stored = written + more.iter().filter(|w| w.ended == Ended::Written).count();
    assert_eq!(customer_count(&app, &admin).await, i64::try_from(stored).unwrap(), "exactly the accepted writes");
}
