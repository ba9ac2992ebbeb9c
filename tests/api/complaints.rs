//! Complaints: the exact workflow, SLA deadlines, history, filters and who sees which.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const FILE: &str = "mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id status severity createdAt responseDueAt resolutionDueAt slaBreached version } }";
const MOVE: &str = "mutation($id: ID!, $to: ComplaintStatus!, $note: String) { transitionComplaint(id: $id, to: $to, note: $note) { status version } }";
const STATUSES: [&str; 7] = ["OPEN", "ACKNOWLEDGED", "IN_PROGRESS", "ESCALATED", "RESOLVED", "REOPENED", "CLOSED"];
const LEGAL: [(&str, &str); 12] = [
    ("OPEN", "ACKNOWLEDGED"),
    ("ACKNOWLEDGED", "IN_PROGRESS"),
    ("IN_PROGRESS", "RESOLVED"),
    ("RESOLVED", "CLOSED"),
    ("RESOLVED", "REOPENED"),
    ("REOPENED", "IN_PROGRESS"),
    ("OPEN", "ESCALATED"),
    ("ACKNOWLEDGED", "ESCALATED"),
    ("IN_PROGRESS", "ESCALATED"),
    ("REOPENED", "ESCALATED"),
    ("ESCALATED", "IN_PROGRESS"),
    ("ESCALATED", "RESOLVED"),
];

/// A legal path from OPEN to each status.
fn path_to(status: &str) -> &'static [&'static str] {
    match status {
        "OPEN" => &[],
        "ACKNOWLEDGED" => &["ACKNOWLEDGED"],
        "IN_PROGRESS" => &["ACKNOWLEDGED", "IN_PROGRESS"],
        "ESCALATED" => &["ESCALATED"],
        "RESOLVED" => &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED"],
        "REOPENED" => &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "REOPENED"],
        _ => &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "CLOSED"],
    }
}

async fn file(app: &TestApp, t: &str, customer: &str, severity: &str) -> Value {
    let res = app
        .gql(t, FILE, json!({ "i": { "customerId": customer, "title": "货物破损", "category": "DELIVERY", "severity": severity } }))
        .await;
    res["data"]["fileComplaint"].clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn every_legal_and_illegal_transition() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "Acme Foods" })).await;
    for from in STATUSES {
        for to in STATUSES {
            let complaint = file(&app, &t, &c, "LOW").await;
            let id = complaint["id"].as_str().unwrap().to_owned();
            for step in path_to(from) {
                let res = app.gql(&t, MOVE, json!({ "id": id, "to": step })).await;
                assert!(res.get("errors").is_none(), "{from}: {res}");
            }
            let before =
                app.gql(&t, "query($id: ID!) { complaint(id: $id) { status version } }", json!({ "id": id })).await;
            let res = app.gql(&t, MOVE, json!({ "id": id, "to": to, "note": "step" })).await;
            if LEGAL.contains(&(from, to)) {
                assert_eq!(res["data"]["transitionComplaint"]["status"], to, "{from} → {to}: {res}");
            } else {
                assert_eq!(code(&res), "CONFLICT", "{from} → {to} must be refused: {res}");
                assert_eq!(res["errors"][0]["extensions"]["reason"], "ILLEGAL_TRANSITION");
                let after =
                    app.gql(&t, "query($id: ID!) { complaint(id: $id) { status version } }", json!({ "id": id })).await;
                assert_eq!(before, after, "{from} → {to} changed nothing");
            }
        }
    }
}

#[tokio::test]
async fn history_resolution_and_figures() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "张伟" })).await;
    let complaint = file(&app, &t, &c, "HIGH").await;
    let id = complaint["id"].as_str().unwrap();
    assert_eq!((complaint["status"].as_str(), complaint["slaBreached"].as_bool()), (Some("OPEN"), Some(false)));
    for (to, note) in [("ACKNOWLEDGED", "收到"), ("IN_PROGRESS", "处理中"), ("RESOLVED", "换货")] {
        app.gql(&t, MOVE, json!({ "id": id, "to": to, "note": note })).await;
    }
    let upd = app
        .gql(&t, "mutation($id: ID!) { updateComplaint(id: $id, input: {resolution: \"换新货\", satisfaction: 4}, expectedVersion: 4) { resolution satisfaction version } }", json!({ "id": id }))
        .await;
    assert_eq!(
        upd["data"]["updateComplaint"],
        json!({ "resolution": "换新货", "satisfaction": 4, "version": 5 }),
        "{upd}"
    );
    let bad = app
        .gql(
            &t,
            "mutation($id: ID!) { updateComplaint(id: $id, input: {satisfaction: 9, title: \"\"}) { id } }",
            json!({ "id": id }),
        )
        .await;
    let mut v = violations(&bad);
    v.sort();
    assert_eq!(v, vec![("satisfaction".into(), "OUT_OF_RANGE".into()), ("title".into(), "TOO_SHORT".into())]);
    let got = app
        .gql(&t, "query($id: ID!) { complaint(id: $id) { status respondedAt resolvedAt history { from to note by { name } at } } }", json!({ "id": id }))
        .await;
    let h = &got["data"]["complaint"]["history"];
    let steps: Vec<(Value, Value, Value)> =
        h.as_array().unwrap().iter().map(|s| (s["from"].clone(), s["to"].clone(), s["note"].clone())).collect();
    assert_eq!(
        steps,
        vec![
            (json!(null), json!("OPEN"), json!(null)),
            (json!("OPEN"), json!("ACKNOWLEDGED"), json!("收到")),
            (json!("ACKNOWLEDGED"), json!("IN_PROGRESS"), json!("处理中")),
            (json!("IN_PROGRESS"), json!("RESOLVED"), json!("换货")),
        ]
    );
    assert!(h.as_array().unwrap().iter().all(|s| s["by"]["name"] == "mgr"));
    assert!(got["data"]["complaint"]["respondedAt"].is_string() && got["data"]["complaint"]["resolvedAt"].is_string());

    let second = file(&app, &t, &c, "CRITICAL").await;
    let stats = app
        .gql(&t, "query($id: ID!) { customer(id: $id) { stats { openComplaints totalComplaints complaintsBySeverity { severity open total } } openComplaints { id } } }", json!({ "id": c }))
        .await;
    let customer = &stats["data"]["customer"];
    assert_eq!(customer["stats"]["openComplaints"], 1);
    assert_eq!(customer["stats"]["totalComplaints"], 2);
    assert_eq!(
        customer["stats"]["complaintsBySeverity"],
        json!([{ "severity": "HIGH", "open": 0, "total": 1 }, { "severity": "CRITICAL", "open": 1, "total": 1 }])
    );
    assert_eq!(customer["openComplaints"], json!([{ "id": second["id"] }]));
    // Reopening makes it open again.
    app.gql(&t, MOVE, json!({ "id": id, "to": "REOPENED" })).await;
    let stats =
        app.gql(&t, "query($id: ID!) { customer(id: $id) { stats { openComplaints } } }", json!({ "id": c })).await;
    assert_eq!(stats["data"]["customer"]["stats"]["openComplaints"], 2);
}

#[tokio::test]
async fn sla_deadlines_per_severity_and_tenant_settings() {
    // Tiers stay unset (no scorers): these are the deadlines of an ordinary customer.
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "ADMIN", "admin");
    let c = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "Emma" })).await;
    for (severity, response_h, resolution_h) in
        [("CRITICAL", 1, 24), ("HIGH", 4, 72), ("MEDIUM", 8, 120), ("LOW", 24, 240)]
    {
        let f = file(&app, &t, &c, severity).await;
        let created = time(&f["createdAt"]);
        assert_eq!(time(&f["responseDueAt"]) - created, chrono::Duration::hours(response_h), "{severity}");
        assert_eq!(time(&f["resolutionDueAt"]) - created, chrono::Duration::hours(resolution_h), "{severity}");
    }
    let settings = app
        .gql(&t, "mutation { updateTenantSettings(input: {sla: [{severity: LOW, responseMinutes: 30, resolutionMinutes: 600}]}) { sla { severity responseMinutes resolutionMinutes } } }", json!({}))
        .await;
    assert_eq!(
        settings["data"]["updateTenantSettings"]["sla"][3],
        json!({ "severity": "LOW", "responseMinutes": 30, "resolutionMinutes": 600 }),
        "{settings}"
    );
    let f = file(&app, &t, &c, "LOW").await;
    assert_eq!(time(&f["responseDueAt"]) - time(&f["createdAt"]), chrono::Duration::minutes(30));
    // Raising the severity moves the deadlines from the filing time.
    let id = f["id"].as_str().unwrap();
    let upd = app
        .gql(
            &t,
            "mutation($id: ID!) { updateComplaint(id: $id, input: {severity: CRITICAL}) { responseDueAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        time(&upd["data"]["updateComplaint"]["responseDueAt"]) - time(&f["createdAt"]),
        chrono::Duration::hours(1)
    );
    // Bad settings are refused, and only ADMINs change them.
    let bad = app
        .gql(&t, "mutation { updateTenantSettings(input: {baseCurrency: \"XYZ\", sla: [{severity: HIGH, responseMinutes: 100, resolutionMinutes: 10}]}) { baseCurrency } }", json!({}))
        .await;
    let mut v = violations(&bad);
    v.sort();
    assert_eq!(
        v,
        vec![("baseCurrency".into(), "INVALID_CURRENCY".into()), ("sla.0".into(), "RESOLUTION_BEFORE_RESPONSE".into())]
    );
    let manager = app.token("acme", "MANAGER", "m");
    let refused = app
        .gql(&manager, "mutation { updateTenantSettings(input: {baseCurrency: \"USD\"}) { baseCurrency } }", json!({}))
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");

    // Fresh complaints are not breached; dueBefore finds those with a deadline ahead.
    let q = "query($f: ComplaintFilter) { complaints(filter: $f) { totalCount } }";
    let count = |res: Value| res["data"]["complaints"]["totalCount"].as_u64().unwrap();
    assert_eq!(count(app.gql(&t, q, json!({ "f": { "slaBreached": true } })).await), 0);
    assert_eq!(count(app.gql(&t, q, json!({ "f": { "slaBreached": false } })).await), 5);
    let in_2h = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    // The CRITICAL one (1 h), the LOW one raised to CRITICAL, and the 30-minute LOW one... which is the same: 2.
    assert_eq!(count(app.gql(&t, q, json!({ "f": { "dueBefore": in_2h } })).await), 2);
    assert_eq!(
        count(app.gql(&t, q, json!({ "f": { "severity": { "eq": "CRITICAL" }, "status": { "eq": "OPEN" } } })).await),
        2
    );
}

#[tokio::test]
async fn agents_see_assigned_complaints_and_those_of_their_customers() {
    let app = TestApp::shared().await;
    let manager = app.token("acme", "MANAGER", "mgr");
    let agent = app.token("acme", "AGENT", "agent");
    let other = app.token("acme", "AGENT", "other");
    let agent_id =
        app.gql(&agent, "{ viewer { user { id } } }", json!({})).await["data"]["viewer"]["user"]["id"].clone();
    app.gql(&other, "{ viewer { role } }", json!({})).await;
    let own = app.create_customer(&agent, json!({ "kind": "INDIVIDUAL", "name": "own" })).await;
    let foreign = app.create_customer(&other, json!({ "kind": "INDIVIDUAL", "name": "foreign" })).await;
    let on_own = file(&app, &manager, &own, "LOW").await;
    let assigned = app
        .gql(&manager, FILE, json!({ "i": { "customerId": foreign, "title": "assigned", "category": "SERVICE", "severity": "MEDIUM", "assigneeId": agent_id } }))
        .await;
    let hidden = file(&app, &manager, &foreign, "HIGH").await;
    let seen =
        app.gql(&agent, "{ complaints(orderBy: [{field: CREATED_AT}]) { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(
        seen["data"]["complaints"]["nodes"],
        json!([{ "id": on_own["id"] }, { "id": assigned["data"]["fileComplaint"]["id"] }]),
        "{seen}"
    );
    let nope = app.gql(&agent, "query($id: ID!) { complaint(id: $id) { id } }", json!({ "id": hidden["id"] })).await;
    assert_eq!(nope["data"]["complaint"], json!(null));
    let refused = app.gql(&agent, MOVE, json!({ "id": hidden["id"], "to": "ACKNOWLEDGED" })).await;
    assert_eq!(code(&refused), "NOT_FOUND");
    let ok =
        app.gql(&agent, MOVE, json!({ "id": assigned["data"]["fileComplaint"]["id"], "to": "ACKNOWLEDGED" })).await;
    assert_eq!(ok["data"]["transitionComplaint"]["status"], "ACKNOWLEDGED", "{ok}");
    let viewer = app.token("acme", "VIEWER", "v");
    let refused = app.gql(&viewer, MOVE, json!({ "id": on_own["id"], "to": "ACKNOWLEDGED" })).await;
    assert_eq!(code(&refused), "FORBIDDEN");
}

#[tokio::test]
async fn key_accounts_get_the_green_channel() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let key = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "Key" })).await;
    let ordinary = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "Ordinary" })).await;
    // Tiers are ranked by the scoring worker (plugin issue); until then set them in the database.
    let db = guanxi_api::store::connect(&app.database_url, 1).await.unwrap();
    for (id, tier) in [(&key, "KEY_PRIMARY"), (&ordinary, "ORDINARY")] {
        let uuid = guanxi_api::domain::ids::decode("Customer", id).unwrap();
        let backend = db.get_database_backend();
        let stmt = sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => "UPDATE customer_scores SET tier = $1 WHERE customer_id = $2",
                _ => "UPDATE customer_scores SET tier = ? WHERE customer_id = ?",
            },
            [tier.into(), uuid.into()],
        );
        db.execute_raw(stmt).await.unwrap();
    }
    let dist = app.gql(&t, "{ tierDistribution { tier count } }", json!({})).await;
    assert_eq!(
        dist["data"]["tierDistribution"],
        json!([{ "tier": "KEY_PRIMARY", "count": 1 }, { "tier": "KEY_SECONDARY", "count": 0 }, { "tier": "ORDINARY", "count": 1 }, { "tier": "SMALL", "count": 0 }])
    );
    for (customer, factor) in [(&key, 2), (&ordinary, 1)] {
        let f = file(&app, &t, customer, "HIGH").await;
        let created = time(&f["createdAt"]);
        assert_eq!((time(&f["responseDueAt"]) - created) * factor, chrono::Duration::hours(4), "{f}");
        assert_eq!((time(&f["resolutionDueAt"]) - created) * factor, chrono::Duration::hours(72));
    }
}

/// A deadline that passes unmet is a breach, on the complaint, in the filter and on the
/// customer's page; one met in time is not, even after it passes. The server's clock is moved
/// instead of waiting hours.
#[tokio::test]
async fn a_deadline_that_passes_unmet_is_a_breach_wherever_the_complaint_is_read() {
    let clock = guanxi_api::clock::Clock::default();
    let server_clock = clock.clone();
    let app = TestApp::spawn_with(move |c| c.clock = server_clock).await;
    let t = app.token("acme", "MANAGER", "mgr");
    let c = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let answered = file(&app, &t, &c, "HIGH").await;
    let ignored = file(&app, &t, &c, "HIGH").await;
    app.gql(&t, MOVE, json!({ "id": answered["id"], "to": "ACKNOWLEDGED" })).await;
    let response_due = time(&ignored["responseDueAt"]);
    let resolution_due = time(&ignored["resolutionDueAt"]);
    assert!(response_due < resolution_due, "{ignored}");

    let breached = "query($f: ComplaintFilter) { complaints(filter: $f) { totalCount nodes { id } } }";
    let page = "query($id: ID!) { customer(id: $id) { openComplaints { id slaBreached } } }";
    let one = "query($id: ID!) { complaint(id: $id) { slaBreached } }";
    let is_breached = |res: &Value| res["data"]["complaint"]["slaBreached"].as_bool().unwrap();
    let on_the_page = |res: &Value, id: &Value| {
        let open = res["data"]["customer"]["openComplaints"].as_array().unwrap().clone();
        open.into_iter().find(|o| o["id"] == *id).unwrap()["slaBreached"].as_bool().unwrap()
    };
    assert_eq!(
        app.gql(&t, breached, json!({ "f": { "slaBreached": true } })).await["data"]["complaints"]["totalCount"],
        0
    );

    // A minute past the response deadline: the ignored complaint is breached everywhere it is read.
    clock.advance(response_due - Utc::now() + chrono::Duration::minutes(1));
    assert!(is_breached(&app.gql(&t, one, json!({ "id": ignored["id"] })).await));
    assert!(!is_breached(&app.gql(&t, one, json!({ "id": answered["id"] })).await), "answered in time");
    let res = app.gql(&t, breached, json!({ "f": { "slaBreached": true } })).await;
    assert_eq!(res["data"]["complaints"]["nodes"], json!([{ "id": ignored["id"] }]), "{res}");
    let res = app.gql(&t, page, json!({ "id": c })).await;
    assert!(on_the_page(&res, &ignored["id"]) && !on_the_page(&res, &answered["id"]), "{res}");

    // Answering late does not undo the breach.
    app.gql(&t, MOVE, json!({ "id": ignored["id"], "to": "ACKNOWLEDGED" })).await;
    assert!(is_breached(&app.gql(&t, one, json!({ "id": ignored["id"] })).await));

    // Past the resolution deadline, neither complaint resolved: both are breached.
    clock.advance(resolution_due - response_due);
    let res = app.gql(&t, breached, json!({ "f": { "slaBreached": true } })).await;
    assert_eq!(res["data"]["complaints"]["totalCount"], 2, "{res}");
    let res = app.gql(&t, page, json!({ "id": c })).await;
    assert!(on_the_page(&res, &ignored["id"]) && on_the_page(&res, &answered["id"]), "{res}");
}
