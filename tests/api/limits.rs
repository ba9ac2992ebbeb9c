//! Over-limit queries and bodies are refused before any resolver runs; the server stays healthy.

use serde_json::json;

use crate::helpers::{TestApp, code};

#[tokio::test]
async fn over_limit_requests_are_refused_and_the_server_stays_healthy() {
    let app = TestApp::spawn_with(|c| {
        c.max_query_complexity = 40;
        c.max_aliases = 5;
    })
    .await;
    let t = app.token("acme", "ADMIN", "admin");
    app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "canary" })).await;

    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(12),
        "} ".repeat(12)
    );
    let res = app.gql(&t, &deep, json!({})).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");

    let aliases: String = (0..6).map(|i| format!("a{i}: viewer {{ role }} ")).collect();
    let res = app.gql(&t, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");

    let wide = "{ customers { edges { cursor node { id kind name email phone region industry creditCode channel tags status relationshipType version createdAt updatedAt owner { id name email } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id name } totalCount } viewer { role user { id name email } tenant { id slug name } } }";
    let res = app.gql(&t, wide, json!({})).await;
    assert_eq!(code(&res), "QUERY_TOO_COMPLEX", "{res}");
    assert!(res.get("data").is_none(), "nothing ran: {res}");

    // A body over the limit (1 MiB by default) is 413, with an error like any other refusal.
    let huge = json!({ "query": format!("{{ viewer {{ role }} }} # {}", "x".repeat(1024 * 1024)) });
    let res = app.post(&t, &huge).await;
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.expect("a JSON body");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // Still healthy, still answering.
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200);
    let ok = app.gql(&t, "{ customers { nodes { name } } }", json!({})).await;
    assert_eq!(ok["data"]["customers"]["nodes"][0]["name"], "canary");
}

#[tokio::test]
async fn default_limits_allow_graphiql_introspection() {
    let app = TestApp::shared().await;
    let t = app.token("acme", "VIEWER", "v");
    let introspection = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } types { ...FullType } directives { name locations args { ...InputValue } } } }
      fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
    let res = app.gql(&t, introspection, json!({})).await;
    assert!(res.get("errors").is_none(), "{res}");
    let names: Vec<&str> =
        res["data"]["__schema"]["types"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in [
        "Customer",
        "CustomerConnection",
        "CustomerFilter",
        "CustomerOrder",
        "PageInfo",
        "Node",
        "DateTime",
        "AuditEntry",
    ] {
        assert!(names.contains(&expected), "{expected} in the schema");
    }
}
