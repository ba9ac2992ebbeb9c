//! Property test: filters and orders give exactly what the same computation in plain Rust gives
//! over the same data (two-valued logic: comparisons never match null; contains/startsWith ignore
//! ASCII case; strings sort by code point; ties break on id in the first key's direction).

use std::cmp::Ordering;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{TestApp, violations};

const NAMES: &[&str] =
    &["Alice Wong", "alice", "Bob Lee", "王伟", "王芳", "Zhang Wei", "zhang wei", "李娜", "Li Na", "50%_off", "A_B"];
const EMAILS: &[Option<&str>] = &[None, Some("sales@huaxin.cn"), Some("li.na@example.com"), Some("Ops@corp.cn")];
const REGIONS: &[Option<&str>] = &[None, Some("上海"), Some("北京"), Some("Shanghai"), Some("shanghai")];
const STATUSES: &[&str] = &["PROSPECT", "TARGET", "ACTIVE", "LOST", "NON_CUSTOMER"];
const KINDS: &[&str] = &["INDIVIDUAL", "ORGANIZATION"];
const RELATIONSHIPS: &[Option<&str>] = &[None, Some("LOYAL"), Some("SUPPORT"), Some("ADVISORY")];
const TAGS: &[&[&str]] = &[&[], &["vip"], &["vip", "B2B"], &["重点"], &["b2b", "vip"]];
const TAG_VALUES: &[&str] = &["vip", "B2B", "b2b", "重点", "none"];
const NEEDLES: &[&str] = &["a", "A", "ali", "王", "wei", "WEI", "%", "_", "zhang", "上", "li", "@", ".cn", "x"];
const ROWS: usize = 60;

#[derive(Debug, Clone)]
enum StrOp {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Contains(String),
    StartsWith(String),
    IsNull(bool),
}

#[derive(Debug, Clone)]
enum TimeOp {
    Gt(usize),
    Gte(usize),
    Lt(usize),
    Lte(usize),
}

#[derive(Debug, Clone)]
enum ListOp {
    Has(String),
    HasAny(Vec<String>),
    HasAll(Vec<String>),
    IsEmpty(bool),
}

#[derive(Debug, Clone)]
enum IntOp {
    Eq(i64),
    Gt(i64),
    Lte(i64),
    NotIn(Vec<i64>),
}

#[derive(Debug, Clone)]
enum F {
    List(ListOp),
    Int(IntOp),
    And(Vec<F>),
    Or(Vec<F>),
    Not(Box<F>),
    Str(&'static str, StrOp),
    Enum(&'static str, StrOp),
    Time(&'static str, TimeOp),
}

fn str_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(NAMES).prop_map(str::to_owned),
        prop::sample::select(NEEDLES).prop_map(str::to_owned),
        prop::sample::select(&["上海", "Shanghai", "sales@huaxin.cn"][..]).prop_map(str::to_owned),
    ]
}

fn str_op() -> impl Strategy<Value = StrOp> {
    prop_oneof![
        str_value().prop_map(StrOp::Eq),
        str_value().prop_map(StrOp::Ne),
        prop::collection::vec(str_value(), 0..4).prop_map(StrOp::In),
        prop::collection::vec(str_value(), 0..4).prop_map(StrOp::NotIn),
        str_value().prop_map(StrOp::Contains),
        str_value().prop_map(StrOp::StartsWith),
        any::<bool>().prop_map(StrOp::IsNull),
    ]
}

fn enum_op(values: &'static [&'static str]) -> impl Strategy<Value = StrOp> {
    let v = move || prop::sample::select(values).prop_map(str::to_owned);
    prop_oneof![
        v().prop_map(StrOp::Eq),
        v().prop_map(StrOp::Ne),
        prop::collection::vec(v(), 0..3).prop_map(StrOp::In),
        prop::collection::vec(v(), 0..3).prop_map(StrOp::NotIn),
        any::<bool>().prop_map(StrOp::IsNull),
    ]
}

fn list_op() -> impl Strategy<Value = ListOp> {
    let v = || prop::sample::select(TAG_VALUES).prop_map(str::to_owned);
    prop_oneof![
        v().prop_map(ListOp::Has),
        prop::collection::vec(v(), 0..3).prop_map(ListOp::HasAny),
        prop::collection::vec(v(), 0..3).prop_map(ListOp::HasAll),
        any::<bool>().prop_map(ListOp::IsEmpty),
    ]
}

fn int_op() -> impl Strategy<Value = IntOp> {
    prop_oneof![
        (0..4i64).prop_map(IntOp::Eq),
        (0..4i64).prop_map(IntOp::Gt),
        (0..4i64).prop_map(IntOp::Lte),
        prop::collection::vec(0..4i64, 0..3).prop_map(IntOp::NotIn),
    ]
}

fn leaf() -> impl Strategy<Value = F> {
    prop_oneof![
        list_op().prop_map(F::List),
        int_op().prop_map(F::Int),
        (prop::sample::select(&["name", "email", "region"][..]), str_op()).prop_map(|(f, op)| F::Str(f, op)),
        enum_op(STATUSES).prop_map(|op| F::Enum("status", op)),
        enum_op(KINDS).prop_map(|op| F::Enum("kind", op)),
        enum_op(&["LOYAL", "SUPPORT", "ADVISORY", "EDUCATIONAL"]).prop_map(|op| F::Enum("relationshipType", op)),
        (prop::sample::select(&["createdAt", "updatedAt"][..]), 0..ROWS, 0..4u8).prop_map(|(f, i, k)| F::Time(
            f,
            match k {
                0 => TimeOp::Gt(i),
                1 => TimeOp::Gte(i),
                2 => TimeOp::Lt(i),
                _ => TimeOp::Lte(i),
            }
        )),
    ]
}

fn filter() -> impl Strategy<Value = F> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(F::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(F::Or),
            inner.prop_map(|f| F::Not(Box::new(f))),
        ]
    })
}

fn order() -> impl Strategy<Value = Vec<(&'static str, bool)>> {
    prop::sample::subsequence(vec!["NAME", "STATUS", "CREATED_AT", "UPDATED_AT"], 0..=2)
        .prop_shuffle()
        .prop_flat_map(|keys| {
            let n = keys.len();
            (Just(keys), prop::collection::vec(any::<bool>(), n))
        })
        .prop_map(|(keys, desc)| keys.into_iter().zip(desc).collect())
}

fn op_json(op: &StrOp) -> Value {
    match op {
        StrOp::Eq(v) => json!({ "eq": v }),
        StrOp::Ne(v) => json!({ "ne": v }),
        StrOp::In(v) => json!({ "in": v }),
        StrOp::NotIn(v) => json!({ "notIn": v }),
        StrOp::Contains(v) => json!({ "contains": v }),
        StrOp::StartsWith(v) => json!({ "startsWith": v }),
        StrOp::IsNull(v) => json!({ "isNull": v }),
    }
}

fn to_json(f: &F, rows: &[Value]) -> Value {
    match f {
        F::And(v) => json!({ "and": v.iter().map(|f| to_json(f, rows)).collect::<Vec<_>>() }),
        F::Or(v) => json!({ "or": v.iter().map(|f| to_json(f, rows)).collect::<Vec<_>>() }),
        F::Not(f) => json!({ "not": to_json(f, rows) }),
        F::List(op) => json!({ "tags": match op {
            ListOp::Has(v) => json!({ "has": v }),
            ListOp::HasAny(v) => json!({ "hasAny": v }),
            ListOp::HasAll(v) => json!({ "hasAll": v }),
            ListOp::IsEmpty(v) => json!({ "isEmpty": v }),
        } }),
        F::Int(op) => json!({ "version": match op {
            IntOp::Eq(v) => json!({ "eq": v }),
            IntOp::Gt(v) => json!({ "gt": v }),
            IntOp::Lte(v) => json!({ "lte": v }),
            IntOp::NotIn(v) => json!({ "notIn": v }),
        } }),
        F::Str(field, op) | F::Enum(field, op) => json!({ *field: op_json(op) }),
        F::Time(field, op) => {
            let (name, i) = match op {
                TimeOp::Gt(i) => ("gt", i),
                TimeOp::Gte(i) => ("gte", i),
                TimeOp::Lt(i) => ("lt", i),
                TimeOp::Lte(i) => ("lte", i),
            };
            json!({ *field: { name: rows[*i % rows.len()][*field] } })
        }
    }
}

fn eval_str(value: Option<&str>, op: &StrOp) -> bool {
    match (op, value) {
        (StrOp::IsNull(want), v) => v.is_none() == *want,
        (_, None) => false,
        (StrOp::Eq(x), Some(v)) => v == x,
        (StrOp::Ne(x), Some(v)) => v != x,
        (StrOp::In(xs), Some(v)) => xs.iter().any(|x| x == v),
        (StrOp::NotIn(xs), Some(v)) => !xs.iter().any(|x| x == v),
        (StrOp::Contains(x), Some(v)) => v.to_ascii_lowercase().contains(&x.to_ascii_lowercase()),
        (StrOp::StartsWith(x), Some(v)) => v.to_ascii_lowercase().starts_with(&x.to_ascii_lowercase()),
    }
}

fn eval(f: &F, row: &Value, rows: &[Value]) -> bool {
    match f {
        F::And(v) => v.iter().all(|f| eval(f, row, rows)),
        F::Or(v) => v.iter().any(|f| eval(f, row, rows)),
        F::Not(f) => !eval(f, row, rows),
        F::List(op) => {
            let tags: Vec<&str> = row["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            match op {
                ListOp::Has(v) => tags.contains(&v.as_str()),
                ListOp::HasAny(vs) => vs.iter().any(|v| tags.contains(&v.as_str())),
                ListOp::HasAll(vs) => vs.iter().all(|v| tags.contains(&v.as_str())),
                ListOp::IsEmpty(e) => tags.is_empty() == *e,
            }
        }
        F::Int(op) => {
            let v = row["version"].as_i64().unwrap();
            match op {
                IntOp::Eq(x) => v == *x,
                IntOp::Gt(x) => v > *x,
                IntOp::Lte(x) => v <= *x,
                IntOp::NotIn(xs) => !xs.contains(&v),
            }
        }
        F::Str(field, op) | F::Enum(field, op) => eval_str(row[*field].as_str(), op),
        F::Time(field, op) => {
            let v = row[*field].as_str().unwrap();
            let at = |i: &usize| rows[*i % rows.len()][*field].as_str().unwrap().to_owned();
            // Fixed-width UTC timestamps with microseconds compare as strings.
            match op {
                TimeOp::Gt(i) => v > at(i).as_str(),
                TimeOp::Gte(i) => v >= at(i).as_str(),
                TimeOp::Lt(i) => v < at(i).as_str(),
                TimeOp::Lte(i) => v <= at(i).as_str(),
            }
        }
    }
}

fn uuid_of(row: &Value) -> uuid::Uuid {
    guanxi_api::domain::ids::decode("Customer", row["id"].as_str().unwrap()).unwrap()
}

fn expected(rows: &[Value], f: &F, order: &[(&str, bool)]) -> Vec<String> {
    let mut keys: Vec<(&str, bool)> = order.iter().map(|(k, d)| (*k, *d)).collect();
    if keys.is_empty() {
        keys.push(("NAME", false));
    }
    let id_desc = keys[0].1;
    let mut matching: Vec<&Value> = rows.iter().filter(|r| eval(f, r, rows)).collect();
    matching.sort_by(|a, b| {
        for (k, desc) in &keys {
            let field = match *k {
                "NAME" => "name",
                "STATUS" => "status",
                "CREATED_AT" => "createdAt",
                _ => "updatedAt",
            };
            let ord = a[field].as_str().unwrap().cmp(b[field].as_str().unwrap());
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = uuid_of(a).cmp(&uuid_of(b));
        if id_desc { ord.reverse() } else { ord }
    });
    matching.into_iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

const FIELDS: &str = "id name email region status kind relationshipType tags version createdAt updatedAt";

#[test]
fn filters_and_orders_match_a_plain_rust_computation() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, token, rows) = rt.block_on(async {
        let app = TestApp::shared().await;
        let token = app.token("acme", "MANAGER", "mgr");
        for i in 0..ROWS {
            let pick = |n: usize| (i * 7 + n * 13 + i / 3) % n.max(1);
            let mut input = json!({
                "kind": KINDS[i % KINDS.len()],
                "name": NAMES[pick(NAMES.len())],
                "status": STATUSES[(i / 2) % STATUSES.len()],
            });
            if let Some(e) = EMAILS[(i / 3) % EMAILS.len()] {
                input["email"] = json!(e);
            }
            if let Some(r) = REGIONS[(i * 3 + 1) % REGIONS.len()] {
                input["region"] = json!(r);
            }
            input["tags"] = json!(TAGS[(i * 5 + 2) % TAGS.len()]);
            if let Some(r) = RELATIONSHIPS[(i / 5) % RELATIONSHIPS.len()] {
                input["relationshipType"] = json!(r);
            }
            let id = app.create_customer(&token, input).await;
            if i % 4 == 0 {
                // Some rows get a later updatedAt than creation order would give.
                app.gql(
                    &token,
                    "mutation($id: ID!) { updateCustomer(id: $id, input: {channel: \"web\"}) { id } }",
                    json!({ "id": id }),
                )
                .await;
            }
        }
        let all = app.gql(&token, &format!("{{ customers(first: 100) {{ nodes {{ {FIELDS} }} }} }}"), json!({})).await;
        let rows = all["data"]["customers"]["nodes"].as_array().unwrap().clone();
        assert_eq!(rows.len(), ROWS);
        (app, token, rows)
    });
    let mut runner = TestRunner::new(Config { cases: 160, failure_persistence: None, ..Config::default() });
    runner
        .run(&(filter(), order()), |(f, order)| {
            let filter = to_json(&f, &rows);
            let order_json: Vec<Value> =
                order.iter().map(|(k, d)| json!({ "field": k, "direction": if *d { "DESC" } else { "ASC" } })).collect();
            let res = rt.block_on(app.gql(
                &token,
                "query($f: CustomerFilter, $o: [CustomerOrder!]) { customers(filter: $f, orderBy: $o, first: 100) { totalCount nodes { id } } }",
                json!({ "f": filter, "o": order_json }),
            ));
            let got: Vec<String> = res["data"]["customers"]["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("{res}"))
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned())
                .collect();
            let want = expected(&rows, &f, &order);
            prop_assert_eq!(res["data"]["customers"]["totalCount"].as_u64(), Some(want.len() as u64));
            prop_assert_eq!(got, want, "filter {} order {:?}", filter, order);
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_nul_character_is_a_violation_not_a_database_error() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let res = app
        .gql(&t, "query($n: String) { customers(filter: {name: {eq: $n}}) { totalCount } }", json!({ "n": "a\u{0}b" }))
        .await;
    assert_eq!(violations(&res), vec![("filter.name.eq".into(), "INVALID_CHARACTER".into())]);
    let res = app
        .gql(
            &t,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "a\u{0}b" } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("name".into(), "INVALID_CHARACTER".into())]);
}
