//! Subscriptions: `GET /graphql` upgraded to a WebSocket speaking `graphql-transport-ws`, the
//! protocol of the `graphql-ws` library. (Over 600 lines on purpose: one socket's loop, its
//! messages, deadlines and limits are one state machine, read best in one place.)
//!
//! The token comes in `connection_init`'s payload (`{"Authorization": "Bearer <JWT>"}`); a bad
//! one closes the socket with 4403, and so does the token's `exp` when it passes. Each
//! `subscribe` is checked as a request is (size, cost, the schema, its arguments) and answered
//! with `error` if it fails. Then, for every event of the caller's tenant that its root field
//! hears of, the document runs again as a fresh read with that event (`graphql::subscription`):
//! what the subscriber receives is decided by what it may see when the event is delivered.
//!
//! Limits: 100 subscriptions per socket; per user on this server 20 sockets and 1,000
//! subscriptions; per tenant `GUANXI_MAX_SUBSCRIPTIONS_PER_TENANT`. Every run of a document is
//! charged to the subscriber's rate buckets (a point, and what it returns) and takes a turn
//! among its tenant's operations; a document refused costs what a refused request costs. A
//! socket that falls `GUANXI_EVENT_BUFFER` batches of events behind its tenant, or does not
//! take what it is sent within 5 seconds, is closed (1013) instead of buffering without bound.
//! Events none of a socket's subscriptions listens to are passed over without a run, so a flood
//! of one kind (a ranking that moves thousands of tiers) costs the other subscribers nothing.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_codec::Framed;
use actix_http::body::BodySize;
use actix_http::header::{self, HeaderValue};
use actix_http::{HttpMessage, Method, Request, Response, StatusCode, h1};
use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{ErrorExtensions, ServerError};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

use super::AppState;
use crate::domain::Caller;
use crate::domain::feed::{Batch, Heard};
use crate::error::Error;
use crate::graphql::context::RequestContext;
use crate::graphql::cost;
use crate::graphql::error::classify;
use crate::graphql::subscription::{Delivery, listens_to};
use crate::locale::Locale;

/// The subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";
/// How long a socket may stay open without `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Subscriptions one socket may hold.
pub const PER_SOCKET: usize = 100;
/// Sockets and subscriptions one user may hold on one server.
pub const SOCKETS_PER_USER: usize = 20;
pub const SUBSCRIPTIONS_PER_USER: usize = 1_000;
/// How long a message may wait for the client to take it.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the server pings an idle socket, and how long it waits for a sign of life.
const KEEPALIVE: Duration = Duration::from_secs(30);
const SILENCE: Duration = Duration::from_secs(75);
/// The largest message a client may send.
const MAX_MESSAGE: usize = 64 * 1024;
/// What a socket reads at once: the protocol's messages are small, and an idle socket keeps
/// this much (a larger message grows it while it is read).
const READ_BUFFER: usize = 1024;
/// What may wait to be written to a client that does not read: a message being sent, and the
/// answers to its pings. Past it, tungstenite keeps only the answer to the latest ping, so a
/// client that pings without reading costs the server this much, not a pong per ping; it is
/// closed (1013) when the next message or keepalive ping cannot be sent within 5 seconds.
const MAX_UNSENT: usize = 2 * MAX_MESSAGE;

/// Sockets and subscriptions held on this server, per tenant and per user.
#[derive(Default)]
pub struct Subscribers {
    held: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    per_tenant: HashMap<Uuid, usize>,
    per_user: HashMap<Uuid, usize>,
    sockets_per_user: HashMap<Uuid, usize>,
}

/// Takes one from a count, forgetting counts that reach zero.
fn decrement(counts: &mut HashMap<Uuid, usize>, key: Uuid, by: usize) {
    if let Some(n) = counts.get_mut(&key) {
        *n = n.saturating_sub(by);
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

impl Subscribers {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscriptions held on this server.
    #[must_use]
    pub fn total(&self) -> usize {
        self.counts().per_tenant.values().sum()
    }
}

/// What one socket holds of [`Subscribers`], given back when it is dropped (however the socket
/// ends, a panic included).
struct Held {
    state: Arc<AppState>,
    /// (tenant, user) once the socket is acknowledged.
    owner: Option<(Uuid, Uuid)>,
    subscriptions: usize,
}

impl Held {
    /// Counts the socket for its user, if the user has fewer than [`SOCKETS_PER_USER`].
    fn socket(&mut self, tenant: Uuid, user: Uuid) -> bool {
        let mut counts = self.state.subscribers.counts();
        let sockets = counts.sockets_per_user.entry(user).or_default();
        if *sockets >= SOCKETS_PER_USER {
            return false;
        }
        *sockets += 1;
        self.owner = Some((tenant, user));
        true
    }

    /// Takes a place for one more subscription; the refusal says which limit it reached.
    fn subscription(&mut self, per_tenant: usize) -> Result<(), String> {
        let Some((tenant, user)) = self.owner else { return Err("the socket is not acknowledged".into()) };
        let mut counts = self.state.subscribers.counts();
        if self.subscriptions >= PER_SOCKET {
            return Err(format!("a socket holds at most {PER_SOCKET} subscriptions"));
        }
        if counts.per_user.get(&user).copied().unwrap_or(0) >= SUBSCRIPTIONS_PER_USER {
            return Err(format!("a user holds at most {SUBSCRIPTIONS_PER_USER} subscriptions on a server"));
        }
        if counts.per_tenant.get(&tenant).copied().unwrap_or(0) >= per_tenant {
            return Err(format!("this tenant holds {per_tenant} subscriptions on this server, its limit"));
        }
        *counts.per_user.entry(user).or_default() += 1;
        *counts.per_tenant.entry(tenant).or_default() += 1;
        self.subscriptions += 1;
        Ok(())
    }

    fn give_back_one(&mut self) {
        if let Some((tenant, user)) = self.owner
            && self.subscriptions > 0
        {
            let mut counts = self.state.subscribers.counts();
            decrement(&mut counts.per_user, user, 1);
            decrement(&mut counts.per_tenant, tenant, 1);
            self.subscriptions -= 1;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((tenant, user)) = self.owner {
            let mut counts = self.state.subscribers.counts();
            decrement(&mut counts.per_user, user, self.subscriptions);
            decrement(&mut counts.per_tenant, tenant, self.subscriptions);
            decrement(&mut counts.sockets_per_user, user, 1);
        }
    }
}

/// The socket's side of an upgraded connection.
type Connection = WebSocketStream<TcpStream>;

/// Serves a request that asks for a WebSocket (`Upgrade: websocket`, on any path) or a `CONNECT`,
/// which actix-http hands over with the connection itself (`HttpService::upgrade`), before the
/// routes and their middlewares: `GET /graphql` offering the subprotocol becomes a socket;
/// anything else is answered with a JSON error and the connection closed. Taken out of the
/// HTTP/1.1 dispatcher, the connection leaves its two 8 KiB buffers behind, and an idle socket
/// keeps only what it needs (BENCHMARKS.md, "Subscriptions at 10,000 sockets").
///
/// # Errors
/// The connection fails while the answer to the handshake is written.
pub async fn upgrade(
    state: Arc<AppState>,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> std::io::Result<()> {
    if req.path() != "/graphql" {
        return refuse(&mut framed, StatusCode::NOT_FOUND, "NOT_FOUND", "WebSockets are served at /graphql".into())
            .await;
    }
    if req.method() != Method::GET {
        return refuse(
            &mut framed,
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "a WebSocket opens with GET".into(),
        )
        .await;
    }
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        let why = format!("subscriptions speak the {PROTOCOL} subprotocol: offer it in Sec-WebSocket-Protocol");
        return refuse(&mut framed, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", why).await;
    }
    let mut accepted = match actix_http::ws::handshake(req.head()) {
        Ok(mut accepted) => accepted.finish().drop_body(),
        Err(err) => {
            let why = format!("not a WebSocket handshake: {err}");
            return refuse(&mut framed, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", why).await;
        }
    };
    accepted.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    framed.send((accepted, BodySize::None).into()).await.map_err(std::io::Error::other)?;
    // Neither the request nor the HTTP buffers are needed any more: an idle socket would keep
    // them (6 KiB and 16 KiB) for as long as it is open.
    let asked = Locale::choose(None, req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    drop(req);
    let actix_codec::FramedParts { io, read_buf, .. } = framed.into_parts();
    let read = read_buf.to_vec();
    drop(read_buf);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_UNSENT)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    // What the client sent after its handshake is already in the HTTP read buffer.
    let connection = WebSocketStream::from_partially_read(io, read, Role::Server, Some(config)).await;
    Socket::new(state, connection, asked).serve().await;
    Ok(())
}

/// Answers a request that does not become a socket, as a GraphQL error, and closes.
async fn refuse(
    framed: &mut Framed<TcpStream, h1::Codec>,
    status: StatusCode,
    code: &str,
    why: String,
) -> std::io::Result<()> {
    let body = json!({ "errors": [ { "message": why, "extensions": { "code": code } } ] }).to_string();
    let mut res = Response::with_body(status, ());
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.head_mut().set_connection_type(actix_http::ConnectionType::Close);
    let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
    framed.send((res, BodySize::Sized(len)).into()).await.map_err(std::io::Error::other)?;
    framed.send(h1::Message::Chunk(Some(body.into()))).await.map_err(std::io::Error::other)?;
    framed.send(h1::Message::Chunk(None)).await.map_err(std::io::Error::other)
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
    /// Parsed once (each run starts from a copy), and shared with every subscription of the same text on this server.
    document: Arc<Document>,
    /// The variables as JSON: the key of shared runs ([`RunKey`]), and read again for each run
    /// (an idle socket keeps the text, not the parsed map).
    variables_json: Arc<str>,
    operation_name: Option<String>,
    /// The records its root field hears of.
    entity: &'static str,
    /// The customer its `customerId` argument narrows it to.
    customer: Option<Uuid>,
}

impl Subscription {
    /// Might this subscription hear of `event`? (Its run decides; this passes over the rest
    /// without one.)
    fn listens_to(&self, event: &guanxi_entity::event::Model) -> bool {
        self.entity == event.entity && self.customer.is_none_or(|c| event.customer_id == Some(c))
    }
}

/// A socket's subscriptions by the client's id, in the order they started. A list grown one at
/// a time: most sockets hold one or two, and a map's first node would hold room for eleven.
#[derive(Default)]
struct Subscriptions(Vec<(String, Subscription)>);

impl Subscriptions {
    fn contains(&self, id: &str) -> bool {
        self.0.iter().any(|(held, _)| held == id)
    }

    fn insert(&mut self, id: String, subscription: Subscription) {
        self.0.reserve_exact(1);
        self.0.push((id, subscription));
    }

    fn remove(&mut self, id: &str) -> Option<Subscription> {
        let at = self.0.iter().position(|(held, _)| held == id)?;
        let (_, subscription) = self.0.remove(at);
        self.0.shrink_to_fit();
        Some(subscription)
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Subscription)> {
        self.0.iter().map(|(id, subscription)| (id, subscription))
    }

    /// Does one of them listen to `event`?
    fn listen_to(&self, event: &guanxi_entity::event::Model) -> bool {
        self.0.iter().any(|(_, s)| s.listens_to(event))
    }
}

/// The socket's place in its tenant's events: the batch it is going through, and the channel
/// the next batches come on.
struct Inbox {
    batches: tokio::sync::broadcast::Receiver<Batch>,
    batch: Batch,
    next: usize,
}

impl Inbox {
    fn new(batches: tokio::sync::broadcast::Receiver<Batch>) -> Self {
        Self { batches, batch: Arc::new([]), next: 0 }
    }

    /// The next event one of `subscriptions` listens to. Cancel-safe: an event is taken only
    /// when it is returned.
    async fn next(&mut self, subscriptions: &Subscriptions) -> Result<Heard, RecvError> {
        loop {
            while let Some(event) = self.batch.get(self.next) {
                self.next += 1;
                if subscriptions.listen_to(event) {
                    return Ok(event.clone());
                }
            }
            // A socket waiting for events keeps none of those it has gone through.
            self.batch = Arc::new([]);
            self.next = 0;
            self.batch = self.batches.recv().await?;
        }
    }
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
    /// Where messages go; the socket's steps send from `&self`.
    outgoing: tokio::sync::Mutex<futures_util::stream::SplitSink<Connection, Message>>,
    /// Where the client's messages come from, until the socket's loop takes it.
    incoming: Option<futures_util::stream::SplitStream<Connection>>,
    /// The caller and when its token stops being valid, once acknowledged.
    caller: Option<(Caller, tokio::time::Instant)>,
    /// The language the handshake's `Accept-Language` asked for; the token's claim wins.
    asked: Locale,
    subscriptions: Subscriptions,
    held: Held,
}

impl Socket {
    fn new(state: Arc<AppState>, connection: Connection, asked: Locale) -> Self {
        let held = Held { state: state.clone(), owner: None, subscriptions: 0 };
        let (outgoing, incoming) = connection.split();
        Self {
            state,
            outgoing: tokio::sync::Mutex::new(outgoing),
            incoming: Some(incoming),
            caller: None,
            asked,
            subscriptions: Subscriptions::default(),
            held,
        }
    }

    async fn serve(mut self) {
        let Some(mut messages) = self.incoming.take() else { return };
        let Closing(code, mut why) = self.run(&mut messages).await;
        // A close frame carries at most 123 bytes of reason (RFC 6455, 5.5).
        if why.len() > 123 {
            let mut end = 120;
            while !why.is_char_boundary(end) {
                end -= 1;
            }
            why.truncate(end);
            why.push('…');
        }
        let frame = CloseFrame { code: code.into(), reason: why.into() };
        let mut outgoing = self.outgoing.lock().await;
        let _ = tokio::time::timeout(SEND_TIMEOUT, async {
            let _ = outgoing.send(Message::Close(Some(frame))).await;
            // The client answers with its close; the connection ends when it does.
            while let Some(Ok(_)) = messages.next().await {}
        })
        .await;
    }

    /// Serves the socket until it must close, and says why.
    async fn run(&mut self, messages: &mut futures_util::stream::SplitStream<Connection>) -> Closing {
        let opened = tokio::time::Instant::now();
        let mut inbox = None;
        let mut last_heard = opened;
        let mut keepalive = tokio::time::interval_at(opened + KEEPALIVE, KEEPALIVE);
        loop {
            let expiry = self.expiry(opened);
            // Shutdown and the deadlines first, whatever else is ready; then the client's
            // messages, so a subscription sent before a write is in place before its event.
            tokio::select! {
                biased;
                () = self.state.closing.cancelled() => return Closing::new(1001, "the server is shutting down"),
                () = tokio::time::sleep_until(expiry) => return self.expired(),
                message = messages.next() => {
                    last_heard = tokio::time::Instant::now();
                    let message = match message {
                        None => return Closing::new(1000, "closed by the client"),
                        Some(Err(tungstenite::Error::Capacity(_))) => {
                            return Closing::new(1009, format!("messages are at most {MAX_MESSAGE} bytes"));
                        }
                        Some(Err(tungstenite::Error::WriteBufferFull(_))) => {
                            return Closing::new(1013, "the client does not take what it is sent");
                        }
                        Some(Err(tungstenite::Error::Utf8(_))) => return Closing::new(1007, "text must be UTF-8"),
                        Some(Err(
                            tungstenite::Error::ConnectionClosed
                            | tungstenite::Error::AlreadyClosed
                            | tungstenite::Error::Io(_),
                        )) => return Closing::new(1000, "gone"),
                        Some(Err(err)) => return Closing::new(1002, format!("protocol error: {err}")),
                        Some(Ok(m)) => m,
                    };
                    match message {
                        Message::Text(text) => {
                            // Boxed: a socket's task holds the state of its largest step only
                            // while the step runs.
                            if let Err(closing) = Box::pin(self.on_text(&text, &mut inbox)).await {
                                return closing;
                            }
                        }
                        // tungstenite answers pings itself, with the next read or write.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        Message::Close(_) => return Closing::new(1000, "closed by the client"),
                        Message::Binary(_) => return Closing::new(4400, "messages are JSON text"),
                    }
                }
                heard = next_heard(&mut inbox, &self.subscriptions) => match heard {
                    Ok(event) => {
                        // Boxed, as the other large steps: an idle socket's task then holds only
                        // the loop, not the largest state any step could need.
                        match Box::pin(self.deliver(&event, expiry)).await {
                            Err(closing) => return closing,
                            Ok(ended) => {
                                for id in ended {
                                    if self.subscriptions.remove(&id).is_some() {
                                        self.held.give_back_one();
                                    }
                                }
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Closing::new(1013, format!("too slow: {missed} batches of events behind; reconnect"));
                    }
                    Err(RecvError::Closed) => return Closing::new(1001, "the event feed stopped"),
                },
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > SILENCE {
                        return Closing::new(1001, "no sign of life");
                    }
                    if let Err(closing) = self.send_message(Message::Ping(tungstenite::Bytes::new())).await {
                        return closing;
                    }
                }
            }
        }
    }

    /// When the socket must close: 3 seconds after it opened until it is acknowledged, then
    /// when its token stops being valid.
    fn expiry(&self, opened: tokio::time::Instant) -> tokio::time::Instant {
        self.caller.as_ref().map_or(opened + INIT_TIMEOUT, |(_, until)| *until)
    }

    fn expired(&self) -> Closing {
        match self.caller {
            None => Closing::new(4408, "Connection initialisation timeout"),
            Some(_) => Closing::new(4403, "Forbidden: the token expired"),
        }
    }

    async fn on_text(&mut self, text: &str, inbox: &mut Option<Inbox>) -> Result<(), Closing> {
        let message: Incoming =
            serde_json::from_str(text).map_err(|e| Closing::new(4400, format!("invalid message: {e}")))?;
        match message {
            Incoming::ConnectionInit { payload } => {
                if self.caller.is_some() {
                    return Err(Closing::new(4429, "Too many initialisation requests"));
                }
                let (caller, exp) = Box::pin(self.authenticate(payload.as_ref())).await?;
                if !self.held.socket(caller.tenant_id, caller.user_id) {
                    return Err(Closing::new(
                        4403,
                        format!("Forbidden: a user holds at most {SOCKETS_PER_USER} sockets on a server"),
                    ));
                }
                match self.state.feed.subscribe(caller.tenant_id).await {
                    Ok(receiver) => *inbox = Some(Inbox::new(receiver)),
                    Err(err) => return Err(Closing::new(1013, format!("try again later: {}", err.code()))),
                }
                self.caller = Some((caller, until(exp)));
                self.send(&json!({ "type": "connection_ack" })).await
            }
            Incoming::Ping {} => self.send(&json!({ "type": "pong" })).await,
            Incoming::Pong {} => Ok(()),
            Incoming::Subscribe { id, payload } => {
                let Some((caller, _)) = self.caller.clone() else {
                    return Err(Closing::new(4401, "Unauthorized"));
                };
                if self.subscriptions.contains(&id) {
                    return Err(Closing::new(4409, format!("Subscriber for {id} already exists")));
                }
                match Box::pin(self.start(&caller, *payload)).await {
                    Ok(subscription) => {
                        self.subscriptions.insert(id, subscription);
                        Ok(())
                    }
                    Err(errors) => {
                        let mut errors = Value::Array(errors);
                        self.language().localize_json(&mut errors);
                        self.send(&json!({ "type": "error", "id": id, "payload": errors })).await
                    }
                }
            }
            Incoming::Complete { id } => {
                if self.subscriptions.remove(&id).is_some() {
                    self.held.give_back_one();
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
        let token = super::auth::bearer(header).ok_or_else(|| forbidden("Authorization must be `Bearer <token>`"))?;
        match super::auth::of_token(token, &self.state).await {
            Ok(found) => Ok(found),
            Err(Error::Unauthenticated(why)) => Err(forbidden(&why)),
            // The database, most likely: a reconnect later may well succeed.
            Err(err) => Err(Closing::new(1013, format!("try again later: {}", err.code()))),
        }
    }

    /// Checks a new subscription as a request is checked, and runs it once without an event so
    /// its arguments are checked too.
    async fn start(
        &mut self,
        caller: &Caller,
        mut request: async_graphql::Request,
    ) -> Result<Subscription, Vec<Value>> {
        let state = self.state.clone();
        let limits = state.config.query_limits();
        let refusal = |err: &Error| vec![error_json(&err.extend().into_server_error(async_graphql::Pos::default()))];
        // A refused document is charged as a refused request is, so refusals in a loop cost too.
        let refused = |err: &Error| match state.rates.charge(caller, super::graphql::REFUSED_POINTS) {
            Err(limited) => refusal(&rate_limited(&limited, super::graphql::REFUSED_POINTS)),
            Ok(_) => refusal(err),
        };
        // Refused before it is measured, as over HTTP: no points named.
        if let Err(limited) = state.rates.admit(caller) {
            return Err(refusal(&rate_limited(&limited, 0)));
        }
        let tenant = state.schemas.get(&state.db, caller.tenant_id).await.map_err(|e| refusal(&e))?;
        let registration =
            super::documents::prepare(&state, caller, &tenant, &mut request).await.map_err(|e| refusal(&e))?;
        cost::scan(&request.query, &limits).map_err(|too| refused(&Error::QueryTooComplex(too.message)))?;
        let operation_name = request.operation_name.clone();
        let query = request.query.clone();
        let variables = std::mem::take(&mut request.variables);
        let doc = match request.parsed_query() {
            Ok(doc) => doc,
            Err(err) => return Err(refused(&Error::invalid("query", "BAD_REQUEST", classified(err).message))),
        };
        let Some(operation) = cost::operation(doc, operation_name.as_deref()) else {
            return Err(refused(&Error::invalid("operationName", "BAD_REQUEST", "name the operation to run")));
        };
        if operation.node.ty != OperationType::Subscription {
            return Err(refused(&Error::invalid(
                "query",
                "BAD_REQUEST",
                "only subscriptions are served here: send queries and mutations with POST /graphql",
            )));
        }
        let root = match operation.node.selection_set.node.items.as_slice() {
            [item] => match &item.node {
                Selection::Field(field) => Some(field),
                _ => None,
            },
            _ => None,
        };
        let Some((field, entity)) = root.and_then(|f| listens_to(f.node.name.node.as_str()).map(|e| (f, e))) else {
            return Err(refused(&Error::invalid(
                "query",
                "BAD_REQUEST",
                "a subscription selects exactly one of the Subscription type's fields, without fragments",
            )));
        };
        let customer = customer_argument(&field.node, &variables);
        let measure = cost::walk(doc, operation_name.as_deref(), &variables, &tenant.shapes, &limits)
            .map_err(|too| refused(&Error::QueryTooComplex(too.message)))?;
        if let Err(limited) = state.rates.charge(caller, measure.cost.max(1)) {
            return Err(refusal(&rate_limited(&limited, measure.cost.max(1))));
        }
        let document = state.runs.document(query, doc);
        let variables_json = serde_json::to_string(&variables).unwrap_or_default().into();
        let subscription = Subscription { document, variables_json, operation_name, entity, customer };
        if let Some(errors) = self.execute(caller, &subscription, None).await.answer.errors() {
            return Err(errors);
        }
        self.held
            .subscription(state.config.max_subscriptions_per_tenant)
            .map_err(|why| refusal(&Error::invalid("subscribe", "TOO_MANY_SUBSCRIPTIONS", why)))?;
        if let Some(registration) = registration {
            super::documents::register(&state, caller, registration).await;
        }
        Ok(subscription)
    }

    /// Runs every subscription that may hear of `event`, and sends what they answer; stops at
    /// the socket's deadline.
    ///
    /// Returns the subscriptions it ended: those whose documents their tenant no longer trusts
    /// (it began to enforce its trusted documents after they started), told so with an error.
    async fn deliver(&self, event: &Heard, expiry: tokio::time::Instant) -> Result<Vec<String>, Closing> {
        let mut ended = Vec::new();
        let Some((caller, _)) = &self.caller else { return Ok(ended) };
        let mut trusted = None;
        for (id, subscription) in self.subscriptions.iter() {
            if !subscription.listens_to(event) {
                continue;
            }
            if tokio::time::Instant::now() >= expiry {
                return Err(self.expired());
            }
            if trusted.is_none() && caller.role != crate::domain::Role::Admin {
                // The tenant's schema is cached; a change of the list drops it on every replica.
                let tenant = self.state.schemas.get(&self.state.db, caller.tenant_id).await;
                trusted = Some(tenant.ok().and_then(|t| t.trusted.clone()));
            }
            if let Some(Some(hashes)) = &trusted
                && !hashes.contains(&subscription.document.sha256)
            {
                let mut errors = Value::Array(vec![error_json(
                    &Error::UntrustedDocument.extend().into_server_error(async_graphql::Pos::default()),
                )]);
                self.language().localize_json(&mut errors);
                self.send(&json!({ "type": "error", "id": id, "payload": errors })).await?;
                ended.push(id.clone());
                continue;
            }
            let answer = self.delivered(caller, subscription, event).await;
            if let Some(mut payload) = answer.payload() {
                if let Some(errors) = payload.get_mut("errors") {
                    self.language().localize_json(errors);
                }
                metrics::counter!("subscription_deliveries_total").increment(1);
                self.send(&json!({ "type": "next", "id": id, "payload": payload })).await?;
            }
        }
        Ok(ended)
    }

    /// What `subscription` answers for `event`, charged to the caller: a point for the run, and
    /// what it returns, as a query pays. The run itself is shared with every subscription on
    /// this server that would make the same one ([`SharedRuns`]). A caller who cannot pay is
    /// told so only for an event it would have heard of: the refusal must not tell of others.
    async fn delivered(&self, caller: &Caller, subscription: &Subscription, event: &Heard) -> Answer {
        let state = &self.state;
        let key = RunKey {
            event: event.id,
            query: subscription.document.text.clone(),
            variables: subscription.variables_json.clone(),
            operation: subscription.operation_name.clone(),
            sight: Sight::of(caller),
        };
        let ran = state.runs.run(key, || self.execute(caller, subscription, Some(event))).await;
        let points = 1 + ran.returned;
        match state.rates.charge(caller, points) {
            Ok(_) => ran.answer.clone(),
            Err(_) if matches!(ran.answer, Answer::Silent) => Answer::Silent,
            Err(refusal) => Answer::Failed(vec![error_json(
                &rate_limited(&refusal, points).extend().into_server_error(async_graphql::Pos::default()),
            )]),
        }
    }

    /// One run of a subscription's document, with `event` or (to check it) without.
    ///
    /// A run for an event that fails before its root field decided (no turn, a timeout, the
    /// database) is logged and sends nothing: telling the subscriber would tell it of a change
    /// it may not have been allowed to hear of.
    async fn execute(&self, caller: &Caller, subscription: &Subscription, event: Option<&Heard>) -> Ran {
        let state = &self.state;
        let failed = |err: Error| {
            let answer = if event.is_some() {
                tracing::warn!(error = %err, tenant = %caller.tenant_slug, "a subscription's run failed");
                Answer::Silent
            } else {
                Answer::Failed(vec![error_json(&err.extend().into_server_error(async_graphql::Pos::default()))])
            };
            Ran { answer, returned: 0 }
        };
        let tenant = match state.schemas.get(&state.db, caller.tenant_id).await {
            Ok(t) => t,
            Err(err) => return failed(err),
        };
        let Ok(turn) = state.turns.enter(caller.tenant_id).await else {
            return failed(Error::RateLimited { bucket: "inFlight", points: 1, retry_after: 1 });
        };
        let statements = Arc::new(AtomicU64::new(0));
        let context = Arc::new(crate::clock::CLOCK.sync_scope(state.config.clock.clone(), || {
            RequestContext::new(
                caller.clone(),
                state.db.clone(),
                state.plugins.clone(),
                tenant.fields.clone(),
                statements.clone(),
                Arc::new(turn),
            )
        }));
        let mut request = async_graphql::Request::new(subscription.document.text.to_string())
            .variables(serde_json::from_str(&subscription.variables_json).unwrap_or_default())
            .data(context.clone());
        request.operation_name.clone_from(&subscription.operation_name);
        request.set_parsed_query(subscription.document.parsed.clone());
        if let Some(event) = event {
            request = request.data(Delivery(event.clone()));
        }
        let run = crate::clock::STATEMENTS.scope(
            statements,
            crate::clock::CLOCK.scope(
                state.config.clock.clone(),
                context.execution.clone().track(async { tenant.schema.execute_stream(request).next().await }),
            ),
        );
        let timeout = Duration::from_secs(state.config.request_timeout_secs);
        let response = match tokio::time::timeout(timeout, run).await {
            Ok(Some(response)) => response,
            Ok(None) => return Ran { answer: Answer::Silent, returned: 0 },
            Err(_) => return failed(Error::Internal(anyhow::anyhow!("a run exceeded {} s", timeout.as_secs()))),
        };
        let mut errors = response.errors;
        errors.extend(std::mem::take(
            &mut *context.field_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        ));
        classify(&mut errors);
        if response.data == async_graphql::Value::Null && !errors.is_empty() {
            if event.is_some() {
                let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
                tracing::warn!(errors = ?messages, tenant = %caller.tenant_slug, "a subscription's root failed");
                return Ran { answer: Answer::Silent, returned: 0 };
            }
            return Ran { answer: Answer::Failed(errors.iter().map(error_json).collect()), returned: 0 };
        }
        // What it returned, as a query pays for it (the run itself is the point paid beside).
        let returned = super::graphql::objects_in(&response.data).saturating_sub(1);
        let data = serde_json::to_value(&response.data).unwrap_or(Value::Null);
        let answer = if errors.is_empty() {
            Answer::Data(json!({ "data": data }))
        } else {
            Answer::Data(json!({ "data": data, "errors": errors.iter().map(error_json).collect::<Vec<_>>() }))
        };
        Ran { answer, returned }
    }

    /// Sends a message, if the client takes it within [`SEND_TIMEOUT`].
    /// The language of the socket's messages.
    fn language(&self) -> Locale {
        self.caller.as_ref().and_then(|(c, _)| c.locale).unwrap_or(self.asked)
    }

    async fn send(&self, message: &Value) -> Result<(), Closing> {
        self.send_message(Message::text(message.to_string())).await
    }

    async fn send_message(&self, message: Message) -> Result<(), Closing> {
        let mut outgoing = self.outgoing.lock().await;
        match tokio::time::timeout(SEND_TIMEOUT, outgoing.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Closing::new(1000, "gone")),
            Err(_) => Err(Closing::new(1013, "the client does not take what it is sent")),
        }
    }
}

/// The customer a root field's `customerId` argument names, when it names one plainly (a
/// literal or a variable): events of other customers are passed over without running anything.
fn customer_argument(
    field: &async_graphql::parser::types::Field,
    variables: &async_graphql::Variables,
) -> Option<Uuid> {
    let (_, value) = field.arguments.iter().find(|(name, _)| name.node.as_str() == "customerId")?;
    let value = value.node.clone().into_const_with(|name| variables.get(&name).cloned().ok_or(())).ok()?;
    let async_graphql::Value::String(id) = value else { return None };
    crate::domain::ids::decode(crate::domain::customers::TYPE_NAME, &id).ok()
}

/// What one run answered.
#[derive(Clone)]
enum Answer {
    /// The subscriber does not hear of the event.
    Silent,
    Data(Value),
    /// It failed before it could answer anything.
    Failed(Vec<Value>),
}

impl Answer {
    fn errors(&self) -> Option<Vec<Value>> {
        match self {
            Answer::Failed(errors) => Some(errors.clone()),
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

/// A run and what it returned (objects, as a query is charged for them).
struct Ran {
    answer: Answer,
    returned: u64,
}

/// What a caller may see, as far as a subscription's answer can tell: every role reads the
/// tenant alike but for the audit trail (ADMIN, MANAGER) and its own customers (an AGENT).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Sight {
    Role(crate::domain::Role),
    Agent(Uuid),
}

impl Sight {
    fn of(caller: &Caller) -> Self {
        match crate::domain::access::owner_scope(caller) {
            Some(agent) => Self::Agent(agent),
            None => Self::Role(caller.role),
        }
    }
}

/// Runs that answer alike: one event, one document with the same variables, the same sight.
#[derive(Clone, PartialEq, Eq, Hash)]
struct RunKey {
    event: i64,
    query: Arc<str>,
    variables: Arc<str>,
    operation: Option<String>,
    sight: Sight,
}

/// Runs most recently made, so the subscriptions that would make the same run for an event
/// share one: a page held open by a hundred managers costs one read per change, not a hundred.
/// Each subscriber is still charged for what it receives.
#[derive(Default)]
pub struct SharedRuns {
    runs: Mutex<SharedInner>,
    documents: Mutex<Documents>,
}

/// A subscription's document: its text and its parse.
struct Document {
    text: Arc<str>,
    /// Its hash, to check against its tenant's trusted documents at each delivery.
    sha256: String,
    parsed: async_graphql::parser::types::ExecutableDocument,
}

/// The documents subscriptions on this server hold, by text: a page held open by a thousand
/// clients sends one document a thousand times, and the server keeps it once.
#[derive(Default)]
struct Documents {
    held: HashMap<Arc<str>, std::sync::Weak<Document>>,
    /// How many entries before the next sweep of documents nobody holds.
    sweep_at: usize,
}

#[derive(Default)]
struct SharedInner {
    cells: HashMap<RunKey, Arc<tokio::sync::OnceCell<Arc<Ran>>>>,
    order: std::collections::VecDeque<RunKey>,
}

/// Runs remembered; an older one asked for again is made again.
const SHARED_RUNS: usize = 4_096;

impl SharedRuns {
    /// The document of `text`, parsed as `parsed`: the one already held, if a subscription here
    /// holds it.
    fn document(&self, text: String, parsed: &async_graphql::parser::types::ExecutableDocument) -> Arc<Document> {
        let mut documents = self.documents.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = documents.held.get(text.as_str()).and_then(std::sync::Weak::upgrade) {
            return held;
        }
        let text: Arc<str> = text.into();
        let sha256 = crate::domain::documents::sha256(&text);
        let document = Arc::new(Document { text: text.clone(), sha256, parsed: parsed.clone() });
        documents.held.insert(text, Arc::downgrade(&document));
        if documents.held.len() >= documents.sweep_at {
            documents.held.retain(|_, held| held.strong_count() > 0);
            documents.sweep_at = (documents.held.len() * 2).max(64);
        }
        document
    }

    async fn run<F: std::future::Future<Output = Ran>>(&self, key: RunKey, run: impl FnOnce() -> F) -> Arc<Ran> {
        let cell = {
            let mut inner = self.runs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(cell) = inner.cells.get(&key) {
                cell.clone()
            } else {
                let cell = Arc::new(tokio::sync::OnceCell::new());
                inner.cells.insert(key.clone(), cell.clone());
                inner.order.push_back(key);
                while inner.order.len() > SHARED_RUNS {
                    if let Some(old) = inner.order.pop_front() {
                        inner.cells.remove(&old);
                    }
                }
                cell
            }
        };
        cell.get_or_init(|| async { Arc::new(run().await) }).await.clone()
    }
}

fn classified(err: ServerError) -> ServerError {
    let mut errors = [err];
    classify(&mut errors);
    let [err] = errors;
    err
}

/// An error as the protocol's payloads carry it; without a location when it has none (a
/// refusal of the whole document, not of a place in it).
fn error_json(err: &ServerError) -> Value {
    let mut value = serde_json::to_value(err).unwrap_or_else(|_| json!({ "message": "internal error" }));
    if err.locations.iter().all(|at| at.line == 0)
        && let Some(fields) = value.as_object_mut()
    {
        fields.remove("locations");
    }
    value
}

/// The refusal of `points` a bucket could not pay, as a request's refusal says it.
fn rate_limited(refusal: &crate::rate::Refusal, points: u64) -> Error {
    Error::RateLimited { bucket: refusal.bucket, points, retry_after: refusal.retry_after }
}

/// The instant a token that expires at `exp` (seconds since the epoch) stops being valid: with
/// the leeway HTTP requests get, and never further than a year ahead.
fn until(exp: u64) -> tokio::time::Instant {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let left = exp.saturating_add(crate::auth::LEEWAY_SECS).saturating_sub(now).min(365 * 24 * 3600);
    tokio::time::Instant::now() + Duration::from_secs(left)
}

/// The next event of the socket's tenant that one of its subscriptions listens to, once it has
/// one.
async fn next_heard(inbox: &mut Option<Inbox>, subscriptions: &Subscriptions) -> Result<Heard, RecvError> {
    match inbox {
        Some(inbox) => inbox.next(subscriptions).await,
        None => std::future::pending().await,
    }
}
