//! The floor of the GraphQL layer under the customer-360° page: the page's exact
//! query run by async-graphql's dynamic executor over a schema of the same shape whose
//! resolvers answer from memory, with no database, loader or domain code. What is left is what
//! any server on this executor pays for parsing, validating and resolving the page's fields.
//! `cargo bench -p guanxi-api --features internals --bench executor`; figures in BENCHMARKS.md.

#![expect(clippy::expect_used, reason = "a bench or test that cannot set itself up fails")]

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Schema, TypeRef,
};
use async_graphql::{Name, Value};
use criterion::{Criterion, criterion_group, criterion_main};

/// The page of `tests/load/run.sh`, as the load runs send it.
const PAGE: &str = "{ customers(first: 50, filter: {status: {eq: ACTIVE}}, orderBy: [{field: NAME}]) { nodes { id name \
    owner { name } interactions(first: 5) { nodes { kind occurredAt amount } } openComplaints { title severity \
    slaBreached } activePlan { title progress { visitsDone visitsPlanned revenueActual revenueTarget actionsDone \
    actionsDue openComplaints } } stats { purchaseCount purchaseTotal lastPurchaseAt purchasesLast90Days \
    averageSatisfaction openComplaints } } } }";

struct Customer {
    id: String,
    name: String,
    owner: User,
    interactions: Vec<Interaction>,
    open_complaints: Vec<Complaint>,
    plan: Option<Plan>,
    stats: Stats,
}

/// The customers' connection: the page holds the first `first` of them.
struct Page {
    first: usize,
}

struct User {
    name: String,
}

struct Interaction {
    kind: &'static str,
    occurred_at: String,
    amount: Option<String>,
}

struct Complaint {
    title: String,
    severity: &'static str,
    breached: bool,
}

struct Plan {
    title: String,
    progress: [i64; 7],
}

struct Stats {
    purchase_count: i64,
    purchase_total: String,
    last_purchase_at: Option<String>,
    purchases_last_90_days: i64,
    average_satisfaction: Option<f64>,
    open_complaints: i64,
}

/// 50 customers as a seeded tenant's page has them: five interactions each (two of them
/// purchases), an open complaint for one in four, an active plan for one in ten.
fn page() -> Vec<Customer> {
    (0..50)
        .map(|i| Customer {
            id: format!("Q3VzdG9tZXI6MDE5YWJjZGUtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMD{i:02}"),
            name: format!("客户 {i} 有限公司"),
            owner: User { name: format!("Owner {}", i % 7) },
            interactions: (0..5)
                .map(|k| Interaction {
                    kind: if k % 2 == 0 { "VISIT" } else { "PURCHASE" },
                    occurred_at: format!("2026-11-{:02}T08:00:00.000000Z", 20 - k),
                    amount: (k % 2 == 1).then(|| format!("{}.50", 100 * (k + i))),
                })
                .collect(),
            open_complaints: (i % 4 == 0)
                .then(|| Complaint { title: "Late delivery".into(), severity: "HIGH", breached: i % 8 == 0 })
                .into_iter()
                .collect(),
            plan: (i % 10 == 0).then(|| Plan { title: format!("Plan {i}"), progress: [3, 6, 5000, 20000, 2, 4, 1] }),
            stats: Stats {
                purchase_count: 8 + i,
                purchase_total: format!("{}.00", 1000 * i),
                last_purchase_at: Some("2026-11-19T08:00:00.000000Z".into()),
                purchases_last_90_days: 3,
                average_satisfaction: (i % 3 == 0).then_some(4.2),
                open_complaints: i64::from(i % 4 == 0),
            },
        })
        .collect()
}

/// A field answered from the parent `T` with no waiting, as the server's own leaf fields are.
fn leaf<T: 'static + Send + Sync>(name: &str, ty: TypeRef, get: fn(&T) -> Value) -> Field {
    Field::new(name, ty, move |ctx| {
        let value = ctx.parent_value.try_downcast_ref::<T>().map(|t| match get(t) {
            Value::Null => None,
            v => Some(FieldValue::value(v)),
        });
        match value {
            Ok(v) => FieldFuture::Value(v),
            Err(e) => FieldFuture::new(async move { Err::<Option<FieldValue<'_>>, _>(e) }),
        }
    })
}

/// A field answered with an object borrowed from the parent `T`.
fn child<T: 'static + Send + Sync, C: 'static + Send + Sync>(
    name: &str,
    ty: TypeRef,
    get: for<'a> fn(&'a T) -> Option<&'a C>,
) -> Field {
    Field::new(name, ty, move |ctx: ResolverContext<'_>| {
        let parent = ctx.parent_value.try_downcast_ref::<T>().ok();
        FieldFuture::Value(parent.and_then(get).map(|c| FieldValue::borrowed_any(c)))
    })
}

/// A list of objects borrowed from the parent `T`.
fn children<T: 'static + Send + Sync, C: 'static + Send + Sync>(
    name: &str,
    ty: TypeRef,
    get: for<'a> fn(&'a T) -> &'a [C],
) -> Field {
    Field::new(name, ty, move |ctx: ResolverContext<'_>| {
        let parent = ctx.parent_value.try_downcast_ref::<T>().ok();
        FieldFuture::Value(parent.map(|p| FieldValue::list(get(p).iter().map(|c| FieldValue::borrowed_any(c)))))
    })
}

/// The interactions' connection stands on its customer.
fn itself(c: &Customer) -> Option<&Customer> {
    Some(c)
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn schema() -> Schema {
    let customers = page();
    let status = Enum::new("CustomerStatus").item("ACTIVE").item("PROSPECT");
    let order_field = Enum::new("CustomerOrderField").item("NAME").item("CREATED_AT");
    let direction = Enum::new("Direction").item("ASC").item("DESC");
    let status_filter = InputObject::new("StatusFilter").field(InputValue::new("eq", TypeRef::named("CustomerStatus")));
    let filter = InputObject::new("CustomerFilter").field(InputValue::new("status", TypeRef::named("StatusFilter")));
    let order = InputObject::new("CustomerOrder")
        .field(InputValue::new("field", TypeRef::named_nn("CustomerOrderField")))
        .field(InputValue::new("direction", TypeRef::named("Direction")));
    let query = Object::new("Query").field(
        Field::new("customers", TypeRef::named_nn("CustomerConnection"), |ctx| {
            let first = ctx.args.get("first").and_then(|v| v.u64().ok()).unwrap_or(20);
            FieldFuture::Value(Some(FieldValue::owned_any(Page {
                first: usize::try_from(first).unwrap_or(usize::MAX),
            })))
        })
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("filter", TypeRef::named("CustomerFilter")))
        .argument(InputValue::new("orderBy", TypeRef::named_nn_list("CustomerOrder"))),
    );
    let connection =
        Object::new("CustomerConnection").field(Field::new("nodes", TypeRef::named_nn_list_nn("Customer"), |ctx| {
            let first = ctx.parent_value.try_downcast_ref::<Page>().map_or(0, |p| p.first);
            let nodes = ctx.data_unchecked::<Vec<Customer>>().iter().take(first);
            FieldFuture::Value(Some(FieldValue::list(nodes.map(|c| FieldValue::borrowed_any(c)))))
        }));
    let customer = Object::new("Customer")
        .field(leaf::<Customer>("id", TypeRef::named_nn(TypeRef::ID), |c| string(&c.id)))
        .field(leaf::<Customer>("name", TypeRef::named_nn(TypeRef::STRING), |c| string(&c.name)))
        .field(child::<Customer, User>("owner", TypeRef::named("User"), |c| Some(&c.owner)))
        .field(
            child::<Customer, Customer>("interactions", TypeRef::named_nn("InteractionConnection"), itself)
                .argument(InputValue::new("first", TypeRef::named(TypeRef::INT))),
        )
        .field(children::<Customer, Complaint>("openComplaints", TypeRef::named_nn_list_nn("Complaint"), |c| {
            &c.open_complaints
        }))
        .field(child::<Customer, Plan>("activePlan", TypeRef::named("KeyAccountPlan"), |c| c.plan.as_ref()))
        .field(child::<Customer, Stats>("stats", TypeRef::named_nn("CustomerStats"), |c| Some(&c.stats)));
    let user = Object::new("User").field(leaf::<User>("name", TypeRef::named_nn(TypeRef::STRING), |u| string(&u.name)));
    let interactions = Object::new("InteractionConnection").field(children::<Customer, Interaction>(
        "nodes",
        TypeRef::named_nn_list_nn("Interaction"),
        |c| &c.interactions,
    ));
    let interaction = Object::new("Interaction")
        .field(leaf::<Interaction>("kind", TypeRef::named_nn("InteractionKind"), |i| Value::Enum(Name::new(i.kind))))
        .field(leaf::<Interaction>("occurredAt", TypeRef::named_nn(TypeRef::STRING), |i| string(&i.occurred_at)))
        .field(leaf::<Interaction>("amount", TypeRef::named(TypeRef::STRING), |i| {
            i.amount.as_deref().map_or(Value::Null, string)
        }));
    let kind = Enum::new("InteractionKind").item("VISIT").item("PURCHASE");
    let complaint = Object::new("Complaint")
        .field(leaf::<Complaint>("title", TypeRef::named_nn(TypeRef::STRING), |c| string(&c.title)))
        .field(leaf::<Complaint>("severity", TypeRef::named_nn("Severity"), |c| Value::Enum(Name::new(c.severity))))
        .field(leaf::<Complaint>("slaBreached", TypeRef::named_nn(TypeRef::BOOLEAN), |c| Value::Boolean(c.breached)));
    let severity = Enum::new("Severity").item("HIGH").item("LOW");
    let plan = Object::new("KeyAccountPlan")
        .field(leaf::<Plan>("title", TypeRef::named_nn(TypeRef::STRING), |p| string(&p.title)))
        .field(child::<Plan, [i64; 7]>("progress", TypeRef::named_nn("PlanProgress"), |p| Some(&p.progress)));
    let progress = [
        "visitsDone",
        "visitsPlanned",
        "revenueActual",
        "revenueTarget",
        "actionsDone",
        "actionsDue",
        "openComplaints",
    ]
    .iter()
    .enumerate()
    .fold(Object::new("PlanProgress"), |o, (i, name)| {
        o.field(Field::new(*name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
            let p = ctx.parent_value.try_downcast_ref::<[i64; 7]>().ok();
            FieldFuture::Value(p.map(|p| FieldValue::value(p[i])))
        }))
    });
    let stats = Object::new("CustomerStats")
        .field(leaf::<Stats>("purchaseCount", TypeRef::named_nn(TypeRef::INT), |s| Value::from(s.purchase_count)))
        .field(leaf::<Stats>("purchaseTotal", TypeRef::named_nn(TypeRef::STRING), |s| string(&s.purchase_total)))
        .field(leaf::<Stats>("lastPurchaseAt", TypeRef::named(TypeRef::STRING), |s| {
            s.last_purchase_at.as_deref().map_or(Value::Null, string)
        }))
        .field(leaf::<Stats>("purchasesLast90Days", TypeRef::named_nn(TypeRef::INT), |s| {
            Value::from(s.purchases_last_90_days)
        }))
        .field(leaf::<Stats>("averageSatisfaction", TypeRef::named(TypeRef::FLOAT), |s| {
            s.average_satisfaction.map_or(Value::Null, Value::from)
        }))
        .field(leaf::<Stats>("openComplaints", TypeRef::named_nn(TypeRef::INT), |s| Value::from(s.open_complaints)));
    Schema::build("Query", None, None)
        .register(status)
        .register(order_field)
        .register(direction)
        .register(status_filter)
        .register(filter)
        .register(order)
        .register(connection)
        .register(customer)
        .register(user)
        .register(interactions)
        .register(interaction)
        .register(kind)
        .register(complaint)
        .register(severity)
        .register(plan)
        .register(progress)
        .register(stats)
        .register(query)
        .data(customers)
        .finish()
        .expect("the page's schema is valid")
}

fn executor(c: &mut Criterion) {
    let schema = schema();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let answer = runtime.block_on(schema.execute(PAGE));
    assert!(answer.errors.is_empty(), "{:?}", answer.errors);
    let body = serde_json::to_string(&answer).expect("JSON");
    assert!(body.contains("\"openComplaints\":1") && body.contains("\"kind\":\"PURCHASE\""), "{body}");
    let mut group = c.benchmark_group("360° page, executor alone");
    group.bench_function("parse, validate, resolve (first: 50)", |b| {
        b.iter(|| runtime.block_on(schema.execute(PAGE)));
    });
    group.bench_function("… and write the response's JSON", |b| {
        b.iter(|| serde_json::to_vec(&runtime.block_on(schema.execute(PAGE))).map(|v| v.len()));
    });
    group.finish();
}

criterion_group!(benches, executor);
criterion_main!(benches);
