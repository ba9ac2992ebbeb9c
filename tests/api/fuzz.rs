//! Fuzzing the GraphQL API. Documents are generated from the live schema (each caller's
//! introspection): valid ones, and nearly valid ones (wrong types, made-up names, deep nesting,
//! huge lists, odd strings, hostile fragments, many aliases, brackets, garbage, bad variables,
//! mutations with random inputs). They are sent as every role to a seeded tenant, and every
//! answer is checked: below HTTP 500, a GraphQL body, only documented error codes (never
//! `INTERNAL`), answered in time, no panic, and nothing of another tenant or of another agent's
//! customers in it.
//!
//! `GUANXI_FUZZ_SEED` picks the cases (a fixed seed by default), `GUANXI_FUZZ_SECS` or
//! `GUANXI_FUZZ_CASES` how many; a failure prints the seed, the case and its request. See
//! "Fuzzing" in docs/operations.md.

use std::collections::BTreeMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use guanxi_api::domain::ids;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The seed without `GUANXI_FUZZ_SEED`: fixed, so CI runs the same cases every time.
const DEFAULT_SEED: u64 = 20_261_206;
/// Seconds of fuzzing without `GUANXI_FUZZ_SECS` or `GUANXI_FUZZ_CASES`.
const DEFAULT_SECS: u64 = 45;
/// Cases between two checks that the server still answers and nothing in it panicked.
const BATCH: u64 = 25;
/// Batches between two fresh introspections (ADMINs' fuzzed writes change the schema).
const REFRESH_EVERY: u64 = 8;
/// How long one answer may take, the slowest document of a debug build included.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// Failures collected before the run stops.
const MAX_FAILURES: usize = 8;

/// The `extensions.code`s an answer may carry (docs/api.md, "Errors"): never `INTERNAL`, and no
/// `RATE_LIMITED` since the test server's rate limits are off.
const CODES: [&str; 7] =
    ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "PLUGIN_ERROR", "QUERY_TOO_COMPLEX"];

/// Purchase amounts of the two agents' customers: figures only their owner (and those who see
/// the whole tenant) may read.
const AMOUNT_A: &str = "27182818.28";
const AMOUNT_B: &str = "31415926.53";

/// Suffixes of the private values planted on each agent's customers: `<marker>-<suffix>`. None is
/// in a field of the case view (name, email, phone, …), which the other agent may see.
const PRIVATE: [&str; 13] = [
    "region",
    "industry",
    "channel",
    "tag",
    "note",
    "json",
    "summary",
    "interaction",
    "plan",
    "focus",
    "action",
    "complaint",
    "complaint-text",
];

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(raw.trim().parse().unwrap_or_else(|_| panic!("{name}={raw} is not a number")))
}

// ---------------------------------------------------------------------------------------------
// Panics anywhere in the server

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records panics of the server's threads. actix restarts a worker that panicked, so a server
/// that keeps answering may still have panicked. Other tests' threads (named after their test)
/// are left alone: their panics are their own failures.
fn watch_for_panics() {
    static ONCE: Once = Once::new();
    let me = std::thread::current().name().unwrap_or_default().to_owned();
    ONCE.call_once(move || {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("unnamed");
            if (!name.contains("::") || name == me)
                && let Ok(mut panics) = PANICS.lock()
            {
                panics.push(format!("thread '{name}': {info}"));
            }
            previous(info);
        }));
    });
}

fn panics() -> Vec<String> {
    PANICS.lock().map(|p| p.clone()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The seeded world

/// Unique strings planted in data that some callers must never see.
struct Markers {
    /// In the second tenant's data.
    other: String,
    /// In the main tenant's data, for the second tenant's caller.
    main: String,
    /// On agent A's customers, in fields agent B may not see (and the other way round).
    agent_a: String,
    agent_b: String,
}

/// Who sends the documents.
struct Caller {
    name: &'static str,
    token: String,
    /// Lowercase strings that must never appear in its answers.
    forbidden: Vec<String>,
    /// Index of its tenant's pools: 0 the main tenant, 1 the other.
    tenant: usize,
    /// Marked records its writes leave alone. An ADMIN or MANAGER could rightly hand a marked
    /// customer or complaint to an agent, and an agent its own complaint to the other agent, who
    /// would then rightly see the marker; their writes name the other records (and those they
    /// may not write, to be refused).
    writes_not: &'static [&'static str],
}

/// A custom field the generator gives values to.
#[derive(Clone)]
struct CustomField {
    entity: &'static str,
    key: String,
    ty: &'static str,
}

/// Values the generator draws from.
#[derive(Default)]
struct Pools {
    /// Ids of records holding markers, by marker: `a` and `b` (the agents'), `main`, `other`.
    marked: BTreeMap<&'static str, Vec<String>>,
    /// Ids of records holding none, per tenant (seeded, and created by the fuzzed writes).
    unmarked: [Vec<String>; 2],
    /// Cursors seen in answers, by the connection field that gave them.
    cursors: BTreeMap<String, Vec<String>>,
    /// Custom fields per tenant.
    custom: [Vec<CustomField>; 2],
}

impl Pools {
    fn add(&mut self, tenant: usize, id: String) {
        if !self.unmarked[tenant].contains(&id) {
            self.unmarked[tenant].push(id);
        }
    }

    fn add_marked(&mut self, marker: &'static str, id: String) {
        self.marked.entry(marker).or_default().push(id);
    }

    /// The ids `caller` may name, those of its own tenant first: every id in reads, all but
    /// those it leaves alone in writes.
    fn ids_for(&self, caller: &Caller, write: bool) -> (Vec<String>, Vec<String>) {
        let (mut own, mut others) = (self.unmarked[caller.tenant].clone(), self.unmarked[1 - caller.tenant].clone());
        for (marker, list) in &self.marked {
            if write && caller.writes_not.contains(marker) {
                continue;
            }
            let of_own_tenant = (*marker == "other") == (caller.tenant == 1);
            if of_own_tenant { own.extend(list.iter().cloned()) } else { others.extend(list.iter().cloned()) }
        }
        (own, others)
    }
}

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let res = app.gql(token, query, variables).await;
    assert!(res.get("errors").is_none(), "seeding: {query}: {res}");
    res["data"].clone()
}

async fn user_id(app: &TestApp, token: &str) -> String {
    ok(app, token, "{ viewer { user { id } } }", json!({})).await["viewer"]["user"]["id"].as_str().unwrap().to_owned()
}

async fn create(app: &TestApp, token: &str, mutation: &str, input_type: &str, input: Value) -> String {
    let query = format!("mutation($i: {input_type}!) {{ r: {mutation}(input: $i) {{ id }} }}");
    ok(app, token, &query, json!({ "i": input })).await["r"]["id"].as_str().unwrap().to_owned()
}

/// A customer of `owner` with `mark`ed private values (if any), a purchase, a plan with an
/// action and two complaints, one assigned to `assignee`. Returns its ids and its records'.
async fn customer_with_records(
    app: &TestApp,
    token: &str,
    name: &str,
    owner: Option<&str>,
    mark: Option<(&str, &str)>,
    assignee: Option<&str>,
) -> Vec<String> {
    let private = |suffix: &str| mark.map_or_else(|| format!("plain {suffix}"), |(m, _)| format!("{m}-{suffix}"));
    let amount = mark.map_or("12.50", |(_, a)| a);
    let customer = create(
        app,
        token,
        "createCustomer",
        "CreateCustomerInput",
        json!({ "kind": "ORGANIZATION", "name": name, "email": "kefu@example.cn", "phone": "+8613812345678",
                "region": private("region"), "industry": private("industry"), "channel": private("channel"),
                "tags": [private("tag"), "vip"], "relationshipType": "LOYAL", "ownerId": owner,
                "customFields": { "note": private("note"), "extra": { "secret": private("json"), "n": [1, 2] },
                                  "grade": "gold", "vip": true, "visits": 7, "budget": "12.50",
                                  "since": "2026-01-05", "labels": ["gold", "金"] } }),
    )
    .await;
    let interaction = create(
        app,
        token,
        "recordInteraction",
        "RecordInteractionInput",
        json!({ "customerId": customer, "kind": "PURCHASE", "occurredAt": "2026-01-05T10:00:00Z", "amount": amount,
                "currency": "CNY", "summary": private("summary"), "customFields": { "note": private("interaction") } }),
    )
    .await;
    let plan = create(
        app,
        token,
        "createKeyAccountPlan",
        "CreateKeyAccountPlanInput",
        json!({ "customerId": customer, "title": private("plan"), "periodStart": "2026-01-01",
                "periodEnd": "2026-12-31", "status": "ACTIVE", "customFields": { "focus": private("focus") } }),
    )
    .await;
    let action = ok(
        app,
        token,
        "mutation($p: ID!, $t: String!) { addPlanAction(planId: $p, input: {title: $t}) { id } }",
        json!({ "p": plan, "t": private("action") }),
    )
    .await["addPlanAction"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let complaint = create(
        app,
        token,
        "fileComplaint",
        "FileComplaintInput",
        json!({ "customerId": customer, "title": private("complaint"), "description": private("complaint-text"),
                "category": "BILLING", "severity": "LOW", "customFields": { "ticket": "T-1" } }),
    )
    .await;
    let mut ids = vec![customer.clone(), interaction, plan, action, complaint];
    if let Some(assignee) = assignee {
        // The case the other agent handles: its title is the other agent's to read.
        ids.push(
            create(
                app,
                token,
                "fileComplaint",
                "FileComplaintInput",
                json!({ "customerId": customer, "title": "a case for the other agent", "category": "DELIVERY",
                        "severity": "HIGH", "assigneeId": assignee }),
            )
            .await,
        );
    }
    ids
}

/// Custom fields of both tenants: entity, key, type. The choices of the ENUMs are [`OPTIONS`].
const CUSTOM_FIELDS: [(&str, &str, &str); 14] = [
    ("CUSTOMER", "note", "STRING"),
    ("CUSTOMER", "vip", "BOOLEAN"),
    ("CUSTOMER", "grade", "ENUM"),
    ("CUSTOMER", "labels", "MULTI_ENUM"),
    ("CUSTOMER", "visits", "INT"),
    ("CUSTOMER", "budget", "DECIMAL"),
    ("CUSTOMER", "since", "DATE"),
    ("CUSTOMER", "seen_at", "DATETIME"),
    ("CUSTOMER", "extra", "JSON"),
    ("CUSTOMER", "site", "URL"),
    ("INTERACTION", "note", "STRING"),
    ("COMPLAINT", "ticket", "STRING"),
    ("KEY_ACCOUNT_PLAN", "focus", "TEXT"),
    ("KEY_ACCOUNT_PLAN", "budget", "DECIMAL"),
];

const OPTIONS: [&str; 3] = ["gold", "silver", "金"];

async fn define_fields(app: &TestApp, admin: &str, label: &str, pools: &mut Pools, tenant: usize) {
    for (i, &(entity, key, ty)) in CUSTOM_FIELDS.iter().enumerate() {
        let options = if ty.contains("ENUM") { json!(OPTIONS) } else { Value::Null };
        // The first label carries the tenant's marker: the other tenant's schema must never show it.
        let label = if i == 0 { label.to_owned() } else { format!("{key} ({entity})") };
        let input = json!({ "entity": entity, "key": key, "label": label, "type": ty, "options": options });
        let id = create(app, admin, "defineCustomField", "DefineCustomFieldInput", input).await;
        pools.add(tenant, id);
        pools.custom[tenant].push(CustomField { entity, key: (*key).to_owned(), ty });
    }
}

/// Two tenants: the main one with two agents owning marked customers (complaints assigned
/// across), unmarked records, custom fields; the other with its own marked records.
async fn seed_world(app: &TestApp, rng: &mut StdRng) -> (Vec<Caller>, Pools, Markers) {
    let mut hex = || format!("{:012x}", rng.random::<u64>() >> 16);
    let markers = Markers {
        other: format!("OTHER-TENANT-{}", hex()),
        main: format!("MAIN-TENANT-{}", hex()),
        agent_a: format!("PRIV-A-{}", hex()),
        agent_b: format!("PRIV-B-{}", hex()),
    };
    let (main, other) = (markers.main.to_lowercase(), markers.other.to_lowercase());
    let admin = app.token(&main, "ADMIN", "admin");
    let manager = app.token(&main, "MANAGER", "manager");
    let agent_a = app.token(&main, "AGENT", "agent-a");
    let agent_b = app.token(&main, "AGENT", "agent-b");
    let viewer = app.token(&main, "VIEWER", "viewer");
    let other_admin = app.token(&other, "ADMIN", &format!("{}-admin", markers.other));
    let mut pools = Pools::default();

    let mut users = Vec::new();
    for t in [&admin, &manager, &agent_a, &agent_b, &viewer] {
        users.push(user_id(app, t).await);
    }
    let (a_id, b_id) = (users[2].clone(), users[3].clone());
    for u in users {
        pools.add(0, u);
    }
    let other_user = user_id(app, &other_admin).await;
    pools.add_marked("other", other_user);

    define_fields(app, &admin, &format!("{}-label", markers.main), &mut pools, 0).await;
    define_fields(app, &other_admin, &format!("{}-label", markers.other), &mut pools, 1).await;

    let agents = [("a", &a_id, &markers.agent_a, AMOUNT_A, &b_id), ("b", &b_id, &markers.agent_b, AMOUNT_B, &a_id)];
    for (n, (group, owner, mark, amount, other_agent)) in agents.into_iter().enumerate() {
        for i in 0..2 {
            let name = format!("客户 {n}-{i}");
            let mark = Some((mark.as_str(), amount));
            let ids = customer_with_records(app, &manager, &name, Some(owner), mark, Some(other_agent)).await;
            for id in ids {
                pools.add_marked(group, id);
            }
        }
    }
    let main_name = format!("{}-name", markers.main);
    for id in customer_with_records(app, &manager, &main_name, None, None, None).await {
        pools.add_marked("main", id);
    }
    for (i, owner) in [Some(&a_id), Some(&b_id), None].into_iter().enumerate() {
        let name = format!("scratch {i}");
        for id in customer_with_records(app, &manager, &name, owner.map(String::as_str), None, None).await {
            pools.add(0, id);
        }
    }
    let other_name = format!("{}-name", markers.other);
    let mark = Some((markers.other.as_str(), "99.99"));
    let ids = customer_with_records(app, &other_admin, &other_name, None, mark, None).await;
    for id in ids {
        pools.add_marked("other", id);
    }
    for (tenant, token) in [(0, &admin), (1, &other_admin)] {
        let plugins = ok(app, token, "{ plugins { id } }", json!({})).await;
        for p in plugins["plugins"].as_array().unwrap() {
            pools.add(tenant, p["id"].as_str().unwrap().to_owned());
        }
    }

    let lower = |s: &String| s.to_lowercase();
    let private_a = vec![lower(&markers.agent_a), AMOUNT_A.to_owned()];
    let private_b = vec![lower(&markers.agent_b), AMOUNT_B.to_owned()];
    let the_other = vec![lower(&markers.other)];
    let callers = vec![
        Caller {
            name: "ADMIN",
            token: admin,
            forbidden: the_other.clone(),
            tenant: 0,
            writes_not: &["a", "b", "main"],
        },
        Caller {
            name: "MANAGER",
            token: manager,
            forbidden: the_other.clone(),
            tenant: 0,
            writes_not: &["a", "b", "main"],
        },
        Caller {
            name: "AGENT A",
            token: agent_a,
            forbidden: [the_other.clone(), private_b.clone()].concat(),
            tenant: 0,
            writes_not: &["a"],
        },
        Caller {
            name: "AGENT B",
            token: agent_b,
            forbidden: [the_other.clone(), private_a.clone()].concat(),
            tenant: 0,
            writes_not: &["b"],
        },
        Caller { name: "VIEWER", token: viewer, forbidden: the_other, tenant: 0, writes_not: &[] },
        Caller {
            name: "OTHER TENANT ADMIN",
            token: other_admin,
            forbidden: [vec![lower(&markers.main)], private_a, private_b].concat(),
            tenant: 1,
            writes_not: &[],
        },
    ];
    (callers, pools, markers)
}

/// The first forbidden string in `body`, if any.
fn leak<'a>(body: &str, forbidden: &'a [String]) -> Option<&'a str> {
    let body = body.to_lowercase();
    forbidden.iter().find(|m| body.contains(m.as_str())).map(String::as_str)
}

/// Every private value of a customer, through every path the fuzzer may take to it.
const EVERYTHING: &str = "{ customers(first: 50) { nodes { name region industry channel tags customFields
    interactions { nodes { summary amount customFields } } complaints { nodes { title description } }
    keyAccountPlans { nodes { title customFields actions(first: 5) { title } } } stats { purchaseTotal } } }
    customFieldDefinitions { label } }";

async fn everything(app: &TestApp, caller: &Caller) -> String {
    app.gql(&caller.token, EVERYTHING, json!({})).await.to_string().to_lowercase()
}

/// The leak checks can fail: callers who may see the markers do see them, all of them, in the
/// answers of the very query an agent sends, and the check finds them there.
async fn markers_are_seen_by_those_who_may(app: &TestApp, callers: &[Caller], markers: &Markers) {
    let must_see = |body: &str, who: &str, mark: &str, amount: &str| {
        for suffix in PRIVATE {
            let value = format!("{mark}-{suffix}").to_lowercase();
            assert!(body.contains(&value), "{who} does not see {value}: {body}");
        }
        assert!(body.contains(amount), "{who} does not see {amount}: {body}");
    };
    for manager_like in &callers[0..2] {
        let body = everything(app, manager_like).await;
        must_see(&body, manager_like.name, &markers.agent_a, AMOUNT_A);
        must_see(&body, manager_like.name, &markers.agent_b, AMOUNT_B);
        assert!(body.contains(&format!("{}-name", markers.main).to_lowercase()), "{body}");
        assert!(body.contains(&format!("{}-label", markers.main).to_lowercase()), "{body}");
        for agent in &callers[2..4] {
            assert!(leak(&body, &agent.forbidden).is_some(), "the check would miss a leak to {}", agent.name);
        }
        assert_eq!(leak(&body, &manager_like.forbidden), None, "{body}");
    }
    let (a, b) = (everything(app, &callers[2]).await, everything(app, &callers[3]).await);
    must_see(&a, "AGENT A", &markers.agent_a, AMOUNT_A);
    must_see(&b, "AGENT B", &markers.agent_b, AMOUNT_B);
    let other = everything(app, &callers[5]).await;
    must_see(&other, "the other tenant's ADMIN", &markers.other, "99.99");
    assert!(leak(&other, &callers[0].forbidden).is_some(), "the check would miss a leak between tenants");
    // The case view: each agent reaches the other's customers through the complaints assigned to
    // it, and sees who they are, nothing private.
    for agent in &callers[2..4] {
        let seen =
            app.gql(&agent.token, "{ complaints { nodes { title customer { name region tags } } } }", json!({})).await;
        let nodes = seen["data"]["complaints"]["nodes"].as_array().unwrap_or_else(|| panic!("{seen}"));
        let cases = nodes.iter().filter(|c| c["customer"]["region"].is_null() && c["customer"]["name"].is_string());
        assert_eq!(cases.count(), 2, "{} handles a case on each of the other's customers: {seen}", agent.name);
        assert_eq!(leak(&seen.to_string(), &agent.forbidden), None, "{seen}");
    }
}

// ---------------------------------------------------------------------------------------------
// The schema, as introspection describes it

const INTROSPECTION: &str = "query Introspect { __schema { queryType { name } mutationType { name }
    types { kind name fields(includeDeprecated: true) { name args { name defaultValue type { ...T } } type { ...T } }
    inputFields { name defaultValue type { ...T } } enumValues(includeDeprecated: true) { name } possibleTypes { name } } } }
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

#[derive(Clone, Debug)]
enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl Ty {
    fn parse(v: &Value) -> Ty {
        match v["kind"].as_str() {
            Some("NON_NULL") => Ty::NonNull(Box::new(Ty::parse(&v["ofType"]))),
            Some("LIST") => Ty::List(Box::new(Ty::parse(&v["ofType"]))),
            _ => Ty::Named(v["name"].as_str().unwrap_or_default().to_owned()),
        }
    }

    fn named(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.named(),
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Named(n) => write!(f, "{n}"),
            Ty::List(t) => write!(f, "[{t}]"),
            Ty::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    Input,
}

struct Arg {
    name: String,
    ty: Ty,
    /// Required: non-null without a default.
    required: bool,
}

struct FieldDef {
    name: String,
    args: Vec<Arg>,
    ty: Ty,
}

struct TypeDef {
    kind: Kind,
    fields: Vec<FieldDef>,
    inputs: Vec<Arg>,
    values: Vec<String>,
    possible: Vec<String>,
}

struct Schema {
    types: BTreeMap<String, TypeDef>,
    query: String,
    mutation: Option<String>,
}

impl Schema {
    fn parse(data: &Value) -> Schema {
        let schema = &data["__schema"];
        let args = |list: &Value| -> Vec<Arg> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let ty = Ty::parse(&a["type"]);
                    let required = matches!(ty, Ty::NonNull(_)) && a["defaultValue"].is_null();
                    Arg { name: a["name"].as_str().unwrap_or_default().to_owned(), ty, required }
                })
                .collect()
        };
        let names = |list: &Value| -> Vec<String> {
            list.as_array().into_iter().flatten().filter_map(|v| v["name"].as_str().map(str::to_owned)).collect()
        };
        let mut types = BTreeMap::new();
        for t in schema["types"].as_array().expect("introspection lists types") {
            let kind = match t["kind"].as_str() {
                Some("OBJECT") => Kind::Object,
                Some("INTERFACE") => Kind::Interface,
                Some("UNION") => Kind::Union,
                Some("ENUM") => Kind::Enum,
                Some("INPUT_OBJECT") => Kind::Input,
                _ => Kind::Scalar,
            };
            let fields = t["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| FieldDef {
                    name: f["name"].as_str().unwrap_or_default().to_owned(),
                    args: args(&f["args"]),
                    ty: Ty::parse(&f["type"]),
                })
                .collect();
            let def = TypeDef {
                kind,
                fields,
                inputs: args(&t["inputFields"]),
                values: names(&t["enumValues"]),
                possible: names(&t["possibleTypes"]),
            };
            types.insert(t["name"].as_str().unwrap_or_default().to_owned(), def);
        }
        Schema {
            types,
            query: schema["queryType"]["name"].as_str().unwrap_or("Query").to_owned(),
            mutation: schema["mutationType"]["name"].as_str().map(str::to_owned),
        }
    }

    fn kind(&self, name: &str) -> Kind {
        self.types.get(name).map_or(Kind::Scalar, |t| t.kind)
    }

    fn is_leaf(&self, name: &str) -> bool {
        matches!(self.kind(name), Kind::Scalar | Kind::Enum)
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// A GraphQL input value, written in the document or sent as a variable.
#[derive(Clone, Debug)]
enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    /// A number as written: floats, and integers no i64 holds.
    Number(String),
    Str(String),
    Enum(String),
    List(Vec<Lit>),
    Object(Vec<(String, Lit)>),
    /// Text only a document can carry: a variable reference, broken syntax.
    Raw(String),
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A GraphQL string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Lit {
    fn write(&self, out: &mut String) {
        match self {
            Lit::Null => out.push_str("null"),
            Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Lit::Int(i) => out.push_str(&i.to_string()),
            Lit::Number(s) | Lit::Enum(s) | Lit::Raw(s) => out.push_str(s),
            Lit::Str(s) => out.push_str(&quote(s)),
            Lit::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Lit::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn literal(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn json(&self) -> Value {
        match self {
            Lit::Null => Value::Null,
            Lit::Bool(b) => json!(b),
            Lit::Int(i) => json!(i),
            Lit::Number(s) => serde_json::from_str(s).unwrap_or_else(|_| json!(s)),
            Lit::Str(s) | Lit::Enum(s) | Lit::Raw(s) => json!(s),
            Lit::List(items) => Value::Array(items.iter().map(Lit::json).collect()),
            Lit::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.json())).collect()),
        }
    }

    /// Whether a document can carry it: object keys must be names.
    fn fits_document(&self) -> bool {
        match self {
            Lit::List(items) => items.iter().all(Lit::fits_document),
            Lit::Object(fields) => fields.iter().all(|(k, v)| is_name(k) && v.fits_document()),
            _ => true,
        }
    }

    /// Whether a variable can carry it: no document syntax.
    fn fits_variable(&self) -> bool {
        match self {
            Lit::Raw(_) => false,
            Lit::List(items) => items.iter().all(Lit::fits_variable),
            Lit::Object(fields) => fields.iter().all(|(_, v)| v.fits_variable()),
            _ => true,
        }
    }
}

const PLAIN: [&str; 10] =
    ["Acme", "fuzz", "alpha beta", "x", "Zhang Wei", "kefu@example.cn", "+8613812345678", "CNY", "2026", "OPEN"];
const UNICODE: [&str; 18] = [
    "王芳",
    "上海市浦东新区",
    "深圳蓝海物流有限公司",
    "🦀",
    "👩‍👩‍👧‍👦 family",
    "😀😃😄",
    "مرحبا بالعالم",
    "שלום עולם",
    "\u{202E}txet desrever\u{202C}",
    "e\u{301}\u{301}\u{301}\u{301}",
    "\u{200B}\u{FEFF}\u{200D}",
    "Ｆｕｌｌｗｉｄｔｈ１２３",
    "\u{3000}",
    "𝕳𝖊𝖑𝖑𝖔",
    "Ω≈ç√∫",
    "\u{FFFD}\u{FFFF}\u{10FFFF}",
    "null",
    "NaN",
];
const CONTROL: [&str; 9] = [
    "\0",
    "a\0b",
    "\u{1}\u{2}\u{3}",
    "\u{7}\u{8}\u{1b}[31mred",
    "\r\n\t",
    "\u{7f}",
    "\u{85}\u{2028}\u{2029}",
    "\0\0\0\0",
    "line\nbreak",
];
const HOSTILE: [&str; 17] = [
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "%_\\%",
    "\"; DROP TABLE customers; --",
    "$1",
    "?",
    "{\"a\":1}",
    "[]",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%s%s%n",
    "\\u0000",
    "-- ",
    "/*",
    "E'\\\\x00'",
];
/// The first four of each list are valid everywhere; the rest are odd, or not valid at all.
const DATE_TIMES: [&str; 12] = [
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00.123456789+08:00",
    "1970-01-01T00:00:00Z",
    "2025-06-30T23:59:59-05:00",
    "0000-01-01T00:00:00Z",
    "0000-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-23:59",
    "2024-02-29T12:00:00+05:45",
    "2026-13-01T00:00:00Z",
    "2026-01-05",
    "yesterday",
    "2026-01-05T10:00:00",
];
const DATES: [&str; 10] = [
    "2026-01-05",
    "2026-12-31",
    "2024-02-29",
    "2025-01-01",
    "0000-01-01",
    "9999-12-31",
    "2026-02-30",
    "26-1-5",
    "2026-01-05T00:00:00Z",
    "+2026-01-05",
];
const DECIMALS: [&str; 14] = [
    "0",
    "1234.50",
    "0.01",
    "99999.99",
    "-0.01",
    "0.0000000000000000000000000001",
    "79228162514264337593543950335",
    "-79228162514264337593543950335",
    "79228162514264337593543950336",
    "1e10",
    " 12 ",
    "NaN",
    "12,50",
    "٣٫١٤",
];
const NUMBERS: [&str; 6] = ["3.5", "1e300", "-0", "123456789012345678901234567890", "0.1e-400", "9007199254740993"];
const INTS: [i64; 12] = [0, 1, 2, 3, 5, -1, 100, 101, 2_147_483_647, -2_147_483_648, 4_294_967_296, i64::MIN];

/// Known id types, by words of the field or argument that takes one.
const ID_HINTS: [(&str, &str); 13] = [
    ("interaction", "Interaction"),
    ("action", "PlanAction"),
    ("customfield", "CustomFieldDefinition"),
    ("scorerun", "ScoreRun"),
    ("plugin", "Plugin"),
    ("customer", "Customer"),
    ("complaint", "Complaint"),
    ("plan", "KeyAccountPlan"),
    ("owner", "User"),
    ("assignee", "User"),
    ("team", "User"),
    ("staff", "User"),
    ("user", "User"),
];

// ---------------------------------------------------------------------------------------------
// Documents

/// How a case goes over HTTP.
enum Send {
    /// `POST /graphql` with a JSON request.
    Post(Value),
    /// `POST /graphql` with any body.
    Raw { content_type: &'static str, body: Vec<u8> },
    /// `GET /graphql?…`.
    Get(Vec<(String, String)>),
}

/// One generated request.
struct Case {
    send: Send,
    accept: Option<&'static str>,
    idempotency_key: Option<String>,
    /// Aliases of the writes that create a record: its id joins the pools.
    created: Vec<String>,
}

impl Case {
    #[expect(clippy::needless_pass_by_value, reason = "built to be moved into the case by every caller")]
    fn post(query: String, variables: Value, operation: Option<String>) -> Case {
        let mut body = json!({ "query": query, "variables": variables });
        if let Some(name) = operation {
            body["operationName"] = json!(name);
        }
        Case { send: Send::Post(body), accept: None, idempotency_key: None, created: Vec::new() }
    }

    /// The request, for a failure report (long strings cut).
    fn describe(&self) -> String {
        let shortened = |s: String| {
            if s.len() > 6_000 { format!("{}… ({} bytes in all)", cut(&s, 3_000), s.len()) } else { s }
        };
        let headers = format!("accept: {:?}, idempotency-key: {:?}", self.accept, self.idempotency_key);
        match &self.send {
            Send::Post(body) => {
                let query = body["query"].as_str().unwrap_or_default().to_owned();
                let rest =
                    json!({ "variables": shorten(&body["variables"]), "operationName": body.get("operationName") });
                format!("POST ({headers})\nquery: {}\n{}", shortened(query), shortened(rest.to_string()))
            }
            Send::Raw { content_type, body } => {
                format!("POST ({headers}, content-type {content_type})\nbody: {}", shortened(format!("{body:?}")))
            }
            Send::Get(params) => format!("GET ({headers})\n{}", shortened(format!("{params:?}"))),
        }
    }
}

/// The `orderBy` a cursor was made for, as a literal, when it says: `+name,-createdAt,+id` is
/// `[{field: NAME, direction: ASC}, {field: CREATED_AT, direction: DESC}]` (the id comes last
/// by itself).
fn order_of(cursor: &str) -> Option<String> {
    let body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let keys: Vec<String> = body["o"]
        .as_str()?
        .split(',')
        .filter_map(|part| {
            let (sign, name) = part.split_at_checked(1)?;
            let direction = if sign == "-" { "DESC" } else { "ASC" };
            if name == "id" {
                return None;
            }
            Some(match name.strip_prefix("custom.") {
                Some(key) => format!("{{customField: {}, direction: {direction}}}", quote(key)),
                None => {
                    let mut field = String::new();
                    for c in name.chars() {
                        if c.is_ascii_uppercase() {
                            field.push('_');
                        }
                        field.push(c.to_ascii_uppercase());
                    }
                    format!("{{field: {field}, direction: {direction}}}")
                }
            })
        })
        .collect();
    Some(format!("[{}]", keys.join(", ")))
}

/// `value` with its long strings cut, so that a report shows every variable.
fn shorten(value: &Value) -> Value {
    match value {
        Value::String(s) if s.len() > 200 => json!(format!("{}… ({} bytes)", cut(s, 100), s.len())),
        Value::Array(items) if items.len() > 50 => {
            let mut first: Vec<Value> = items[..20].iter().map(shorten).collect();
            first.push(json!(format!("… ({} items in all)", items.len())));
            Value::Array(first)
        }
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
        other => other.clone(),
    }
}

/// Generates one case from a schema, for one caller.
struct Gen<'a> {
    rng: StdRng,
    schema: &'a Schema,
    /// Ids to name: of the caller's tenant, and of the other.
    ids: Vec<String>,
    foreign_ids: Vec<String>,
    cursors: &'a BTreeMap<String, Vec<String>>,
    /// The field whose arguments are being made (a cursor is best taken from its own list).
    field: String,
    custom: &'a [CustomField],
    /// The input object being made (its entity's custom fields go in its `customFields`).
    input_type: String,
    /// Chance that a value has the wrong type.
    wrong: f64,
    /// Chance of a made-up name where a field, argument or input field goes.
    unknown: f64,
    /// Chance that a string is an odd one: unicode, control characters, very long, hostile.
    odd: f64,
    /// Lists of hundreds or thousands of values.
    huge_lists: bool,
    /// Chance that an argument is sent as a variable.
    as_variable: f64,
    /// Deepest selection generated.
    depth_limit: u32,
    /// Select nearly every field of each object, not a few.
    wide: bool,
    variables: Vec<(String, String, Value)>,
    fragments: Vec<String>,
    created: Vec<String>,
}

/// Writes that create a record.
const CREATORS: [&str; 6] = ["create", "record", "file", "add", "define", "install"];

impl<'a> Gen<'a> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items.choose(&mut self.rng).expect("something to pick").clone()
    }

    /// One of `items`: among the first four (valid everywhere) unless an odd one is due.
    fn pick_valid_or_odd(&mut self, items: &[&str]) -> String {
        let valid = &items[..4.min(items.len())];
        if self.chance(self.odd) { self.pick(items).to_owned() } else { self.pick(valid).to_owned() }
    }

    fn made_up(&mut self) -> String {
        let names =
            ["nope", "__nope", "password", "secret", "tenantId", "_", "id_", "Customer", "__schema", "constructor"];
        let name = self.pick(&names);
        format!("{name}{}", if self.chance(0.5) { String::new() } else { self.rng.random_range(0..99).to_string() })
    }

    fn string(&mut self) -> String {
        if !self.chance(self.odd) {
            return self.pick(&PLAIN).to_owned();
        }
        match self.rng.random_range(0..7) {
            0 => self.pick(&UNICODE).to_owned(),
            1 => self.pick(&CONTROL).to_owned(),
            2 => self.pick(&HOSTILE).to_owned(),
            3 => {
                let unit = self.pick(&[&UNICODE[..], &CONTROL[..]].concat());
                let len = self.pick(&[51, 300, 2_000, 70_000, 300_000]);
                unit.repeat(len / unit.len().max(1) + 1)
            }
            4 => {
                let all = [&PLAIN[..], &UNICODE[..], &CONTROL[..], &HOSTILE[..]].concat();
                (0..self.rng.random_range(2..5)).map(|_| self.pick(&all)).collect()
            }
            5 => String::new(),
            _ => (0..self.rng.random_range(1..40))
                .filter_map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)))
                .collect(),
        }
    }

    fn id(&mut self, hint: &str) -> String {
        let hint = hint.to_lowercase();
        let ty = ID_HINTS.iter().find(|(word, _)| hint.contains(word)).map(|(_, ty)| *ty);
        let roll = self.rng.random_range(0..100);
        if roll < 8 || self.ids.is_empty() {
            let garbage = [
                String::new(),
                "nope".into(),
                "Q3VzdG9tZXI6".into(),
                URL_SAFE_NO_PAD.encode("Customer:not-a-uuid"),
                ids::encode("Customer", uuid::Uuid::nil()),
                ids::encode(ty.unwrap_or("Customer"), uuid::Uuid::now_v7()),
                STANDARD.encode("Customer:00000000-0000-0000-0000-000000000000"),
                "🦀".repeat(100),
                self.string(),
            ];
            return self.pick(&garbage);
        }
        if roll < 16 {
            // A real record's uuid inside an id of another type, or padded.
            let id = self.pick(&self.ids.clone());
            let Some((_, uuid)) = ids::decode_any(&id) else { return id };
            let types = ["Customer", "User", "Interaction", "Complaint", "KeyAccountPlan", "Plugin", "customer", ""];
            let other = self.pick(&types);
            return if self.chance(0.5) { ids::encode(other, uuid) } else { format!(" {id}\n") };
        }
        let pool = if roll < 30 && !self.foreign_ids.is_empty() { self.foreign_ids.clone() } else { self.ids.clone() };
        let typed: Vec<String> = match ty {
            Some(ty) if roll < 90 => {
                pool.iter().filter(|id| ids::decode_any(id).is_some_and(|(t, _)| t == ty)).cloned().collect()
            }
            _ => Vec::new(),
        };
        if typed.is_empty() { self.pick(&pool) } else { self.pick(&typed) }
    }

    fn cursor(&mut self) -> String {
        let cursors = self.cursors;
        let own = cursors.get(&self.field).filter(|c| !c.is_empty() && !self.chance(0.2));
        let list = match own {
            Some(list) => list.clone(),
            None => cursors.values().flatten().cloned().collect(),
        };
        if list.is_empty() || self.chance(0.15) {
            return self.pick(&["", "nope", "e30", "eyJvIjoiIiwiayI6W119", "////", "🦀"]).to_owned();
        }
        let cursor = self.pick(&list);
        if self.chance(0.4) {
            return cursor;
        }
        // A cursor the server made, with its values changed: odd strings, numbers, nulls, more or
        // fewer keys.
        let Some(mut body) =
            URL_SAFE_NO_PAD.decode(&cursor).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            return cursor;
        };
        if let Some(keys) = body.get_mut("k").and_then(Value::as_array_mut) {
            for key in keys.iter_mut() {
                if self.chance(0.6) {
                    *key = match self.rng.random_range(0..7) {
                        0 => json!(self.string()),
                        1 => json!(self.pick(&CONTROL)),
                        2 => json!(self.pick(&INTS)),
                        3 => Value::Null,
                        4 => json!(self.pick(&DATE_TIMES)),
                        5 => json!(uuid::Uuid::now_v7().to_string()),
                        _ => json!([1, { "a": "b" }]),
                    };
                }
            }
            if self.chance(0.2) {
                keys.push(json!("extra"));
            }
        }
        if self.chance(0.1) {
            body["o"] = json!(self.string());
        }
        URL_SAFE_NO_PAD.encode(body.to_string())
    }

    /// A string for a field or argument called `name`.
    fn named_string(&mut self, name: &str) -> String {
        if self.chance(self.odd / 2.0) {
            return self.string();
        }
        match name {
            "after" | "before" => self.cursor(),
            "email" => self.pick_valid_or_odd(&[
                "kefu@example.cn",
                "li.na@example.com",
                "a@b.cn",
                "x@y.org",
                "王@例子.中国",
                "@",
                "x@example.com ",
            ]),
            "phone" => self.pick_valid_or_odd(&[
                "+8613812345678",
                "13812345678",
                "+8613912345678",
                "+14155550123",
                "+1",
                "電話",
            ]),
            "currency" | "baseCurrency" => {
                self.pick_valid_or_odd(&["CNY", "USD", "EUR", "JPY", "cny", "XXX", "人民币", ""])
            }
            "creditCode" if self.chance(self.odd) => {
                self.pick(&["91350100M000100Y4", "ＡＢＣ", "O1350100M000100Y43"]).to_owned()
            }
            "creditCode" => "91350100M000100Y43".to_owned(),
            "key" | "customField" | "tierScoreKey" => {
                let keys: Vec<String> = self.custom.iter().map(|f| f.key.clone()).collect();
                if keys.is_empty() || self.chance(0.4) {
                    format!("k{}_{}", self.rng.random_range(0..50), self.pick(&["x", "note", "é", "A", ""]))
                } else {
                    self.pick(&keys)
                }
            }
            "wasmBase64" => {
                let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
                bytes.extend((0..self.rng.random_range(0..64)).map(|_| self.rng.random::<u8>()));
                STANDARD.encode(bytes)
            }
            "name" => self.pick(&["scorer-x", "a", "fuzz_plugin", "客户", "Scratch"]).to_owned(),
            _ => self.string(),
        }
    }

    /// A value of `ty` for something called `name` (`depth` input objects down).
    fn value(&mut self, ty: &Ty, name: &str, depth: u32) -> Lit {
        if self.chance(self.wrong) {
            return self.wrong_value();
        }
        match ty {
            Ty::NonNull(inner) => self.value_not_null(inner, name, depth),
            other => {
                if self.chance(0.05) {
                    Lit::Null
                } else {
                    self.value_not_null(other, name, depth)
                }
            }
        }
    }

    fn value_not_null(&mut self, ty: &Ty, name: &str, depth: u32) -> Lit {
        match ty {
            Ty::NonNull(inner) => self.value_not_null(inner, name, depth),
            Ty::List(inner) => {
                let lists = ["in", "notIn", "hasAny", "hasAll", "tags", "objectives", "teamIds", "options"];
                let n = if self.huge_lists && lists.contains(&name) && self.chance(0.7) {
                    self.pick(&[200, 999, 1_000, 1_001, 2_500])
                } else {
                    self.rng.random_range(0..=3)
                };
                Lit::List((0..n).map(|_| self.value(inner, name, depth + 1)).collect())
            }
            Ty::Named(t) => match self.schema.kind(t) {
                Kind::Enum => {
                    let values = self.schema.types[t.as_str()].values.clone();
                    if values.is_empty() { Lit::Enum("NOPE".into()) } else { Lit::Enum(self.pick(&values)) }
                }
                Kind::Input => self.input_object(t, depth),
                _ => self.scalar(t, name),
            },
        }
    }

    fn scalar(&mut self, ty: &str, name: &str) -> Lit {
        match ty {
            "ID" => Lit::Str(self.id(name)),
            "Int" if matches!(name, "first" | "last") && !self.chance(self.odd) => {
                Lit::Int(self.rng.random_range(1..=4))
            }
            "Int" if !self.chance(self.odd) => Lit::Int(self.rng.random_range(1..=5)),
            "Int" => Lit::Int(self.pick(&INTS)),
            "Float" => Lit::Number(format!("{:?}", self.rng.random_range(-1e6..1e6))),
            "Boolean" => Lit::Bool(self.rng.random()),
            "DateTime" => Lit::Str(self.pick_valid_or_odd(&DATE_TIMES)),
            "Date" if name == "periodStart" && !self.chance(self.odd) => Lit::Str("2026-01-01".into()),
            "Date" if name == "periodEnd" && !self.chance(self.odd) => Lit::Str("2026-12-31".into()),
            "Date" => Lit::Str(self.pick_valid_or_odd(&DATES)),
            "Decimal" if !self.chance(self.odd / 2.0) => Lit::Str(self.pick_valid_or_odd(&DECIMALS)),
            "Decimal" => Lit::Number(self.pick(&NUMBERS).to_owned()),
            "BigInt" if !self.chance(self.odd) => Lit::Int(self.rng.random_range(-5..1_000)),
            "BigInt" if self.chance(0.5) => Lit::Int(self.pick(&[0, 42, -1, i64::MAX, i64::MIN])),
            "BigInt" => Lit::Str(self.pick(&["9223372036854775807", "9223372036854775808", " 7 ", "1.5"]).to_owned()),
            "JSON" if name == "customFields" => self.custom_values(),
            "JSON" => self.json(0),
            _ => Lit::Str(self.named_string(name)),
        }
    }

    /// Any JSON value; deep or wide now and then.
    fn json(&mut self, depth: u32) -> Lit {
        if depth == 0 && self.chance(0.05) {
            let levels = self.pick(&[31, 33, 60]);
            let mut v = Lit::Int(1);
            for _ in 0..levels {
                v = if self.chance(0.5) { Lit::List(vec![v]) } else { Lit::Object(vec![("a".into(), v)]) };
            }
            return v;
        }
        match self.rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
            0 => Lit::Null,
            1 => Lit::Bool(self.rng.random()),
            2 => Lit::Int(self.pick(&INTS)),
            3 => Lit::Number(self.pick(&NUMBERS).to_owned()),
            4 => Lit::Str(self.string()),
            5 => Lit::List((0..self.rng.random_range(0..4)).map(|_| self.json(depth + 1)).collect()),
            _ => Lit::Object(
                (0..self.rng.random_range(0..4))
                    .map(|_| {
                        let key = if self.chance(0.7) {
                            self.pick(&["a", "b", "secret", "n"]).to_owned()
                        } else {
                            self.string()
                        };
                        (key, self.json(depth + 1))
                    })
                    .collect(),
            ),
        }
    }

    /// `customFields`: the tenant's keys with values of their type (or not), and made-up keys.
    fn custom_values(&mut self) -> Lit {
        let entity = match self.input_type.as_str() {
            t if t.contains("Customer") => "CUSTOMER",
            t if t.contains("Interaction") => "INTERACTION",
            t if t.contains("Complaint") => "COMPLAINT",
            _ => "KEY_ACCOUNT_PLAN",
        };
        let custom: Vec<CustomField> = self.custom.iter().filter(|f| f.entity == entity).cloned().collect();
        let mut fields = Vec::new();
        for _ in 0..self.rng.random_range(0..4) {
            if custom.is_empty() || self.chance(0.15) {
                let key = if self.chance(0.5) { self.made_up() } else { self.string() };
                let value = self.json(1);
                fields.push((key, value));
                continue;
            }
            let CustomField { key, ty, .. } = self.pick(&custom);
            let value = if self.chance(self.odd) {
                self.json(1)
            } else {
                match ty {
                    "INT" => Lit::Int(self.pick(&INTS)),
                    "DECIMAL" => Lit::Str(self.pick_valid_or_odd(&DECIMALS)),
                    "BOOLEAN" => Lit::Bool(self.rng.random()),
                    "DATE" => Lit::Str(self.pick_valid_or_odd(&DATES)),
                    "DATETIME" => Lit::Str(self.pick_valid_or_odd(&DATE_TIMES)),
                    "ENUM" => Lit::Str(self.pick(&OPTIONS).to_owned()),
                    "MULTI_ENUM" => Lit::List(vec![Lit::Str(self.pick(&OPTIONS).to_owned())]),
                    "JSON" => self.json(0),
                    _ => Lit::Str(self.string()),
                }
            };
            fields.push((key, value));
        }
        Lit::Object(fields)
    }

    fn input_object(&mut self, name: &str, depth: u32) -> Lit {
        let schema = self.schema;
        let def = &schema.types[name];
        let mut fields = Vec::new();
        let enclosing = std::mem::replace(&mut self.input_type, name.to_owned());
        for f in &def.inputs {
            // Few optional fields at once: many of them exclude each other (a SURVEY's score, a
            // PURCHASE's amount), and a write refused for that tests little.
            let p = if depth > 3 {
                0.03
            } else if name.ends_with("Filter") {
                0.2
            } else {
                0.25
            };
            if (f.required && !self.chance(self.unknown * 0.3)) || self.chance(p) {
                let value = self.value(&f.ty, &f.name, depth + 1);
                fields.push((f.name.clone(), value));
            }
        }
        if self.chance(self.unknown) {
            fields.push((self.made_up(), Lit::Int(1)));
        }
        self.input_type = enclosing;
        Lit::Object(fields)
    }

    /// A value of another type than expected.
    fn wrong_value(&mut self) -> Lit {
        match self.rng.random_range(0..12) {
            0 => Lit::Int(7),
            1 => Lit::Number("1.5".into()),
            2 => Lit::Str(self.string()),
            3 => Lit::Bool(true),
            4 => Lit::Null,
            5 => Lit::Enum("NOT_A_VALUE".into()),
            6 => Lit::List(vec![Lit::Int(1), Lit::Str("a".into()), Lit::Null]),
            7 => Lit::Object(vec![("nope".into(), Lit::Int(1))]),
            8 => Lit::Number("99999999999999999999".into()),
            9 => Lit::Raw("$undeclared".into()),
            10 => Lit::Str("ACTIVE".into()),
            _ => Lit::Number("-0.0e-0".into()),
        }
    }

    /// An argument's value as written in the document: a literal or a variable.
    #[expect(clippy::needless_pass_by_value, reason = "each value is written once, where it is made")]
    fn pass(&mut self, ty: &Ty, value: Lit) -> String {
        let variable = value.fits_variable() && (!value.fits_document() || self.chance(self.as_variable));
        if !variable {
            return value.literal();
        }
        let name = format!("v{}", self.variables.len());
        let declared = if self.chance(self.unknown * 0.2) {
            self.pick(&["String".to_owned(), "Nope".into(), "[Int!]!".into(), "Customer".into(), format!("{ty}!")])
        } else {
            ty.to_string()
        };
        self.variables.push((name.clone(), declared, value.json()));
        format!("${name}")
    }

    /// `(a: …, b: …)` for a field named `field`.
    fn arguments(&mut self, args: &[Arg], field: &str) -> String {
        let mut parts = Vec::new();
        let mut given: Vec<&str> = Vec::new();
        for a in args {
            let p = match a.name.as_str() {
                "first" => 0.85,
                "filter" | "orderBy" => 0.4,
                _ => 0.3,
            };
            // `first` and `last`, `after` and `before` go together only in documents meant to be odd.
            let exclusive = match a.name.as_str() {
                "last" => given.contains(&"first"),
                "before" => given.contains(&"after"),
                _ => false,
            };
            let wanted = if a.required {
                !self.chance(self.unknown * 0.3)
            } else {
                self.chance(p) && (!exclusive || self.chance(self.odd))
            };
            if wanted {
                given.push(a.name.as_str());
            }
            if !wanted {
                continue;
            }
            let hint = if a.name == "id" { field } else { a.name.as_str() };
            self.field = field.to_owned();
            let value = self.value(&a.ty, hint, 0);
            let text = self.pass(&a.ty, value);
            parts.push(format!("{}: {text}", a.name));
        }
        if self.chance(self.unknown) {
            parts.push(format!("{}: 1", self.made_up()));
        }
        if parts.is_empty() { String::new() } else { format!("({})", parts.join(", ")) }
    }

    fn directive(&mut self) -> String {
        if !self.chance(0.04) {
            return String::new();
        }
        let kinds = if self.chance(self.unknown * 3.0) { 6 } else { 3 };
        match self.rng.random_range(0..kinds) {
            0 => " @include(if: true)".into(),
            1 => " @skip(if: false)".into(),
            2 => {
                let name = format!("v{}", self.variables.len());
                let value = json!(self.rng.random::<bool>());
                self.variables.push((name.clone(), "Boolean!".into(), value));
                format!(" @skip(if: ${name})")
            }
            3 => " @nope".into(),
            4 => " @include".into(),
            _ => " @deprecated(reason: \"x\")".into(),
        }
    }

    /// A selection set (without its braces) on `type_name`.
    fn selection(&mut self, type_name: &str, depth: u32) -> String {
        let schema = self.schema;
        let Some(def) = schema.types.get(type_name) else { return "__typename".into() };
        match def.kind {
            Kind::Object => self.object_selection(type_name, depth),
            Kind::Interface | Kind::Union => {
                let mut parts = vec!["__typename".to_owned()];
                if def.kind == Kind::Interface && self.chance(0.5) {
                    parts.push(self.object_selection(type_name, depth));
                }
                let n = self.rng.random_range(1..=2);
                let possible: Vec<String> = def.possible.choose_multiple(&mut self.rng, n).cloned().collect();
                for t in possible {
                    let inner = self.selection(&t, depth);
                    parts.push(format!("... on {t} {{ {inner} }}"));
                }
                parts.join(" ")
            }
            _ => "__typename".into(),
        }
    }

    fn object_selection(&mut self, type_name: &str, depth: u32) -> String {
        let schema = self.schema;
        let def = &schema.types[type_name];
        let max = def.fields.len().max(1);
        let want = if self.wide {
            max * 4 / 5
        } else if self.chance(0.15) {
            max.min(12)
        } else {
            self.rng.random_range(1..=max.min(4))
        };
        let picked: Vec<&FieldDef> = def.fields.choose_multiple(&mut self.rng, want).collect();
        let mut parts = Vec::new();
        for f in picked {
            let leaf = schema.is_leaf(f.ty.named());
            if !leaf && depth >= self.depth_limit {
                continue;
            }
            let alias =
                if self.chance(0.08) { format!("a{}: ", self.rng.random_range(0..1000)) } else { String::new() };
            let args = self.arguments(&f.args, &f.name);
            let directive = self.directive();
            let sub = if !leaf {
                format!(" {{ {} }}", self.selection(f.ty.named(), depth + 1))
            } else if self.chance(self.unknown * 0.2) {
                " { id }".into()
            } else {
                String::new()
            };
            parts.push(format!("{alias}{}{args}{directive}{sub}", f.name));
        }
        if self.chance(self.unknown) {
            parts.push(self.made_up());
        }
        if parts.is_empty() {
            parts.push("__typename".into());
        }
        let body = parts.join(" ");
        if self.chance(0.08) {
            let name = format!("F{}", self.fragments.len());
            self.fragments.push(format!("fragment {name} on {type_name} {{ {body} }}"));
            format!("...{name}")
        } else {
            body
        }
    }

    /// `($v0: T, …)` for the variables from the `from`th on, or nothing.
    fn definitions(&self, from: usize) -> String {
        let definitions: Vec<String> = self.variables[from..].iter().map(|(n, t, _)| format!("${n}: {t}")).collect();
        if definitions.is_empty() { String::new() } else { format!("({})", definitions.join(", ")) }
    }

    fn variable_values(&self) -> Value {
        Value::Object(self.variables.iter().map(|(n, _, v)| (n.clone(), v.clone())).collect())
    }

    /// The whole document around `selection` on the root of `keyword` (query or mutation).
    fn document(&mut self, keyword: &str, selection: &str) -> (String, Value, Option<String>) {
        let name = if self.chance(0.4) { Some(format!("Op{}", self.rng.random_range(0..100))) } else { None };
        let header = self.definitions(0);
        let mut doc = format!("{keyword} {}{header} {{ {selection} }}", name.clone().unwrap_or_default());
        for f in &self.fragments {
            doc.push(' ');
            doc.push_str(f);
        }
        let operation = if name.is_some() && self.chance(0.5) { name } else { None };
        (doc, self.variable_values(), operation)
    }

    fn query(&mut self) -> (String, Value, Option<String>) {
        let root = self.schema.query.clone();
        let selection = self.object_selection(&root, 1);
        self.document("query", &selection)
    }

    /// One write (now and then two or three), with a small selection of what it returns.
    fn mutation(&mut self) -> (String, Value, Option<String>) {
        match self.mutation_selection() {
            Some(selection) => self.document("mutation", &selection),
            None => self.query(),
        }
    }

    fn mutation_selection(&mut self) -> Option<String> {
        let schema = self.schema;
        let root = schema.mutation.as_deref()?;
        let n = if self.chance(0.85) { 1 } else { self.rng.random_range(2..=3) };
        // Enforcing trusted documents would refuse every later case of the other roles, which
        // would then test nothing else; tests/api/persisted.rs covers it.
        let writable: Vec<&FieldDef> =
            schema.types[root].fields.iter().filter(|f| f.name != "setTrustedDocuments").collect();
        let chosen: Vec<&FieldDef> = writable.choose_multiple(&mut self.rng, n).copied().collect();
        let mut parts = Vec::new();
        for (i, f) in chosen.into_iter().enumerate() {
            let args = self.arguments(&f.args, &f.name);
            let returned = f.ty.named();
            let sub = if schema.is_leaf(returned) {
                String::new()
            } else {
                let limit = self.depth_limit;
                self.depth_limit = 3;
                let inner = self.selection(returned, 2);
                self.depth_limit = limit;
                let has_id = schema.types.get(returned).is_some_and(|t| t.fields.iter().any(|f| f.name == "id"));
                // The id of what a write created joins the pools.
                if has_id && CREATORS.iter().any(|c| f.name.starts_with(c)) {
                    self.created.push(format!("m{i}"));
                }
                format!(" {{ {} {inner} }}", if has_id { "id" } else { "__typename" })
            };
            parts.push(format!("m{i}: {}{args}{sub}", f.name));
        }
        Some(parts.join(" "))
    }
}

/// Case kinds, and how often each is drawn.
const KINDS: [(&str, u32); 20] = [
    ("query", 24),
    ("odd token", 2),
    ("reach customers", 10),
    ("mutation", 18),
    ("wrong types", 7),
    ("made-up names", 6),
    ("odd strings", 8),
    ("huge lists", 4),
    ("deep selection", 4),
    ("deep filter", 3),
    ("fragments", 5),
    ("aliases", 2),
    ("brackets", 2),
    ("garbage", 4),
    ("raw body", 2),
    ("bad variables", 4),
    ("introspection", 2),
    ("operations", 2),
    ("cursors", 4),
    ("get", 3),
];

/// Kinds that may write.
const WRITING: [&str; 6] = ["mutation", "wrong types", "made-up names", "odd strings", "huge lists", "operations"];

/// Words a token soup is made of.
const TOKENS: [&str; 32] = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$",
    "...",
    "@",
    "!",
    "=",
    "|",
    "&",
    ",",
    "\"",
    "\"\"\"",
    "query",
    "mutation",
    "fragment",
    "on",
    "customers",
    "first",
    "1",
    "null",
    "true",
    "__typename",
    "id",
    "filter",
    "$v",
    "#",
    "\u{0}",
];

impl<'a> Gen<'a> {
    fn new(
        rng: StdRng,
        schema: &'a Schema,
        ids: (Vec<String>, Vec<String>),
        pools: &'a Pools,
        tenant: usize,
    ) -> Gen<'a> {
        let mut g = Gen {
            rng,
            schema,
            ids: ids.0,
            foreign_ids: ids.1,
            input_type: String::new(),
            cursors: &pools.cursors,
            field: String::new(),
            custom: &pools.custom[tenant],
            wrong: 0.0,
            unknown: 0.0,
            odd: 0.15,
            huge_lists: false,
            as_variable: 0.3,
            depth_limit: 3,
            wide: false,
            variables: Vec::new(),
            fragments: Vec::new(),
            created: Vec::new(),
        };
        g.depth_limit = g.rng.random_range(2..=5);
        g
    }

    fn query_or_mutation(&mut self, write: bool) -> (String, Value, Option<String>) {
        if write && self.chance(0.6) { self.mutation() } else { self.query() }
    }

    /// A case of `kind`; `write` when it may write.
    fn case(mut self, kind: &'static str, write: bool) -> Case {
        let post = |(q, v, o): (String, Value, Option<String>)| Case::post(q, v, o);
        let mut case = match kind {
            "query" | "mutation" => {
                self.odd = 0.05;
                post(if kind == "query" { self.query() } else { self.mutation() })
            }
            "wrong types" => {
                self.wrong = 0.15;
                post(self.query_or_mutation(write))
            }
            "made-up names" => {
                self.unknown = 0.2;
                post(self.query_or_mutation(write))
            }
            "odd strings" => {
                self.odd = 0.9;
                post(self.query_or_mutation(write))
            }
            "huge lists" => {
                self.huge_lists = true;
                // Mostly plain values, so that a list is refused for its length, if at all.
                self.odd = if self.chance(0.3) { 0.15 } else { 0.0 };
                if write && self.chance(0.3) { post(self.mutation()) } else { post(self.huge_filter()) }
            }
            "deep selection" => post(self.deep_selection()),
            "reach customers" => post(self.reach_customers()),
            "deep filter" => self.deep_filter(),
            "fragments" => post(self.hostile_fragments()),
            "aliases" => post(self.aliases()),
            "brackets" => post(self.brackets()),
            "garbage" => post((self.garbage(), json!({}), None)),
            "raw body" => self.raw_body(),
            "bad variables" => self.bad_variables(),
            "introspection" => post((self.introspection(), json!({}), None)),
            "operations" => self.operations(),
            "cursors" => post(self.cursors()),
            _ => self.get(),
        };
        case.created = std::mem::take(&mut self.created);
        if self.chance(0.1) {
            case.accept = Some(self.pick(&[
                "application/graphql-response+json",
                "application/json",
                "application/graphql-response+json;q=0.9, application/json",
                "text/html",
                "*/*",
            ]));
        }
        if write && matches!(case.send, Send::Post(_)) && self.chance(0.03) {
            let keys = ["k1".to_owned(), "k2".into(), "ключ".into(), "x".repeat(300), String::new()];
            case.idempotency_key = Some(self.pick(&keys));
        }
        case
    }

    /// The root fields that list with a `filter`, and that filter's type.
    fn filtered_lists(&self) -> Vec<(String, String)> {
        let schema = self.schema;
        schema.types[&schema.query]
            .fields
            .iter()
            .filter_map(|f| {
                f.args.iter().find(|a| a.name == "filter").map(|a| (f.name.clone(), a.ty.named().to_owned()))
            })
            .collect()
    }

    /// A list filtered by one to three list operators of hundreds or thousands of values.
    fn huge_filter(&mut self) -> (String, Value, Option<String>) {
        let schema = self.schema;
        let lists = self.filtered_lists();
        if lists.is_empty() {
            return self.query();
        }
        let (field, filter_type) = self.pick(&lists);
        let list_ops = ["in", "notIn", "hasAny", "hasAll"];
        let candidates: Vec<&Arg> = schema.types[&filter_type]
            .inputs
            .iter()
            .filter(|i| {
                schema
                    .types
                    .get(i.ty.named())
                    .is_some_and(|t| t.inputs.iter().any(|o| list_ops.contains(&o.name.as_str())))
            })
            .collect();
        let mut terms = Vec::new();
        for _ in 0..self.rng.random_range(1..=3) {
            let Some(target) = candidates.choose(&mut self.rng) else { break };
            let ops: Vec<&Arg> =
                schema.types[target.ty.named()].inputs.iter().filter(|o| list_ops.contains(&o.name.as_str())).collect();
            let op = ops.choose(&mut self.rng).expect("a list operator");
            let values = self.value_not_null(&op.ty, &op.name, 1);
            terms.push(Lit::Object(vec![(target.name.clone(), Lit::Object(vec![(op.name.clone(), values)]))]));
        }
        let filter =
            if terms.len() == 1 { terms.remove(0) } else { Lit::Object(vec![("or".into(), Lit::List(terms))]) };
        let text = self.pass(&Ty::Named(filter_type), filter);
        let selection = format!("{field}(first: 3, filter: {text}) {{ totalCount pageInfo {{ hasNextPage }} }}");
        self.document("query", &selection)
    }

    /// Customers reached through every edge that leads to one (an agent reaches the other's
    /// through the complaints assigned to it), with nearly all their fields: what the leak check
    /// reads.
    fn reach_customers(&mut self) -> (String, Value, Option<String>) {
        self.wide = true;
        self.depth_limit = 3;
        let customer = self.selection("Customer", 1);
        let id = |hint: &str, g: &mut Gen<'_>| quote(&g.id(hint));
        let path = match self.rng.random_range(0..6) {
            0 | 1 => format!("complaints(first: 20) {{ nodes {{ id title customer {{ {customer} }} }} }}"),
            2 => format!("complaint(id: {}) {{ title customer {{ {customer} }} }}", id("complaint", self)),
            3 => format!(
                "node(id: {}) {{ ... on Complaint {{ customer {{ {customer} }} }} ... on Customer {{ {customer} }} }}",
                id(if self.chance(0.5) { "complaint" } else { "customer" }, self)
            ),
            4 => format!("interactions(first: 5) {{ nodes {{ customer {{ {customer} }} }} }}"),
            _ => format!("keyAccountPlans(first: 5) {{ nodes {{ customer {{ {customer} }} }} }}"),
        };
        self.document("query", &path)
    }

    /// A chain of nested objects from the root, each page of one, 6 to 80 fields deep.
    fn deep_selection(&mut self) -> (String, Value, Option<String>) {
        let schema = self.schema;
        let depth = self.pick(&[6, 10, 14, 15, 16, 30, 80]);
        let mut ty = schema.query.clone();
        let mut opened = Vec::new();
        for _ in 0..depth {
            let def = &schema.types[&ty];
            if matches!(def.kind, Kind::Interface | Kind::Union) {
                let Some(t) = def.possible.choose(&mut self.rng).cloned() else { break };
                opened.push(format!("... on {t} {{"));
                ty = t;
                continue;
            }
            let composite: Vec<&FieldDef> = def.fields.iter().filter(|f| !schema.is_leaf(f.ty.named())).collect();
            let Some(f) = composite.choose(&mut self.rng) else { break };
            let mut args = Vec::new();
            for a in &f.args {
                if a.name == "first" {
                    args.push("first: 1".to_owned());
                } else if a.required {
                    let hint = if a.name == "id" { f.name.clone() } else { a.name.clone() };
                    let value = self.value_not_null(&a.ty, &hint, 0);
                    args.push(format!("{}: {}", a.name, self.pass(&a.ty, value)));
                }
            }
            let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
            opened.push(format!("{}{args} {{", f.name));
            ty = f.ty.named().to_owned();
        }
        let selection = format!("{} __typename {}", opened.join(" "), "}".repeat(opened.len()));
        self.document("query", &selection)
    }

    /// A filter nested 5 to 1,000 levels through `not`, `and` and `or`.
    fn deep_filter(&mut self) -> Case {
        let lists = self.filtered_lists();
        let Some((field, filter_type)) = lists.choose(&mut self.rng).cloned() else {
            return Case::post("{ __typename }".into(), json!({}), None);
        };
        let depth = self.pick(&[5, 20, 40, 63, 64, 65, 200, 1_000]);
        let leaf = self.input_object(&filter_type, 4);
        let selection = |filter: &str| format!("{{ {field}(first: 2, filter: {filter}) {{ totalCount }} }}");
        if self.chance(0.5) {
            let mut text = leaf.literal();
            for _ in 0..depth {
                text = match self.rng.random_range(0..3) {
                    0 => format!("{{not: {text}}}"),
                    1 => format!("{{and: [{text}]}}"),
                    _ => format!("{{or: [{text}, {{}}]}}"),
                };
            }
            Case::post(selection(&text), json!({}), None)
        } else {
            let mut value = leaf.json();
            for _ in 0..depth {
                value = match self.rng.random_range(0..3) {
                    0 => json!({ "not": value }),
                    1 => json!({ "and": [value] }),
                    _ => json!({ "or": [value, {}] }),
                };
            }
            let query = format!("query($f: {filter_type}) {}", selection("$f"));
            Case::post(query, json!({ "f": value }), None)
        }
    }

    /// Fragments that spread themselves, spread others many times over, go unused, or do not fit.
    fn hostile_fragments(&mut self) -> (String, Value, Option<String>) {
        let schema = self.schema;
        let root = schema.query.clone();
        let body = self.object_selection(&root, 2);
        let mut fragments = std::mem::take(&mut self.fragments);
        let query = match self.rng.random_range(0..7) {
            0 => {
                // A cycle through one to four fragments.
                let n = self.rng.random_range(1..=4);
                for i in 0..n {
                    fragments.push(format!("fragment C{i} on {root} {{ {body} ...C{} }}", (i + 1) % n));
                }
                "query { ...C0 }".to_owned()
            }
            1 => {
                // Each level spreads the next `fan` times.
                let (levels, fan) = (self.rng.random_range(2..=16), self.rng.random_range(2..=5));
                for i in 0..levels {
                    fragments.push(format!("fragment B{i} on {root} {{ {} }}", format!("...B{} ", i + 1).repeat(fan)));
                }
                fragments.push(format!("fragment B{levels} on {root} {{ {body} }}"));
                "query { ...B0 }".to_owned()
            }
            2 => {
                for i in 0..self.rng.random_range(1..=4) {
                    fragments.push(format!("fragment U{i} on {root} {{ __typename }}"));
                }
                format!("query {{ {body} }}")
            }
            3 => {
                let on = self.pick(&["Customer", "String", "Nope", "CustomerFilter", "Node", "__Type"]);
                fragments.push(format!("fragment W on {on} {{ id }}"));
                format!("query {{ {body} ...W }}")
            }
            4 => format!("query {{ {body} ...Missing }}"),
            5 => {
                fragments.push(format!("fragment D on {root} {{ __typename }}"));
                fragments.push(format!("fragment D on {root} {{ {body} }}"));
                "query { ...D }".to_owned()
            }
            _ => {
                // One fragment spread many times in one selection.
                fragments.push(format!("fragment S on {root} {{ {body} }}"));
                format!("query {{ {} }}", "...S ".repeat(self.pick(&[2, 50, 500, 3_000])))
            }
        };
        let query = query.replacen("query ", &format!("query {} ", self.definitions(0)), 1);
        (format!("{query} {}", fragments.join(" ")), self.variable_values(), None)
    }

    /// One root field under 10 to 1,000 aliases.
    fn aliases(&mut self) -> (String, Value, Option<String>) {
        let schema = self.schema;
        let root = schema.types[&schema.query].fields.choose(&mut self.rng).expect("root fields");
        let args = self.arguments(&root.args, &root.name);
        let sub = if schema.is_leaf(root.ty.named()) {
            String::new()
        } else {
            format!(" {{ {} }}", self.selection(root.ty.named(), 2))
        };
        let n = self.pick(&[10, 29, 30, 31, 100, 1_000]);
        let selection: String = (0..n).map(|i| format!("a{i}: {}{args}{sub} ", root.name)).collect();
        self.document("query", &selection)
    }

    /// Brackets nested 63 to 200,000 deep, balanced or not, in arguments or selections.
    fn brackets(&mut self) -> (String, Value, Option<String>) {
        let n = self.pick(&[63, 64, 65, 1_000, 200_000]);
        let open = self.pick(&["{", "[", "("]);
        let close = match open {
            "{" => "}",
            "[" => "]",
            _ => ")",
        };
        let query = match self.rng.random_range(0..4) {
            0 => format!("{{ customers(filter: {}{}) {{ totalCount }} }}", open.repeat(n), close.repeat(n)),
            1 => format!("{{ customers(filter: {}) {{ totalCount }} }}", open.repeat(n)),
            2 => format!("{}__typename{}", "{ ".repeat(n), " }".repeat(n)),
            _ => (0..n).map(|_| self.pick(&["{", "[", "(", "}", "]", ")"])).collect(),
        };
        (query, json!({}), None)
    }

    /// A document that is not one: random bytes, a soup of tokens, a valid one cut or mangled.
    fn garbage(&mut self) -> String {
        match self.rng.random_range(0..8) {
            0 => {
                let bytes: Vec<u8> = (0..self.rng.random_range(1..2_000)).map(|_| self.rng.random()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => (0..self.rng.random_range(1..500)).map(|_| char::from(self.rng.random_range(0x20..0x7f_u8))).collect(),
            2 => (0..self.rng.random_range(1..300)).map(|_| format!("{} ", self.pick(&TOKENS))).collect(),
            3 => {
                let (doc, _, _) = self.query();
                let cut = self.rng.random_range(0..doc.len().max(1));
                let cut = (0..=cut).rev().find(|i| doc.is_char_boundary(*i)).unwrap_or(0);
                doc[..cut].to_owned()
            }
            4 => {
                let (doc, _, _) = self.query();
                let mut chars: Vec<char> = doc.chars().collect();
                for _ in 0..self.rng.random_range(1..4) {
                    let at = self.rng.random_range(0..chars.len().max(1));
                    let c = self.pick(&['{', '}', '"', '$', '\0', '🦀', ':', '@', '\\', '#']);
                    if at < chars.len() && self.chance(0.5) {
                        chars[at] = c;
                    } else {
                        chars.insert(at.min(chars.len()), c);
                    }
                }
                chars.into_iter().collect()
            }
            5 => self
                .pick(&["", "   ", "# only a comment", "\u{feff}{ __typename }", "{ __typename\0 }", "{}", "query"])
                .to_owned(),
            6 => format!("{{ __typename(s: \"{}) }}", self.string()),
            _ => format!("{{ viewer {{ role }} }} \"\"\"{}", "\\\"\"\"".repeat(self.rng.random_range(1..50))),
        }
    }

    /// A body that is not a GraphQL request.
    fn raw_body(&mut self) -> Case {
        let valid = "{ __typename }";
        let (content_type, body): (&'static str, Vec<u8>) = match self.rng.random_range(0..14) {
            0 => ("application/json", (0..self.rng.random_range(0..3_000)).map(|_| self.rng.random()).collect()),
            1 => ("application/json", br#"{"query": 5}"#.to_vec()),
            2 => ("application/json", br#"{"query": null}"#.to_vec()),
            3 => ("application/json", format!("[{{\"query\": \"{valid}\"}}]").into_bytes()),
            4 => ("application/json", format!("{{\"query\": \"{valid}\", \"variables\": \"x\"}}").into_bytes()),
            5 => ("application/json", br#"{"query": "{ __typename \ud800 }"}"#.to_vec()),
            6 => ("application/json", format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
            7 => ("application/json", br#"{"query": "query($n: Int) { customers(first: $n) { totalCount } }", "variables": {"n": 1e999}}"#.to_vec()),
            8 => ("application/json", format!("{{\"query\": \"{valid}\", \"query\": \"{valid} x\"}}").into_bytes()),
            9 => ("text/plain", valid.as_bytes().to_vec()),
            10 => ("application/graphql", valid.as_bytes().to_vec()),
            11 => ("", valid.as_bytes().to_vec()),
            12 => ("application/json", format!("{{\"query\": \"{valid}\", \"extensions\": {{\"persistedQuery\": {{\"version\": 1, \"sha256Hash\": \"00\"}}}}}}").into_bytes()),
            _ => ("application/json; charset=utf-8", "{\"query\": \"{ viewer { role } }\"".as_bytes().to_vec()),
        };
        Case { send: Send::Raw { content_type, body }, accept: None, idempotency_key: None, created: Vec::new() }
    }

    /// A query whose arguments all go as variables, which are then spoiled.
    fn bad_variables(&mut self) -> Case {
        self.as_variable = 1.0;
        let (query, mut variables, operation) = self.query();
        let names: Vec<String> = variables.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let spoiled = match self.rng.random_range(0..6) {
            0 | 1 if !names.is_empty() => {
                let name = self.pick(&names);
                variables[&name] = self.wrong_value().json();
                variables
            }
            2 if !names.is_empty() => {
                let name = self.pick(&names);
                if let Some(map) = variables.as_object_mut() {
                    map.remove(&name);
                }
                variables
            }
            3 => {
                variables["undeclared"] = json!("x");
                variables
            }
            4 => self.pick(&[json!([1, 2]), json!("variables"), json!(7), Value::Null]),
            _ => {
                // Nested: every string inside becomes an odd one.
                self.odd = 1.0;
                fn odd_strings(v: &mut Value, g: &mut Gen<'_>) {
                    match v {
                        Value::String(s) => *s = g.string(),
                        Value::Array(items) => items.iter_mut().for_each(|i| odd_strings(i, g)),
                        Value::Object(map) => map.values_mut().for_each(|i| odd_strings(i, g)),
                        _ => {}
                    }
                }
                odd_strings(&mut variables, self);
                variables
            }
        };
        Case::post(query, spoiled, operation)
    }

    fn introspection(&mut self) -> String {
        let schema = self.schema;
        let names: Vec<String> = schema.types.keys().cloned().collect();
        match self.rng.random_range(0..5) {
            0 => {
                let name = if self.chance(0.7) { self.pick(&names) } else { self.string() };
                format!(
                    "{{ __type(name: {}) {{ name kind description fields {{ name args {{ name type {{ name }} }} type {{ name kind }} }} inputFields {{ name }} enumValues {{ name }} possibleTypes {{ name }} }} }}",
                    quote(&name)
                )
            }
            1 => "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }".to_owned(),
            2 => "{ __schema { queryType { fields { args { type { inputFields { type { inputFields { type { inputFields { name } } } } } } } } } } }".to_owned(),
            3 => "{ __schema { directives { name args { name } locations } subscriptionType { name } } }".to_owned(),
            _ => INTROSPECTION.to_owned(),
        }
    }

    /// Several operations in one document, with a name that picks one, or none, or a wrong one.
    fn operations(&mut self) -> Case {
        let schema = self.schema;
        let mut ops = Vec::new();
        for (i, keyword) in ["query", "query", "mutation", "subscription"].into_iter().enumerate() {
            if !self.chance(0.6) {
                continue;
            }
            let from = self.variables.len();
            let selection = match keyword {
                "mutation" => self.mutation_selection().unwrap_or_else(|| "__typename".into()),
                _ => self.object_selection(&schema.query, 1),
            };
            // One operation in five has no name.
            let name = if self.chance(0.2) { String::new() } else { format!("O{i}") };
            ops.push(format!("{keyword} {name}{} {{ {selection} }}", self.definitions(from)));
        }
        let document = format!("{} {}", ops.join("\n"), self.fragments.join(" "));
        let operation = self.pick(&[
            Some("O0".to_owned()),
            Some("O1".into()),
            Some("O2".into()),
            Some("Nope".into()),
            Some(String::new()),
            None,
        ]);
        Case::post(document, self.variable_values(), operation)
    }

    /// A list paged with cursors the server made (sometimes changed), in any order.
    fn cursors(&mut self) -> (String, Value, Option<String>) {
        let schema = self.schema;
        let lists: Vec<&FieldDef> =
            schema.types[&schema.query].fields.iter().filter(|f| f.args.iter().any(|a| a.name == "after")).collect();
        let Some(f) = lists.choose(&mut self.rng) else { return self.query() };
        let mut args = Vec::new();
        let direction = if self.chance(0.5) { ("first", "after") } else { ("last", "before") };
        let size = self.pick(&[0, 1, 2, 5, 100, 101, -1]);
        args.push(format!("{}: {size}", direction.0));
        self.field = f.name.clone();
        self.odd = 0.5;
        let cursor = self.cursor();
        // Mostly under the order the cursor was made for: only then are its values read.
        let made_for = order_of(&cursor).filter(|_| !self.chance(0.2));
        args.push(format!("{}: {}", direction.1, self.pass(&Ty::Named("String".into()), Lit::Str(cursor))));
        if let Some(order) = made_for {
            args.push(format!("orderBy: {order}"));
        } else if let Some(order) = f.args.iter().find(|a| a.name == "orderBy")
            && self.chance(0.25)
        {
            let value = self.value(&order.ty, "orderBy", 0);
            args.push(format!("orderBy: {}", self.pass(&order.ty, value)));
        }
        let selection = format!(
            "{}({}) {{ totalCount edges {{ cursor node {{ __typename }} }} pageInfo {{ startCursor endCursor hasNextPage hasPreviousPage }} }}",
            f.name,
            args.join(", ")
        );
        self.document("query", &selection)
    }

    /// A short query (now and then a mutation) by GET.
    fn get(&mut self) -> Case {
        let (query, variables, operation) = if self.chance(0.2) { self.mutation() } else { self.query() };
        // URLs stay short: clients (and this one) refuse long ones before sending.
        if query.len() + variables.to_string().len() > 4_000 {
            return Case::post(query, variables, operation);
        }
        let mut params = vec![("query".to_owned(), query)];
        if variables.as_object().is_some_and(|m| !m.is_empty()) || self.chance(0.2) {
            let text = if self.chance(0.9) { variables.to_string() } else { "{not json".into() };
            params.push(("variables".into(), text));
        }
        if let Some(name) = operation {
            params.push(("operationName".into(), name));
        }
        Case { send: Send::Get(params), accept: None, idempotency_key: None, created: Vec::new() }
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

async fn send(client: &reqwest::Client, base: &str, token: &str, case: &Case) -> Result<(u16, String), String> {
    let url = format!("{base}/graphql");
    let mut request = match &case.send {
        Send::Post(body) => client.post(&url).json(body),
        Send::Raw { content_type, body } => client.post(&url).header("content-type", *content_type).body(body.clone()),
        Send::Get(params) => client.get(&url).query(params),
    };
    request = request.bearer_auth(token);
    if let Some(accept) = case.accept {
        request = request.header("accept", accept);
    }
    if let Some(key) = &case.idempotency_key {
        let value = reqwest::header::HeaderValue::from_bytes(key.as_bytes()).map_err(|e| format!("test bug: {e}"))?;
        request = request.header("idempotency-key", value);
    }
    let res = request.send().await.map_err(|e| format!("no answer within {ANSWER_WITHIN:?}: {e}"))?;
    let status = res.status().as_u16();
    let body = res.text().await.map_err(|e| format!("HTTP {status}, no body within {ANSWER_WITHIN:?}: {e}"))?;
    Ok((status, body))
}

/// What every answer must be: below 500 (and no 429, rate limits being off), a GraphQL body whose
/// errors carry documented codes, and nothing the caller may not see.
fn check(status: u16, body: &str, forbidden: &[String]) -> Result<Value, String> {
    if status >= 500 || status == 429 {
        return Err(format!("HTTP {status}"));
    }
    if let Some(marker) = leak(body, forbidden) {
        return Err(format!("the answer holds {marker}, which this caller may not see"));
    }
    let parsed: Value = serde_json::from_str(body).map_err(|e| format!("HTTP {status}, the body is not JSON: {e}"))?;
    if parsed.get("data").is_none() && parsed.get("errors").is_none() {
        return Err(format!("HTTP {status}, neither data nor errors"));
    }
    if let Some(errors) = parsed.get("errors") {
        let errors = errors.as_array().filter(|e| !e.is_empty()).ok_or("errors is not a non-empty list")?;
        for e in errors {
            let code = e["extensions"]["code"].as_str().ok_or("an error without extensions.code")?;
            if !CODES.contains(&code) {
                return Err(format!("error code {code}: {}", e["message"]));
            }
        }
    }
    Ok(parsed)
}

/// Cursors in an answer (by the connection field that gave them), and the ids of the records
/// its writes created.
fn harvest(pools: &mut Pools, tenant: usize, case: &Case, answer: &Value) {
    fn cursors(field: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("cursor" | "startCursor" | "endCursor", Value::String(c)) => {
                            out.push((field.to_owned(), c.clone()));
                        }
                        ("edges" | "pageInfo" | "node", _) => cursors(field, v, out),
                        _ => cursors(k, v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| cursors(field, i, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    cursors("", &answer["data"], &mut found);
    for (field, c) in found {
        let list = pools.cursors.entry(field).or_default();
        if list.len() < 100 && !list.contains(&c) {
            list.push(c);
        }
    }
    for alias in &case.created {
        if let Some(id) = answer["data"][alias]["id"].as_str()
            && pools.unmarked[tenant].len() < 500
        {
            pools.add(tenant, id.to_owned());
        }
    }
}

fn weighted<'a>(rng: &mut StdRng, items: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    items[0].0
}

async fn introspect(app: &TestApp, client: &reqwest::Client, callers: &[Caller]) -> Vec<Schema> {
    let mut schemas = Vec::new();
    for c in callers {
        let case = Case::post(INTROSPECTION.into(), json!({}), None);
        let (status, body) = send(client, &app.base, &c.token, &case).await.expect("introspection");
        let answer = check(status, &body, &c.forbidden).unwrap_or_else(|e| panic!("introspection as {}: {e}", c.name));
        assert!(answer.get("errors").is_none(), "introspection as {}: {answer}", c.name);
        schemas.push(Schema::parse(&answer["data"]));
    }
    schemas
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    &s[..end]
}

/// A made-up user of the main tenant, whose token names it oddly (unicode, control characters,
/// U+0000, long), with any role: its token, what it may not see (it owns no customer), and who
/// it is, for a report. Names stay under 1,000 characters: a longer header is refused by the
/// HTTP layer itself (431), before the server.
fn odd_identity(generator: &mut Gen<'_>, tenant: &str, callers: &[Caller]) -> (String, Vec<String>, String) {
    generator.odd = 1.0;
    let mut odd = || generator.string().chars().take(1_000).collect::<String>();
    let (sub, name) = (odd(), odd());
    let role = generator.pick(&["ADMIN", "MANAGER", "AGENT", "VIEWER"]);
    let token = guanxi_api::auth::mint(crate::helpers::SECRET, tenant, role, &sub, 3600, Some(&name)).expect("token");
    let like = if role == "AGENT" { &callers[2] } else { &callers[0] };
    let mut forbidden = callers[0].forbidden.clone();
    forbidden.extend(like.forbidden.iter().cloned());
    if role == "AGENT" {
        forbidden.extend(callers[3].forbidden.iter().cloned());
    }
    (token, forbidden, format!("a made-up {role} (sub {:?}, name {:?})", cut(&sub, 300), cut(&name, 300)))
}

#[tokio::test]
async fn generated_documents_are_answered_with_documented_codes_and_leak_nothing() {
    watch_for_panics();
    let seed = env_u64("GUANXI_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_u64("GUANXI_FUZZ_CASES");
    let budget = Duration::from_secs(env_u64("GUANXI_FUZZ_SECS").unwrap_or(DEFAULT_SECS));
    // A server of its own: its ADMIN's random writes may define indexed fields, each an index on
    // a table every tenant shares (a server allows only so many), and its documents are the
    // heaviest of the suite.
    let app = TestApp::spawn().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let (callers, mut pools, markers) = seed_world(&app, &mut rng).await;
    markers_are_seen_by_those_who_may(&app, &callers, &markers).await;
    let main_tenant = markers.main.to_lowercase();
    let client = reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    let mut schemas = introspect(&app, &client, &callers).await;
    // Agents get more cases: what they may not see is the finest line drawn.
    let weights = [("0", 3), ("1", 3), ("2", 4), ("3", 3), ("4", 2), ("5", 2)];

    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    // What the cases came to, and the slowest answer of each kind: how far from their limits.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut slowest: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut case_no = 0u64;
    let more = |n: u64| cases.map_or(started.elapsed() < budget, |max| n < max);
    while more(case_no) && failures.len() < MAX_FAILURES {
        if case_no > 0 && case_no.is_multiple_of(BATCH * REFRESH_EVERY) {
            schemas = introspect(&app, &client, &callers).await;
        }
        let batch_end = case_no + BATCH;
        while case_no < batch_end && more(case_no) && failures.len() < MAX_FAILURES {
            let mut rng = StdRng::seed_from_u64(seed ^ case_no.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let who: usize = weighted(&mut rng, &weights).parse().expect("index");
            let caller = &callers[who];
            let kind = weighted(&mut rng, &KINDS);
            let write = WRITING.contains(&kind) || (kind == "get" && rng.random_bool(0.2));
            let mut generator = Gen::new(rng, &schemas[who], pools.ids_for(caller, write), &pools, caller.tenant);
            let (token, forbidden, name) = if kind == "odd token" {
                let identity = odd_identity(&mut generator, &main_tenant, &callers);
                generator.odd = 0.15;
                identity
            } else {
                (caller.token.clone(), caller.forbidden.clone(), caller.name.to_owned())
            };
            let case = generator.case(if kind == "odd token" { "query" } else { kind }, write);
            let sent = Instant::now();
            let result = send(&client, &app.base, &token, &case).await.and_then(|(status, body)| {
                check(status, &body, &forbidden)
                    .map_err(|why| format!("{why}\nanswer: HTTP {status} {}", cut(&body, 3_000)))
            });
            let took = sent.elapsed();
            let slow = slowest.entry(kind).or_default();
            *slow = (*slow).max(took);
            match result {
                Ok(answer) => {
                    let class = match (answer.get("data").is_some_and(|d| !d.is_null()), answer.get("errors").is_some()) {
                        (true, false) => "ran clean",
                        (true, true) => "ran, with errors",
                        _ => "refused",
                    };
                    *seen.entry(format!("{kind}: {class}")).or_default() += 1;
                    for e in answer["errors"].as_array().into_iter().flatten() {
                        let code = e["extensions"]["code"].as_str().unwrap_or_default();
                        *seen.entry(format!("code {code}")).or_default() += 1;
                    }
                    harvest(&mut pools, caller.tenant, &case, &answer);
                }
                Err(why) => failures.push(format!(
                    "case {case_no} ({kind}) as {name}: {why}\nrequest: {}\nreproduce: GUANXI_FUZZ_SEED={seed} GUANXI_FUZZ_CASES={} cargo test --test api fuzz",
                    case.describe(),
                    case_no + 1,
                )),
            }
            case_no += 1;
        }
        // After each batch: the server still answers, and nothing in it panicked.
        let alive = app.gql(&callers[0].token, "{ __typename }", json!({})).await;
        if alive["data"]["__typename"] != "Query" {
            failures.push(format!("after case {case_no} the server no longer answers: {alive}"));
        }
        let panicked = panics();
        if !panicked.is_empty() {
            failures.push(format!("by case {case_no} the server panicked: {panicked:#?}"));
            break;
        }
    }
    let mut summary: Vec<String> = seen.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    summary.extend(slowest.iter().map(|(k, d)| format!("slowest {k}: {} ms", d.as_millis())));
    eprintln!("fuzz: seed {seed}, {case_no} cases in {:.1} s\n{}", started.elapsed().as_secs_f64(), summary.join("\n"));
    assert!(failures.is_empty(), "seed {seed}: {} failures\n\n{}", failures.len(), failures.join("\n\n"));
}
