//! Webhooks, received by a receiver on loopback that checks every signature as an integrator
//! would: events arrive signed, once per webhook, only the tenant's own and only those asked
//! for; a receiver that fails is retried with the same `Guanxi-Event-Id` until it answers; two
//! replicas send each event once; a server killed mid-delivery sends it again after a restart;
//! private addresses are refused unless the server allows them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{TestApp, code, violations};

const CREATE: &str =
    "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url events enabled } } }";
const DELIVERIES: &str = "query { webhooks { id deliveries(first: 50) { totalCount nodes { id eventId event attempt status responseStatus error deliveredAt nextAttemptAt attempts(first: 10) { attempt responseStatus error } } } } }";
const CUSTOMER: &str = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";

/// How a receiver answers a delivery.
#[derive(Clone)]
pub enum Answer {
    Status(u16),
    /// Holds the request open until the bell rings, then answers 204.
    Hold(Arc<Notify>),
}

/// One POST a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub json: Value,
}

impl Received {
    pub fn event_id(&self) -> &str {
        self.headers.get("guanxi-event-id").map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Received>>,
    answers: Mutex<VecDeque<Answer>>,
}

/// A webhook receiver on loopback: records every POST and answers as told (204 when not told).
pub struct Receiver {
    pub url: String,
    inbox: web::Data<Inbox>,
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let headers =
        req.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inbox.got.lock().unwrap().push(Received { headers, body: body.to_vec(), json });
    let answer = inbox.answers.lock().unwrap().pop_front();
    match answer {
        None => HttpResponse::NoContent().finish(),
        Some(Answer::Status(status)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("told to answer so")
        }
        Some(Answer::Hold(bell)) => {
            bell.notified().await;
            HttpResponse::NoContent().finish()
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let inbox = web::Data::new(Inbox::default());
        let data = inbox.clone();
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("the receiver binds");
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self { url: format!("http://127.0.0.1:{port}/hooks/guanxi"), inbox }
    }

    /// The next deliveries are answered so, in order.
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inbox.answers.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` POSTs came.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(started.elapsed() < within, "{} of {n} deliveries within {within:?}: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Verifies `Guanxi-Signature` as a receiver would: some `v1` is the HMAC-SHA256 of
/// `<t>.<body>` keyed with `secret`, and `t` is within five minutes of now.
pub fn signed_with(received: &Received, secret: &str) -> bool {
    let header = received.headers.get("guanxi-signature").expect("a Guanxi-Signature header");
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => {}
        }
    }
    let t = t.expect("t= in the signature");
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300, "a stale signature time: {header}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.contains(&expected)
}

/// Registers a webhook; returns its id and secret.
pub async fn register(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let res = app.gql(token, CREATE, json!({ "i": { "url": url, "events": events } })).await;
    assert!(res["errors"].is_null(), "createWebhook: {res}");
    let made = &res["data"]["createWebhook"];
    (made["webhook"]["id"].as_str().unwrap().to_owned(), made["secret"].as_str().unwrap().to_owned())
}

/// The deliveries of the tenant's only webhook, newest first.
async fn deliveries(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.gql(token, DELIVERIES, json!({})).await;
    assert!(res["errors"].is_null(), "{res}");
    res["data"]["webhooks"][0]["deliveries"]["nodes"].as_array().unwrap().clone()
}

/// Waits until the deliveries of the tenant's webhook `n` (oldest first) satisfy `done`.
async fn deliveries_where(app: &TestApp, token: &str, n: usize, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let res = app.gql(token, DELIVERIES, json!({})).await;
        assert!(res["errors"].is_null(), "{res}");
        let all = res["data"]["webhooks"][n]["deliveries"]["nodes"].as_array().cloned().unwrap_or_default();
        if done(&all) {
            return all;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not reached within 30 s: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the webhook's deliveries satisfy `done`.
async fn deliveries_until(app: &TestApp, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let all = deliveries(app, token).await;
        if done(&all) {
            return all;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not reached within 30 s: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_change_is_posted_signed_and_the_delivery_reads_delivered() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("hook1", "ADMIN", "root");
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &admin, &receiver.url, &["customer.created", "customer.updated"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;

    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let delivery = &got[0];
    assert!(signed_with(delivery, &secret), "the signature does not verify: {delivery:?}");
    assert!(!signed_with(delivery, "whsec_someone-else"), "any secret verifies");
    assert_eq!(delivery.headers["content-type"], "application/json");
    let body = &delivery.json;
    assert_eq!(body["type"], "customer.created");
    assert_eq!(body["tenant"], app.slug("hook1"));
    assert_eq!(body["id"], delivery.event_id(), "the body's id is the Guanxi-Event-Id");
    assert_eq!(body["data"]["entity"], "Customer");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["customerId"], id.as_str());
    assert!(body["data"]["changedFields"].as_array().unwrap().iter().any(|f| f == "name"), "{body}");
    assert!(body["data"]["actorId"].is_string(), "{body}");
    assert!(chrono::DateTime::parse_from_rfc3339(body["occurredAt"].as_str().unwrap()).is_ok(), "{body}");

    let all = deliveries_until(&app, &admin, |d| d.first().is_some_and(|d| d["status"] == "DELIVERED")).await;
    let d = &all[0];
    assert_eq!(
        (d["event"].as_str(), d["attempt"].as_i64(), d["responseStatus"].as_i64()),
        (Some("customer.created"), Some(1), Some(204))
    );
    assert_eq!(d["eventId"], delivery.event_id());
    assert!(d["deliveredAt"].is_string() && d["nextAttemptAt"].is_null() && d["error"].is_null(), "{d}");
    assert_eq!(d["attempts"], json!([{ "attempt": 1, "responseStatus": 204, "error": null }]));

    // The update is sent too; nothing else was asked for.
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: { name: \"王芳芳\" }) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].json["type"], "customer.updated");
    assert_eq!(got[1].json["data"]["changedFields"], json!(["name"]));
    assert!(got[1].event_id().parse::<i64>().unwrap() > got[0].event_id().parse::<i64>().unwrap());
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_event_three_times() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("hook2", "ADMIN", "root");
    let receiver = Receiver::start().await;
    receiver.answer([Answer::Status(500), Answer::Status(503)]);
    let (_, secret) = register(&app, &admin, &receiver.url, &["customer.created"]).await;
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "李娜" })).await;

    let got = receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.event_id() == got[0].event_id()), "one event, one id: {got:?}");
    assert!(got.iter().all(|r| r.body == got[0].body), "the same body each time");
    assert!(got.iter().all(|r| signed_with(r, &secret)));
    let attempts: Vec<_> = got.iter().map(|r| r.headers["guanxi-delivery-attempt"].clone()).collect();
    assert_eq!(attempts, ["1", "2", "3"]);

    let all = deliveries_until(&app, &admin, |d| d.first().is_some_and(|d| d["status"] == "DELIVERED")).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["attempt"], 3);
    assert_eq!(all[0]["responseStatus"], 204);
    let outcomes: Vec<_> = all[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["attempt"].clone(), a["responseStatus"].clone(), a["error"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!(3), json!(204), Value::Null),
            (json!(2), json!(503), json!("answered HTTP 503")),
            (json!(1), json!(500), json!("answered HTTP 500")),
        ]
    );
}

#[tokio::test]
async fn only_the_tenants_own_events_and_only_those_asked_for_are_sent() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("hook3", "ADMIN", "root");
    let other = app.token("hook3x", "ADMIN", "root");
    let (receiver, theirs) = (Receiver::start().await, Receiver::start().await);
    register(&app, &admin, &receiver.url, &["complaint.filed"]).await;
    register(&app, &other, &theirs.url, &["customer.created"]).await;
    let customer = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "张伟" })).await;
    // Another tenant's writes, and the other events of this one, are not sent here; the other
    // tenant's own webhook hears of its customer only.
    let elsewhere = app.create_customer(&other, json!({ "kind": "INDIVIDUAL", "name": "赵磊" })).await;
    for (token, id) in [(&other, &elsewhere), (&admin, &customer)] {
        let res = app
            .gql(
                token,
                "mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }",
                json!({ "i": { "customerId": id, "title": "发票开错了", "category": "BILLING", "severity": "HIGH" } }),
            )
            .await;
        assert!(res["errors"].is_null(), "{res}");
    }
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    // Whatever else would have been sent has been by now: the complaint was written last.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = receiver.received();
    assert_eq!(got_all.len(), 1, "{got_all:?}");
    assert_eq!(got[0].json["type"], "complaint.filed");
    assert_eq!(got[0].json["tenant"], app.slug("hook3"));
    assert_eq!(got[0].json["data"]["customerId"], customer.as_str());
    let heard = theirs.received();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(heard[0].json["tenant"], app.slug("hook3x"));
    assert_eq!(heard[0].json["data"]["id"], elsewhere.as_str());
}

#[tokio::test]
async fn only_an_admin_sees_or_manages_webhooks() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("hook4", "ADMIN", "root");
    let (id, _) = register(&app, &admin, "https://hooks.example.com/guanxi", &["*"]).await;
    for role in ["MANAGER", "AGENT", "VIEWER"] {
        let token = app.token("hook4", role, "someone");
        for (query, vars) in [
            ("{ webhooks { id } }", json!({})),
            (CREATE, json!({ "i": { "url": "https://hooks.example.com/x", "events": ["*"] } })),
            ("mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { id } }", json!({ "id": id })),
            ("mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!({ "id": id })),
            ("mutation($id: ID!) { deleteWebhook(id: $id) }", json!({ "id": id })),
        ] {
            let res = app.gql(&token, query, vars).await;
            assert_eq!(code(&res), "FORBIDDEN", "{role}: {query}: {res}");
        }
    }
    // A delivery to redeliver, made by an event of the tenant.
    let receiver = Receiver::start().await;
    register(&app, &admin, &receiver.url, &["customer.created"]).await;
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "何平" })).await;
    let delivered = deliveries_where(&app, &admin, 1, |d| d.first().is_some_and(|d| d["status"] == "DELIVERED")).await;
    let delivery = delivered[0]["id"].as_str().unwrap().to_owned();
    let redeliver = "mutation($d: ID!) { redeliverWebhookEvent(deliveryId: $d) { id } }";
    for role in ["MANAGER", "AGENT", "VIEWER"] {
        let token = app.token("hook4", role, "someone");
        let res = app.gql(&token, redeliver, json!({ "d": delivery })).await;
        assert_eq!(code(&res), "FORBIDDEN", "{role}: {res}");
    }
    // Another tenant's ADMIN finds nothing of it.
    let stranger = app.token("hook4x", "ADMIN", "root");
    let res = app.gql(&stranger, "mutation($id: ID!) { deleteWebhook(id: $id) }", json!({ "id": id })).await;
    assert_eq!(code(&res), "NOT_FOUND", "{res}");
    let res = app.gql(&stranger, redeliver, json!({ "d": delivery })).await;
    assert_eq!(code(&res), "NOT_FOUND", "{res}");
    // A MANAGER reads the audit trail, but not a webhook's address (it may carry a token).
    let manager = app.token("hook4", "MANAGER", "boss");
    let res = app
        .gql(&manager, "query($id: ID!) { auditLog(entityId: $id) { nodes { changes } } }", json!({ "id": id }))
        .await;
    let changes = res["data"]["auditLog"]["nodes"][0]["changes"].to_string();
    assert!(changes.contains("[redacted]") && !changes.contains("hooks.example.com"), "{res}");
    let res = app.gql(&stranger, "{ webhooks { id } }", json!({})).await;
    assert_eq!(res["data"]["webhooks"], json!([]));
    // The audit trail records the webhook, never its secret.
    let res = app
        .gql(&admin, "query($id: ID!) { auditLog(entityId: $id) { nodes { action changes } } }", json!({ "id": id }))
        .await;
    let changes = res["data"]["auditLog"]["nodes"][0]["changes"].to_string();
    assert!(changes.contains("hooks.example.com") && !changes.contains("whsec_"), "{changes}");
}

#[tokio::test]
async fn bad_addresses_and_events_are_refused_with_reasons() {
    let app = TestApp::spawn_with(|c| {
        c.webhook_allow_private = false;
        c.default_plugins = false;
    })
    .await;
    let admin = app.token("acme", "ADMIN", "root");
    for (url, reason) in [
        ("http://hooks.example.com/", "INVALID_URL"),
        ("not a url", "INVALID_URL"),
        ("https://user:pw@hooks.example.com/", "INVALID_URL"),
        ("https://127.0.0.1:8443/", "PRIVATE_ADDRESS"),
        ("https://[::1]/", "PRIVATE_ADDRESS"),
        ("https://169.254.169.254/latest/meta-data/", "PRIVATE_ADDRESS"),
        ("https://10.0.0.8/", "PRIVATE_ADDRESS"),
        ("https://localhost/", "PRIVATE_ADDRESS"),
    ] {
        let res = app.gql(&admin, CREATE, json!({ "i": { "url": url, "events": ["*"] } })).await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "{url}: {res}");
        assert_eq!(violations(&res), [("url".to_owned(), reason.to_owned())], "{url}: {res}");
    }
    let res = app.gql(&admin, CREATE, json!({ "i": { "url": "https://hooks.example.com/", "events": ["customer.created", "customer.exploded"] } })).await;
    assert_eq!(violations(&res), [("events.1".to_owned(), "UNKNOWN_EVENT".to_owned())], "{res}");
    let res = app.gql(&admin, CREATE, json!({ "i": { "url": "https://hooks.example.com/", "events": [] } })).await;
    assert_eq!(violations(&res), [("events".to_owned(), "REQUIRED".to_owned())], "{res}");
    assert_eq!(
        app.gql(&admin, "{ webhooks { id } }", json!({})).await["data"]["webhooks"],
        json!([]),
        "nothing was stored"
    );

    // Twenty at most.
    for i in 0..20 {
        register(&app, &admin, &format!("https://hooks.example.com/{i}"), &["*"]).await;
    }
    let res = app.gql(&admin, CREATE, json!({ "i": { "url": "https://hooks.example.com/21", "events": ["*"] } })).await;
    assert_eq!(code(&res), "CONFLICT", "{res}");
    assert_eq!(res["errors"][0]["extensions"]["reason"], "TOO_MANY", "{res}");
}

#[tokio::test]
async fn a_name_that_came_to_resolve_privately_is_refused_at_delivery() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn_with(|c| {
        c.webhook_allow_private = false;
        c.default_plugins = false;
    })
    .await;
    let admin = app.token("acme", "ADMIN", "root");
    let receiver = Receiver::start().await;
    let (id, _) = register(&app, &admin, "https://hooks.example.com/guanxi", &["customer.created"]).await;
    // As if its name had come to resolve to this machine since: the address is changed behind
    // the API's back, past the check a registration makes.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    // A name, so the check is the resolver's, on the address it would connect to.
    let loopback = receiver.url.replace("http://127.0.0.1", "https://localhost");
    let (_, uuid) = guanxi_api::domain::ids::decode_any(&id).unwrap();
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "UPDATE webhooks SET url = $1 WHERE id = $2"
    } else {
        "UPDATE webhooks SET url = ? WHERE id = ?"
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [loopback.into(), uuid.into()])).await.unwrap();
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "周杰" })).await;
    let all = deliveries_until(&app, &admin, |d| {
        d.first().is_some_and(|d| d["attempt"].as_i64() >= Some(1) && !d["error"].is_null())
    })
    .await;
    let error = all[0]["error"].as_str().unwrap();
    assert!(error.starts_with("localhost resolves to") && error.contains("private"), "{error}");
    assert!(all[0]["responseStatus"].is_null());
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_redelivery_sends_again() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("hook5", "ADMIN", "root");
    let receiver = Receiver::start().await;
    let (id, old) = register(&app, &admin, &receiver.url, &["customer.created"]).await;
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { previousSecretExpiresAt } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let new = res["data"]["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(res["data"]["rotateWebhookSecret"]["webhook"]["previousSecretExpiresAt"].is_string(), "{res}");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "吴敏" })).await;
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(signed_with(&got[0], &new) && signed_with(&got[0], &old), "both keys verify during the grace");

    let delivered = deliveries_until(&app, &admin, |d| d.first().is_some_and(|d| d["status"] == "DELIVERED")).await;
    let delivery = delivered[0]["id"].as_str().unwrap();
    let res = app
        .gql(
            &admin,
            "mutation($d: ID!) { redeliverWebhookEvent(deliveryId: $d) { id status attempt } }",
            json!({ "d": delivery }),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
    assert_eq!(res["data"]["redeliverWebhookEvent"]["status"], "PENDING");
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].event_id(), got[0].event_id());
    assert_eq!(got[1].body, got[0].body);
    let again = deliveries_until(&app, &admin, |d| d[0]["status"] == "DELIVERED" && d[0]["attempt"] == 2).await;
    assert_eq!(again.len(), 1, "redelivery sends the same delivery again");

    // Disabled, nothing is sent; enabled again, what came meanwhile goes out.
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { enabled } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(res["data"]["updateWebhook"]["enabled"], false, "{res}");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "郑秀" })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2, "a disabled webhook was sent an event");
    // Enabled again, it hears of what happens from then on; what happened meanwhile is not sent.
    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: true }) { enabled } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(res["data"]["updateWebhook"]["enabled"], true, "{res}");
    let later = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "王五" })).await;
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got[2].json["data"]["id"], later.as_str());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn retries_stop_when_the_window_closes_and_the_delivery_fails() {
    let app = TestApp::spawn_with(|c| {
        c.default_plugins = false;
        c.webhook_retry_for_secs = 1;
        c.webhook_retry_base_ms = 300;
    })
    .await;
    let admin = app.token("acme", "ADMIN", "root");
    let receiver = Receiver::start().await;
    receiver.answer(std::iter::repeat_n(Answer::Status(500), 50));
    register(&app, &admin, &receiver.url, &["customer.created"]).await;
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "冯刚" })).await;
    let all = deliveries_until(&app, &admin, |d| d.first().is_some_and(|d| d["status"] == "FAILED")).await;
    assert_eq!(all[0]["error"], "answered HTTP 500");
    assert!(all[0]["nextAttemptAt"].is_null());
    let tries = receiver.received().len();
    assert!((1..=4).contains(&tries), "{tries} attempts in a one-second window");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received().len(), tries, "a FAILED delivery was tried again");
}

#[tokio::test]
async fn a_slow_receiver_holds_up_its_own_tenant_only() {
    let app = TestApp::spawn_with(|c| {
        c.default_plugins = false;
        c.webhook_concurrency_per_tenant = 2;
    })
    .await;
    let (slow_admin, fast_admin) = (app.token("slow", "ADMIN", "root"), app.token("fast", "ADMIN", "root"));
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    let bell = Arc::new(Notify::new());
    slow.answer(std::iter::repeat_n(Answer::Hold(bell.clone()), 10));
    register(&app, &slow_admin, &slow.url, &["customer.created"]).await;
    register(&app, &fast_admin, &fast.url, &["customer.created"]).await;
    for i in 0..10 {
        app.create_customer(&slow_admin, json!({ "kind": "INDIVIDUAL", "name": format!("慢{i}") })).await;
    }
    slow.wait_for(2, Duration::from_secs(5)).await;
    app.create_customer(&fast_admin, json!({ "kind": "INDIVIDUAL", "name": "快" })).await;
    fast.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(slow.received().len(), 2, "more than two of the slow tenant's deliveries were in flight");
    // Released, the slow tenant's deliveries all go, two at a time.
    for _ in 0..20 {
        bell.notify_waiters();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.received().len() == 10 {
            break;
        }
    }
    bell.notify_waiters();
    assert_eq!(slow.wait_for(10, Duration::from_secs(10)).await.len(), 10);
}

#[tokio::test]
async fn two_replicas_send_each_event_once() {
    let first = TestApp::spawn_bare().await;
    let second = first.replica().await;
    let admin = first.token("acme", "ADMIN", "root");
    let receiver = Receiver::start().await;
    let (_, secret) = register(&first, &admin, &receiver.url, &["customer.created"]).await;
    // Writes through both, so both replicas' senders have work at once.
    let writes = (0..20).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        let admin = admin.clone();
        async move { app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("客户{i}") })).await }
    });
    futures_util::future::join_all(writes).await;
    receiver.wait_for(20, Duration::from_secs(20)).await;
    // Anything sent twice would have come by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    let mut ids: Vec<_> = got.iter().map(|r| r.event_id().to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((got.len(), ids.len()), (20, 20), "each event once: {ids:?}");
    assert!(got.iter().all(|r| signed_with(r, &secret)));
    let all = deliveries(&second, &admin).await;
    assert!(all.iter().all(|d| d["status"] == "DELIVERED" && d["attempt"] == 1), "{all:?}");
}

#[tokio::test]
async fn a_server_killed_mid_delivery_sends_it_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    let settings = [
        ("GUANXI_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("GUANXI_WEBHOOK_TIMEOUT_SECS", "2"),
        ("GUANXI_DEFAULT_PLUGINS", "false"),
    ];
    let (mut server, base) = crate::replicas::serve(&database_url, &settings).await;
    let admin = guanxi_api::auth::mint(crate::helpers::SECRET, "acme", "ADMIN", "root", 3600, Some("root")).unwrap();
    let client = reqwest::Client::new();
    let receiver = Receiver::start().await;
    // The first attempt is held open until the server is gone.
    let bell = Arc::new(Notify::new());
    receiver.answer([Answer::Hold(bell.clone())]);
    let res = crate::helpers::post_graphql(
        &client,
        &base,
        &admin,
        &json!({ "query": CREATE, "variables": { "i": { "url": receiver.url, "events": ["customer.created"] } } }),
    )
    .await;
    let secret = res["data"]["createWebhook"]["secret"].as_str().unwrap().to_owned();
    let res = crate::helpers::post_graphql(
        &client,
        &base,
        &admin,
        &json!({ "query": CUSTOMER, "variables": { "i": { "kind": "INDIVIDUAL", "name": "孙丽" } } }),
    )
    .await;
    assert!(res["errors"].is_null(), "{res}");
    receiver.wait_for(1, Duration::from_secs(10)).await;
    server.kill().await.unwrap();
    bell.notify_waiters();

    let (_restarted, base) = crate::replicas::serve(&database_url, &settings).await;
    let got = receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(got[1].event_id(), got[0].event_id());
    assert!(signed_with(&got[1], &secret));
    let done = Instant::now();
    loop {
        let res = crate::helpers::post_graphql(&client, &base, &admin, &json!({ "query": DELIVERIES })).await;
        let d = res["data"]["webhooks"][0]["deliveries"]["nodes"][0].clone();
        if d["status"] == "DELIVERED" {
            assert_eq!(d["attempt"], 2, "{d}");
            let attempts = d["attempts"].as_array().unwrap();
            assert_eq!(attempts.len(), 2, "{d}");
            assert!(attempts[1]["error"].as_str().unwrap().contains("no outcome"), "{d}");
            break;
        }
        assert!(done.elapsed() < Duration::from_secs(10), "{d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_node_receiver_verifies_the_signature_as_the_docs_say() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let app = TestApp::shared_bare().await;
    let admin = app.token("hooknode", "ADMIN", "root");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("webhook-receiver.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (the README's test command installs it)");
    let mut lines = tokio::io::BufReader::new(node.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.expect("a line in time");
        serde_json::from_str(&line.unwrap().expect("the receiver is running")).unwrap()
    };
    let port = next().await["listening"].as_u64().expect("the receiver's port");
    let (_, secret) = register(&app, &admin, &format!("http://127.0.0.1:{port}/guanxi"), &["customer.created"]).await;
    let mut stdin = node.stdin.take().unwrap();
    stdin.write_all(format!("{secret}\n").as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    // The secret reaches the receiver before the delivery: its stdin is read as it comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "钱多" })).await;
    let got = next().await;
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["body"]["data"]["id"], id.as_str(), "{got}");
    assert_eq!(got["eventId"], got["body"]["id"], "{got}");
    deliveries_until(&app, &admin, |d| d.first().is_some_and(|d| d["status"] == "DELIVERED")).await;

    // After a rotation the receiver, which knows only the old secret, still verifies: the old
    // secret signs beside the new one during the grace period.
    let res = app.gql(&admin, "{ webhooks { id } }", json!({})).await;
    let hook = res["data"]["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let rotated =
        app.gql(&admin, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!({ "id": hook })).await;
    assert!(rotated["errors"].is_null(), "{rotated}");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "钱少" })).await;
    let got = next().await;
    assert_eq!(got["verified"], true, "{got}");
}

#[tokio::test]
async fn a_lifecycle_stage_the_scorer_moves_is_told_as_customer_scored() {
    // The shared server gives new tenants the default scorers, the lifecycle scorer among them.
    let app = TestApp::shared().await;
    let admin = app.token("hookstage", "ADMIN", "root");
    let receiver = Receiver::start().await;
    register(&app, &admin, &receiver.url, &["customer.scored"]).await;
    let id = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "陈晨" })).await;
    let started = Instant::now();
    let stage_told = loop {
        let told = receiver.received().into_iter().find(|r| {
            r.json["data"]["id"] == id.as_str() && r.json["data"]["changedFields"] == json!(["lifecycleStage"])
        });
        if let Some(told) = told {
            break told;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no lifecycle move told: {:?}", receiver.received());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stage_told.json["type"], "customer.scored");
    assert!(stage_told.json["data"]["actorId"].is_null(), "the server made it: {:?}", stage_told.json);
    let res = app.gql(&admin, "query($id: ID!) { customer(id: $id) { lifecycleStage } }", json!({ "id": id })).await;
    assert!(res["data"]["customer"]["lifecycleStage"].is_string(), "{res}");
}
