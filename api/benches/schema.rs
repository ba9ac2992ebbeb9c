//! Time to build a tenant's GraphQL schema with 0, 50 and 200 custom fields.
//! `cargo bench -p guanxi-api --features internals --bench schema`; figures in BENCHMARKS.md.

#![expect(clippy::expect_used, reason = "a bench or test that cannot set itself up fails")]

use std::sync::Arc;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use guanxi_api::domain::custom_fields::{
    Definition, EntityKind, FieldType, IndexState, Source, TenantFields, camel_case,
};
use guanxi_api::graphql::build;

/// `n` live definitions spread over the four entities, cycling through every type.
fn fields(n: usize) -> TenantFields {
    let definitions = (0..n)
        .map(|i| {
            let key = format!("field_{i}");
            let ty = FieldType::ALL[i % FieldType::ALL.len()];
            Definition {
                id: uuid::Uuid::now_v7(),
                entity: EntityKind::ALL[i % EntityKind::ALL.len()],
                name: camel_case(&key),
                label: format!("Field {i}"),
                description: Some("A field of the benchmark".into()),
                options: if matches!(ty, FieldType::Enum | FieldType::MultiEnum) {
                    vec!["a".into(), "b".into()]
                } else {
                    vec![]
                },
                ty,
                required: false,
                default_value: None,
                indexed: false,
                index_state: IndexState::None,
                index_error: None,
                archived: false,
                source: Source::User,
                position: i32::try_from(i).unwrap_or_default(),
                version: 1,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                key,
            }
        })
        .collect();
    TenantFields { definitions }
}

fn schema_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("build tenant schema");
    for n in [0, 50, 200] {
        let fields = Arc::new(fields(n));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{n} custom fields")), &fields, |b, f| {
            b.iter(|| build(f).expect("schema"));
        });
    }
    group.finish();
}

criterion_group!(benches, schema_build);
criterion_main!(benches);
