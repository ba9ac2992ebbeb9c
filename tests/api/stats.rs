//! Property test: after any sequence of record / update / delete (some concurrent), a customer's
//! stats, and the per-kind figures of its scoring snapshot, equal a plain-Rust recomputation
//! from the interactions that remain.

use std::collections::BTreeMap;
use std::str::FromStr;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[derive(Debug, Clone)]
enum Step {
    Purchase {
        amount_cents: u32,
        currency: &'static str,
        days_ago: u16,
    },
    Survey {
        satisfaction: u8,
        again: Option<bool>,
        days_ago: u16,
    },
    Visit {
        days_ago: u16,
    },
    /// Delete the n-th live interaction (modulo how many there are).
    Delete(usize),
    /// Change the n-th live purchase's amount.
    Reprice(usize, u32),
    /// Several purchases recorded at once by concurrent writers.
    Burst(Vec<u32>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1..500_000u32, prop::sample::select(vec!["CNY", "CNY", "USD"]), 0..800u16)
            .prop_map(|(amount_cents, currency, days_ago)| Step::Purchase { amount_cents, currency, days_ago }),
        2 => (1..=5u8, prop::option::of(any::<bool>()), 0..800u16)
            .prop_map(|(satisfaction, again, days_ago)| Step::Survey { satisfaction, again, days_ago }),
        1 => (0..800u16).prop_map(|days_ago| Step::Visit { days_ago }),
        2 => any::<usize>().prop_map(Step::Delete),
        1 => (any::<usize>(), 1..100_000u32).prop_map(|(i, a)| Step::Reprice(i, a)),
        1 => prop::collection::vec(1..10_000u32, 2..5).prop_map(Step::Burst),
    ]
}

#[derive(Debug, Clone)]
struct Live {
    id: String,
    kind: &'static str,
    amount: Option<Decimal>,
    currency: Option<&'static str>,
    satisfaction: Option<u8>,
    again: Option<bool>,
    days_ago: u16,
}

fn cents(c: u32) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn at(days_ago: u16) -> String {
    (chrono::Utc::now() - chrono::Duration::days(i64::from(days_ago)) - chrono::Duration::minutes(1)).to_rfc3339()
}

const RECORD: &str = "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }";

async fn record(app: &TestApp, token: &str, customer: &str, live: &Live) -> String {
    let mut input = json!({ "customerId": customer, "kind": live.kind, "occurredAt": at(live.days_ago) });
    if let Some(a) = live.amount {
        input["amount"] = json!(a.to_string());
        input["currency"] = json!(live.currency);
    }
    if let Some(s) = live.satisfaction {
        input["satisfaction"] = json!(s);
    }
    if let Some(a) = live.again {
        input["wouldBuyAgain"] = json!(a);
    }
    let res = app.gql(token, RECORD, json!({ "i": input })).await;
    res["data"]["recordInteraction"]["id"].as_str().unwrap_or_else(|| panic!("{res}")).to_owned()
}

#[expect(clippy::cast_precision_loss, reason = "a handful of interactions")]
fn expected(live: &[Live]) -> Value {
    let purchases: Vec<&Live> = live.iter().filter(|l| l.kind == "PURCHASE").collect();
    let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
    for p in &purchases {
        *totals.entry(p.currency.unwrap()).or_default() += p.amount.unwrap();
    }
    let surveys: Vec<u8> = live.iter().filter_map(|l| l.satisfaction).collect();
    let answers: Vec<bool> = live.iter().filter_map(|l| l.again).collect();
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for l in live {
        *counts.entry(l.kind).or_default() += 1;
    }
    json!({
        "purchaseCount": purchases.len(),
        "purchaseTotal": totals.get("CNY").map_or("0".to_owned(), |d| d.normalize().to_string()),
        "purchaseTotals": totals.iter().map(|(c, a)| json!({ "currency": c, "amount": a.normalize().to_string() })).collect::<Vec<_>>(),
        "purchasesLast90Days": purchases.iter().filter(|p| p.days_ago < 90).count(),
        "purchasesLast365Days": purchases.iter().filter(|p| p.days_ago < 365).count(),
        "interactionCount": live.len(),
        "interactionCounts": counts.iter().map(|(k, n)| json!({ "kind": k, "count": n })).collect::<Vec<_>>(),
        "surveyCount": surveys.len(),
        "averageSatisfaction": if surveys.is_empty() { Value::Null } else { json!(f64::from(surveys.iter().map(|s| u32::from(*s)).sum::<u32>()) / surveys.len() as f64) },
        "wouldBuyAgainRate": if answers.is_empty() { Value::Null } else { json!(answers.iter().filter(|a| **a).count() as f64 / answers.len() as f64) },
    })
}

/// The scoring snapshot's interactions per kind in each window and days since the last of each
/// kind (every interaction was recorded `days_ago` days and a minute before the test's now).
fn expected_per_kind(live: &[Live]) -> Value {
    let mut windows: [BTreeMap<&str, i64>; 3] = Default::default();
    let mut since: BTreeMap<&str, u16> = BTreeMap::new();
    for l in live {
        for (window, days) in windows.iter_mut().zip([30, 90, 365]) {
            if l.days_ago < days {
                *window.entry(l.kind).or_default() += 1;
            }
        }
        since.entry(l.kind).and_modify(|d| *d = (*d).min(l.days_ago)).or_insert(l.days_ago);
    }
    let [d30, d90, d365] = windows;
    json!({
        "interactionsLast30Days": d30,
        "interactionsLast90Days": d90,
        "interactionsLast365Days": d365,
        "daysSinceLastInteraction": since,
    })
}

const STATS: &str = "query($id: ID!) { customer(id: $id) { scoringSnapshot stats { purchaseCount purchaseTotal purchaseTotals { currency amount } purchasesLast90Days purchasesLast365Days interactionCount interactionCounts { kind count } surveyCount averageSatisfaction wouldBuyAgainRate } } }";

#[test]
fn stats_equal_a_recomputation_after_any_sequence_of_writes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, token) = rt.block_on(async {
        let app = TestApp::shared().await;
        let token = app.token("acme", "MANAGER", "mgr");
        (app, token)
    });
    let mut runner = TestRunner::new(Config { cases: 12, failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(step(), 1..14), |steps| {
            let (got, want) = rt.block_on(async {
                let customer = app.create_customer(&token, json!({ "kind": "INDIVIDUAL", "name": "prop" })).await;
                let mut live: Vec<Live> = Vec::new();
                for step in steps.clone() {
                    let new = |kind, amount: Option<u32>, currency, satisfaction, again, days_ago| Live {
                        id: String::new(),
                        kind,
                        amount: amount.map(|c| Decimal::from_str(&cents(c)).unwrap()),
                        currency,
                        satisfaction,
                        again,
                        days_ago,
                    };
                    match step {
                        Step::Purchase { amount_cents, currency, days_ago } => {
                            let mut l = new("PURCHASE", Some(amount_cents), Some(currency), None, None, days_ago);
                            l.id = record(&app, &token, &customer, &l).await;
                            live.push(l);
                        }
                        Step::Survey { satisfaction, again, days_ago } => {
                            let mut l = new("SURVEY", None, None, Some(satisfaction), again, days_ago);
                            l.id = record(&app, &token, &customer, &l).await;
                            live.push(l);
                        }
                        Step::Visit { days_ago } => {
                            let mut l = new("VISIT", None, None, None, None, days_ago);
                            l.id = record(&app, &token, &customer, &l).await;
                            live.push(l);
                        }
                        Step::Delete(n) if !live.is_empty() => {
                            let gone = live.remove(n % live.len());
                            app.gql(&token, "mutation($id: ID!) { deleteInteraction(id: $id) }", json!({ "id": gone.id })).await;
                        }
                        Step::Reprice(n, cents_new) => {
                            let purchases: Vec<usize> = (0..live.len()).filter(|i| live[*i].kind == "PURCHASE").collect();
                            if let Some(&i) = purchases.get(n % purchases.len().max(1)) {
                                let amount = cents(cents_new);
                                let res = app
                                    .gql(&token, "mutation($id: ID!, $a: Decimal!) { updateInteraction(id: $id, input: {amount: $a}) { id } }", json!({ "id": live[i].id, "a": amount }))
                                    .await;
                                assert!(res.get("errors").is_none(), "{res}");
                                live[i].amount = Some(Decimal::from_str(&amount).unwrap());
                            }
                        }
                        Step::Burst(amounts) => {
                            let writes = amounts.iter().map(|c| {
                                let l = new("PURCHASE", Some(*c), Some("CNY"), None, None, 1);
                                let (app, token, customer) = (&app, &token, &customer);
                                async move {
                                    let mut l = l;
                                    l.id = record(app, token, customer, &l).await;
                                    l
                                }
                            });
                            live.extend(futures_util::future::join_all(writes).await);
                        }
                        Step::Delete(_) => {}
                    }
                }
                let res = app.gql(&token, STATS, json!({ "id": customer })).await;
                let mut stats = res["data"]["customer"]["stats"].clone();
                // Kinds come back in storage order; compare as sets.
                if let Some(list) = stats["interactionCounts"].as_array_mut() {
                    list.sort_by_key(|v| v["kind"].as_str().unwrap_or("").to_owned());
                }
                let snapshot = &res["data"]["customer"]["scoringSnapshot"];
                let per_kind: serde_json::Map<String, Value> = expected_per_kind(&[])
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| (k.clone(), snapshot[k].clone()))
                    .collect();
                let got = json!({ "stats": stats, "perKind": per_kind });
                (got, json!({ "stats": expected(&live), "perKind": expected_per_kind(&live) }))
            });
            prop_assert_eq!(got, want, "steps: {:?}", steps);
            Ok(())
        })
        .unwrap();
}

/// The purchase windows of `Customer.stats` read the purchases' own index, not every interaction
/// of the customer; a scoring snapshot's windows of every kind (one statement) read the
/// customers' last year through their `(tenant, customer, occurred_at)` index.
#[tokio::test]
async fn purchase_windows_read_the_purchases_index() {
    let app = TestApp::shared_bare().await;
    let token = app.token("acme", "MANAGER", "m1");
    let customer = app.create_customer(&token, json!({ "kind": "INDIVIDUAL", "name": "Wang" })).await;
    for (kind, days_ago) in [("PURCHASE", 10), ("PURCHASE", 200), ("PURCHASE", 400), ("VISIT", 5)] {
        let mut input = json!({ "customerId": customer, "kind": kind, "occurredAt": at(days_ago) });
        if kind == "PURCHASE" {
            input["amount"] = json!("10.00");
            input["currency"] = json!("CNY");
        }
        let res = app.gql(&token, RECORD, json!({ "i": input })).await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let q = "query($id: ID!) { customer(id: $id) { stats { purchasesLast90Days purchasesLast365Days } } }";
    let res = app.gql(&token, q, json!({ "id": customer })).await;
    assert_eq!(
        res["data"]["customer"]["stats"],
        json!({ "purchasesLast90Days": 1, "purchasesLast365Days": 2 }),
        "{res}"
    );

    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let backend = db.get_database_backend();
    let tenant = app.tenant_id(&db, "acme").await;
    let id = guanxi_api::domain::ids::decode("Customer", &customer).expect("customer id");
    let statement =
        guanxi_api::store::interactions::purchase_windows_statement(backend, tenant, &[id], chrono::Utc::now());
    let plan = crate::helpers::plan(&db, &statement).await;
    assert!(plan.contains("interactions_purchase_time_idx"), "the purchases' index is not used:\n{plan}");
    // PostgreSQL plans this one by the table's statistics: on a test's few rows it may as well
    // walk the tenant's year by kind (and did), while over 2 million interactions it takes the
    // customers' index (measured for the 0.2.0 snapshot). SQLite plans by the statement.
    if backend == sea_orm::DatabaseBackend::Sqlite {
        let statement =
            guanxi_api::store::interactions::windows_per_kind_statement(backend, tenant, &[id], chrono::Utc::now());
        let plan = crate::helpers::plan(&db, &statement).await;
        assert!(plan.contains("interactions_customer_time_idx"), "the timelines' index is not used:\n{plan}");
    }
}
