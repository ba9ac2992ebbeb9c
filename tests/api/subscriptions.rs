//! Subscriptions over `graphql-transport-ws`, driven by a plain WebSocket client: changes are
//! pushed within a second, in commit order, to those who may see them and nobody else; bad and
//! expired tokens close the socket with 4403; a write through one replica reaches a subscriber
//! of another.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::TestApp;

pub(crate) type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a pushed change may take.
const PUSHED_WITHIN: Duration = Duration::from_secs(1);

/// A socket on `/graphql` offering the subprotocol, not yet initialised.
pub(crate) async fn open(app: &TestApp) -> Ws {
    let url = format!("{}/graphql", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws")
    );
    ws
}

pub(crate) async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.expect("send");
}

/// The next protocol message, within `within`; panics on a close.
pub(crate) async fn next(ws: &mut Ws, within: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(within, ws.next())
            .await
            .unwrap_or_else(|_| panic!("nothing within {within:?}"))
            .expect("the socket is open")
            .expect("a message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// The close code the server ends the socket with, within `within`.
async fn closed_with(ws: &mut Ws, within: Duration) -> (u16, String) {
    loop {
        let message =
            tokio::time::timeout(within, ws.next()).await.unwrap_or_else(|_| panic!("no close within {within:?}"));
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("socket error: {err}"),
        }
    }
}

/// A socket initialised with `token`.
pub(crate) async fn connect(app: &TestApp, token: &str) -> Ws {
    let mut ws = open(app).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await["type"], "connection_ack");
    ws
}

/// Subscribes; the ping that follows is answered once the server has handled the subscription
/// (it handles a socket's messages in order), so a write after this is heard.
async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    send(ws, json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } })).await;
    send(ws, json!({ "type": "ping" })).await;
    let answer = next(ws, Duration::from_secs(5)).await;
    assert_eq!(answer["type"], "pong", "subscription {id} did not start: {answer}");
}

/// The payload of the next `next` message, which must be for `id`.
async fn pushed(ws: &mut Ws, id: &str) -> Value {
    let message = next(ws, PUSHED_WITHIN).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    message["payload"].clone()
}

const CUSTOMERS: &str = "subscription($f: CustomerFilter) { customerChanged(filter: $f) { eventId kind customerId \
                         changedFields actor { name } customer { name owner { name } } } }";

/// The first pushed payload for `id` that `wanted` accepts, within `within` of the call. A socket
/// may also hear of changes committed just before it opened, which these tests pass over.
async fn pushed_where(ws: &mut Ws, id: &str, within: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let message = next(ws, left).await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        if wanted(&message["payload"]) {
            return message["payload"].clone();
        }
    }
}

fn ok(res: &Value) -> &Value {
    assert!(res.get("errors").is_none(), "{res}");
    &res["data"]
}

#[tokio::test]
async fn a_change_is_pushed_within_a_second_through_the_normal_read_path() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("push", "ADMIN", "admin");
    let mut ws = connect(&app, &admin).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    // Another admin's socket with the same subscription (its run is shared), and an agent's
    // (whose is not: it may not see what the admins see).
    let mut other_admin = connect(&app, &app.token("push", "ADMIN", "second-admin")).await;
    subscribe(&mut other_admin, "x", CUSTOMERS, json!({})).await;
    let agent = app.token("push", "AGENT", "agent");
    let mut agent_ws = connect(&app, &agent).await;
    subscribe(&mut agent_ws, "a", CUSTOMERS, json!({})).await;
    // A subscription starts silently; the first write after it is heard.
    let customer = app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "上海明珠" })).await;
    let created = pushed(&mut ws, "1").await;
    let event = &created["data"]["customerChanged"];
    assert_eq!(event["kind"], "CREATED", "{created}");
    assert_eq!(event["customerId"], customer.as_str());
    assert_eq!(event["customer"]["name"], "上海明珠");
    assert_eq!(event["actor"]["name"], "admin");
    assert_eq!(pushed(&mut other_admin, "x").await, created, "the same answer for the same sight");
    let own = app.create_customer(&agent, json!({ "kind": "INDIVIDUAL", "name": "代理的客户" })).await;
    let heard = pushed(&mut agent_ws, "a").await;
    assert_eq!(heard["data"]["customerChanged"]["customerId"], own.as_str(), "the agent heard only its own: {heard}");
    assert_eq!(heard["data"]["customerChanged"]["actor"], Value::Null);
    // The admins heard of the agent's customer too, with its actor.
    let of_agent = pushed(&mut ws, "1").await;
    assert_eq!(of_agent["data"]["customerChanged"]["customerId"], own.as_str());
    assert_eq!(of_agent["data"]["customerChanged"]["actor"]["name"], "agent");

    let res = app
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomer(id: $id, input: {region: \"华东\"}) { id } }",
            json!({ "id": customer }),
        )
        .await;
    ok(&res);
    let updated = pushed(&mut ws, "1").await;
    let event = &updated["data"]["customerChanged"];
    assert_eq!(event["kind"], "UPDATED");
    assert_eq!(event["changedFields"], json!(["region"]));
    let first: u64 = created["data"]["customerChanged"]["eventId"].as_str().expect("id").parse().expect("number");
    let second: u64 = event["eventId"].as_str().expect("id").parse().expect("number");
    assert!(second > first, "event ids increase: {first} then {second}");

    ok(&app.gql(&admin, "mutation($id: ID!) { deleteCustomer(id: $id) }", json!({ "id": customer })).await);
    let deleted = pushed(&mut ws, "1").await;
    assert_eq!(deleted["data"]["customerChanged"]["kind"], "DELETED");
    assert_eq!(deleted["data"]["customerChanged"]["customer"], Value::Null, "gone: {deleted}");

    // `complete` ends it: the next change is not pushed; a marker on another subscription shows
    // nothing came before it.
    send(&mut ws, json!({ "type": "complete", "id": "1" })).await;
    subscribe(&mut ws, "2", "subscription { interactionRecorded { kind } }", json!({})).await;
    let other = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    record_call(&app, &admin, &other).await;
    assert_eq!(pushed(&mut ws, "2").await["data"]["interactionRecorded"]["kind"], "CREATED");
}

#[tokio::test]
async fn nothing_crosses_tenants_and_an_agent_hears_only_of_what_it_may_see() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("seen", "ADMIN", "admin");
    let agent_a = app.token("seen", "AGENT", "agent-a");
    let agent_b = app.token("seen", "AGENT", "agent-b");
    let other_tenant = app.token("unseen", "ADMIN", "admin");
    let mut sockets = Vec::new();
    for token in [&agent_a, &agent_b, &other_tenant] {
        let mut ws = connect(&app, token).await;
        subscribe(&mut ws, "c", CUSTOMERS, json!({})).await;
        subscribe(&mut ws, "i", "subscription { interactionRecorded { kind interaction { summary } } }", json!({}))
            .await;
        sockets.push(ws);
    }
    let [ws_a, ws_b, ws_other] = &mut sockets[..] else { unreachable!() };

    // Agent B's customer, with a visit; an admin's customer that nobody owns.
    let of_b = app.create_customer(&agent_b, json!({ "kind": "ORGANIZATION", "name": "B 的客户" })).await;
    let visit = "mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: VISIT, summary: \"拜访\", \
                 occurredAt: \"2026-01-05T10:00:00Z\"}) { id } }";
    ok(&app.gql(&agent_b, visit, json!({ "c": of_b })).await);
    app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "无主客户" })).await;
    // Then agent A's own: the first thing A hears.
    let of_a = app.create_customer(&agent_a, json!({ "kind": "ORGANIZATION", "name": "A 的客户" })).await;

    let heard_a = pushed(ws_a, "c").await;
    assert_eq!(heard_a["data"]["customerChanged"]["customerId"], of_a.as_str(), "A hears only its own: {heard_a}");
    assert_eq!(heard_a["data"]["customerChanged"]["actor"], Value::Null, "who changed what is for the audit trail");
    let heard_b = pushed(ws_b, "c").await;
    assert_eq!(heard_b["data"]["customerChanged"]["customerId"], of_b.as_str());
    assert_eq!(pushed(ws_b, "i").await["data"]["interactionRecorded"]["interaction"]["summary"], "拜访");

    // A manager gives B's customer to A: B is told it moved away (without the customer), A that
    // it arrived.
    let manager = app.token("seen", "MANAGER", "manager");
    let a_id = ok(&app.gql(&agent_a, "{ viewer { user { id } } }", json!({})).await)["viewer"]["user"]["id"].clone();
    let give = "mutation($id: ID!, $o: ID!) { updateCustomer(id: $id, input: {ownerId: $o}) { id } }";
    ok(&app.gql(&manager, give, json!({ "id": of_b, "o": a_id })).await);
    let moved = pushed(ws_b, "c").await;
    assert_eq!(moved["data"]["customerChanged"]["customer"], Value::Null, "{moved}");
    assert_eq!(moved["data"]["customerChanged"]["changedFields"], json!(["ownerId"]));
    let arrived = pushed(ws_a, "c").await;
    assert_eq!(arrived["data"]["customerChanged"]["customer"]["name"], "B 的客户", "{arrived}");

    // The other tenant heard nothing of all this: its first message is its own change.
    let own = app.create_customer(&other_tenant, json!({ "kind": "INDIVIDUAL", "name": "别家" })).await;
    let heard = pushed(ws_other, "c").await;
    assert_eq!(heard["data"]["customerChanged"]["customerId"], own.as_str(), "{heard}");
}

#[tokio::test]
async fn filters_and_arguments_narrow_what_is_heard_and_events_of_a_record_keep_commit_order() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("narrow", "ADMIN", "admin");
    let wanted = app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "关注的客户" })).await;
    let other = app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "别的客户" })).await;
    let mut ws = connect(&app, &admin).await;
    subscribe(
        &mut ws,
        "i",
        "subscription($c: ID) { interactionRecorded(customerId: $c) { customerId interaction { summary } } }",
        json!({ "c": wanted }),
    )
    .await;
    subscribe(
        &mut ws,
        "vip",
        "subscription { customerChanged(filter: {region: {eq: \"华南\"}}) { customer { name region } } }",
        json!({}),
    )
    .await;
    let visit = "mutation($c: ID!, $s: String!) { recordInteraction(input: {customerId: $c, kind: CALL, summary: $s, \
                 occurredAt: \"2026-01-05T10:00:00Z\"}) { id } }";
    ok(&app.gql(&admin, visit, json!({ "c": other, "s": "not this one" })).await);
    for n in 1..=5 {
        ok(&app.gql(&admin, visit, json!({ "c": wanted, "s": format!("call {n}") })).await);
    }
    for n in 1..=5 {
        let heard = pushed(&mut ws, "i").await;
        assert_eq!(heard["data"]["interactionRecorded"]["interaction"]["summary"], format!("call {n}"), "{heard}");
        assert_eq!(heard["data"]["interactionRecorded"]["customerId"], wanted.as_str());
    }
    let set = "mutation($id: ID!, $r: String!) { updateCustomer(id: $id, input: {region: $r}) { id } }";
    ok(&app.gql(&admin, set, json!({ "id": other, "r": "华北" })).await);
    ok(&app.gql(&admin, set, json!({ "id": wanted, "r": "华南" })).await);
    let heard = pushed(&mut ws, "vip").await;
    assert_eq!(heard["data"]["customerChanged"]["customer"], json!({ "name": "关注的客户", "region": "华南" }));
}

#[tokio::test]
async fn a_subscription_that_cannot_run_is_answered_with_an_error_and_the_socket_stays() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("wrong", "ADMIN", "admin");
    let mut ws = connect(&app, &admin).await;
    let cases = [
        ("syntax", "subscription { customerChanged { ", json!({}), "BAD_USER_INPUT"),
        ("unknown", "subscription { customerChanged { nope } }", json!({}), "BAD_USER_INPUT"),
        ("query", "{ viewer { id } }", json!({}), "BAD_USER_INPUT"),
        ("bad id", "subscription { interactionRecorded(customerId: \"nope\") { kind } }", json!({}), "BAD_USER_INPUT"),
        (
            "two roots",
            "subscription { customerChanged { kind } interactionRecorded { kind } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "fragment",
            "subscription { ...f } fragment f on Subscription { customerChanged { kind } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "bad filter",
            "subscription($f: CustomerFilter) { customerChanged(filter: $f) { kind } }",
            json!({ "f": { "createdAt": { "gt": "yesterday" } } }),
            "BAD_USER_INPUT",
        ),
    ];
    for (id, query, variables, code) in cases {
        send(&mut ws, json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } }))
            .await;
        let answer = next(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(answer["type"], "error", "{id}: {answer}");
        assert_eq!(answer["id"], id);
        assert_eq!(answer["payload"][0]["extensions"]["code"], code, "{id}: {answer}");
    }
    // Still open and serving.
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await["type"], "pong");
}

#[tokio::test]
async fn bad_missing_and_expired_tokens_close_the_socket_with_4403_and_the_protocol_is_enforced() {
    let app = TestApp::shared_bare().await;
    let mut ws = open(&app).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } })).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4403);

    let mut ws = open(&app).await;
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4403);

    let mut ws = open(&app).await;
    send(&mut ws, json!({ "type": "subscribe", "id": "1", "payload": { "query": CUSTOMERS } })).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4401, "subscribe before connection_init");

    let mut ws = open(&app).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(6)).await.0, 4408, "no connection_init within 3 s");
    // Messages that keep coming do not hold the deadline off.
    let mut ws = open(&app).await;
    let started = std::time::Instant::now();
    let code = loop {
        assert!(started.elapsed() < Duration::from_secs(6), "still open after 6 s of pings");
        if ws.send(Message::text(json!({ "type": "ping" }).to_string())).await.is_err() {
            break closed_with(&mut ws, Duration::from_secs(1)).await.0;
        }
        match tokio::time::timeout(Duration::from_millis(20), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => break u16::from(frame.code),
            Ok(Some(Ok(_))) | Err(_) => {}
            other => panic!("unexpected: {other:?}"),
        }
    };
    assert_eq!(code, 4408, "pings are no connection_init");

    let token = app.token("proto", "ADMIN", "admin");
    let mut ws = connect(&app, &token).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    send(&mut ws, json!({ "type": "subscribe", "id": "1", "payload": { "query": CUSTOMERS } })).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4409, "two subscriptions with one id");

    let mut ws = connect(&app, &token).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4429, "a second connection_init");

    // A token that expires in two seconds: accepted, then the socket closes when it does (with
    // the 5 s of leeway a request gets).
    let short =
        guanxi_api::auth::mint(crate::helpers::SECRET, &app.slug("proto"), "ADMIN", "admin", 2, None).expect("token");
    let mut ws = connect(&app, &short).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    let (code, reason) = closed_with(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(code, 4403, "{reason}");

    // Without the subprotocol, no socket.
    let url = format!("{}/graphql", app.base.replace("http://", "ws://"));
    let refused = tokio_tungstenite::connect_async(url).await.expect_err("refused");
    assert!(refused.to_string().contains("400"), "{refused}");
    let _ = CloseCode::Normal;
}

#[tokio::test]
async fn stopping_the_server_closes_its_sockets_with_1001_then_it_stops() {
    let app = TestApp::spawn_bare().await;
    let admin = app.token("stopping", "ADMIN", "admin");
    let mut ws = connect(&app, &admin).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    let mut idle = connect(&app, &app.token("stopping", "VIEWER", "viewer")).await;
    // An open socket is no request to drain: the stop closes it at once, and then completes.
    let (closed, other, ()) = tokio::join!(
        closed_with(&mut ws, Duration::from_secs(10)),
        closed_with(&mut idle, Duration::from_secs(10)),
        app.stop(),
    );
    for (code, reason) in [closed, other] {
        assert_eq!(code, 1001, "{reason}");
        assert!(reason.contains("shutting down"), "{reason}");
    }
    let after = app.client.get(format!("{}/readyz", app.base)).send().await;
    assert!(after.is_err(), "a stopped server still answers: {after:?}");
}

/// Records a call with `customer`, as `token`.
async fn record_call(app: &TestApp, token: &str, customer: &str) {
    let record = "mutation($c: ID!) { recordInteraction(input: {customerId: $c, kind: CALL, occurredAt: \"2026-01-05T10:00:00Z\"}) { id } }";
    ok(&app.gql(token, record, json!({ "c": customer })).await);
}

/// `count` customers of a new tenant, once the scorer has ranked every one; how many were ranked
/// below the top tier.
async fn ranked_customers(app: &TestApp, admin: &str, count: usize) -> i64 {
    let inputs: Vec<Value> = (0..count).map(|i| json!({ "kind": "INDIVIDUAL", "name": format!("客户{i}") })).collect();
    app.create_all(admin, "createCustomer", "CreateCustomerInput", &inputs).await;
    let ranked = async {
        loop {
            let dist = app.gql(admin, "{ tierDistribution { tier count } }", json!({})).await;
            let counts = dist["data"]["tierDistribution"].as_array().cloned().unwrap_or_default();
            if counts.iter().filter_map(|t| t["count"].as_i64()).sum::<i64>()
                == i64::try_from(count).unwrap_or(i64::MAX)
            {
                return counts
                    .iter()
                    .filter(|t| t["tier"] != "KEY_PRIMARY")
                    .filter_map(|t| t["count"].as_i64())
                    .sum::<i64>();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), ranked).await.expect("every customer ranked within 60 s")
}

/// Moves every customer of the caller's tenant to the top tier: one ranking, every move an
/// event, all committed at once.
async fn everyone_to_the_top_tier(app: &TestApp, admin: &str) {
    let res = app
        .gql(
            admin,
            "mutation { updateTenantSettings(input: { tierCutPoints: { keyPrimary: 100, keySecondary: 0, ordinary: 0 } }) { baseCurrency } }",
            json!({}),
        )
        .await;
    assert!(res["errors"].is_null(), "{res}");
}

#[tokio::test]
async fn a_ranking_that_moves_hundreds_of_tiers_reaches_its_listeners_whole_and_passes_the_others_by() {
    // A server of its own: the ranking below is heard by every subscriber of the tenant.
    let app = TestApp::spawn().await;
    let admin = app.token("flood", "ADMIN", "admin");
    let moving = ranked_customers(&app, &admin, 400).await;
    assert!(moving > 300, "most customers start below the top tier: {moving}");
    let mut listener = connect(&app, &admin).await;
    subscribe(&mut listener, "1", CUSTOMERS, json!({})).await;
    let mut bystander = connect(&app, &admin).await;
    subscribe(&mut bystander, "2", "subscription { interactionRecorded { kind customerId } }", json!({})).await;
    everyone_to_the_top_tier(&app, &admin).await;

    // Every move is pushed to the socket that listens to customers: none is dropped, the
    // socket is not closed.
    let mut moved = std::collections::HashSet::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while moved.len() < usize::try_from(moving).unwrap_or(0) {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let message = next(&mut listener, left).await;
        assert_eq!(message["type"], "next", "{message}");
        let event = &message["payload"]["data"]["customerChanged"];
        if event["kind"] == "SCORED" && event["changedFields"].as_array().is_some_and(|f| f.contains(&json!("tier"))) {
            moved.insert(event["customerId"].as_str().unwrap_or_default().to_owned());
        }
    }
    // The socket that listens to interactions heard none of it, is still open, and hears the
    // next interaction at once.
    let customer = app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "之后" })).await;
    record_call(&app, &admin, &customer).await;
    let heard = pushed(&mut bystander, "2").await;
    assert_eq!(heard["data"]["interactionRecorded"]["customerId"], customer.as_str(), "{heard}");
}

#[tokio::test]
async fn a_subscriber_that_falls_too_far_behind_is_closed_with_1013_not_buffered() {
    // A server of its own that keeps one read of events for its slowest subscriber.
    let app = TestApp::spawn_with(|c| c.event_buffer = 1).await;
    let admin = app.token("behind", "ADMIN", "admin");
    ranked_customers(&app, &admin, 400).await;
    let mut ws = connect(&app, &admin).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    everyone_to_the_top_tier(&app, &admin).await;
    // The socket is going through the ranking's hundreds of runs; two more reads of the
    // outbox meanwhile are more than the server keeps for it.
    let first =
        pushed_where(&mut ws, "1", Duration::from_secs(30), |p| p["data"]["customerChanged"]["kind"] == "SCORED").await;
    assert_eq!(first["data"]["customerChanged"]["kind"], "SCORED");
    for i in 0..3 {
        app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": format!("又一个{i}") })).await;
    }
    let (code, reason) = closed_with(&mut ws, Duration::from_secs(30)).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    // The server goes on: a new socket hears the next change.
    let mut again = connect(&app, &admin).await;
    subscribe(&mut again, "2", CUSTOMERS, json!({})).await;
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "之后" })).await;
    let heard =
        pushed_where(&mut again, "2", Duration::from_secs(10), |p| p["data"]["customerChanged"]["kind"] == "CREATED")
            .await;
    assert_eq!(heard["data"]["customerChanged"]["customer"]["name"], "之后", "{heard}");
}

#[tokio::test]
async fn a_write_through_one_replica_is_pushed_by_another() {
    // On PostgreSQL replicas read the outbox only when told (NOTIFY) or once a minute here: only
    // the notification can bring the event in time. SQLite serves one process; a second one on
    // the same file reads every 200 ms.
    let postgres = std::env::var("GUANXI_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let poll = if postgres { 60_000 } else { 200 };
    let a = TestApp::spawn_with(|c| {
        c.event_poll_ms = poll;
        c.default_plugins = false;
    })
    .await;
    let url = a.database_url.clone();
    let b = TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.event_poll_ms = poll;
        c.default_plugins = false;
    })
    .await;
    let admin = a.token("replicated", "ADMIN", "admin");
    // The tenant exists before B is asked for it.
    a.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "先有租户" })).await;
    let mut ws = connect(&b, &admin).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    let customer = a.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "跨副本" })).await;
    let heard =
        pushed_where(&mut ws, "1", PUSHED_WITHIN, |p| p["data"]["customerChanged"]["customerId"] == customer.as_str())
            .await;
    assert_eq!(heard["data"]["customerChanged"]["customerId"], customer.as_str(), "{heard}");
    assert_eq!(heard["data"]["customerChanged"]["customer"]["name"], "跨副本");
}

/// Runs `tests/clients/subscribe.mjs` (the `graphql-ws` npm client) against `app`; its stdout
/// lines come back through the channel.
fn graphql_ws_client(
    app: &TestApp,
    token: &str,
    query: &str,
) -> (tokio::process::Child, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use tokio::io::AsyncBufReadExt;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    assert!(
        dir.join("node_modules/graphql-ws").is_dir(),
        "the client tests' npm packages are missing: run `npm ci --prefix tests/clients` (the README's test command does)"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("subscribe.mjs"))
        .env("GUANXI_WS_URL", format!("{}/graphql", app.base.replace("http://", "ws://")))
        .env("GUANXI_TOKEN", token)
        .env("GUANXI_SUBSCRIPTION", query)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (the README's test command installs it)");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let _ = lines.send(serde_json::from_str(&line).unwrap_or(Value::String(line)));
        }
    });
    (child, received)
}

async fn line(received: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, within: Duration) -> Option<Value> {
    tokio::time::timeout(within, received.recv()).await.ok().flatten()
}

#[tokio::test]
async fn the_graphql_ws_reference_client_subscribes_and_is_refused_with_a_bad_token() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("nodews", "ADMIN", "admin");
    let (_client, mut received) =
        graphql_ws_client(&app, &admin, "subscription { customerChanged { kind customer { name } } }");
    assert_eq!(line(&mut received, Duration::from_secs(20)).await, Some(json!({ "connected": true })));
    // The client subscribes right after it connects; the server has no reply to a subscription
    // that starts, so writes are made until one is heard.
    let mut heard = None;
    for n in 0..10 {
        app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": format!("客户 {n}") })).await;
        heard = line(&mut received, PUSHED_WITHIN).await;
        if heard.is_some() {
            break;
        }
    }
    let heard = heard.expect("the client heard a change");
    assert_eq!(heard["data"]["customerChanged"]["kind"], "CREATED", "{heard}");
    assert!(heard["data"]["customerChanged"]["customer"]["name"].as_str().is_some_and(|n| n.starts_with("客户")));

    let (_client, mut received) = graphql_ws_client(&app, "not-a-token", "subscription { customerChanged { kind } }");
    let closed = line(&mut received, Duration::from_secs(20)).await.expect("the client reports the close");
    assert_eq!(closed["closed"], 4403, "{closed}");
}

#[tokio::test]
async fn a_deadline_passing_unmet_is_told_once_even_with_two_replicas_checking() {
    let clock = guanxi_api::clock::Clock::default();
    let (clock_a, clock_b) = (clock.clone(), clock.clone());
    let a = TestApp::spawn_with(move |c| {
        c.clock = clock_a;
        c.sla_check_ms = 100;
    })
    .await;
    let url = a.database_url.clone();
    let b = TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.clock = clock_b;
        c.sla_check_ms = 100;
    })
    .await;
    let manager = a.token("sla", "MANAGER", "manager");
    let customer = a.create_customer(&manager, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let file = "mutation($c: ID!) { fileComplaint(input: {customerId: $c, title: \"迟到\", category: DELIVERY, \
                severity: HIGH}) { id responseDueAt } }";
    let filed = ok(&a.gql(&manager, file, json!({ "c": customer })).await)["fileComplaint"].clone();
    let mut ws = connect(&b, &manager).await;
    subscribe(
        &mut ws,
        "sla",
        "subscription { complaintChanged { kind complaintId changedFields actor { name } complaint { slaBreached } } }",
        json!({}),
    )
    .await;

    let due = chrono::DateTime::parse_from_rfc3339(filed["responseDueAt"].as_str().expect("due")).expect("time");
    clock.advance(due.with_timezone(&chrono::Utc) - chrono::Utc::now() + chrono::Duration::minutes(1));
    let told =
        pushed_where(&mut ws, "sla", Duration::from_secs(3), |p| p["data"]["complaintChanged"]["kind"] != "CREATED")
            .await;
    let event = &told["data"]["complaintChanged"];
    assert_eq!(event["kind"], "SLA_BREACHED", "{told}");
    assert_eq!(event["complaintId"], filed["id"]);
    assert_eq!(event["changedFields"], json!(["responseDueAt"]));
    assert_eq!(event["actor"], Value::Null, "the server tells, not a user");
    assert_eq!(event["complaint"]["slaBreached"], true);

    // Both replicas kept checking meanwhile: the outbox holds one breach for the complaint.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let db = sea_orm::Database::connect(&a.database_url).await.expect("database");
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let breaches = guanxi_entity::event::Entity::find()
        .filter(guanxi_entity::event::Column::Name.eq("complaint.sla_breached"))
        .count(&db)
        .await
        .expect("count");
    assert_eq!(breaches, 1);
}

#[tokio::test]
async fn a_tier_and_a_stage_the_scorer_moves_are_told_as_scored() {
    // The shared server's tenants get the default scorers, which give every new customer a
    // lifecycle stage and rank it into a tier.
    let app = TestApp::shared().await;
    let admin = app.token("scored", "ADMIN", "admin");
    let mut ws = connect(&app, &admin).await;
    let query = "subscription { customerChanged { kind changedFields customer { tier lifecycleStage } } }";
    subscribe(&mut ws, "1", query, json!({})).await;
    app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "新客户" })).await;
    assert_eq!(pushed(&mut ws, "1").await["data"]["customerChanged"]["kind"], "CREATED");
    let mut told = Vec::new();
    for _ in 0..2 {
        let scored = next(&mut ws, Duration::from_secs(10)).await;
        let event = &scored["payload"]["data"]["customerChanged"];
        assert_eq!(event["kind"], "SCORED", "{scored}");
        // The record is read as the event is delivered: what moved has its new value.
        let moved = if event["changedFields"] == json!(["tier"]) { "tier" } else { "lifecycleStage" };
        assert!(event["customer"][moved].is_string(), "{scored}");
        told.push(event["changedFields"].clone());
    }
    told.sort_by_key(ToString::to_string);
    assert_eq!(told, [json!(["lifecycleStage"]), json!(["tier"])]);
}

#[tokio::test]
async fn a_write_on_this_server_is_pushed_at_once_without_waiting_for_the_poll() {
    // The poll is a minute away: only the wake after the commit can bring the event in time.
    let app = TestApp::spawn_with(|c| {
        c.event_poll_ms = 60_000;
        c.default_plugins = false;
    })
    .await;
    let admin = app.token("local", "ADMIN", "admin");
    app.create_customer(&admin, json!({ "kind": "INDIVIDUAL", "name": "先有租户" })).await;
    let mut ws = connect(&app, &admin).await;
    subscribe(&mut ws, "1", CUSTOMERS, json!({})).await;
    let customer = app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "立即" })).await;
    let heard =
        pushed_where(&mut ws, "1", PUSHED_WITHIN, |p| p["data"]["customerChanged"]["customerId"] == customer.as_str())
            .await;
    assert_eq!(heard["data"]["customerChanged"]["kind"], "CREATED");
}

#[tokio::test]
async fn limits_on_subscriptions_sockets_and_messages_hold() {
    let app = TestApp::shared_bare().await;
    let admin = app.token("limits", "ADMIN", "admin");
    // A socket holds 100 subscriptions; the 101st is refused and the socket stays.
    let mut ws = connect(&app, &admin).await;
    for n in 0..100 {
        send(&mut ws, json!({ "type": "subscribe", "id": format!("s{n}"), "payload": { "query": CUSTOMERS } })).await;
    }
    send(&mut ws, json!({ "type": "subscribe", "id": "one-too-many", "payload": { "query": CUSTOMERS } })).await;
    let refused = next(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "one-too-many");
    assert_eq!(refused["payload"][0]["extensions"]["violations"][0]["code"], "TOO_MANY_SUBSCRIPTIONS", "{refused}");
    // Completing one gives its place back.
    send(&mut ws, json!({ "type": "complete", "id": "s0" })).await;
    subscribe(&mut ws, "again", CUSTOMERS, json!({})).await;

    // A user holds 20 sockets on a server; the 21st is closed at connection_init.
    let agent = app.token("limits", "AGENT", "many-sockets");
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(&app, &agent).await);
    }
    let mut extra = open(&app).await;
    send(&mut extra, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {agent}") } }))
        .await;
    let (code, reason) = closed_with(&mut extra, Duration::from_secs(5)).await;
    assert_eq!(code, 4403, "{reason}");
    // A socket closed gives its place back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    held.push(connect(&app, &agent).await);

    // Not the protocol's JSON: 4400. Over 64 KiB: 1009.
    let mut ws = connect(&app, &admin).await;
    ws.send(Message::text("{\"type\":\"no such thing\"}")).await.expect("send");
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 4400);
    let mut ws = connect(&app, &admin).await;
    let huge = json!({ "type": "subscribe", "id": "big", "payload": { "query": format!("# {}\n{CUSTOMERS}", "x".repeat(70_000)) } });
    let _ = ws.send(Message::text(huge.to_string())).await;
    assert_eq!(closed_with(&mut ws, Duration::from_secs(5)).await.0, 1009);
}

#[tokio::test]
async fn a_subscriber_that_cannot_pay_is_told_so_only_of_what_it_may_hear_of() {
    let app = TestApp::spawn_with(|c| {
        c.default_plugins = false;
        c.rate_limits = "on".into();
        c.rate_user = guanxi_api::rate::BucketSpec::parse("40/0.01").expect("bucket");
    })
    .await;
    let agent = app.token("paying", "AGENT", "agent");
    let manager = app.token("paying", "MANAGER", "manager");
    let agent_id = ok(&app.gql(&agent, "{ viewer { user { id } } }", json!({})).await)["viewer"]["user"]["id"].clone();
    let mut ws = connect(&app, &agent).await;
    subscribe(&mut ws, "1", "subscription { customerChanged { kind customer { name } } }", json!({})).await;
    // The agent spends its bucket, a point a request.
    let mut spent = false;
    for _ in 0..100 {
        let res = app.gql(&agent, "{ viewer { role } }", json!({})).await;
        if res["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
            spent = true;
            break;
        }
    }
    assert!(spent, "the agent's bucket never ran out");
    // Another's customer: the agent hears nothing, not even that it could not pay.
    app.create_customer(&manager, json!({ "kind": "ORGANIZATION", "name": "别人的客户" })).await;
    let quiet = tokio::time::timeout(Duration::from_millis(1500), ws.next()).await;
    assert!(matches!(quiet, Err(_) | Ok(Some(Ok(Message::Ping(_))))), "told of a change it may not hear of: {quiet:?}");
    // Its own: told that it could not pay.
    let give =
        "mutation($o: ID!) { createCustomer(input: {kind: INDIVIDUAL, name: \"给代理的\", ownerId: $o}) { id } }";
    ok(&app.gql(&manager, give, json!({ "o": agent_id })).await);
    let told = pushed(&mut ws, "1").await;
    assert_eq!(told["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{told}");
    // What the delivery would have cost: a point for the run, and one for the object it returns
    // beyond the event (its customer).
    assert_eq!(told["errors"][0]["extensions"]["points"], 2, "{told}");
    assert!(told["errors"][0]["message"].as_str().is_some_and(|m| m.contains("costs 2 points")), "{told}");
    assert!(told["errors"][0].get("locations").is_none(), "no place in the document: {told}");
    assert!(told.get("data").is_none(), "{told}");
}

#[tokio::test]
async fn a_client_that_pings_without_reading_does_not_pile_answers_up_on_the_server() {
    use tokio::io::AsyncWriteExt;
    // A server of its own: the flood below would slow the others' tests.
    let app = TestApp::spawn().await;
    let admin = app.token("pinger", "ADMIN", "admin");
    // A client that takes almost nothing: each pong the server owes it stays on the server.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer");
    let address = app.base.trim_start_matches("http://").parse().expect("address");
    let stream = socket.connect(address).await.expect("connect");
    let url = format!("{}/graphql", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.expect("the socket opens");
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {admin}") } }))
        .await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await["type"], "connection_ack");
    // Pings of 125 bytes (the most a control frame holds), masked as a client's are, written
    // straight to the connection and never an answer read.
    let mut frame = vec![0x89, 0x80 | 125, 1, 2, 3, 4];
    frame.extend((0..125u8).map(|i| i ^ [1, 2, 3, 4][usize::from(i) % 4]));
    let pings: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 1000).collect();
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_mut() else { unreachable!("a plain connection") };
    // The server runs in this process: what it keeps shows in this process's memory.
    let resident = || {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .expect("VmRSS")
            >> 10
    };
    let before = resident();
    let mut sent = 0usize;
    let flood = async {
        while sent < 384 << 20 {
            if tcp.write_all(&pings).await.is_err() {
                break;
            }
            sent += pings.len();
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), flood).await;
    let grown = resident().saturating_sub(before);
    // Each ping owes a pong of 127 bytes: kept, they would be about as much as was sent. The
    // server keeps at most 128 KiB waiting and one pong more.
    assert!(sent >= 64 << 20, "only {} MiB of pings went out", sent >> 20);
    assert!(grown < 96, "{grown} MiB more memory after {} MiB of pings whose answers nobody read", sent >> 20);
}
