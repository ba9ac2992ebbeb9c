//! Every bad token is 401 with UNAUTHENTICATED; the good ones of each key kind pass.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp, code};

const QUERY: &str = "{ viewer { role tenant { slug } user { name } } }";
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/keys");

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

/// Good claims of a MANAGER in tenant `tid`.
fn claims(tid: &str) -> Value {
    json!({ "sub": "u1", "tid": tid, "role": "MANAGER", "exp": now() + 600 })
}

async fn status_and_body(app: &TestApp, auth: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(format!("{}/graphql", app.base)).json(&json!({ "query": QUERY }));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn assert_unauthenticated(app: &TestApp, auth: Option<&str>, case: &str) {
    let (status, body) = status_and_body(app, auth).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert_eq!(code(&body), "UNAUTHENTICATED", "{case}");
    assert!(body.get("data").is_none(), "{case}: no GraphQL work happens: {body}");
}

#[tokio::test]
async fn every_bad_token_is_unauthenticated() {
    let app = TestApp::shared().await;
    let acme = app.slug("acme");
    let acme_claims = || claims(&acme);
    let none_alg = {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.", e.encode(r#"{"alg":"none","typ":"JWT"}"#), e.encode(acme_claims().to_string()))
    };
    let wrong_signature = encode(
        &Header::new(Algorithm::HS256),
        &acme_claims(),
        &EncodingKey::from_secret(b"another-secret-of-16-bytes"),
    )
    .unwrap();
    let mut no_exp = acme_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", hs256(&acme_claims())))),
        ("empty bearer", Some("Bearer ".into())),
        ("garbage", Some("Bearer not.a.token".into())),
        ("alg none", Some(format!("Bearer {none_alg}"))),
        ("wrong signature", Some(format!("Bearer {wrong_signature}"))),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hs256(&json!({ "sub": "u1", "tid": acme, "role": "ADMIN", "exp": now() - 120 }))
            )),
        ),
        ("missing exp", Some(format!("Bearer {}", hs256(&no_exp)))),
        (
            "unknown role",
            Some(format!("Bearer {}", hs256(&json!({ "sub": "u1", "tid": acme, "role": "ROOT", "exp": now() + 600 })))),
        ),
        (
            "malformed tid",
            Some(format!(
                "Bearer {}",
                hs256(&json!({ "sub": "u1", "tid": "Acme Corp", "role": "ADMIN", "exp": now() + 600 }))
            )),
        ),
        (
            "long tid",
            Some(format!(
                "Bearer {}",
                hs256(&json!({ "sub": "u1", "tid": "a".repeat(64), "role": "ADMIN", "exp": now() + 600 }))
            )),
        ),
        (
            "empty sub",
            Some(format!("Bearer {}", hs256(&json!({ "sub": "", "tid": acme, "role": "ADMIN", "exp": now() + 600 })))),
        ),
        // PostgreSQL text cannot hold U+0000: such a user could not be stored (it was a 500).
        (
            "NUL in sub",
            Some(format!(
                "Bearer {}",
                hs256(&json!({ "sub": "u\u{0}1", "tid": acme, "role": "ADMIN", "exp": now() + 600 }))
            )),
        ),
        (
            "NUL in name",
            Some(format!(
                "Bearer {}",
                hs256(&json!({ "sub": "u1", "name": "\u{0}", "tid": acme, "role": "ADMIN", "exp": now() + 600 }))
            )),
        ),
        // Longer than the user's columns hold (it was a 500 on PostgreSQL).
        (
            "long name",
            Some(format!(
                "Bearer {}",
                hs256(
                    &json!({ "sub": "u1", "name": "王".repeat(201), "tid": acme, "role": "ADMIN", "exp": now() + 600 })
                )
            )),
        ),
        (
            "long email",
            Some(format!(
                "Bearer {}",
                hs256(
                    &json!({ "sub": "u1", "email": format!("{}@example.cn", "a".repeat(310)), "tid": acme, "role": "ADMIN", "exp": now() + 600 })
                )
            )),
        ),
        ("RS256 token when HS256 is configured", Some(format!("Bearer {}", rs256(&acme_claims(), None)))),
    ];
    for (case, auth) in cases {
        assert_unauthenticated(&app, auth.as_deref(), case).await;
    }
    // The same bad token on the other routes that need one.
    let res = app.client.get(format!("{}/schema.graphql", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app.client.get(format!("{}/graphql?query={{viewer{{role}}}}", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // A name as long as the column holds works.
    let long_name = json!({ "sub": "u2", "name": "王".repeat(200), "tid": acme, "role": "VIEWER", "exp": now() + 600 });
    let (status, body) = status_and_body(&app, Some(&format!("Bearer {}", hs256(&long_name)))).await;
    assert_eq!(status, 200, "{body}");
    // And a good token works, creating tenant and user on first sight.
    let (status, body) = status_and_body(&app, Some(&format!("Bearer {}", hs256(&acme_claims())))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["viewer"],
        json!({ "role": "MANAGER", "tenant": { "slug": acme }, "user": { "name": "u1" } })
    );
}

/// `nbf` is checked with the same leeway as `exp`: a token not valid for an hour is refused, one
/// a clock a second ahead minted passes, and one whose `nbf` has passed works.
#[tokio::test]
async fn a_token_not_valid_yet_is_unauthenticated() {
    let app = TestApp::shared().await;
    let with_nbf = |nbf: u64| {
        let mut c = claims(&app.slug("acme"));
        c["nbf"] = json!(nbf);
        format!("Bearer {}", hs256(&c))
    };
    assert_unauthenticated(&app, Some(&with_nbf(now() + 3600)), "nbf an hour ahead").await;
    for (case, nbf) in [("nbf a second ahead", now() + 1), ("nbf passed", now() - 60)] {
        let (status, body) = status_and_body(&app, Some(&with_nbf(nbf))).await;
        assert_eq!(status, 200, "{case}: {body}");
        assert_eq!(body["data"]["viewer"]["role"], "MANAGER", "{case}: {body}");
    }
}

/// Claims unlike the defaults in every field the viewer shows, so a token read wrongly (or not
/// at all) cannot pass for a good one.
fn distinct_claims(sub: &str, tenant: &str, role: &str) -> Value {
    json!({ "sub": sub, "tid": tenant, "role": role, "exp": now() + 600,
            "name": format!("{sub} 的名字"), "email": format!("{sub}@example.com") })
}

/// The token is accepted and the viewer is who its claims say: role, tenant, user name and email.
async fn assert_claims_read(app: &TestApp, auth: &str, claims: &Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("Authorization", auth)
        .json(&json!({ "query": "{ viewer { role tenant { slug } user { name email } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["data"]["viewer"],
        json!({ "role": claims["role"], "tenant": { "slug": claims["tid"] },
                "user": { "name": claims["name"], "email": claims["email"] } }),
        "{body}"
    );
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let pem = std::fs::read(format!("{KEYS}/rsa_private.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn es256(claims: &Value) -> String {
    let pem = std::fs::read(format!("{KEYS}/ec_private.pem")).unwrap();
    encode(&Header::new(Algorithm::ES256), claims, &EncodingKey::from_ec_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn rs256_public_key_with_issuer_and_audience() {
    let app = TestApp::spawn_with(|c| {
        c.jwt_secret = None;
        c.jwt_public_key = Some(format!("{KEYS}/rsa_public.pem").into());
        c.jwt_issuer = Some("https://id.example.com".into());
        c.jwt_audience = Some("guanxi".into());
    })
    .await;
    let good = json!({ "sub": "u1", "tid": "acme", "role": "VIEWER", "exp": now() + 600, "iss": "https://id.example.com", "aud": "guanxi" });
    let (status, body) = status_and_body(&app, Some(&format!("Bearer {}", rs256(&good, None)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["role"], "VIEWER");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example.com");
    assert_unauthenticated(&app, Some(&format!("Bearer {}", rs256(&wrong_iss, None))), "wrong iss").await;
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    assert_unauthenticated(&app, Some(&format!("Bearer {}", rs256(&wrong_aud, None))), "wrong aud").await;
    let mut no_iss = good.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_unauthenticated(&app, Some(&format!("Bearer {}", rs256(&no_iss, None))), "missing iss").await;
    assert_unauthenticated(&app, Some(&format!("Bearer {}", hs256(&good))), "HS256 when RS256 is configured").await;
}

#[tokio::test]
async fn es256_public_key() {
    let app = TestApp::spawn_with(|c| {
        c.jwt_secret = None;
        c.jwt_public_key = Some(format!("{KEYS}/ec_public.pem").into());
    })
    .await;
    let good = distinct_claims("es256-user", "es-tenant", "AGENT");
    assert_claims_read(&app, &format!("Bearer {}", es256(&good)), &good).await;
    assert_unauthenticated(&app, Some(&format!("Bearer {}", rs256(&good, None))), "RS256 when ES256 is configured")
        .await;
}

#[tokio::test]
async fn jwks_file_chooses_the_key_by_kid() {
    let app = TestApp::spawn_with(|c| {
        c.jwt_secret = None;
        c.jwks_file = Some(format!("{KEYS}/jwks.json").into());
    })
    .await;
    let good = distinct_claims("jwks-user", "jwks-tenant", "VIEWER");
    assert_claims_read(&app, &format!("Bearer {}", rs256(&good, Some("test-rsa-1"))), &good).await;
    assert_unauthenticated(
        &app,
        Some(&format!("Bearer {}", rs256(&claims("acme"), Some("unknown-kid")))),
        "unknown kid",
    )
    .await;
    assert_unauthenticated(&app, Some(&format!("Bearer {}", rs256(&claims("acme"), None))), "no kid").await;
}
