//! A customer snapshot for tests and benches: `purchases` purchases totalling `total`, the
//! last at `last`, seen at 2026-11-26T08:00:00Z (all of them in the last year, at most three in
//! the last 90 days, none in the last 30).

use guanxi_plugin_host::CustomerSnapshot;

pub fn snapshot(id: &str, purchases: i64, total: &str, last: Option<&str>) -> CustomerSnapshot {
    let purchased = |n: i64| if n > 0 { vec![("PURCHASE".to_owned(), n)] } else { vec![] };
    CustomerSnapshot {
        customer_id: id.into(),
        kind: "INDIVIDUAL".into(),
        name: "王芳".into(),
        status: "ACTIVE".into(),
        region: Some("上海".into()),
        industry: None,
        channel: None,
        tags: vec!["vip".into()],
        relationship_type: None,
        tier: None,
        created_at: "2024-01-01T00:00:00.000000Z".into(),
        custom_fields_json: "{}".into(),
        base_currency: "CNY".into(),
        purchase_count: purchases,
        purchase_total: total.into(),
        purchase_totals: vec![("CNY".into(), total.into())],
        first_purchase_at: last.map(Into::into),
        last_purchase_at: last.map(Into::into),
        purchases_last90_days: purchases.min(3),
        purchases_last365_days: purchases,
        interaction_count: purchases,
        interaction_counts: vec![("PURCHASE".into(), purchases)],
        last_interaction_at: last.map(Into::into),
        interactions_last30_days: vec![],
        interactions_last90_days: purchased(purchases.min(3)),
        interactions_last365_days: purchased(purchases),
        days_since_last_interaction: vec![],
        complaints_open: vec![],
        complaints_total: vec![],
        survey_count: 0,
        average_satisfaction: None,
        would_buy_again_rate: None,
        now: "2026-11-26T08:00:00.000000Z".into(),
    }
}
