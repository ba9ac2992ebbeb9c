//! Key-account plans: workflow, validation, and progress against a hand-computed example.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const CREATE: &str = "mutation($i: CreateKeyAccountPlanInput!) { createKeyAccountPlan(input: $i) { id status currency plannedVisits objectives team { name } owner { name } version } }";
const PROGRESS: &str = "query($id: ID!) { keyAccountPlan(id: $id) { status actions { title done dueDate } progress { visitsDone visitsPlanned revenueActual revenueTarget currency actionsDone actionsDue actionsTotal openComplaints } } }";

async fn interaction(app: &TestApp, t: &str, customer: &str, kind: &str, at: &str, amount: Option<(&str, &str)>) {
    let mut input = json!({ "customerId": customer, "kind": kind, "occurredAt": at });
    if let Some((a, c)) = amount {
        input["amount"] = json!(a);
        input["currency"] = json!(c);
    }
    let res = app
        .gql(t, "mutation($i: RecordInteractionInput!) { recordInteraction(input: $i) { id } }", json!({ "i": input }))
        .await;
    assert!(res.get("errors").is_none(), "{res}");
}

#[tokio::test]
async fn progress_matches_a_hand_computed_example() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let member = app.token("acme", "AGENT", "li.na");
    let member_id =
        app.gql(&member, "{ viewer { user { id } } }", json!({})).await["data"]["viewer"]["user"]["id"].clone();
    let c = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "深圳蓝海物流有限公司" })).await;
    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Days::new(30);
    let end = today + chrono::Days::new(60);
    let created = app
        .gql(&t, CREATE, json!({ "i": {
            "customerId": c, "title": "2026 蓝海大客户计划", "periodStart": start.to_string(), "periodEnd": end.to_string(),
            "revenueTarget": "100000", "plannedVisits": 6, "objectives": ["续约", "交叉销售仓储服务"], "teamIds": [member_id]
        } }))
        .await;
    let plan = &created["data"]["createKeyAccountPlan"];
    assert_eq!(plan["status"], "DRAFT", "{created}");
    assert_eq!(plan["currency"], "CNY");
    assert_eq!(plan["team"], json!([{ "name": "li.na" }]));
    assert_eq!(plan["owner"]["name"], "mgr");
    let id = plan["id"].as_str().unwrap();

    let day = |offset: i64| (chrono::Utc::now() + chrono::Duration::days(offset)).to_rfc3339();
    // In the period: 2 visits, purchases 12,000.50 + 7,999.50 CNY (and 500 USD, another currency).
    interaction(&app, &t, &c, "VISIT", &day(-20), None).await;
    interaction(&app, &t, &c, "VISIT", &day(-1), None).await;
    interaction(&app, &t, &c, "PURCHASE", &day(-10), Some(("12000.50", "CNY"))).await;
    interaction(&app, &t, &c, "PURCHASE", &day(-2), Some(("7999.50", "CNY"))).await;
    interaction(&app, &t, &c, "PURCHASE", &day(-2), Some(("500", "USD"))).await;
    interaction(&app, &t, &c, "CALL", &day(-3), None).await;
    // Before the period: not counted.
    interaction(&app, &t, &c, "VISIT", &day(-45), None).await;
    interaction(&app, &t, &c, "PURCHASE", &day(-40), Some(("99999", "CNY"))).await;
    // Actions: one overdue and done, one due today, one in the future, one without date.
    let mut action_ids = Vec::new();
    for (title, due) in [
        ("拜访总经理", Some(today - chrono::Days::new(5))),
        ("季度回访", Some(today)),
        ("年度评审", Some(end)),
        ("征求意见", None),
    ] {
        let res = app
            .gql(
                &t,
                "mutation($p: ID!, $i: PlanActionInput!) { addPlanAction(planId: $p, input: $i) { id done } }",
                json!({ "p": id, "i": { "title": title, "dueDate": due.map(|d| d.to_string()) } }),
            )
            .await;
        action_ids.push(res["data"]["addPlanAction"]["id"].as_str().unwrap_or_else(|| panic!("{res}")).to_owned());
    }
    let done = app
        .gql(&t, "mutation($id: ID!) { completePlanAction(id: $id) { done doneAt } }", json!({ "id": action_ids[0] }))
        .await;
    assert_eq!(done["data"]["completePlanAction"]["done"], true, "{done}");
    // One open complaint, one closed.
    for close in [false, true] {
        let f = app
            .gql(
                &t,
                "mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }",
                json!({ "i": { "customerId": c, "title": "延误", "category": "DELIVERY", "severity": "HIGH" } }),
            )
            .await;
        if close {
            let cid = f["data"]["fileComplaint"]["id"].clone();
            for to in ["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "CLOSED"] {
                app.gql(
                    &t,
                    "mutation($id: ID!, $to: ComplaintStatus!) { transitionComplaint(id: $id, to: $to) { id } }",
                    json!({ "id": cid, "to": to }),
                )
                .await;
            }
        }
    }
    let got = app.gql(&t, PROGRESS, json!({ "id": id })).await;
    assert_eq!(
        got["data"]["keyAccountPlan"]["progress"],
        json!({ "visitsDone": 2, "visitsPlanned": 6, "revenueActual": "20000", "revenueTarget": "100000", "currency": "CNY",
                "actionsDone": 1, "actionsDue": 2, "actionsTotal": 4, "openComplaints": 1 }),
        "{got}"
    );

    // The workflow: DRAFT → ACTIVE → COMPLETED, nothing else.
    let upd = |to: &str| json!({ "id": id, "i": { "status": to } });
    let m = "mutation($id: ID!, $i: UpdateKeyAccountPlanInput!) { updateKeyAccountPlan(id: $id, input: $i) { status version } }";
    let bad = app.gql(&t, m, upd("COMPLETED")).await;
    assert_eq!(code(&bad), "CONFLICT");
    assert_eq!(app.gql(&t, m, upd("ACTIVE")).await["data"]["updateKeyAccountPlan"]["status"], "ACTIVE");
    let active = app
        .gql(
            &t,
            "query($id: ID!) { customer(id: $id) { activePlan { title } keyAccountPlans { totalCount } } }",
            json!({ "id": c }),
        )
        .await;
    assert_eq!(
        active["data"]["customer"],
        json!({ "activePlan": { "title": "2026 蓝海大客户计划" }, "keyAccountPlans": { "totalCount": 1 } })
    );
    assert_eq!(app.gql(&t, m, upd("COMPLETED")).await["data"]["updateKeyAccountPlan"]["status"], "COMPLETED");
    assert_eq!(code(&app.gql(&t, m, upd("ACTIVE")).await), "CONFLICT");
    let stale = app
        .gql(
            &t,
            "mutation($id: ID!) { updateKeyAccountPlan(id: $id, input: {title: \"x\"}, expectedVersion: 1) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&stale), "CONFLICT");
    // Null is no visits planned; repeated objectives are kept once.
    let m = "mutation($id: ID!) { updateKeyAccountPlan(id: $id, input: {plannedVisits: null, objectives: [\"续约\", \"续约\", \"扩量\"]}) { plannedVisits objectives } }";
    let cleared = app.gql(&t, m, json!({ "id": id })).await;
    assert_eq!(
        cleared["data"]["updateKeyAccountPlan"],
        json!({ "plannedVisits": 0, "objectives": ["续约", "扩量"] }),
        "{cleared}"
    );
}

#[tokio::test]
async fn nonsense_is_refused() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "X" })).await;
    let stranger = guanxi_api::domain::ids::encode("User", uuid::Uuid::now_v7());
    let res = app
        .gql(
            &t,
            CREATE,
            json!({ "i": {
            "customerId": c, "title": "", "periodStart": "2026-12-31", "periodEnd": "2026-01-01",
            "revenueTarget": "-5", "plannedVisits": -1, "teamIds": [stranger], "status": "COMPLETED"
        } }),
        )
        .await;
    let mut got = violations(&res);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("periodEnd", "BEFORE_START"),
        ("plannedVisits", "OUT_OF_RANGE"),
        ("revenueTarget", "NOT_POSITIVE"),
        ("status", "INVALID_VALUE"),
        ("teamIds.0", "NOT_FOUND"),
        ("title", "TOO_SHORT"),
    ]
    .iter()
    .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{res}");
    let none: Value = app.gql(&t, "{ keyAccountPlans { totalCount } }", json!({})).await;
    assert_eq!(none["data"]["keyAccountPlans"]["totalCount"], 0);
    // AGENTs plan only for their own customers and see only those plans.
    let agent = app.token("acme", "AGENT", "a");
    let refused = app.gql(&agent, CREATE, json!({ "i": { "customerId": c, "title": "mine", "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } })).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["violations"][0]["code"], "NOT_FOUND", "{refused}");
    app.gql(
        &t,
        CREATE,
        json!({ "i": { "customerId": c, "title": "ok", "periodStart": "2026-01-01", "periodEnd": "2026-12-31" } }),
    )
    .await;
    let seen = app.gql(&agent, "{ keyAccountPlans { totalCount } }", json!({})).await;
    assert_eq!(seen["data"]["keyAccountPlans"]["totalCount"], 0);
}
