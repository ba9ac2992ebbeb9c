//! Messages in the caller's language: `Accept-Language: zh-CN`, or the token's `locale` claim,
//! gives every error and violation message in Simplified Chinese; codes, fields and values stay.

use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp};

fn chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Every message of a response's errors, violations included.
fn messages(res: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for err in res["errors"].as_array().unwrap_or_else(|| panic!("no errors in {res}")) {
        out.push(err["message"].as_str().unwrap_or_default().to_owned());
        for v in err["extensions"]["violations"].as_array().into_iter().flatten() {
            out.push(v["message"].as_str().unwrap_or_default().to_owned());
        }
    }
    out
}

/// What a response says a user needs to act on, language aside: codes and fields.
fn codes(res: &Value) -> Vec<Value> {
    res["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            json!([
                e["extensions"]["code"],
                e["extensions"]["violations"]
                    .as_array()
                    .map(|v| { v.iter().map(|v| json!([v["field"], v["code"]])).collect::<Vec<_>>() })
            ])
        })
        .collect()
}

fn token_with_locale(app: &TestApp, tenant: &str, locale: &str) -> String {
    guanxi_api::auth::mint_with_locale(SECRET, &app.slug(tenant), "ADMIN", "admin", 3600, None, Some(locale))
        .expect("token")
}

#[tokio::test]
async fn errors_and_violations_follow_accept_language_with_codes_unchanged() {
    let app = TestApp::shared().await;
    let admin = app.token("zh", "ADMIN", "admin");
    let agent = app.token("zh", "AGENT", "agent");
    let ask = |token: &str, language: Option<&str>, query: &str, variables: Value| {
        let mut request = app.client.post(format!("{}/graphql", app.base)).bearer_auth(token);
        if let Some(language) = language {
            request = request.header("Accept-Language", language);
        }
        request.json(&json!({ "query": query, "variables": variables })).send()
    };
    let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    // Requests a user makes every day, wrong in the ways users are.
    let cases: Vec<(&str, &str, Value)> = vec![
        (&admin, create, json!({ "i": { "kind": "INDIVIDUAL", "name": "", "email": "not-an-email", "phone": "12" } })),
        (&admin, create, json!({ "i": { "kind": "INDIVIDUAL", "name": "x".repeat(300) } })),
        (&admin, "{ customers(first: 5000) { nodes { id } } }", json!({})),
        (&admin, "{ customer(id: \"nope\") { id } }", json!({})),
        (&admin, "{ customers { nodes { nope } } }", json!({})),
        (&admin, "{ customers(first: 5) { nodes { id } }", json!({})),
        (&admin, "query($id: ID!) { customer(id: $id) { id } }", json!({})),
        (&agent, "mutation { updateTenantSettings(input: { baseCurrency: \"USD\" }) { baseCurrency } }", json!({})),
        (&admin, "mutation { updateTenantSettings(input: { baseCurrency: \"XYZW\" }) { baseCurrency } }", json!({})),
    ];
    for (token, query, variables) in cases {
        let english: Value =
            ask(token, None, query, variables.clone()).await.expect("POST").json().await.expect("json");
        let answer = ask(token, Some("zh-CN,zh;q=0.9,en;q=0.8"), query, variables).await.expect("POST");
        assert_eq!(answer.headers().get("content-language").and_then(|v| v.to_str().ok()), Some("zh-CN"));
        let zh: Value = answer.json().await.expect("json");
        assert_eq!(codes(&zh), codes(&english), "the same codes and fields in both languages: {zh}");
        for (message, in_english) in messages(&zh).iter().zip(messages(&english)) {
            assert!(chinese(message), "{query}: `{in_english}` is not translated: {zh}");
        }
    }

    // Traditional Chinese is not Simplified: English it is.
    let res: Value = ask(&admin, Some("zh-TW"), "{ customers { nodes { nope } } }", json!({}))
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert!(messages(&res).iter().all(|m| !chinese(m)), "{res}");

    // Before the token is read, the header alone decides.
    let unauthenticated = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("Accept-Language", "zh-CN")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(unauthenticated.status(), 401);
    let unauthenticated: Value = unauthenticated.json().await.expect("json");
    assert!(chinese(&messages(&unauthenticated)[0]), "{unauthenticated}");
    assert_eq!(unauthenticated["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_tokens_locale_claim_wins_over_accept_language() {
    let app = TestApp::shared().await;
    let query = "{ customers { nodes { nope } } }";
    for (locale, header, in_chinese) in [("zh-CN", "en", true), ("zh-Hans", "en", true), ("en", "zh-CN", false)] {
        let token = token_with_locale(&app, "zh-claim", locale);
        let res: Value = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .header("Accept-Language", header)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json");
        assert_eq!(chinese(&messages(&res)[0]), in_chinese, "locale {locale}, Accept-Language {header}: {res}");
    }
}
