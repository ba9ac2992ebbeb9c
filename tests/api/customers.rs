//! Creating, reading, changing and deleting customers, with validation that lists every problem.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};

const FIELDS: &str = "id kind name email phone region industry creditCode channel tags status relationshipType owner { name } version createdAt updatedAt";

#[tokio::test]
async fn customer_round_trip() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let res = app
        .gql(
            &t,
            &format!("mutation($i: CreateCustomerInput!) {{ createCustomer(input: $i) {{ {FIELDS} }} }}"),
            json!({ "i": {
                "kind": "ORGANIZATION", "name": "  上海华信科技有限公司 ", "email": "Sales@HuaXin.CN", "phone": "+86 138-1234-5678",
                "region": "上海", "industry": "信息技术", "creditCode": "91350100m000100y43", "channel": "referral",
                "tags": ["vip", "B2B", "vip"], "status": "ACTIVE", "relationshipType": "COOPERATIVE"
            }}),
        )
        .await;
    let c = &res["data"]["createCustomer"];
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(c["name"], "上海华信科技有限公司");
    assert_eq!(c["email"], "Sales@huaxin.cn");
    assert_eq!(c["phone"], "+8613812345678");
    assert_eq!(c["creditCode"], "91350100M000100Y43");
    assert_eq!(c["tags"], json!(["vip", "B2B"]));
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["version"], 1);
    assert_eq!(c["owner"], json!(null));
    let id = c["id"].as_str().unwrap();

    let got =
        app.gql(&t, &format!("query($id: ID!) {{ customer(id: $id) {{ {FIELDS} }} }}"), json!({ "id": id })).await;
    assert_eq!(&got["data"]["customer"], c);
    let node =
        app.gql(&t, "query($id: ID!) { node(id: $id) { id ... on Customer { name } } }", json!({ "id": id })).await;
    assert_eq!(node["data"]["node"]["name"], "上海华信科技有限公司");

    // Update: absent fields stay, null clears, version increases.
    let upd = app
        .gql(
            &t,
            "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i, expectedVersion: 1) { name email channel status version updatedAt } }",
            json!({ "id": id, "i": { "channel": null, "status": "LOST" } }),
        )
        .await;
    let u = &upd["data"]["updateCustomer"];
    assert_eq!(u["name"], "上海华信科技有限公司");
    assert_eq!(u["email"], "Sales@huaxin.cn");
    assert_eq!(u["channel"], json!(null));
    assert_eq!(u["status"], "LOST");
    assert_eq!(u["version"], 2);
    assert!(u["updatedAt"].as_str() > c["updatedAt"].as_str());

    // A stale version is a conflict and changes nothing.
    let stale = app
        .gql(
            &t,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"X\"}, expectedVersion: 1) { name } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code(&stale), "CONFLICT");
    assert_eq!(stale["errors"][0]["extensions"]["reason"], "STALE_VERSION");

    // Delete: gone from queries.
    let del = app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;
    assert_eq!(del["data"]["deleteCustomer"], id);
    let gone = app
        .gql(
            &t,
            "query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } customers { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["data"], json!({ "customer": null, "node": null, "customers": { "totalCount": 0 } }));
    let again = app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;
    assert_eq!(code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn validation_lists_every_problem_and_writes_nothing() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let res = app
        .gql(
            &t,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": {
                "kind": "ORGANIZATION", "name": "x".repeat(201), "email": "not-an-email", "phone": "12345",
                "creditCode": "91350100M000100Y44", "tags": ["ok", "", "y".repeat(51)], "ownerId": "bogus"
            }}),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT");
    let mut got = violations(&res);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("creditCode", "INVALID_CREDIT_CODE"),
        ("email", "INVALID_EMAIL"),
        ("name", "TOO_LONG"),
        ("ownerId", "INVALID_ID"),
        ("phone", "INVALID_PHONE"),
        ("tags.1", "TOO_SHORT"),
        ("tags.2", "TOO_LONG"),
    ]
    .iter()
    .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{res}");

    let too_many_tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let res = app
        .gql(&t, "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", json!({ "i": { "kind": "INDIVIDUAL", "name": " ", "tags": too_many_tags, "creditCode": "91350100M000100Y43" } }))
        .await;
    let mut got = violations(&res);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("creditCode".into(), "NOT_ALLOWED".into()),
            ("name".into(), "TOO_SHORT".into()),
            ("tags".into(), "TOO_MANY".into())
        ]
    );
    let count = app.gql(&t, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(count["data"]["customers"]["totalCount"], 0, "nothing was written");

    // An unknown owner is a violation, not a dangling reference.
    let stranger = guanxi_api::domain::ids::encode("User", uuid::Uuid::now_v7());
    let res = app
        .gql(
            &t,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "A", "ownerId": stranger } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("ownerId".into(), "NOT_FOUND".into())]);
}

#[tokio::test]
async fn a_credit_code_belongs_to_one_customer_of_a_tenant() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let input = json!({ "kind": "ORGANIZATION", "name": "A", "creditCode": "91110000600037341L" });
    app.create_customer(&t, input.clone()).await;
    let dup = app
        .gql(&t, "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }", json!({ "i": input }))
        .await;
    assert_eq!(code(&dup), "CONFLICT");
    assert_eq!(dup["errors"][0]["extensions"]["field"], "creditCode");
    // Another tenant may have the same organization.
    let other = app.token("globex", "MANAGER", "mgr");
    app.create_customer(&other, json!({ "kind": "ORGANIZATION", "name": "A", "creditCode": "91110000600037341L" }))
        .await;
}

#[tokio::test]
async fn audit_entries_match_the_changes() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "ADMIN", "admin");
    let id =
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "李娜", "email": "li.na@example.com" })).await;
    app.gql(
        &t,
        "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"李娜娜\", tags: [\"vip\"]}) { id } }",
        json!({ "id": id }),
    )
    .await;
    // An update that changes nothing leaves no line and keeps the version.
    let same = app
        .gql(
            &t,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {name: \"李娜娜\"}) { version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(same["data"]["updateCustomer"]["version"], 2);
    app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": id })).await;

    let log = app
        .gql(&t, "query($id: ID) { auditLog(entityId: $id) { totalCount nodes { action entityKind entityId changes actor { name } at } } }", json!({ "id": id }))
        .await;
    let nodes = log["data"]["auditLog"]["nodes"].as_array().unwrap_or_else(|| panic!("{log}"));
    assert_eq!(log["data"]["auditLog"]["totalCount"], 3);
    let actions: Vec<&str> = nodes.iter().map(|n| n["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["DELETE", "UPDATE", "CREATE"], "newest first");
    assert!(
        nodes.iter().all(|n| n["entityId"] == id && n["entityKind"] == "Customer" && n["actor"]["name"] == "admin")
    );
    assert_eq!(
        nodes[1]["changes"],
        json!({ "name": { "before": "李娜", "after": "李娜娜" }, "tags": { "before": [], "after": ["vip"] } })
    );
    assert_eq!(nodes[2]["changes"]["name"], json!({ "before": null, "after": "李娜" }));
    assert_eq!(nodes[2]["changes"]["email"], json!({ "before": null, "after": "li.na@example.com" }));
    // The deleted customer's last state stays in the trail.
    assert_eq!(nodes[0]["changes"]["name"], json!({ "before": "李娜娜", "after": null }));
    assert_eq!(nodes[0]["changes"]["tags"], json!({ "before": ["vip"], "after": null }));
}

/// `orderBy` takes one order as well as a list of them (GraphQL coerces a single value to a
/// list of one), as a literal and as a variable; the single form was once ignored.
#[tokio::test]
async fn a_single_order_object_orders_like_a_list_of_one() {
    let app = TestApp::shared_bare().await;
    let t = app.token("acme", "MANAGER", "manager");
    for name in ["b", "a", "c"] {
        app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": name })).await;
    }
    let names = |res: &Value| -> Vec<String> {
        res["data"]["customers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let literal =
        app.gql(&t, "{ customers(orderBy: {field: NAME, direction: DESC}) { nodes { name } } }", json!({})).await;
    assert_eq!(names(&literal), ["c", "b", "a"], "{literal}");
    let variable = app
        .gql(
            &t,
            "query($o: [CustomerOrder!]) { customers(orderBy: $o) { nodes { name } } }",
            json!({ "o": { "field": "NAME", "direction": "DESC" } }),
        )
        .await;
    assert_eq!(names(&variable), ["c", "b", "a"], "{variable}");
    let list =
        app.gql(&t, "{ customers(orderBy: [{field: NAME, direction: ASC}]) { nodes { name } } }", json!({})).await;
    assert_eq!(names(&list), ["a", "b", "c"], "{list}");
}

/// What one customer has: a complaint with history, a plan with an action, an interaction (and
/// so stats). Returns the ids of the complaint, the plan and the action.
async fn give_a_history(app: &TestApp, t: &str, customer: &str) -> (String, String, String) {
    let ok = |res: serde_json::Value, path: &str| -> String {
        res["data"][path]["id"].as_str().unwrap_or_else(|| panic!("{path}: {res}")).to_owned()
    };
    let complaint = app
        .gql(t, "mutation($c: ID!) { fileComplaint(input: {customerId: $c, title: \"破损\", category: DELIVERY, severity: HIGH}) { id } }", json!({ "c": customer }))
        .await;
    let complaint = ok(complaint, "fileComplaint");
    let moved = app
        .gql(
            t,
            "mutation($id: ID!) { transitionComplaint(id: $id, to: ACKNOWLEDGED, note: \"收到\") { id } }",
            json!({ "id": complaint }),
        )
        .await;
    ok(moved, "transitionComplaint");
    let plan = app
        .gql(t, "mutation($c: ID!) { createKeyAccountPlan(input: {customerId: $c, title: \"计划\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\"}) { id } }", json!({ "c": customer }))
        .await;
    let plan = ok(plan, "createKeyAccountPlan");
    let action = app
        .gql(
            t,
            "mutation($p: ID!) { addPlanAction(planId: $p, input: {title: \"拜访\"}) { id } }",
            json!({ "p": plan }),
        )
        .await;
    let action = ok(action, "addPlanAction");
    let at = chrono::Utc::now().to_rfc3339();
    let bought = app
        .gql(t, "mutation($c: ID!, $at: DateTime!) { recordInteraction(input: {customerId: $c, kind: PURCHASE, occurredAt: $at, amount: \"100\", currency: \"CNY\"}) { id } }", json!({ "c": customer, "at": at }))
        .await;
    ok(bought, "recordInteraction");
    (complaint, plan, action)
}

/// The tenant's rows per table, read from the database: what a customer's delete must leave
/// nothing of, even where no API path leads any more (history rows, actions, stats).
async fn table_rows(app: &TestApp, tenant: &str) -> Vec<(&'static str, i64)> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let tenant = app.tenant_id(&db, tenant).await;
    let backend = db.get_database_backend();
    let mut counts = Vec::new();
    for table in
        ["complaints", "complaint_transitions", "key_account_plans", "plan_actions", "interactions", "customer_stats"]
    {
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1"),
            _ => format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = ?"),
        };
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [tenant.into()]))
            .await
            .expect("count")
            .expect("row");
        counts.push((table, row.try_get::<i64>("", "n").expect("n")));
    }
    db.close().await.ok();
    counts
}

/// A deleted customer takes its complaints (with their history), plans (with their actions),
/// timeline and stats along: no path reads them, no list counts them, no write reaches them.
/// Another customer's records stay; the audit trail gains the delete, with the customer's last
/// state, and keeps every entry it had.
#[tokio::test]
async fn a_delete_takes_complaints_plans_actions_and_stats_along_and_the_audit_keeps_it() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let gone = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "要删除的公司" })).await;
    let kept = app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "留下的公司" })).await;
    let (complaint, plan, action) = give_a_history(&app, &t, &gone).await;
    let (kept_complaint, kept_plan, _) = give_a_history(&app, &t, &kept).await;
    let audit =
        "query($id: ID) { auditLog(entityId: $id) { totalCount nodes { action entityKind entityId changes } } }";
    let audit_before = app.gql(&t, audit, json!({ "id": null })).await["data"]["auditLog"].clone();
    let complaint_audit = app.gql(&t, audit, json!({ "id": complaint })).await["data"]["auditLog"].clone();
    let plan_audit = app.gql(&t, audit, json!({ "id": plan })).await["data"]["auditLog"].clone();
    assert!(complaint_audit["totalCount"].as_i64().unwrap() > 0 && plan_audit["totalCount"].as_i64().unwrap() > 0);
    let rows_before = table_rows(&app, "acme").await;

    let del = app.gql(&t, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": gone })).await;
    assert_eq!(del["data"]["deleteCustomer"], gone, "{del}");

    // By id, through every root that takes one.
    let by_id = app
        .gql(
            &t,
            "query($c: ID!, $k: ID!, $p: ID!) { customer(id: $c) { id } complaint(id: $k) { id } keyAccountPlan(id: $p) { id }
               c: node(id: $c) { id } k: node(id: $k) { id } p: node(id: $p) { id } }",
            json!({ "c": gone, "k": complaint, "p": plan }),
        )
        .await;
    assert_eq!(
        by_id["data"],
        json!({ "customer": null, "complaint": null, "keyAccountPlan": null, "c": null, "k": null, "p": null }),
        "{by_id}"
    );
    // Lists and counts hold the other customer's records only.
    let lists = app
        .gql(
            &t,
            "{ customers { totalCount nodes { id } } complaints { totalCount nodes { id } }
               keyAccountPlans { totalCount nodes { id } } interactions { totalCount } tierDistribution { count } }",
            json!({}),
        )
        .await;
    let data = &lists["data"];
    assert_eq!(data["customers"], json!({ "totalCount": 1, "nodes": [{ "id": kept }] }), "{lists}");
    assert_eq!(data["complaints"], json!({ "totalCount": 1, "nodes": [{ "id": kept_complaint }] }), "{lists}");
    assert_eq!(data["keyAccountPlans"], json!({ "totalCount": 1, "nodes": [{ "id": kept_plan }] }), "{lists}");
    assert_eq!(data["interactions"]["totalCount"], 1, "{lists}");
    let ranked: i64 = data["tierDistribution"].as_array().unwrap().iter().map(|t| t["count"].as_i64().unwrap()).sum();
    assert!(ranked <= 1, "the deleted customer is in no tier: {lists}");
    // Writes naming what is gone find nothing.
    for (what, mutation, vars) in [
        (
            "transitionComplaint",
            "mutation($id: ID!) { transitionComplaint(id: $id, to: IN_PROGRESS) { id } }",
            json!({ "id": complaint }),
        ),
        (
            "updateComplaint",
            "mutation($id: ID!) { updateComplaint(id: $id, input: {satisfaction: 3}) { id } }",
            json!({ "id": complaint }),
        ),
        (
            "updateKeyAccountPlan",
            "mutation($id: ID!) { updateKeyAccountPlan(id: $id, input: {title: \"新\"}) { id } }",
            json!({ "id": plan }),
        ),
        (
            "addPlanAction",
            "mutation($p: ID!) { addPlanAction(planId: $p, input: {title: \"再访\"}) { id } }",
            json!({ "p": plan }),
        ),
        ("completePlanAction", "mutation($id: ID!) { completePlanAction(id: $id) { id } }", json!({ "id": action })),
        ("deleteCustomer", "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": gone })),
    ] {
        let res = app.gql(&t, mutation, vars).await;
        assert_eq!(code(&res), "NOT_FOUND", "{what}: {res}");
    }
    let res = app
        .gql(&t, "mutation($c: ID!) { fileComplaint(input: {customerId: $c, title: \"再诉\", category: DELIVERY, severity: LOW}) { id } }", json!({ "c": gone }))
        .await;
    assert_eq!(violations(&res), [("customerId".to_owned(), "NOT_FOUND".to_owned())], "{res}");
    // Nothing of it is left in any table, where no path could show it.
    let rows_after = table_rows(&app, "acme").await;
    for ((table, before), (_, after)) in rows_before.iter().zip(&rows_after) {
        assert_eq!(before - after, after.to_owned(), "{table}: the deleted customer's rows are gone, the other's stay");
    }

    // The audit trail: one entry more, the delete with the customer's last state; the deleted
    // records' own entries stay.
    let audit_after = app.gql(&t, audit, json!({ "id": null })).await["data"]["auditLog"].clone();
    assert_eq!(audit_after["totalCount"], audit_before["totalCount"].as_i64().unwrap() + 1, "{audit_after}");
    let newest = &audit_after["nodes"][0];
    assert_eq!(
        (&newest["action"], &newest["entityKind"], &newest["entityId"]),
        (&json!("DELETE"), &json!("Customer"), &json!(gone))
    );
    assert_eq!(newest["changes"]["name"], json!({ "before": "要删除的公司", "after": null }), "{newest}");
    assert_eq!(app.gql(&t, audit, json!({ "id": complaint })).await["data"]["auditLog"], complaint_audit);
    assert_eq!(app.gql(&t, audit, json!({ "id": plan })).await["data"]["auditLog"], plan_audit);
}

/// `website`: an http or https address, normalised; anything else is refused by name and the
/// customer keeps what it had; filters, orders and the audit trail know it like any field.
#[tokio::test]
async fn a_website_is_checked_normalised_filterable_and_audited() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id website version } }";
    let res = app
        .gql(&t, create, json!({ "i": { "kind": "ORGANIZATION", "name": "华信", "website": " https://HuaXin.CN " } }))
        .await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(res["data"]["createCustomer"]["website"], "https://huaxin.cn/");
    let id = res["data"]["createCustomer"]["id"].as_str().unwrap().to_owned();
    app.create_customer(&t, json!({ "kind": "ORGANIZATION", "name": "无官网" })).await;

    // 600 characters as given, 5,400 once escaped.
    let escaped_past_the_bound = format!("https://a.cn/{}", "官网".repeat(300));
    for bad in [
        "huaxin.cn",
        "ftp://huaxin.cn",
        "javascript:alert(1)",
        "https://",
        "https://sales:secret@huaxin.cn/",
        &format!("https://a.cn/{}", "x".repeat(2000)),
        &escaped_past_the_bound,
    ] {
        let res = app
            .gql(
                &t,
                "mutation($id: ID!, $w: String) { updateCustomer(id: $id, input: {website: $w}) { website } }",
                json!({ "id": id, "w": bad }),
            )
            .await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "{bad}: {res}");
        let (field, why) = &violations(&res)[0];
        assert_eq!(field, "website", "{res}");
        assert!(why == "INVALID_URL" || why == "TOO_LONG", "{bad}: {res}");
    }
    let got = app.gql(&t, "query($id: ID!) { customer(id: $id) { website version } }", json!({ "id": id })).await;
    assert_eq!(
        got["data"]["customer"],
        json!({ "website": "https://huaxin.cn/", "version": 1 }),
        "refusals changed nothing"
    );

    let filtered = app
        .gql(&t, "{ customers(filter: {website: {startsWith: \"https://huaxin\"}}) { nodes { name } } }", json!({}))
        .await;
    assert_eq!(filtered["data"]["customers"]["nodes"], json!([{ "name": "华信" }]), "{filtered}");
    let none = app.gql(&t, "{ customers(filter: {website: {isNull: true}}) { nodes { name } } }", json!({})).await;
    assert_eq!(none["data"]["customers"]["nodes"], json!([{ "name": "无官网" }]), "{none}");

    let res = app
        .gql(
            &t,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {website: \"\"}) { website version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        res["data"]["updateCustomer"],
        json!({ "website": null, "version": 2 }),
        "an empty string clears it: {res}"
    );
    let audit = app
        .gql(
            &t,
            "query($id: ID!) { auditLog(entityId: $id, first: 1) { nodes { action changes } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        audit["data"]["auditLog"]["nodes"][0]["changes"],
        json!({ "website": { "before": "https://huaxin.cn/", "after": null } }),
        "{audit}"
    );
}

#[tokio::test]
async fn a_page_by_name_answers_each_customer_once_from_the_name_index() {
    use guanxi_api::query::{Filter, OrderKey, SortField, page_request};
    use sea_orm::ConnectionTrait;
    // On SQLite a page that reads nothing of the scores row joins it with the customers as the
    // outer loop (SQLite 3.51 otherwise chose, on a tenant of 100,000, to scan every scores row
    // and sort the whole tenant: BENCHMARKS.md). The join must still pair each customer with its
    // own scores row only.
    let app = TestApp::spawn().await;
    let admin = app.token("planned", "ADMIN", "admin");
    for name in ["甲", "乙", "丙"] {
        app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": name })).await;
    }
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let backend = db.get_database_backend();
    let tenant = app.tenant_id(&db, "planned").await;
    let name = guanxi_api::domain::customers::FIELDS.iter().find(|f| f.name == "name").expect("name");
    let order = vec![OrderKey { field: SortField::Field(name), descending: false }];
    let page = page_request(Some(50), None, None, None, &order).expect("page");
    let statement = guanxi_api::store::customers::list_statement(backend, tenant, &Filter::All(vec![]), &order, &page);
    let rows = db.query_all_raw(statement.clone()).await.expect("query");
    let names: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").expect("name")).collect();
    assert_eq!(names, ["丙", "乙", "甲"], "each customer once, in name order");
    let plan = crate::helpers::plan(&db, &statement).await;
    assert!(plan.contains("customers_tenant_name_idx"), "the name index is not walked:\n{plan}");
    let res =
        app.gql(&admin, "{ customers(first: 2, orderBy: {field: NAME}) { nodes { name tier } } }", json!({})).await;
    assert_eq!(res["data"]["customers"]["nodes"].as_array().map(Vec::len), Some(2), "{res}");
}
