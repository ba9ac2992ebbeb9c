//! Hardening: inputs that used to fail inside the server (or take it down) are refused with a
//! typed error, labels a client chooses stay bounded, and what only ADMINs may read stays theirs.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const DEFINE: &str = "mutation($i: DefineCustomFieldInput!) { defineCustomField(input: $i) { id key name } }";

async fn define(app: &TestApp, token: &str, input: Value) -> Value {
    let res = app.gql(token, DEFINE, json!({ "i": input })).await;
    assert!(res.get("errors").is_none(), "define {input}: {res}");
    res["data"]["defineCustomField"].clone()
}

/// `options` is `[String!]`: null for types without options, the list for ENUM and MULTI_ENUM.
#[tokio::test]
async fn definitions_list_with_options_null_unless_the_type_has_them() {
    let app = TestApp::spawn_bare().await;
    let admin = app.token("acme", "ADMIN", "boss");
    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "nickname", "label": "Nickname", "type": "STRING" }))
        .await;
    define(
        &app,
        &admin,
        json!({ "entity": "CUSTOMER", "key": "grade", "label": "Grade", "type": "ENUM", "options": ["gold", "silver"] }),
    )
    .await;
    let res = app.gql(&admin, "{ customFieldDefinitions { key options } }", json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    assert_eq!(
        res["data"]["customFieldDefinitions"],
        json!([{ "key": "nickname", "options": null }, { "key": "grade", "options": ["gold", "silver"] }])
    );
    let introspect = r#"{ __type(name: "CustomFieldDefinition") { fields { name type { kind ofType { kind ofType { name } } } } } }"#;
    let res = app.gql(&admin, introspect, json!({})).await;
    let options = res["data"]["__type"]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "options"))
        .unwrap_or_else(|| panic!("{res}"));
    assert_eq!(
        options["type"],
        json!({ "kind": "LIST", "ofType": { "kind": "NON_NULL", "ofType": { "name": "String" } } })
    );
}
