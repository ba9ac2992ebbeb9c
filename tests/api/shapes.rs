//! Random query shapes: every relation is read in batches at any depth.
//!
//! Documents are generated over the schema's relations (customers, interactions, complaints,
//! key-account plans and what hangs below them, up to five relations deep, with nested `first`,
//! filters, orders, custom fields, `totalCount`, edges and page info) and sent as every role to
//! one seeded tenant. For each shape:
//!
//! - the root page of 5 and the root page of 50 take the same number of SQL statements: what a
//!   page reads is bounded by the relation paths it selects, never by its rows;
//! - the page of 5 is the first five nodes of the page of 50;
//! - every node of the page of 50 equals the same selection read for that node alone
//!   (`node(id:)`): batching changes nothing of what a row answers.
//!
//! Every customer has the same records below it (the same interactions, complaints, plans and
//! actions), so whatever a nested filter keeps under one customer it keeps under each, and the
//! two agents own every other customer: the first five rows ask every relation the fifty do. `GUANXI_SHAPES_SEED` picks other shapes and
//! `GUANXI_SHAPES` how many; a failure prints the seed, the role and the document.

use std::fmt::Write as _;

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The seed without `GUANXI_SHAPES_SEED`: fixed, so CI runs the same shapes every time.
const DEFAULT_SEED: u64 = 20_261_207;
/// Shapes without `GUANXI_SHAPES`.
const DEFAULT_SHAPES: usize = 48;
/// Relations below the root connection at most.
const MAX_DEPTH: usize = 5;
/// Customers of the tenant: `a1` owns the even ones, `a2` the odd ones.
const CUSTOMERS: usize = 60;

/// The kinds of object a shape walks through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Customer,
    Interaction,
    Complaint,
    Plan,
    User,
    Stats,
    Progress,
    Transition,
    Action,
    Score,
}

/// How a relation is asked for.
#[derive(Clone, Copy)]
enum Form {
    /// One object (or null).
    One,
    /// A connection with filter, order and paging arguments.
    Connection,
    /// A list with a `first` argument.
    Limited,
    /// A list without arguments.
    All,
}

struct Relation {
    name: &'static str,
    to: Kind,
    form: Form,
}

const fn rel(name: &'static str, to: Kind, form: Form) -> Relation {
    Relation { name, to, form }
}

/// The leaf selections of a kind (custom fields included).
fn leaves(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Customer => &[
            "id",
            "name",
            "status",
            "kind",
            "email",
            "region",
            "tags",
            "version",
            "createdAt",
            "customFields",
            "custom { segment points }",
            "tier",
        ],
        Kind::Interaction => {
            &["id", "kind", "occurredAt", "amount", "currency", "summary", "satisfaction", "customFields", "version"]
        }
        Kind::Complaint => &["id", "title", "severity", "status", "category", "slaBreached", "responseDueAt"],
        Kind::Plan => &["id", "title", "status", "periodStart", "plannedVisits", "objectives", "revenueTarget"],
        Kind::User => &["id", "name", "email"],
        Kind::Stats => &[
            "purchaseCount",
            "purchaseTotal",
            "interactionCount",
            "openComplaints",
            "totalComplaints",
            "lastInteractionAt",
            "purchasesLast90Days",
            "interactionCounts { kind count }",
        ],
        Kind::Progress => {
            &["visitsDone", "visitsPlanned", "actionsTotal", "actionsDone", "openComplaints", "revenueActual"]
        }
        Kind::Transition => &["from", "to", "at", "note"],
        Kind::Action => &["title", "done", "dueDate"],
        Kind::Score => &["key", "value"],
    }
}

fn relations(kind: Kind) -> &'static [Relation] {
    use Form::{All, Connection, Limited, One};
    use Kind::{Action, Complaint, Customer, Interaction, Plan, Progress, Score, Stats, Transition, User};
    const CUSTOMER: &[Relation] = &[
        rel("owner", User, One),
        rel("interactions", Interaction, Connection),
        rel("complaints", Complaint, Connection),
        rel("keyAccountPlans", Plan, Connection),
        rel("openComplaints", Complaint, Limited),
        rel("activePlan", Plan, One),
        rel("stats", Stats, One),
        rel("scores", Score, All),
    ];
    const INTERACTION: &[Relation] = &[rel("customer", Customer, One), rel("staff", User, One)];
    const COMPLAINT: &[Relation] =
        &[rel("customer", Customer, One), rel("assignee", User, One), rel("history", Transition, Limited)];
    const PLAN: &[Relation] = &[
        rel("customer", Customer, One),
        rel("owner", User, One),
        rel("team", User, All),
        rel("actions", Action, Limited),
        rel("progress", Progress, One),
    ];
    const TRANSITION: &[Relation] = &[rel("by", User, One)];
    const ACTION: &[Relation] = &[rel("assignee", User, One)];
    match kind {
        Customer => CUSTOMER,
        Interaction => INTERACTION,
        Complaint => COMPLAINT,
        Plan => PLAN,
        Transition => TRANSITION,
        Action => ACTION,
        User | Stats | Progress | Score => &[],
    }
}

/// Filters a connection of `kind` may take, nested or at the root.
fn filters(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Customer => &[
            "{status: {eq: ACTIVE}}",
            "{custom: {segment: {eq: \"A\"}}}",
            "{custom: {points: {gte: 2}}}",
            "{or: [{region: {eq: \"上海\"}}, {custom: {segment: {eq: \"B\"}}}]}",
            "{not: {status: {eq: LOST}}}",
        ],
        Kind::Interaction => &[
            "{kind: {eq: VISIT}}",
            "{kind: {in: [CALL, PURCHASE]}}",
            "{not: {kind: {eq: CALL}}}",
            "{or: [{kind: {eq: SURVEY}}, {summary: {contains: \"拜访\"}}]}",
            "{satisfaction: {isNull: false}}",
        ],
        Kind::Complaint => &[
            "{severity: {eq: HIGH}}",
            "{status: {in: [OPEN, ACKNOWLEDGED]}}",
            "{not: {category: {eq: BILLING}}}",
            "{slaBreached: false}",
        ],
        Kind::Plan => &["{status: {eq: ACTIVE}}", "{title: {startsWith: \"年度\"}}", "{not: {status: {eq: DRAFT}}}"],
        _ => &[],
    }
}

fn orders(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Customer => &[
            "[{field: NAME}]",
            "[{field: CREATED_AT, direction: DESC}]",
            "[{customField: \"points\", direction: DESC}, {field: NAME}]",
            "[{field: STATUS}, {field: NAME, direction: DESC}]",
        ],
        Kind::Interaction => &[
            "[{field: OCCURRED_AT}]",
            "[{field: KIND}, {field: OCCURRED_AT, direction: DESC}]",
            "[{field: CREATED_AT, direction: DESC}]",
        ],
        Kind::Complaint => &["[{field: SEVERITY, direction: DESC}]", "[{field: CREATED_AT}]", "[{field: STATUS}]"],
        Kind::Plan => &["[{field: TITLE}]", "[{field: CREATED_AT, direction: DESC}]"],
        _ => &[],
    }
}

/// The root connection field and `node(id:)` fragment type of a kind.
fn root(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Customer => ("customers", "Customer"),
        Kind::Interaction => ("interactions", "Interaction"),
        Kind::Complaint => ("complaints", "Complaint"),
        _ => ("keyAccountPlans", "KeyAccountPlan"),
    }
}

/// Writes a random selection set of `kind` (without braces) at `depth` relations below the root,
/// and returns the depth of its deepest relation.
fn selection(rng: &mut StdRng, kind: Kind, depth: usize, out: &mut String) -> usize {
    let how_many = rng.random_range(1..=3);
    let mut picked: Vec<&str> = leaves(kind).choose_multiple(rng, how_many).copied().collect();
    if depth == 0 && !picked.contains(&"id") {
        // The root nodes are read again by id.
        picked.insert(0, "id");
    }
    out.push_str(&picked.join(" "));
    let rels = relations(kind);
    if depth >= MAX_DEPTH || rels.is_empty() {
        return depth;
    }
    // Wide near the root and narrow below, so that documents stay within the cost limit; one
    // relation at least leads further down while there is room.
    let most = match depth {
        0 => 3,
        1 | 2 => 2,
        _ => 1,
    };
    let how_many = rng.random_range(1..=most);
    let mut chosen: Vec<&Relation> = rels.choose_multiple(rng, how_many).collect();
    let onwards = |r: &&Relation| !relations(r.to).is_empty();
    if depth + 1 < MAX_DEPTH && !chosen.iter().any(onwards) {
        let further: Vec<&Relation> = rels.iter().filter(|r| onwards(r)).collect();
        if let (Some(first), Some(pick)) = (chosen.first_mut(), further.choose(rng)) {
            *first = pick;
        }
    }
    let mut deepest = depth;
    for relation in chosen {
        out.push(' ');
        deepest = deepest.max(field(rng, relation, depth + 1, out));
    }
    deepest
}

fn field(rng: &mut StdRng, relation: &Relation, depth: usize, out: &mut String) -> usize {
    out.push_str(relation.name);
    let deepest = match relation.form {
        Form::One | Form::All => {
            out.push_str(" { ");
            selection(rng, relation.to, depth, out)
        }
        Form::Limited => {
            let _ = write!(out, "(first: {}) {{ ", rng.random_range(1..=3));
            selection(rng, relation.to, depth, out)
        }
        Form::Connection => {
            let mut args = vec![format!("first: {}", rng.random_range(1..=3))];
            if rng.random_bool(0.5)
                && let Some(f) = filters(relation.to).choose(rng)
            {
                args.push(format!("filter: {f}"));
            }
            if rng.random_bool(0.5)
                && let Some(o) = orders(relation.to).choose(rng)
            {
                args.push(format!("orderBy: {o}"));
            }
            let _ = write!(out, "({}) {{ ", args.join(", "));
            connection_body(rng, relation.to, depth, out)
        }
    };
    out.push_str(" }");
    deepest
}

/// `nodes` or `edges`, and sometimes `totalCount` and `pageInfo`.
fn connection_body(rng: &mut StdRng, kind: Kind, depth: usize, out: &mut String) -> usize {
    if rng.random_bool(0.3) {
        out.push_str("totalCount ");
    }
    if rng.random_bool(0.2) {
        out.push_str("pageInfo { hasNextPage endCursor } ");
    }
    let deepest;
    if rng.random_bool(0.25) {
        out.push_str("edges { cursor node { ");
        deepest = selection(rng, kind, depth, out);
        out.push_str(" } }");
    } else {
        out.push_str("nodes { ");
        deepest = selection(rng, kind, depth, out);
        out.push_str(" }");
    }
    deepest
}

/// One generated shape: the root kind, its root arguments (besides `first`), and the selection
/// of a root node.
struct Shape {
    kind: Kind,
    args: String,
    node: String,
    /// Relations below the root, at the deepest.
    depth: usize,
}

impl Shape {
    fn random(rng: &mut StdRng) -> Self {
        let kind =
            *[Kind::Customer, Kind::Customer, Kind::Interaction, Kind::Complaint, Kind::Plan].choose(rng).unwrap();
        let mut args = String::new();
        if rng.random_bool(0.4)
            && let Some(f) = filters(kind).choose(rng)
        {
            let _ = write!(args, ", filter: {f}");
        }
        if rng.random_bool(0.5)
            && let Some(o) = orders(kind).choose(rng)
        {
            let _ = write!(args, ", orderBy: {o}");
        }
        let mut node = String::new();
        let depth = selection(rng, kind, 0, &mut node);
        Self { kind, args, node, depth }
    }

    /// The root page of `first` rows.
    fn page(&self, first: u32) -> String {
        let (field, _) = root(self.kind);
        format!("{{ {field}(first: {first}{}) {{ totalCount nodes {{ {} }} }} }}", self.args, self.node)
    }

    /// The same selection for one row.
    fn alone(&self) -> String {
        let (_, typename) = root(self.kind);
        format!("query($id: ID!) {{ node(id: $id) {{ ... on {typename} {{ {} }} }} }}", self.node)
    }
}

/// The answer and the statements it took.
async fn counted(app: &TestApp, token: &str, query: &str) -> (Value, u64) {
    let res = app.post(token, &json!({ "query": query })).await;
    let statements = res.headers()["x-sql-statements"].to_str().unwrap().parse().unwrap();
    (res.json().await.unwrap(), statements)
}

/// Runs `mutations` (each a field of a mutation document, with its selection) 25 to a request,
/// and returns each one's answer.
async fn mutate(app: &TestApp, token: &str, mutations: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in mutations.chunks(25) {
        let fields: Vec<String> = chunk.iter().enumerate().map(|(k, m)| format!("m{k}: {m}")).collect();
        let res = app.gql(token, &format!("mutation {{ {} }}", fields.join(" ")), json!({})).await;
        assert!(res.get("errors").is_none(), "seeding failed: {res}");
        out.extend((0..chunk.len()).map(|k| res["data"][format!("m{k}")].clone()));
    }
    out
}

/// The user id of `token`'s user, made on first sight.
async fn user_id(app: &TestApp, token: &str) -> String {
    let res = app.gql(token, "{ viewer { user { id } } }", json!({})).await;
    res["data"]["viewer"]["user"]["id"].as_str().unwrap_or_else(|| panic!("viewer: {res}")).to_owned()
}

/// Seeds the tenant: 60 customers, each with the same four interactions, two complaints (both
/// assigned to `a1`, who so handles the cases of `a2`'s customers; one acknowledged), and an
/// active plan with a team and two actions.
async fn seed(app: &TestApp) {
    let admin = app.token("shapes", "ADMIN", "admin");
    let manager = app.token("shapes", "MANAGER", "m");
    for (key, ty) in [("segment", "STRING"), ("points", "INT")] {
        let res = app
            .gql(
                &admin,
                &format!("mutation {{ defineCustomField(input: {{entity: CUSTOMER, key: \"{key}\", label: \"{key}\", type: {ty}}}) {{ id }} }}"),
                json!({}),
            )
            .await;
        assert!(res.get("errors").is_none(), "{res}");
    }
    let res = app
        .gql(&admin, "mutation { defineCustomField(input: {entity: INTERACTION, key: \"ref\", label: \"ref\", type: STRING}) { id } }", json!({}))
        .await;
    assert!(res.get("errors").is_none(), "{res}");
    let a1 = user_id(app, &app.token("shapes", "AGENT", "a1")).await;
    let a2 = user_id(app, &app.token("shapes", "AGENT", "a2")).await;
    let m = user_id(app, &manager).await;

    let customers: Vec<String> = (0..CUSTOMERS)
        .map(|i| {
            // Both owners in every few rows of any order, so the first five rows of a page ask
            // for the users the fifty do (a user already read for another field is not read
            // again, and the statements would then differ with the data, not the page size).
            let owner = if i % 2 == 1 { &a2 } else { &a1 };
            let status = ["ACTIVE", "LOST", "PROSPECT"][i % 3];
            let region = ["上海", "北京", "广州"][i % 3];
            let segment = ["A", "B"][i % 2];
            format!(
                "createCustomer(input: {{kind: ORGANIZATION, name: \"客户 {i:03}\", status: {status}, region: \"{region}\", \
                 email: \"c{i}@example.cn\", tags: [\"t{}\"], ownerId: \"{owner}\", customFields: {{segment: \"{segment}\", points: {}}}}}) {{ id }}",
                i % 5,
                i % 7
            )
        })
        .collect();
    let customers: Vec<String> =
        mutate(app, &manager, &customers).await.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();

    let now = chrono::Utc::now();
    let ago = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();
    let mut writes = Vec::new();
    for c in &customers {
        writes.push(format!("recordInteraction(input: {{customerId: \"{c}\", kind: VISIT, occurredAt: \"{}\", summary: \"拜访 客户\", customFields: {{ref: \"r1\"}}}}) {{ id }}", ago(3)));
        writes.push(format!("recordInteraction(input: {{customerId: \"{c}\", kind: CALL, occurredAt: \"{}\", summary: \"电话\"}}) {{ id }}", ago(2)));
        writes.push(format!("recordInteraction(input: {{customerId: \"{c}\", kind: PURCHASE, occurredAt: \"{}\", amount: \"99.5\", currency: \"CNY\"}}) {{ id }}", ago(1)));
        writes.push(format!("recordInteraction(input: {{customerId: \"{c}\", kind: SURVEY, occurredAt: \"{}\", satisfaction: 4, wouldBuyAgain: true}}) {{ id }}", ago(5)));
    }
    mutate(app, &manager, &writes).await;

    let mut files = Vec::new();
    for c in &customers {
        files.push(format!("fileComplaint(input: {{customerId: \"{c}\", title: \"送货 延误\", category: DELIVERY, severity: HIGH, assigneeId: \"{a1}\"}}) {{ id }}"));
        files.push(format!(
            "fileComplaint(input: {{customerId: \"{c}\", title: \"账单\", category: BILLING, severity: LOW, assigneeId: \"{a1}\"}}) {{ id }}"
        ));
    }
    let complaints = mutate(app, &manager, &files).await;
    let acknowledge: Vec<String> = complaints
        .iter()
        .step_by(2)
        .map(|c| {
            format!(
                "transitionComplaint(id: \"{}\", to: ACKNOWLEDGED, note: \"已受理\") {{ id }}",
                c["id"].as_str().unwrap()
            )
        })
        .collect();
    mutate(app, &manager, &acknowledge).await;

    let plans: Vec<String> = customers
        .iter()
        .map(|c| {
            format!(
                "createKeyAccountPlan(input: {{customerId: \"{c}\", title: \"年度 计划\", status: ACTIVE, periodStart: \"2026-01-01\", \
                 periodEnd: \"2099-12-31\", revenueTarget: \"1000\", plannedVisits: 4, objectives: [\"增长\"], teamIds: [\"{m}\"], ownerId: \"{m}\"}}) {{ id }}"
            )
        })
        .collect();
    let plans = mutate(app, &manager, &plans).await;
    let mut actions = Vec::new();
    for p in &plans {
        let p = p["id"].as_str().unwrap();
        actions.push(format!("addPlanAction(planId: \"{p}\", input: {{title: \"拜访\", dueDate: \"2026-03-01\", assigneeId: \"{m}\"}}) {{ id }}"));
        actions.push(format!("addPlanAction(planId: \"{p}\", input: {{title: \"报价\"}}) {{ id }}"));
    }
    mutate(app, &manager, &actions).await;
}

#[tokio::test]
async fn random_shapes_read_in_statements_bounded_by_their_relations_and_answer_as_row_by_row() {
    let app = TestApp::shared_bare().await;
    seed(&app).await;
    let seed = std::env::var("GUANXI_SHAPES_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    let shapes = std::env::var("GUANXI_SHAPES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SHAPES);
    let roles = [
        ("ADMIN", app.token("shapes", "ADMIN", "admin")),
        ("MANAGER", app.token("shapes", "MANAGER", "m")),
        ("AGENT", app.token("shapes", "AGENT", "a1")),
        ("VIEWER", app.token("shapes", "VIEWER", "v")),
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    let mut deepest = 0;
    let mut refusals = 0;
    for n in 0..shapes {
        let shape = Shape::random(&mut rng);
        let (role, token) = &roles[n % roles.len()];
        let context = format!("seed {seed}, shape {n}, {role}:\n{}", shape.page(50));
        deepest = deepest.max(shape.depth);
        let (small, small_statements) = counted(&app, token, &shape.page(5)).await;
        let (large, large_statements) = counted(&app, token, &shape.page(50)).await;
        if small.get("errors").is_some() || large.get("errors").is_some() {
            // An AGENT asking a case it handles for what only the customer's owner sees (its
            // figures, say) is refused: documented, and nothing to compare.
            let refused = |res: &Value| {
                res["errors"].as_array().is_some_and(|e| e.iter().all(|e| e["extensions"]["code"] == "FORBIDDEN"))
            };
            if refused(&small) && refused(&large) && *role == "AGENT" {
                refusals += 1;
                continue;
            }
            failures.push(format!("{context}\nerrors: {small}\n{large}"));
            continue;
        }
        let (field, _) = root(shape.kind);
        let rows = large["data"][field]["nodes"].as_array().unwrap();
        let first_five = small["data"][field]["nodes"].as_array().unwrap();
        if large_statements != small_statements {
            failures.push(format!("{context}\nstatements: {small_statements} for 5 rows, {large_statements} for 50"));
        }
        if rows.len() < 10 {
            failures.push(format!("{context}\nonly {} rows: the shape tests little", rows.len()));
        }
        if first_five[..] != rows[..first_five.len().min(rows.len())] {
            failures.push(format!("{context}\nthe page of 5 is not the start of the page of 50"));
        }
        let alone = shape.alone();
        let answers = join_all(rows.iter().map(|row| {
            let body = json!({ "query": alone, "variables": { "id": row["id"] } });
            let app = &app;
            async move { app.post(token, &body).await.json::<Value>().await.unwrap() }
        }))
        .await;
        for (row, answer) in rows.iter().zip(answers) {
            if answer["data"]["node"] != *row {
                failures.push(format!("{context}\nrow {} read alone: {answer}\nin the page: {row}", row["id"]));
                break;
            }
        }
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(failures.is_empty(), "{} failures:\n\n{}", failures.len(), failures.join("\n\n"));
    assert_eq!(deepest, MAX_DEPTH, "some shape reaches {MAX_DEPTH} relations deep");
    assert!(refusals * 4 < shapes, "{refusals} of {shapes} shapes were refused: the shapes test little");
}

#[tokio::test]
async fn nested_total_counts_are_each_customers_own_and_read_together() {
    let app = TestApp::shared_bare().await;
    seed(&app).await;
    let manager = app.token("shapes", "MANAGER", "m");
    // Two customers get more interactions than the others.
    let first = app.gql(&manager, "{ customers(first: 2) { nodes { id } } }", json!({})).await;
    let at = chrono::Utc::now().to_rfc3339();
    let extra: Vec<String> = first["data"]["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .flat_map(|(k, c)| {
            let id = c["id"].as_str().unwrap().to_owned();
            let at = at.clone();
            (0..=k).map(move |_| {
                format!(
                    "recordInteraction(input: {{customerId: \"{id}\", kind: VISIT, occurredAt: \"{at}\"}}) {{ id }}"
                )
            })
        })
        .collect();
    mutate(&app, &manager, &extra).await;
    let page = |n: u32| {
        format!(
            "{{ customers(first: {n}) {{ nodes {{ id interactions(first: 1, filter: {{kind: {{eq: VISIT}}}}) {{ totalCount }} \
             complaints(first: 1) {{ totalCount }} }} }} }}"
        )
    };
    for role in ["MANAGER", "AGENT"] {
        let token = app.token("shapes", role, if role == "AGENT" { "a1" } else { "m" });
        let (small, few) = counted(&app, &token, &page(5)).await;
        let (large, many) = counted(&app, &token, &page(50)).await;
        assert_eq!(few, many, "{role}: statements for 5 and 50 customers");
        let (five, fifty) = (
            small["data"]["customers"]["nodes"].as_array().unwrap(),
            large["data"]["customers"]["nodes"].as_array().unwrap(),
        );
        assert_eq!(five[..], fifty[..5], "{role}: the page of 5 starts the page of 50");
        for node in large["data"]["customers"]["nodes"].as_array().unwrap() {
            let alone = app
                .gql(
                    &token,
                    "query($c: ID!) { interactions(filter: {customerId: {eq: $c}, kind: {eq: VISIT}}) { totalCount } \
                     complaints(filter: {customerId: {eq: $c}}) { totalCount } }",
                    json!({ "c": node["id"] }),
                )
                .await;
            assert_eq!(
                node["interactions"]["totalCount"], alone["data"]["interactions"]["totalCount"],
                "{role}: {node}"
            );
            assert_eq!(node["complaints"]["totalCount"], alone["data"]["complaints"]["totalCount"], "{role}: {node}");
        }
        let visits: Vec<i64> = large["data"]["customers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["interactions"]["totalCount"].as_i64().unwrap())
            .collect();
        if role == "MANAGER" {
            assert_eq!(visits[..3], [2, 3, 1], "the first two customers have one and two visits more");
        }
    }
}
