//! Subscriptions: `GET /graphql` upgraded to a WebSocket speaking `graphql-transport-ws`, the
//! protocol of the `graphql-ws` library.
//!
//! The token comes in `connection_init`'s payload (`{"Authorization": "Bearer <JWT>"}`); a bad
//! one closes the socket with 4403, and so does the token's `exp` when it passes. Each
//! `subscribe` is checked as a request is (size, cost, the schema, its arguments) and answered
//! with `error` if it fails. Then, for every event of the caller's tenant that its root field
//! hears of, the document runs again as a fresh read with that event (`graphql::subscription`):
//! what the subscriber receives is decided by what it may see when the event is delivered.
//!
//! Limits: 100 subscriptions per socket, `GUANXI_MAX_SUBSCRIPTIONS_PER_TENANT` per tenant on
//! this server; each delivery is charged to the subscriber's rate buckets like a query and takes
//! a turn among its tenant's operations. A socket that falls `feed::BUFFERED` events behind its
//! tenant is closed with 1013 (try again later) instead of buffering without bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{ErrorExtensions, ServerError};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::AppState;
use crate::domain::Caller;
use crate::domain::feed::Heard;
use crate::error::Error;
use crate::graphql::context::RequestContext;
use crate::graphql::cost;
use crate::graphql::error::classify;
use crate::graphql::subscription::{Delivery, listens_to};

/// The subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a socket may stay open without `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Subscriptions one socket may hold.
pub const PER_SOCKET: usize = 100;
/// How often the server pings an idle socket, and how long it waits for a sign of life.
const KEEPALIVE: Duration = Duration::from_secs(30);
const SILENCE: Duration = Duration::from_secs(75);
/// The largest message a client may send.
const MAX_MESSAGE: usize = 64 * 1024;

/// Is this request a WebSocket upgrade?
#[must_use]
pub fn is_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Subscriptions held per tenant on this server.
#[derive(Default)]
pub struct Subscribers {
    held: Mutex<HashMap<Uuid, usize>>,
}

impl Subscribers {
    /// Takes a place for one more of `tenant`'s subscriptions, if it has fewer than `limit`.
    fn take(&self, tenant: Uuid, limit: usize) -> bool {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(tenant).or_default();
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    /// Subscriptions held on this server.
    #[must_use]
    pub fn total(&self) -> usize {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().sum()
    }

    fn give_back(&self, tenant: Uuid, places: usize) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&tenant) {
            *n = n.saturating_sub(places);
            if *n == 0 {
                held.remove(&tenant);
            }
        }
    }
}

/// Upgrades `GET /graphql` to a socket, once the client offers the subprotocol.
pub async fn upgrade(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let offered = req
        .headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return HttpResponse::BadRequest().content_type("application/json").body(
            json!({ "errors": [ { "message": format!("subscriptions speak the {PROTOCOL} subprotocol: offer it in Sec-WebSocket-Protocol"), "extensions": { "code": "BAD_USER_INPUT" } } ] })
                .to_string(),
        );
    }
    match actix_ws::handle_with_protocols(&req, body, &[PROTOCOL]) {
        Ok((response, session, messages)) => {
            let messages = messages.max_frame_size(MAX_MESSAGE);
            actix_web::rt::spawn(Socket::new(state.into_inner(), session).serve(messages));
            response
        }
        Err(err) => err.error_response(),
    }
}

/// A message of the protocol.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {},
    Pong {},
    Subscribe {
        id: String,
        payload: Box<async_graphql::Request>,
    },
    Complete {
        id: String,
    },
}

/// A subscription the socket holds.
struct Subscription {
    query: String,
    variables: async_graphql::Variables,
    operation_name: Option<String>,
    /// The records its root field hears of; `None` when the root could not be read plainly (a
    /// fragment): every event is tried.
    entity: Option<&'static str>,
}

/// Why a socket ends.
struct Closing(u16, String);

impl Closing {
    fn new(code: u16, why: impl Into<String>) -> Self {
        Self(code, why.into())
    }
}

struct Socket {
    state: Arc<AppState>,
    session: Session,
    /// The caller and when its token expires (seconds since the epoch), once acknowledged.
    caller: Option<(Caller, u64)>,
    subscriptions: BTreeMap<String, Subscription>,
}

impl Socket {
    fn new(state: Arc<AppState>, session: Session) -> Self {
        Self { state, session, caller: None, subscriptions: BTreeMap::new() }
    }

    async fn serve(mut self, mut messages: MessageStream) {
        let closing = self.run(&mut messages).await;
        if let Some((caller, _)) = &self.caller {
            self.state.subscribers.give_back(caller.tenant_id, self.subscriptions.len());
        }
        let Closing(code, why) = closing;
        let reason = CloseReason { code: CloseCode::Other(code), description: Some(why) };
        let _ = self.session.close(Some(reason)).await;
    }

    /// Serves the socket until it must close, and says why.
    async fn run(&mut self, messages: &mut MessageStream) -> Closing {
        let opened = tokio::time::Instant::now();
        let mut events = None;
        let mut last_heard = opened;
        let mut keepalive = tokio::time::interval_at(opened + KEEPALIVE, KEEPALIVE);
        loop {
            let expiry = match &self.caller {
                None => opened + INIT_TIMEOUT,
                Some((_, exp)) => until(*exp),
            };
            // The client's messages first: a subscription sent before a write is in place before
            // the write's event is handled.
            tokio::select! {
                biased;
                message = messages.next() => {
                    last_heard = tokio::time::Instant::now();
                    let message = match message {
                        None => return Closing::new(1000, "closed by the client"),
                        Some(Err(err)) => return Closing::new(1002, format!("protocol error: {err}")),
                        Some(Ok(m)) => m,
                    };
                    match message {
                        Message::Text(text) => {
                            if let Err(closing) = self.on_text(&text, &mut events).await {
                                return closing;
                            }
                        }
                        Message::Ping(bytes) => {
                            if self.session.pong(&bytes).await.is_err() {
                                return Closing::new(1000, "gone");
                            }
                        }
                        Message::Close(_) => return Closing::new(1000, "closed by the client"),
                        Message::Binary(_) | Message::Continuation(_) => {
                            return Closing::new(4400, "messages are JSON text");
                        }
                        Message::Pong(_) | Message::Nop => {}
                    }
                }
                heard = next_event(&mut events) => match heard {
                    Ok(event) => {
                        if let Err(closing) = self.deliver(&event).await {
                            return closing;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Closing::new(1013, format!("too slow: {missed} events behind; reconnect"));
                    }
                    Err(RecvError::Closed) => return Closing::new(1011, "the event feed stopped"),
                },
                () = tokio::time::sleep_until(expiry) => {
                    return match self.caller {
                        None => Closing::new(4408, "Connection initialisation timeout"),
                        Some(_) => Closing::new(4403, "Forbidden: the token expired"),
                    };
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > SILENCE {
                        return Closing::new(1001, "no sign of life");
                    }
                    if self.session.ping(b"").await.is_err() {
                        return Closing::new(1000, "gone");
                    }
                }
                () = self.state.closing.cancelled() => return Closing::new(1001, "the server is shutting down"),
            }
        }
    }

    async fn on_text(
        &mut self,
        text: &str,
        events: &mut Option<tokio::sync::broadcast::Receiver<Heard>>,
    ) -> Result<(), Closing> {
        let message: Incoming =
            serde_json::from_str(text).map_err(|e| Closing::new(4400, format!("invalid message: {e}")))?;
        match message {
            Incoming::ConnectionInit { payload } => {
                if self.caller.is_some() {
                    return Err(Closing::new(4429, "Too many initialisation requests"));
                }
                let (caller, exp) = self.authenticate(payload.as_ref()).await?;
                *events = Some(self.state.feed.subscribe(caller.tenant_id));
                self.caller = Some((caller, exp));
                self.send(&json!({ "type": "connection_ack" })).await
            }
            Incoming::Ping {} => self.send(&json!({ "type": "pong" })).await,
            Incoming::Pong {} => Ok(()),
            Incoming::Subscribe { id, payload } => {
                let Some((caller, _)) = self.caller.clone() else {
                    return Err(Closing::new(4401, "Unauthorized"));
                };
                if self.subscriptions.contains_key(&id) {
                    return Err(Closing::new(4409, format!("Subscriber for {id} already exists")));
                }
                match self.start(&caller, *payload).await {
                    Ok(subscription) => {
                        self.subscriptions.insert(id, subscription);
                        Ok(())
                    }
                    Err(errors) => self.send(&json!({ "type": "error", "id": id, "payload": errors })).await,
                }
            }
            Incoming::Complete { id } => {
                if self.subscriptions.remove(&id).is_some()
                    && let Some((caller, _)) = &self.caller
                {
                    self.state.subscribers.give_back(caller.tenant_id, 1);
                }
                Ok(())
            }
        }
    }

    async fn authenticate(&self, payload: Option<&Value>) -> Result<(Caller, u64), Closing> {
        let forbidden = |why: &str| Closing::new(4403, format!("Forbidden: {why}"));
        let header = payload
            .and_then(|p| p.get("Authorization").or_else(|| p.get("authorization")))
            .and_then(Value::as_str)
            .ok_or_else(|| forbidden("connection_init needs {\"Authorization\": \"Bearer <token>\"}"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| forbidden("Authorization must be `Bearer <token>`"))?;
        match super::auth::of_token(token, &self.state).await {
            Ok(found) => Ok(found),
            Err(Error::Unauthenticated(why)) => Err(forbidden(&why)),
            Err(err) => Err(Closing::new(4500, format!("internal error: {}", err.code()))),
        }
    }

    /// Checks a new subscription as a request is checked, and runs it once without an event so
    /// its arguments are checked too.
    async fn start(&self, caller: &Caller, mut request: async_graphql::Request) -> Result<Subscription, Vec<Value>> {
        let state = &self.state;
        let limits = state.config.query_limits();
        let refusal = |err: &Error| vec![error_json(&err.extend().into_server_error(async_graphql::Pos::default()))];
        if let Err(refused) = state.rates.admit(caller) {
            return Err(refusal(&rate_limited(&refused)));
        }
        cost::scan(&request.query, &limits).map_err(|too| refusal(&Error::QueryTooComplex(too.message)))?;
        let operation_name = request.operation_name.clone();
        let query = request.query.clone();
        let variables = std::mem::take(&mut request.variables);
        let doc = request.parsed_query().map_err(|e| vec![error_json(&classified(e))])?;
        let Some(operation) = cost::operation(doc, operation_name.as_deref()) else {
            return Err(refusal(&Error::invalid("operationName", "BAD_REQUEST", "name the operation to run")));
        };
        if operation.node.ty != OperationType::Subscription {
            return Err(refusal(&Error::invalid(
                "query",
                "BAD_REQUEST",
                "only subscriptions are served here: send queries and mutations with POST /graphql",
            )));
        }
        let entity = match operation.node.selection_set.node.items.as_slice() {
            [item] => match &item.node {
                Selection::Field(field) => listens_to(field.node.name.node.as_str()),
                _ => None,
            },
            _ => None,
        };
        let tenant = state.schemas.get(&state.db, caller.tenant_id).await.map_err(|e| refusal(&e))?;
        let measure = cost::walk(doc, operation_name.as_deref(), &variables, &tenant.shapes, &limits)
            .map_err(|too| refusal(&Error::QueryTooComplex(too.message)))?;
        if let Err(refused) = state.rates.charge(caller, measure.cost.max(1)) {
            return Err(refusal(&rate_limited(&refused)));
        }
        let subscription = Subscription { query, variables, operation_name, entity };
        if let Some(errors) = self.execute(caller, &subscription, None).await.errors() {
            return Err(errors);
        }
        if self.subscriptions.len() >= PER_SOCKET {
            return Err(refusal(&Error::invalid(
                "subscribe",
                "TOO_MANY_SUBSCRIPTIONS",
                format!("a socket holds at most {PER_SOCKET} subscriptions"),
            )));
        }
        if !state.subscribers.take(caller.tenant_id, state.config.max_subscriptions_per_tenant) {
            return Err(refusal(&Error::invalid(
                "subscribe",
                "TOO_MANY_SUBSCRIPTIONS",
                format!(
                    "this tenant holds {} subscriptions on this server, its limit",
                    state.config.max_subscriptions_per_tenant
                ),
            )));
        }
        Ok(subscription)
    }

    /// Runs every subscription that may hear of `event`, and sends what they answer.
    async fn deliver(&self, event: &Heard) -> Result<(), Closing> {
        let Some((caller, _)) = &self.caller else { return Ok(()) };
        for (id, subscription) in &self.subscriptions {
            if subscription.entity.is_some_and(|e| e != event.entity) {
                continue;
            }
            let answer = self.execute(caller, subscription, Some(event)).await;
            if let Some(payload) = answer.payload() {
                metrics::counter!("subscription_deliveries_total").increment(1);
                self.send(&json!({ "type": "next", "id": id, "payload": payload })).await?;
            }
        }
        Ok(())
    }

    /// One execution of a subscription's document, with `event` or (to check it) without.
    async fn execute(&self, caller: &Caller, subscription: &Subscription, event: Option<&Heard>) -> Answer {
        let state = &self.state;
        let internal = |err: Error| {
            Answer::Failed(vec![error_json(&err.extend().into_server_error(async_graphql::Pos::default()))])
        };
        let tenant = match state.schemas.get(&state.db, caller.tenant_id).await {
            Ok(t) => t,
            Err(err) => return internal(err),
        };
        let Ok(turn) = state.turns.enter(caller.tenant_id).await else {
            return internal(Error::RateLimited { bucket: "inFlight", points: 1, retry_after: 1 });
        };
        let statements = Arc::new(AtomicU64::new(0));
        let context = Arc::new(crate::store::CLOCK.sync_scope(state.config.clock.clone(), || {
            RequestContext::new(
                caller.clone(),
                state.db.clone(),
                state.plugins.clone(),
                tenant.fields.clone(),
                statements.clone(),
                Arc::new(turn),
            )
        }));
        let mut request = async_graphql::Request::new(subscription.query.clone())
            .variables(subscription.variables.clone())
            .data(context.clone());
        request.operation_name.clone_from(&subscription.operation_name);
        if let Some(event) = event {
            request = request.data(Delivery(event.clone()));
        }
        let run = crate::store::STATEMENTS.scope(
            statements,
            crate::store::CLOCK
                .scope(state.config.clock.clone(), async { tenant.schema.execute_stream(request).next().await }),
        );
        let timeout = Duration::from_secs(state.config.request_timeout_secs);
        let response = match tokio::time::timeout(timeout, run).await {
            Ok(Some(response)) => response,
            Ok(None) => return Answer::Silent,
            Err(_) => return internal(Error::Internal(anyhow::anyhow!("delivery exceeded {} s", timeout.as_secs()))),
        };
        let mut errors = response.errors;
        errors.extend(std::mem::take(
            &mut *context.field_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        ));
        classify(&mut errors);
        if event.is_some() {
            let returned = super::graphql::objects_in(&response.data).max(1);
            if let Err(refused) = state.rates.charge(caller, returned) {
                let errors =
                    vec![error_json(&rate_limited(&refused).extend().into_server_error(async_graphql::Pos::default()))];
                return Answer::Failed(errors);
            }
        }
        if response.data == async_graphql::Value::Null && !errors.is_empty() {
            return Answer::Failed(errors.iter().map(error_json).collect());
        }
        let data = serde_json::to_value(&response.data).unwrap_or(Value::Null);
        if errors.is_empty() {
            Answer::Data(json!({ "data": data }))
        } else {
            Answer::Data(json!({ "data": data, "errors": errors.iter().map(error_json).collect::<Vec<_>>() }))
        }
    }

    async fn send(&self, message: &Value) -> Result<(), Closing> {
        let mut session = self.session.clone();
        session.text(message.to_string()).await.map_err(|_| Closing::new(1000, "gone"))
    }
}

/// What one execution answered.
enum Answer {
    /// The subscriber does not hear of the event.
    Silent,
    Data(Value),
    /// It failed before it could answer anything.
    Failed(Vec<Value>),
}

impl Answer {
    fn errors(self) -> Option<Vec<Value>> {
        match self {
            Answer::Failed(errors) => Some(errors),
            Answer::Data(body) => body.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()).cloned(),
            Answer::Silent => None,
        }
    }

    fn payload(self) -> Option<Value> {
        match self {
            Answer::Silent => None,
            Answer::Data(body) => Some(body),
            Answer::Failed(errors) => Some(json!({ "errors": errors })),
        }
    }
}

fn classified(err: ServerError) -> ServerError {
    let mut errors = [err];
    classify(&mut errors);
    let [err] = errors;
    err
}

fn error_json(err: &ServerError) -> Value {
    serde_json::to_value(err).unwrap_or_else(|_| json!({ "message": "internal error" }))
}

fn rate_limited(refusal: &crate::rate::Refusal) -> Error {
    Error::RateLimited { bucket: refusal.bucket, points: 1, retry_after: refusal.retry_after }
}

/// The instant a token that expires at `exp` (seconds since the epoch) stops being valid.
fn until(exp: u64) -> tokio::time::Instant {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    tokio::time::Instant::now() + Duration::from_secs(exp.saturating_sub(now))
}

/// The next event of the socket's tenant, once it has one.
async fn next_event(events: &mut Option<tokio::sync::broadcast::Receiver<Heard>>) -> Result<Heard, RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}
