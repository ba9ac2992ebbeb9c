//! Custom fields through HTTP: definitions (ADMIN only), the typed schema they produce, value
//! checks on every entity, filters and orders against a plain-Rust computation, tenancy, type
//! changes, required fields with defaults, and concurrent changes.

use std::cmp::Ordering;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, violations};
use crate::pagination::walk_customers;

const DEFINE: &str =
    "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { id key name type version archived } }";

pub async fn define(app: &TestApp, token: &str, input: Value) -> Value {
    let res = app.gql(token, DEFINE, json!({ "i": input })).await;
    assert!(res.get("errors").is_none(), "define {input}: {res}");
    res["data"]["defineCustomField"].clone()
}

pub async fn sdl(app: &TestApp, token: &str) -> String {
    app.client
        .get(format!("{}/schema.graphql", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("sdl")
        .text()
        .await
        .expect("sdl text")
}

/// One field of each type, as the SDL snapshot and the value tests use them.
fn every_type() -> Vec<Value> {
    let f = |key: &str, ty: &str| json!({ "entity": "CUSTOMER", "key": key, "label": key, "type": ty });
    vec![
        f("nickname", "STRING"),
        json!({ "entity": "CUSTOMER", "key": "notes", "label": "Notes", "type": "TEXT", "description": "Free notes" }),
        f("loyalty_points", "INT"),
        f("credit_limit", "DECIMAL"),
        f("vip", "BOOLEAN"),
        f("member_since", "DATE"),
        f("last_audit", "DATETIME"),
        json!({ "entity": "CUSTOMER", "key": "grade", "label": "Grade", "type": "ENUM", "options": ["金", "银", "铜"] }),
        json!({ "entity": "CUSTOMER", "key": "interests", "label": "Interests", "type": "MULTI_ENUM", "options": ["tea", "golf", "wine"] }),
        f("billing_email", "EMAIL"),
        f("backup_phone", "PHONE"),
        f("homepage", "URL"),
        f("extra", "JSON"),
    ]
}

/// The blocks of an SDL whose heading mentions `needle`.
fn blocks(sdl: &str, needle: &str) -> String {
    let mut out = Vec::new();
    let mut keep = false;
    for line in sdl.lines() {
        if line.starts_with("type ") || line.starts_with("input ") || line.starts_with("enum ") {
            keep = line.split_whitespace().nth(1).is_some_and(|n| n.contains(needle));
        }
        if keep {
            out.push(line);
        }
        if line == "}" {
            keep = false;
        }
    }
    out.join("\n")
}

#[tokio::test]
async fn a_definition_is_a_typed_field_at_once_and_archive_hides_it_keeping_values() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    assert!(!sdl(&app, &admin).await.contains("CustomerCustom"), "no custom type before any definition");
    let def = define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "loyalty_card_no", "label": "Loyalty card", "type": "STRING", "description": "Printed on the card" })).await;
    assert_eq!(def["name"], "loyaltyCardNo");
    let schema = sdl(&app, &admin).await;
    assert!(schema.contains("type CustomerCustom {"), "{schema}");
    assert!(schema.contains("loyaltyCardNo: String"), "{schema}");
    let introspect = "{ __type(name: \"CustomerCustom\") { fields { name description type { name } } } }";
    let res = app.gql(&admin, introspect, json!({})).await;
    assert_eq!(res["data"]["__type"]["fields"][0]["name"], "loyaltyCardNo", "{res}");
    assert_eq!(res["data"]["__type"]["fields"][0]["description"], "Loyalty card: Printed on the card");

    let id = app
        .create_customer(
            &admin,
            json!({ "kind": "INDIVIDUAL", "name": "王芳", "customFields": { "loyalty_card_no": "LC-001" } }),
        )
        .await;
    let read = "query($id: ID!) { customer(id: $id) { custom { loyaltyCardNo } customFields } }";
    let res = app.gql(&admin, read, json!({ "id": id })).await;
    assert_eq!(res["data"]["customer"]["custom"]["loyaltyCardNo"], "LC-001", "{res}");
    assert_eq!(res["data"]["customer"]["customFields"], json!({ "loyalty_card_no": "LC-001" }));

    let archived = app
        .gql(&admin, "mutation($id: ID!) { archiveCustomField(id: $id) { archived } }", json!({ "id": def["id"] }))
        .await;
    assert_eq!(archived["data"]["archiveCustomField"]["archived"], true, "{archived}");
    assert!(!sdl(&app, &admin).await.contains("loyaltyCardNo"));
    let res = app.gql(&admin, "query($id: ID!) { customer(id: $id) { customFields } }", json!({ "id": id })).await;
    assert_eq!(res["data"]["customer"]["customFields"], json!({}), "archived values are hidden: {res}");
    let write = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {customFields: {loyalty_card_no: \"x\"}}) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(violations(&write), vec![("customFields.loyalty_card_no".into(), "UNKNOWN_FIELD".into())]);
    let listed = app.gql(&admin, "{ customFieldDefinitions { key } }", json!({})).await;
    assert_eq!(listed["data"]["customFieldDefinitions"], json!([]));

    let restored = app
        .gql(&admin, "mutation($id: ID!) { restoreCustomField(id: $id) { archived } }", json!({ "id": def["id"] }))
        .await;
    assert_eq!(restored["data"]["restoreCustomField"]["archived"], false, "{restored}");
    let res = app.gql(&admin, read, json!({ "id": id })).await;
    assert_eq!(res["data"]["customer"]["custom"]["loyaltyCardNo"], "LC-001", "values come back: {res}");

    // Every definition change is in the audit trail, newest first.
    let audit = "query($id: ID!) { auditLog(entityId: $id) { nodes { entityKind action changes } } }";
    let res = app.gql(&admin, audit, json!({ "id": def["id"] })).await;
    let nodes = res["data"]["auditLog"]["nodes"].as_array().unwrap_or_else(|| panic!("{res}")).clone();
    let actions: Vec<&str> = nodes.iter().map(|n| n["action"].as_str().unwrap_or_default()).collect();
    assert_eq!(actions, ["UPDATE", "UPDATE", "CREATE"], "{res}");
    assert_eq!(nodes[0]["entityKind"], "CustomFieldDefinition");
    assert_eq!(nodes[0]["changes"]["archived"], json!({ "before": true, "after": false }));
}

#[tokio::test]
async fn only_admins_change_definitions_and_keys_follow_the_rules() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    let manager = app.token("acme", "MANAGER", "mgr");
    let input = json!({ "entity": "CUSTOMER", "key": "level", "label": "Level", "type": "INT" });
    let res = app.gql(&manager, DEFINE, json!({ "i": input })).await;
    assert_eq!(code(&res), "FORBIDDEN");
    define(&app, &admin, input.clone()).await;
    let res = app.gql(&manager, "{ customFieldDefinitions(entity: CUSTOMER) { key label type } }", json!({})).await;
    assert_eq!(res["data"]["customFieldDefinitions"], json!([{ "key": "level", "label": "Level", "type": "INT" }]));

    let cases = [
        (json!({ "key": "Level" }), "key", "INVALID_KEY"),
        (json!({ "key": "2nd" }), "key", "INVALID_KEY"),
        (json!({ "key": "name" }), "key", "RESERVED"),
        (json!({ "key": "credit_code" }), "key", "RESERVED"),
        (json!({ "key": "lev_el", "label": "" }), "label", "TOO_SHORT"),
        (json!({ "key": "tier2", "type": "ENUM" }), "options", "REQUIRED"),
        (json!({ "key": "tier3", "options": ["a"] }), "options", "NOT_ALLOWED"),
        (json!({ "key": "tier4", "defaultValue": "many" }), "defaultValue", "INVALID_INT"),
        (json!({ "key": "blob", "type": "JSON", "indexed": true }), "indexed", "NOT_ALLOWED"),
    ];
    for (patch, field, expected) in cases {
        let mut input = json!({ "entity": "CUSTOMER", "key": "x", "label": "X", "type": "INT" });
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        let res = app.gql(&admin, DEFINE, json!({ "i": input })).await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "{input}: {res}");
        assert!(violations(&res).contains(&(field.to_owned(), expected.to_owned())), "{input}: {res}");
    }
    // A key taken on the entity is a conflict, not a bad input.
    let taken = json!({ "entity": "CUSTOMER", "key": "level", "label": "X", "type": "INT" });
    let res = app.gql(&admin, DEFINE, json!({ "i": taken })).await;
    assert_eq!(code(&res), "CONFLICT", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "KEY_TAKEN", "{res}");
    // The same key on another entity is another field.
    define(&app, &admin, json!({ "entity": "COMPLAINT", "key": "level", "label": "Level", "type": "STRING" })).await;
}

#[tokio::test]
async fn every_type_takes_its_values_and_refuses_others_one_violation_each() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    for input in every_type() {
        define(&app, &admin, input).await;
    }
    let good = json!({
        "nickname": "小王", "notes": "长文本".repeat(1000), "loyalty_points": "9007199254740993",
        "credit_limit": "1234567890.123456789", "vip": true, "member_since": "2020-02-29",
        "last_audit": "2026-11-26T16:00:00+08:00", "grade": "金", "interests": ["golf", "tea"],
        "billing_email": "Li@Example.CN", "backup_phone": "138 1234 5678", "homepage": "https://guanxi.example/a?b=1",
        "extra": { "any": ["json", 1, null] },
    });
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "全类型", "customFields": good })).await;
    let res = app
        .gql(
            &admin,
            "query($id: ID!) { customer(id: $id) { custom { nickname loyaltyPoints creditLimit vip memberSince lastAudit grade interests billingEmail backupPhone homepage extra } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        res["data"]["customer"]["custom"],
        json!({
            "nickname": "小王", "loyaltyPoints": 9_007_199_254_740_993_i64, "creditLimit": "1234567890.123456789",
            "vip": true, "memberSince": "2020-02-29", "lastAudit": "2026-11-26T08:00:00.000000Z", "grade": "金",
            "interests": ["golf", "tea"], "billingEmail": "Li@example.cn", "backupPhone": "13812345678",
            "homepage": "https://guanxi.example/a?b=1", "extra": { "any": ["json", 1, null] },
        }),
        "{res}"
    );

    let bad = json!({
        "nickname": "x".repeat(1001), "notes": 5, "loyalty_points": 1.5, "credit_limit": "12,5", "vip": "yes",
        "member_since": "2021-02-29", "last_audit": "yesterday", "grade": "铂", "interests": ["golf", "golf"],
        "billing_email": "nobody", "backup_phone": "12345", "homepage": "javascript:alert(1)",
        "extra": "x".repeat(70_000), "unknown_key": 1,
    });
    let count = "{ customers { totalCount } }";
    let before = app.gql(&admin, count, json!({})).await;
    let res = app
        .gql(
            &admin,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "坏", "customFields": bad } }),
        )
        .await;
    assert_eq!(code(&res), "BAD_USER_INPUT");
    let mut got = violations(&res);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("backup_phone", "INVALID_PHONE"),
        ("billing_email", "INVALID_EMAIL"),
        ("credit_limit", "INVALID_DECIMAL"),
        ("extra", "TOO_LARGE"),
        ("grade", "INVALID_OPTION"),
        ("homepage", "INVALID_URL"),
        ("interests", "DUPLICATE"),
        ("last_audit", "INVALID_DATETIME"),
        ("loyalty_points", "INVALID_INT"),
        ("member_since", "INVALID_DATE"),
        ("nickname", "TOO_LONG"),
        ("notes", "INVALID_TYPE"),
        ("unknown_key", "UNKNOWN_FIELD"),
        ("vip", "INVALID_TYPE"),
    ]
    .iter()
    .map(|(k, c)| (format!("customFields.{k}"), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(app.gql(&admin, count, json!({})).await, before, "nothing was written");
    let res = app
        .gql(
            &admin,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "坏", "customFields": [1] } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("customFields".into(), "INVALID_TYPE".into())]);
}

#[test]
fn integers_and_decimals_round_trip_exactly_over_their_whole_range() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (app, admin, id) = rt.block_on(async {
        let app = TestApp::shared_bare().await;
        let admin = app.token("acme", "ADMIN", "boss");
        define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "n", "label": "N", "type": "INT" })).await;
        define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "d", "label": "D", "type": "DECIMAL" })).await;
        define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "s", "label": "S", "type": "STRING" })).await;
        let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "prop" })).await;
        (app, admin, id)
    });
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let strategy = (any::<i64>(), any::<i64>(), 0u32..=12, "\\PC{0,1000}");
    runner
        .run(&strategy, |(n, mantissa, scale, s)| {
            let d = Decimal::new(mantissa, scale).normalize();
            let res = rt.block_on(app.gql(
                &admin,
                "mutation($id: ID!, $c: JSON) { updateCustomer(id: $id, input: {customFields: $c}) { custom { n d s } } }",
                json!({ "id": id, "c": { "n": n, "d": d.to_string(), "s": s } }),
            ));
            let custom = &res["data"]["updateCustomer"]["custom"];
            prop_assert_eq!(&custom["n"], &json!(n), "{}", res);
            prop_assert_eq!(&custom["d"], &json!(d.to_string()));
            prop_assert_eq!(&custom["s"], &json!(s.trim()));
            Ok(())
        })
        .unwrap();
    // Outside the range, and text that is not a number, are refused.
    for (value, expected) in
        [(json!("9223372036854775808"), "OUT_OF_RANGE"), (json!(1e30), "INVALID_INT"), (json!("1e3"), "INVALID_INT")]
    {
        let res = rt.block_on(app.gql(
            &admin,
            "mutation($id: ID!, $c: JSON) { updateCustomer(id: $id, input: {customFields: $c}) { id } }",
            json!({ "id": id, "c": { "n": value } }),
        ));
        assert_eq!(violations(&res), vec![("customFields.n".into(), expected.into())], "{value}");
    }
}

#[tokio::test]
async fn every_entity_carries_custom_fields_and_plugin_fields_are_read_only_on_writes() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    for entity in ["INTERACTION", "COMPLAINT", "KEY_ACCOUNT_PLAN"] {
        define(&app, &admin, json!({ "entity": entity, "key": "ref_no", "label": "Ref", "type": "STRING" })).await;
    }
    let customer = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "多实体" })).await;
    let c = json!({ "ref_no": "R-1" });
    let interaction = app
        .gql(&admin, "mutation($c: ID!, $f: JSON) { recordInteraction(input: {customerId: $c, kind: VISIT, occurredAt: \"2026-01-01T00:00:00Z\", customFields: $f}) { custom { refNo } customFields } }", json!({ "c": customer, "f": c }))
        .await;
    assert_eq!(interaction["data"]["recordInteraction"]["custom"]["refNo"], "R-1", "{interaction}");
    let complaint = app
        .gql(&admin, "mutation($c: ID!, $f: JSON) { fileComplaint(input: {customerId: $c, title: \"t\", category: SERVICE, severity: LOW, customFields: $f}) { id custom { refNo } } }", json!({ "c": customer, "f": c }))
        .await;
    assert_eq!(complaint["data"]["fileComplaint"]["custom"]["refNo"], "R-1", "{complaint}");
    let updated = app
        .gql(&admin, "mutation($id: ID!) { updateComplaint(id: $id, input: {customFields: {ref_no: \"R-2\"}}) { custom { refNo } } }", json!({ "id": complaint["data"]["fileComplaint"]["id"] }))
        .await;
    assert_eq!(updated["data"]["updateComplaint"]["custom"]["refNo"], "R-2", "{updated}");
    let plan = app
        .gql(&admin, "mutation($c: ID!, $f: JSON) { createKeyAccountPlan(input: {customerId: $c, title: \"p\", periodStart: \"2026-01-01\", periodEnd: \"2026-12-31\", customFields: $f}) { custom { refNo } } }", json!({ "c": customer, "f": c }))
        .await;
    assert_eq!(plan["data"]["createKeyAccountPlan"]["custom"]["refNo"], "R-1", "{plan}");
    let filtered = app
        .gql(&admin, "{ complaints(filter: {custom: {refNo: {eq: \"R-2\"}}}) { totalCount } interactions(filter: {custom: {refNo: {eq: \"nope\"}}}) { totalCount } }", json!({}))
        .await;
    assert_eq!(filtered["data"]["complaints"]["totalCount"], 1, "{filtered}");
    assert_eq!(filtered["data"]["interactions"]["totalCount"], 0);
    // A plugin's computed field (the plugin platform defines these; here it is put in place
    // directly) is read-only: writes and definition changes are refused, reads show it.
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let tenant = app.tenant_id(&db, "acme").await;
    let at = chrono::Utc::now();
    let computed = guanxi_entity::custom_field_definition::Model {
        tenant_id: tenant,
        id: uuid::Uuid::now_v7(),
        entity: "CUSTOMER".into(),
        key: "value_score".into(),
        label: "Value score".into(),
        description: None,
        r#type: "DECIMAL".into(),
        required: false,
        options: None,
        default_value: None,
        indexed: false,
        index_state: "NONE".into(),
        index_error: None,
        archived: false,
        source: "PLUGIN".into(),
        position: 0,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    guanxi_api::store::custom_fields::insert(&db, &computed).await.expect("insert");
    guanxi_api::store::tenants::bump_schema_version(&db, tenant).await.expect("bump");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // another writer: seen within a second
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {customFields: {value_score: 99}}) { id } }",
            json!({ "id": customer }),
        )
        .await;
    assert_eq!(violations(&res), vec![("customFields.value_score".into(), "READ_ONLY".into())]);
    let gid = guanxi_api::domain::ids::encode("CustomFieldDefinition", computed.id);
    let res = app.gql(&admin, "mutation($id: ID!) { archiveCustomField(id: $id) { id } }", json!({ "id": gid })).await;
    assert_eq!(res["errors"][0]["extensions"]["reason"], "READ_ONLY", "{res}");
    let res = app
        .gql(&admin, "query($id: ID!) { customer(id: $id) { custom { valueScore } } }", json!({ "id": customer }))
        .await;
    assert_eq!(res["data"]["customer"]["custom"], json!({ "valueScore": null }), "{res}");
    // A field of another entity is unknown here.
    let res = app
        .gql(
            &admin,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "x", "customFields": { "ref_no": "R" } } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("customFields.ref_no".into(), "UNKNOWN_FIELD".into())]);
}

#[tokio::test]
async fn required_fields_need_a_default_once_rows_exist_and_reads_return_it() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    let old = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "老客户" })).await;
    let res = app
        .gql(&admin, DEFINE, json!({ "i": { "entity": "CUSTOMER", "key": "region_code", "label": "Region", "type": "STRING", "required": true } }))
        .await;
    assert_eq!(code(&res), "CONFLICT", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "DEFAULT_NEEDED", "{res}");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "region_code", "label": "Region", "type": "STRING", "required": true, "defaultValue": "CN-11" })).await;
    let read = "query($id: ID!) { customer(id: $id) { custom { regionCode } } }";
    assert_eq!(app.gql(&admin, read, json!({ "id": old })).await["data"]["customer"]["custom"]["regionCode"], "CN-11");
    let new = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "新客户" })).await;
    assert_eq!(app.gql(&admin, read, json!({ "id": new })).await["data"]["customer"]["custom"]["regionCode"], "CN-11");
    let filtered = app
        .gql(&admin, "{ customers(filter: {custom: {regionCode: {eq: \"CN-11\"}}}) { totalCount } }", json!({}))
        .await;
    assert_eq!(filtered["data"]["customers"]["totalCount"], 2, "filters see the default too: {filtered}");
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {customFields: {region_code: null}}) { id } }",
            json!({ "id": old }),
        )
        .await;
    assert_eq!(violations(&res), vec![("customFields.region_code".into(), "REQUIRED".into())]);
}

#[tokio::test]
async fn a_type_change_converts_every_value_or_is_refused_with_the_count() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    let def =
        define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "size", "label": "Size", "type": "STRING" })).await;
    let mut ids = Vec::new();
    for v in ["12", "abc", "-7", "def"] {
        ids.push(
            app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": v, "customFields": { "size": v } }))
                .await,
        );
    }
    let change = "mutation($id: ID!, $v: Int) { updateCustomField(id: $id, input: {type: INT}, expectedVersion: $v) { type version } }";
    let res = app.gql(&admin, change, json!({ "id": def["id"] })).await;
    assert_eq!(code(&res), "CONFLICT");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "VALUES_WOULD_NOT_CONVERT");
    assert!(res["errors"][0]["message"].as_str().unwrap().starts_with("2 existing values"), "{res}");
    for id in [&ids[1], &ids[3]] {
        app.gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {customFields: {size: null}}) { id } }",
            json!({ "id": id }),
        )
        .await;
    }
    let stale = app.gql(&admin, change, json!({ "id": def["id"], "v": 0 })).await;
    assert_eq!(stale["errors"][0]["extensions"]["reason"], "STALE_VERSION", "{stale}");
    let res = app.gql(&admin, change, json!({ "id": def["id"], "v": 1 })).await;
    assert_eq!(res["data"]["updateCustomField"], json!({ "type": "INT", "version": 2 }), "{res}");
    let res = app
        .gql(&admin, "{ customers(orderBy: [{customField: \"size\"}]) { nodes { name custom { size } } } }", json!({}))
        .await;
    assert_eq!(
        res["data"]["customers"]["nodes"],
        json!([
            { "name": "-7", "custom": { "size": -7 } },
            { "name": "12", "custom": { "size": 12 } },
            { "name": "abc", "custom": { "size": null } },
            { "name": "def", "custom": { "size": null } },
        ]),
        "{res}"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_fields_or_values() {
    let app = TestApp::shared_bare().await;
    let a = app.token("tenant-a", "ADMIN", "a");
    let b = app.token("tenant-b", "ADMIN", "b");
    define(&app, &a, json!({ "entity": "CUSTOMER", "key": "secret_score", "label": "Secret", "type": "INT" })).await;
    app.create_customer(&a, json!({ "kind": "INDIVIDUAL", "name": "A1", "customFields": { "secret_score": 99 } }))
        .await;
    let schema_b = sdl(&app, &b).await;
    assert!(!schema_b.contains("secretScore") && !schema_b.contains("CustomerCustom"), "{schema_b}");
    let res = app
        .gql(
            &b,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "B1", "customFields": { "secret_score": 1 } } }),
        )
        .await;
    assert_eq!(violations(&res), vec![("customFields.secret_score".into(), "UNKNOWN_FIELD".into())]);
    let res = app.gql(&b, "{ customers(orderBy: [{customField: \"secret_score\"}]) { totalCount } }", json!({})).await;
    assert_eq!(violations(&res), vec![("orderBy.0.customField".into(), "UNKNOWN_FIELD".into())]);
    let res = app.gql(&b, "{ customFieldDefinitions { key } }", json!({})).await;
    assert_eq!(res["data"]["customFieldDefinitions"], json!([]));
    // B defines the same key with another type: both tenants keep their own.
    define(
        &app,
        &b,
        json!({ "entity": "CUSTOMER", "key": "secret_score", "label": "Other", "type": "STRING", "indexed": true }),
    )
    .await;
    app.create_customer(&b, json!({ "kind": "INDIVIDUAL", "name": "B2", "customFields": { "secret_score": "high" } }))
        .await;
    let res = app
        .gql(
            &a,
            "{ customers(filter: {custom: {secretScore: {gt: 50}}}) { nodes { name custom { secretScore } } } }",
            json!({}),
        )
        .await;
    assert_eq!(res["data"]["customers"]["nodes"], json!([{ "name": "A1", "custom": { "secretScore": 99 } }]), "{res}");
    let res = app.gql(&b, "{ customers { nodes { name customFields } } }", json!({})).await;
    assert_eq!(
        res["data"]["customers"]["nodes"],
        json!([{ "name": "B2", "customFields": { "secret_score": "high" } }]),
        "{res}"
    );
}

/// A customer's custom values as the test generated them.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    level: Option<i64>,
    credit: Option<Decimal>,
    since: Option<String>,
    grade: Option<&'static str>,
    vip: Option<bool>,
    interests: Vec<&'static str>,
}

type Compare = dyn Fn(&Row, &Row) -> Ordering;

fn cmp_nulls_last<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[tokio::test]
async fn filters_and_orders_on_custom_fields_match_a_plain_computation() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    for (key, ty, indexed) in
        [("level", "INT", true), ("credit", "DECIMAL", true), ("since", "DATE", false), ("vip", "BOOLEAN", false)]
    {
        define(&app, &admin, json!({ "entity": "CUSTOMER", "key": key, "label": key, "type": ty, "indexed": indexed }))
            .await;
    }
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "grade", "label": "Grade", "type": "ENUM", "options": ["A", "B", "C"], "indexed": true })).await;
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "interests", "label": "I", "type": "MULTI_ENUM", "options": ["tea", "golf", "wine"] })).await;

    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let (mut rows, mut inputs) = (Vec::new(), Vec::new());
    for i in 0..36 {
        let row = Row {
            name: format!("c{i:02}"),
            level: (next(5) > 0).then(|| i64::try_from(next(7)).unwrap() - 3),
            credit: (next(4) > 0).then(|| Decimal::new(i64::try_from(next(200_000)).unwrap() - 50_000, 2)),
            since: (next(3) > 0).then(|| format!("202{}-0{}-1{}", next(6), next(9) + 1, next(9))),
            grade: (next(4) > 0).then(|| ["A", "B", "C"][usize::try_from(next(3)).unwrap()]),
            vip: (next(3) > 0).then(|| next(2) == 1),
            interests: ["tea", "golf", "wine"].into_iter().filter(|_| next(2) == 1).collect(),
        };
        let mut custom = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                custom.insert(k.into(), v);
            }
        };
        put("level", row.level.map(|v| json!(v)));
        put("credit", row.credit.map(|v| json!(v.to_string())));
        put("since", row.since.clone().map(Value::String));
        put("grade", row.grade.map(|v| json!(v)));
        put("vip", row.vip.map(|v| json!(v)));
        put("interests", Some(json!(row.interests)));
        inputs.push(json!({ "kind": "INDIVIDUAL", "name": row.name, "customFields": custom }));
        rows.push(row);
    }
    app.create_customers(&admin, &inputs).await;
    let names = |f: &dyn Fn(&Row) -> bool| -> Vec<String> {
        let mut v: Vec<String> = rows.iter().filter(|r| f(r)).map(|r| r.name.clone()).collect();
        v.sort();
        v
    };
    let list = |filter: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let q = format!("{{ customers(first: 100, filter: {filter}) {{ nodes {{ name }} }} }}");
            let res = app.gql(admin, &q, json!({})).await;
            let nodes =
                res["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{filter}: {res}")).clone();
            nodes.iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(list("{custom: {level: {gt: 0}}}").await, names(&|r| r.level.is_some_and(|l| l > 0)));
    assert_eq!(list("{custom: {level: {in: [-3, 3]}}}").await, names(&|r| matches!(r.level, Some(-3 | 3))));
    assert_eq!(list("{not: {custom: {level: {eq: 1}}}}").await, names(&|r| r.level != Some(1)));
    assert_eq!(list("{custom: {level: {isNull: true}}}").await, names(&|r| r.level.is_none()));
    assert_eq!(
        list("{custom: {credit: {gte: \"100.5\", lt: 900}}}").await,
        names(&|r| r.credit.is_some_and(|c| c >= d("100.5") && c < d("900")))
    );
    assert_eq!(
        list("{custom: {since: {lt: \"2023-01-01\"}}}").await,
        names(&|r| r.since.as_deref().is_some_and(|s| s < "2023-01-01"))
    );
    assert_eq!(
        list("{custom: {grade: {in: [\"A\", \"C\"]}, vip: {eq: true}}}").await,
        names(&|r| matches!(r.grade, Some("A" | "C")) && r.vip == Some(true))
    );
    assert_eq!(
        list("{or: [{custom: {vip: {eq: false}}}, {custom: {grade: {startsWith: \"b\"}}}]}").await,
        names(&|r| r.vip == Some(false) || r.grade == Some("B"))
    );
    assert_eq!(
        list("{custom: {interests: {hasAll: [\"tea\", \"wine\"]}}}").await,
        names(&|r| r.interests.contains(&"tea") && r.interests.contains(&"wine"))
    );
    assert_eq!(list("{custom: {interests: {hasAny: [\"golf\"]}}}").await, names(&|r| r.interests.contains(&"golf")));
    assert_eq!(list("{custom: {interests: {isEmpty: true}}}").await, names(&|r| r.interests.is_empty()));

    // Orders, read page by page through cursors: nulls last ascending, first descending; read
    // backward from the end, the same sequence.
    let orders: [(&str, &str, Box<Compare>); 5] = [
        ("credit", "ASC", Box::new(|a, b| cmp_nulls_last(&a.credit, &b.credit))),
        ("level", "DESC", Box::new(|a, b| cmp_nulls_last(&b.level, &a.level))),
        ("since", "ASC", Box::new(|a, b| cmp_nulls_last(&a.since, &b.since))),
        ("vip", "DESC", Box::new(|a, b| cmp_nulls_last(&b.vip, &a.vip))),
        ("grade", "ASC", Box::new(|a, b| cmp_nulls_last(&a.grade, &b.grade))),
    ];
    let by_name = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
    let names_of = |walked: &[Value]| walked.iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    for (key, direction, cmp) in orders {
        let then_name = json!([{ "customField": key, "direction": direction }, { "field": "NAME" }]);
        let mut want = rows.clone();
        want.sort_by(|a, b| cmp(a, b).then_with(|| a.name.cmp(&b.name)));
        let want: Vec<String> = want.iter().map(|r| r.name.clone()).collect();
        let forward = walk_customers(&app, &admin, &then_name, 7, false, "name").await;
        assert_eq!(names_of(&forward), want, "order by {key} {direction}, name");
        let backward = walk_customers(&app, &admin, &then_name, 5, true, "name").await;
        assert_eq!(names_of(&backward), want, "order by {key} {direction}, name, backward");

        // The key alone: many rows tie (nulls among them), and only the id tiebreak orders
        // them, which the test cannot know; both walks must still agree row for row.
        let alone = json!([{ "customField": key, "direction": direction }]);
        let forward = names_of(&walk_customers(&app, &admin, &alone, 4, false, "name").await);
        let mut every = forward.clone();
        every.sort();
        assert_eq!(every, names(&|_| true), "order by {key} {direction}: every row once");
        for w in forward.windows(2) {
            assert!(
                cmp(by_name(&w[0]), by_name(&w[1])).is_le(),
                "order by {key} {direction}: {} before {}",
                w[0],
                w[1]
            );
        }
        let backward = names_of(&walk_customers(&app, &admin, &alone, 3, true, "name").await);
        assert_eq!(backward, forward, "order by {key} {direction}: backward is the same sequence");
    }
    let res = app.gql(&admin, "{ customers(orderBy: [{customField: \"interests\"}]) { totalCount } }", json!({})).await;
    assert_eq!(violations(&res), vec![("orderBy.0.customField".into(), "NOT_SORTABLE".into())]);
    let res = app
        .gql(&admin, "{ customers(orderBy: [{field: NAME, customField: \"level\"}]) { totalCount } }", json!({}))
        .await;
    assert_eq!(violations(&res), vec![("orderBy.0".into(), "FIELD_AND_CUSTOM_FIELD".into())]);
}

#[tokio::test]
async fn concurrent_definition_changes_and_writes_lose_nothing() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "seq", "label": "Seq", "type": "STRING" })).await;
    let writes = (0..24).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            app.create_customer(
                admin,
                json!({ "kind": "INDIVIDUAL", "name": format!("w{i:02}"), "customFields": { "seq": i.to_string() } }),
            )
            .await
        }
    });
    let changes = (0..6).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            define(app, admin, json!({ "entity": "CUSTOMER", "key": format!("extra_{i}"), "label": "E", "type": "INT", "required": true, "defaultValue": i })).await
        }
    });
    let (created, _) =
        futures_util::future::join(futures_util::future::join_all(writes), futures_util::future::join_all(changes))
            .await;
    assert_eq!(created.len(), 24);
    let res = app.gql(&admin, "{ customers(first: 100) { nodes { name customFields } } }", json!({})).await;
    let nodes = res["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{res}"));
    assert_eq!(nodes.len(), 24);
    for n in nodes {
        let i: u32 = n["name"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(n["customFields"]["seq"], json!(i.to_string()), "{n}");
        for e in 0..6 {
            assert_eq!(n["customFields"][format!("extra_{e}")], json!(e), "every row has each required default: {n}");
        }
    }
    // Every row holds the defaults in storage too, so filters agree with reads.
    let res = app.gql(&admin, "{ customers(filter: {custom: {extra5: {eq: 5}}}) { totalCount } }", json!({})).await;
    assert_eq!(res["data"]["customers"]["totalCount"], 24, "{res}");
}

#[tokio::test]
async fn the_schema_of_a_tenant_with_every_type() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    for input in every_type() {
        define(&app, &admin, input).await;
    }
    let schema = sdl(&app, &admin).await;
    insta::assert_snapshot!(blocks(&schema, "CustomerCustom"));
}

#[tokio::test]
async fn an_indexed_custom_filter_uses_its_expression_index() {
    use guanxi_api::domain::custom_fields::FieldType;
    use guanxi_api::query::{CustomKey, Filter, Op, OrderKey, Scalar, SortField, page_request};
    use sea_orm::ConnectionTrait;

    // A server of its own: it counts the database's expression indexes, and an index is dropped
    // only once no tenant's definition wants it.
    let app = TestApp::spawn_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(
        &app,
        &admin,
        json!({ "entity": "CUSTOMER", "key": "level", "label": "Level", "type": "INT", "indexed": true }),
    )
    .await;
    assert_eq!(index_state(&app, &admin, "level").await, ("READY".to_owned(), Value::Null));
    for i in 0..20 {
        app.create_customer(
            &admin,
            json!({ "kind": "INDIVIDUAL", "name": format!("c{i}"), "customFields": { "level": i } }),
        )
        .await;
    }
    let res = app.gql(&admin, "{ customers(filter: {custom: {level: {gte: 15}}}) { totalCount } }", json!({})).await;
    assert_eq!(res["data"]["customers"]["totalCount"], 5, "{res}");

    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let tenant = app.tenant_id(&db, "acme").await;
    let key = CustomKey { key: "level".into(), ty: FieldType::Int, computed: false, indexed: true };
    let filter = Filter::Custom(key.clone(), Op::Gte(Scalar::Int(15)));
    let order = vec![OrderKey { field: SortField::Custom(key), descending: false }];
    let page = page_request(Some(20), None, None, None, &order).expect("page");
    let statement =
        guanxi_api::store::customers::list_statement(db.get_database_backend(), tenant, &filter, &order, &page);
    assert_eq!(db.query_all_raw(statement.clone()).await.expect("query").len(), 5, "the statement answers the filter");
    let backend = db.get_database_backend();
    let plan = crate::helpers::plan(&db, &statement).await;
    assert!(
        plan.contains("customers_cf_") && plan.to_lowercase().contains("index"),
        "the expression index is not used:\n{plan}"
    );

    // The index follows the definition: gone when not wanted, back when wanted again.
    let indexes = || async {
        let sql = if backend == sea_orm::DatabaseBackend::Postgres {
            "SELECT indexname AS name FROM pg_indexes WHERE indexname LIKE 'customers_cf_%'"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'customers_cf_%'"
        };
        db.query_all_raw(sea_orm::Statement::from_string(backend, sql)).await.expect("indexes").len()
    };
    assert_eq!(indexes().await, 1);
    let defs = app.gql(&admin, "{ customFieldDefinitions { id } }", json!({})).await;
    let id = defs["data"]["customFieldDefinitions"][0]["id"].clone();
    let change = "mutation($id: ID!, $i: UpdateCustomFieldInput!) { updateCustomField(id: $id, input: $i) { indexed indexState } }";
    let res = app.gql(&admin, change, json!({ "id": id, "i": { "label": "Level (renamed)" } })).await;
    assert_eq!(res["data"]["updateCustomField"]["indexState"], "READY", "a label change keeps the index: {res}");
    assert_eq!(indexes().await, 1, "a label change keeps the index");
    let res = app.gql(&admin, change, json!({ "id": id, "i": { "indexed": false } })).await;
    assert_eq!(res["data"]["updateCustomField"]["indexState"], "NONE", "{res}");
    index_state(&app, &admin, "level").await;
    eventually_count(&indexes, 0, "dropped when no definition wants it").await;
    let res = app.gql(&admin, change, json!({ "id": id, "i": { "indexed": true } })).await;
    assert_eq!(res["data"]["updateCustomField"]["indexState"], "BUILDING", "committed before the build: {res}");
    assert_eq!(index_state(&app, &admin, "level").await.0, "READY");
    assert_eq!(indexes().await, 1, "created again");
}

/// Waits until the index builder is done with the field `key` (of any entity): its index state
/// and error once it is no longer BUILDING.
async fn index_state(app: &TestApp, token: &str, key: &str) -> (String, Value) {
    let started = std::time::Instant::now();
    loop {
        let res = app.gql(token, "{ customFieldDefinitions { key indexState indexError } }", json!({})).await;
        let def = res["data"]["customFieldDefinitions"]
            .as_array()
            .and_then(|defs| defs.iter().find(|d| d["key"] == key).cloned())
            .unwrap_or_else(|| panic!("no field {key}: {res}"));
        if def["indexState"] != "BUILDING" {
            return (def["indexState"].as_str().unwrap_or_default().to_owned(), def["indexError"].clone());
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "{key}'s index still BUILDING: {res}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until `count` answers `want` (a drop follows the definition's change in the background).
async fn eventually_count<F, Fut>(count: &F, want: usize, what: &str)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let started = std::time::Instant::now();
    while count().await != want {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Defining an indexed field commits at once; the index is built in the background. A server
/// whose shared tables carry as many field indexes as it allows stores the definition, FAILED
/// with the reason, and the field still filters; freeing a place and asking again builds it.
#[tokio::test]
async fn indexes_are_built_in_the_background_and_a_full_table_fails_with_the_reason() {
    let app = TestApp::spawn_with(|c| {
        c.default_plugins = false;
        c.max_field_indexes = 1;
    })
    .await;
    let admin = app.token("acme", "ADMIN", "boss");
    let other = app.token("globex", "ADMIN", "boss");
    let defined =
        "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { id indexed indexState indexError } }";
    let res = app
        .gql(
            &admin,
            defined,
            json!({ "i": { "entity": "CUSTOMER", "key": "level", "label": "Level", "type": "INT", "indexed": true } }),
        )
        .await;
    assert_eq!(res["data"]["defineCustomField"]["indexState"], "BUILDING", "{res}");
    assert_eq!(index_state(&app, &admin, "level").await, ("READY".to_owned(), Value::Null));

    // Another tenant's indexed field of another key would be a second index on customers.
    let res = app
        .gql(&other, defined, json!({ "i": { "entity": "CUSTOMER", "key": "grade", "label": "Grade", "type": "STRING", "indexed": true } }))
        .await;
    let id = res["data"]["defineCustomField"]["id"].clone();
    let (state, error) = index_state(&app, &other, "grade").await;
    assert_eq!(state, "FAILED");
    assert!(error.as_str().is_some_and(|e| e.contains("GUANXI_MAX_FIELD_INDEXES")), "{error}");
    // The same key and kind in a third tenant shares the first tenant's index.
    let third = app.token("initech", "ADMIN", "boss");
    app.gql(
        &third,
        defined,
        json!({ "i": { "entity": "CUSTOMER", "key": "level", "label": "Lvl", "type": "DECIMAL", "indexed": true } }),
    )
    .await;
    assert_eq!(index_state(&app, &third, "level").await.0, "READY");
    // A FAILED field works, unindexed.
    app.create_customer(&other, json!({ "kind": "INDIVIDUAL", "name": "甲", "customFields": { "grade": "A" } })).await;
    let found =
        app.gql(&other, "{ customers(filter: {custom: {grade: {eq: \"A\"}}}) { totalCount } }", json!({})).await;
    assert_eq!(found["data"]["customers"]["totalCount"], 1, "{found}");

    // The first tenants let go of their index; asking again builds the second one.
    let change =
        "mutation($id: ID!, $i: UpdateCustomFieldInput!) { updateCustomField(id: $id, input: $i) { indexState } }";
    for token in [&admin, &third] {
        let defs = app.gql(token, "{ customFieldDefinitions { id } }", json!({})).await;
        let level = defs["data"]["customFieldDefinitions"][0]["id"].clone();
        let res = app.gql(token, change, json!({ "id": level, "i": { "indexed": false } })).await;
        assert_eq!(res["data"]["updateCustomField"]["indexState"], "NONE", "{res}");
    }
    let res = app.gql(&other, change, json!({ "id": id, "i": { "indexed": false } })).await;
    assert_eq!(res["data"]["updateCustomField"]["indexState"], "NONE", "{res}");
    let res = app.gql(&other, change, json!({ "id": id, "i": { "indexed": true } })).await;
    assert_eq!(res["data"]["updateCustomField"]["indexState"], "BUILDING", "{res}");
    assert_eq!(index_state(&app, &other, "grade").await, ("READY".to_owned(), Value::Null));
}

/// Every tenant's rows enter a shared expression index. Another tenant's long text under the
/// same key (a TEXT field may hold 100,000 characters) must neither fail the build nor, once
/// the index exists, that tenant's own writes.
#[tokio::test]
async fn another_tenants_long_values_under_the_same_key_do_not_break_an_index() {
    let app = TestApp::shared_bare().await;
    let writer = app.token("writer", "ADMIN", "boss");
    let indexer = app.token("indexer", "ADMIN", "boss");
    // Text that does not compress: an index entry keeps (compressed) values up to about 2,700 bytes.
    let long = |seed: u32| -> String {
        (0..6_000u32)
            .map(|i| char::from_u32(0x4e00 + (i.wrapping_mul(7919).wrapping_add(seed) % 20_000)).unwrap())
            .collect()
    };
    define(&app, &writer, json!({ "entity": "CUSTOMER", "key": "notes", "label": "Notes", "type": "TEXT" })).await;
    define(&app, &writer, json!({ "entity": "CUSTOMER", "key": "amount", "label": "Amount", "type": "TEXT" })).await;
    app.create_customer(&writer, json!({ "kind": "INDIVIDUAL", "name": "长文", "customFields": { "notes": long(1), "amount": "9".repeat(90_000) } })).await;

    define(
        &app,
        &indexer,
        json!({ "entity": "CUSTOMER", "key": "notes", "label": "Notes", "type": "STRING", "indexed": true }),
    )
    .await;
    define(
        &app,
        &indexer,
        json!({ "entity": "CUSTOMER", "key": "amount", "label": "Amount", "type": "DECIMAL", "indexed": true }),
    )
    .await;
    assert_eq!(index_state(&app, &indexer, "notes").await, ("READY".to_owned(), Value::Null));
    assert_eq!(index_state(&app, &indexer, "amount").await, ("READY".to_owned(), Value::Null));
    // The writer goes on writing long values under the indexed keys.
    app.create_customer(&writer, json!({ "kind": "INDIVIDUAL", "name": "又一个", "customFields": { "notes": long(2), "amount": "8".repeat(90_000) } })).await;
    // And the indexer's own values filter through the index's expression.
    app.create_customer(
        &indexer,
        json!({ "kind": "INDIVIDUAL", "name": "短", "customFields": { "notes": "短文", "amount": "12.5" } }),
    )
    .await;
    let found = app
        .gql(
            &indexer,
            "{ customers(filter: {custom: {notes: {eq: \"短文\"}, amount: {gt: \"12\"}}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(found["data"]["customers"]["totalCount"], 1, "{found}");
}

#[tokio::test]
async fn another_replica_serves_a_definition_change_on_its_next_request() {
    let a = TestApp::spawn_bare().await;
    let postgres = a.database_url.starts_with("postgres");
    // On PostgreSQL replica B polls only hourly: only the notification can tell it in time.
    // SQLite serves one process; there the short poll is what a second instance relies on.
    let url = a.database_url.clone();
    let b = TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.default_plugins = false;
        c.schema_poll_ms = if postgres { 3_600_000 } else { 200 };
    })
    .await;
    let admin = a.token("acme", "ADMIN", "boss");
    let probe = "{ __type(name: \"CustomerCustom\") { fields { name } } }";
    assert_eq!(b.gql(&admin, probe, json!({})).await["data"]["__type"], Value::Null, "B has built the schema");
    define(&a, &admin, json!({ "entity": "CUSTOMER", "key": "replica_note", "label": "Note", "type": "STRING" })).await;
    let started = std::time::Instant::now();
    loop {
        let res = b.gql(&admin, probe, json!({})).await;
        if res["data"]["__type"]["fields"][0]["name"] == "replicaNote" {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "B never saw the new field: {res}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if postgres {
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "heard in {:?}", started.elapsed());
    }
}

/// A value written under the field's GraphQL name (`wechatId`) instead of its key (`wechat_id`)
/// is refused with the key to use.
#[tokio::test]
async fn a_value_under_the_graphql_name_is_refused_naming_the_key() {
    let app = TestApp::shared().await;
    let admin = app.token("cf-name", "ADMIN", "admin");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "wechat_id", "label": "微信号", "type": "STRING" }))
        .await;
    let res = app
        .gql(
            &admin,
            "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            json!({ "i": { "kind": "INDIVIDUAL", "name": "王", "customFields": { "wechatId": "wxid_1" } } }),
        )
        .await;
    let violation = &res["errors"][0]["extensions"]["violations"][0];
    assert_eq!(violation["field"], "customFields.wechatId", "{res}");
    assert_eq!(violation["code"], "UNKNOWN_FIELD", "{res}");
    assert!(violation["message"].as_str().is_some_and(|m| m.contains("'wechat_id'")), "{res}");
}
