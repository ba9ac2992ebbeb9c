//! Time the cost guard adds to a request: the token scan, the parse (which async-graphql does
//! anyway) and the walk, for `customer(id)`, the 360° page of `tests/load/run.sh`, and a
//! fragment bomb the walk refuses. `cargo bench -p guanxi-api --features internals --bench cost`; figures in
//! BENCHMARKS.md.

#![expect(clippy::expect_used, reason = "a bench or test that cannot set itself up fails")]

use std::sync::Arc;

use async_graphql::Variables;
use criterion::{Criterion, criterion_group, criterion_main};
use guanxi_api::domain::custom_fields::TenantFields;
use guanxi_api::graphql::{build, cost};

const CUSTOMER: &str = "query($id: ID!) { customer(id: $id) { id name email status createdAt } }";
const PAGE_360: &str = "{ customers(first: 50, filter: {status: {eq: ACTIVE}}, orderBy: [{field: NAME}]) { nodes { id name owner { name } interactions(first: 5) { nodes { kind occurredAt amount } } openComplaints { title severity slaBreached } activePlan { title progress { visitsDone visitsPlanned revenueActual revenueTarget actionsDone actionsDue openComplaints } } stats { purchaseCount purchaseTotal lastPurchaseAt purchasesLast90Days averageSatisfaction openComplaints } } } }";

fn bomb(levels: usize) -> String {
    let mut doc = String::from("query { ...F0 }");
    for i in 0..levels {
        let n = i + 1;
        doc.push_str(&format!(" fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} ...F{n} }}"));
    }
    doc.push_str(&format!(" fragment F{levels} on Query {{ __typename }}"));
    doc
}

fn guard(c: &mut Criterion) {
    let schema = build(&Arc::new(TenantFields::default())).expect("schema");
    let shapes = cost::Shapes::of(schema.registry());
    let limits = cost::Limits { cost: 50_000, depth: 15, aliases: 30, selections: 1_000, tokens: 10_000 };
    let variables = Variables::default();
    let mut group = c.benchmark_group("cost guard");
    for (name, query) in [
        ("customer(id)", CUSTOMER.to_owned()),
        ("360° page", PAGE_360.to_owned()),
        ("fragment bomb, 14 levels", bomb(14)),
    ] {
        group.bench_function(format!("{name}: scan + walk"), |b| {
            let doc = async_graphql::parser::parse_query(&query).expect("parses");
            b.iter(|| {
                let _ = cost::scan(&query, &limits);
                let _ = cost::walk(&doc, None, &variables, &shapes, &limits);
            });
        });
        group.bench_function(format!("{name}: parse alone"), |b| {
            b.iter(|| async_graphql::parser::parse_query(&query).expect("parses"));
        });
    }
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
