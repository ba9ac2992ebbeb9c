//! `/graphql` over HTTP, following the GraphQL-over-HTTP spec: `application/json` bodies on POST,
//! query-string requests on GET (queries only: a mutation over GET is 405), responses in
//! `application/graphql-response+json` when accepted (with 400 for requests that never ran) or
//! in `application/json` (always 200). Authentication comes first; a bad token is 401 before any
//! GraphQL work. `Idempotency-Key` makes retried POSTs safe.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensions, ServerError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::AppState;
use super::auth;
use super::documents;
use super::metrics;
use crate::domain::Caller;
use crate::error::Error;
use crate::graphql::context::RequestContext;
use crate::graphql::cost;
use crate::graphql::error::classify;
use crate::locale::Locale;
use crate::rate::{Refusal, Standing};
use crate::store::idempotency::{self, Begin};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The response media type the client accepts, preferring the GraphQL one.
fn negotiate(req: &HttpRequest) -> Option<&'static str> {
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(JSON);
    };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(GRAPHQL_RESPONSE)
    } else if types.iter().any(|t| matches!(*t, JSON | "*/*" | "application/*")) {
        Some(JSON)
    } else {
        None
    }
}

/// The language `Accept-Language` asks for, before the token is read.
fn asked_language(req: &HttpRequest) -> Locale {
    Locale::choose(None, req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// The caller's language: the token's `locale` claim, else `Accept-Language`.
fn language(req: &HttpRequest, caller: &Caller) -> Locale {
    Locale::choose(caller.locale, req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// A body of one error, in the caller's language.
fn one_error(err: ServerError, locale: Locale) -> Value {
    let mut errors = [err];
    locale.localize(&mut errors);
    let [err] = errors;
    json!({ "errors": [ { "message": err.message, "extensions": err.extensions } ] })
}

fn error_body(err: &Error, locale: Locale) -> Value {
    one_error(err.extend().into_server_error(async_graphql::Pos::default()), locale)
}

/// A body of one `BAD_USER_INPUT` error that is not about one input field.
fn user_error(message: &str, locale: Locale) -> Value {
    let mut err = ServerError::new(message, None);
    err.extensions.get_or_insert_with(Default::default).set("code", "BAD_USER_INPUT");
    one_error(err, locale)
}

fn reply(status: StatusCode, media: &str, body: &Value, locale: Locale) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(media)
        .insert_header((header::CONTENT_LANGUAGE, locale.tag()))
        .body(body.to_string())
}

/// The answer when the caller cannot be established: 401 for a bad token, 503 for a database
/// too busy to record a new tenant or user, 500 otherwise.
fn caller_error(err: &Error, media: &str, locale: Locale) -> HttpResponse {
    metrics::graphql_error(err.code());
    let status = if matches!(err, Error::Unauthenticated(_)) {
        StatusCode::UNAUTHORIZED
    } else if matches!(err, Error::Unavailable(_)) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut res = reply(status, media, &error_body(err, locale), locale);
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    res
}

fn bad_request(message: &str, media: &str, locale: Locale) -> HttpResponse {
    let status = if media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    metrics::graphql_error("BAD_USER_INPUT");
    reply(status, media, &user_error(message, locale), locale)
}

/// A body actix could not read: larger than `GUANXI_MAX_BODY_BYTES` (413) or cut short. Answered
/// in the shape of every other refusal, not in actix's plain text.
fn unreadable_body(err: &actix_web::Error, limit: usize, media: &str, locale: Locale) -> HttpResponse {
    let status = err.as_response_error().status_code();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the body is larger than {limit} bytes")
    } else {
        format!("the body cannot be read: {err}")
    };
    metrics::graphql_error("BAD_USER_INPUT");
    reply(status, media, &user_error(&message, locale), locale)
}

fn not_acceptable(locale: Locale) -> HttpResponse {
    reply(
        StatusCode::NOT_ACCEPTABLE,
        JSON,
        &user_error(&format!("accept {GRAPHQL_RESPONSE} or {JSON}"), locale),
        locale,
    )
}

/// The result of executing one request, before it becomes an HTTP response (so that an
/// idempotent request can store exactly what it answered).
struct Outcome {
    status: StatusCode,
    /// The serialized response body.
    body: String,
    /// How many GraphQL errors it carries (for the request's log line).
    errors: usize,
    /// `Allow` header for a 405.
    allow: Option<&'static str>,
    /// It failed inside the server, or was refused for now (rate limit): not an answer worth
    /// remembering for an idempotent retry.
    internal: bool,
    /// It committed a write: whatever else failed, its answer is kept for an idempotent retry.
    committed: bool,
    /// SQL statements the execution ran (sent as `X-Sql-Statements` when configured).
    statements: Option<u64>,
    /// Seconds until a rate-limited request could run (`Retry-After`).
    retry_after: Option<u64>,
    /// The language of its messages.
    locale: Locale,
    /// A GET's answer without errors: the hash of its data, its `ETag`.
    etag: Option<String>,
    /// A document sent with its hash, to store once the answer is out of the request's scope.
    registration: Option<documents::Registration>,
}

impl Outcome {
    fn respond(&self, media: &str) -> HttpResponse {
        let mut res = HttpResponse::build(self.status)
            .content_type(media)
            .insert_header((header::CONTENT_LANGUAGE, self.locale.tag()))
            .body(self.body.clone());
        if let Some(allow) = self.allow {
            res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        if let Some(n) = self.statements {
            res.headers_mut().insert(header::HeaderName::from_static("x-sql-statements"), header::HeaderValue::from(n));
        }
        if let Some(seconds) = self.retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        res
    }
}

/// `POST /graphql`. The body is read before the handler runs; a body that could not be read is
/// answered here, after authentication, like any other bad request.
pub async fn post(
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let asked = asked_language(&req);
    let Some(media) = negotiate(&req) else { return not_acceptable(asked) };
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(JSON) {
        let body = user_error("send the request as application/json", asked);
        return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, &body, asked);
    }
    let caller = match auth::caller(&req, &state).await {
        Ok(c) => c,
        Err(err) => return caller_error(&err, media, asked),
    };
    let locale = language(&req, &caller);
    let body = match body {
        Ok(body) => body,
        Err(err) => return unreadable_body(&err, state.config.max_body_bytes, media, locale),
    };
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("the body is not a GraphQL request: {e}"), media, locale),
    };
    let key = req.headers().get("idempotency-key").map(|v| v.to_str().map(str::to_owned));
    match key {
        None => {
            answer(&state, &caller, execute(&state, caller.clone(), request, media, locale, false).await, media).await
        }
        Some(Ok(key)) if (1..=255).contains(&key.len()) => {
            idempotent(&state, caller, request, media, locale, &key).await
        }
        Some(_) => bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters", media, locale),
    }
}

/// Answers with `outcome`, then stores the document it was sent with, if it brought one to
/// register.
async fn answer(state: &AppState, caller: &Caller, mut outcome: Outcome, media: &str) -> HttpResponse {
    if let Some(registration) = outcome.registration.take() {
        documents::register(state, caller, registration).await;
    }
    outcome.respond(media)
}

/// `GET /graphql`: queries only, or a WebSocket for subscriptions (`super::ws`).
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // A WebSocket handshake never reaches here: `super::ws::upgrade` takes it.
    let asked = asked_language(&req);
    let Some(media) = negotiate(&req) else { return not_acceptable(asked) };
    let caller = match auth::caller(&req, &state).await {
        Ok(c) => c,
        Err(err) => return caller_error(&err, media, asked),
    };
    let locale = language(&req, &caller);
    let request = match parse_query_string(req.query_string()) {
        Ok(request) => request,
        Err(e) => return bad_request(&format!("the query string is not a GraphQL request: {e}"), media, locale),
    };
    let outcome = execute(&state, caller.clone(), request, media, locale, true).await;
    // An answer without errors may be kept by the client (private: it is the caller's) and
    // asked again with `If-None-Match`; it runs again, but an unchanged answer is not sent.
    let Some(etag) = outcome.etag.clone() else { return answer(&state, &caller, outcome, media).await };
    let etag = format!("\"{etag}\"");
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let mut res = answer(&state, &caller, outcome, media).await;
    if unchanged {
        res = HttpResponse::NotModified().finish();
    }
    let headers = res.headers_mut();
    headers
        .insert(header::ETAG, header::HeaderValue::from_str(&etag).unwrap_or(header::HeaderValue::from_static("\"\"")));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, no-cache"));
    headers.insert(header::VARY, header::HeaderValue::from_static("Authorization, Accept, Accept-Language"));
    res
}

/// A GET request's parameters, named as the GraphQL-over-HTTP spec names them (async-graphql's
/// own parser expects `operation_name`).
fn parse_query_string(input: &str) -> Result<async_graphql::Request, String> {
    #[derive(serde::Deserialize)]
    struct Params {
        query: Option<String>,
        #[serde(rename = "operationName")]
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let p: Params = serde_urlencoded::from_str(input).map_err(|e| e.to_string())?;
    let query = p.query.filter(|q| !q.trim().is_empty());
    // A persisted query's hash stands for its document.
    let persisted = p.extensions.as_deref().is_some_and(|x| x.contains("persistedQuery"));
    if query.is_none() && !persisted {
        return Err("the `query` parameter is missing".into());
    }
    let mut request = async_graphql::Request::new(query.unwrap_or_default());
    request.operation_name = p.operation_name.filter(|n| !n.is_empty());
    if let Some(v) = p.variables.filter(|v| !v.is_empty()) {
        request.variables = serde_json::from_str(&v).map_err(|e| format!("`variables` is not a JSON object: {e}"))?;
    }
    if let Some(x) = p.extensions.filter(|x| !x.is_empty()) {
        request.extensions = serde_json::from_str(&x).map_err(|e| format!("`extensions` is not a JSON object: {e}"))?;
    }
    Ok(request)
}

/// Any other method on `/graphql`.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "GET, POST")).finish()
}

/// Runs a request under an `Idempotency-Key`: first time for real, then replayed.
async fn idempotent(
    state: &AppState,
    caller: Caller,
    mut request: async_graphql::Request,
    media: &'static str,
    locale: Locale,
    key: &str,
) -> HttpResponse {
    // Known by its text, or not run: a write must not run outside its key's claim.
    if let Err(err) = documents::fill(state, &caller, &mut request).await {
        let internal = err.code() == "INTERNAL";
        let answer = Answer { media, locale, get: false };
        let errors = vec![err.extend().into_server_error(async_graphql::Pos::default())];
        return finish(None, errors, answer, true, internal, None).respond(media);
    }
    // Only writes are worth remembering: a query under a key runs (and is charged) as any query,
    // rather than having its answer, however large, stored and replayed for nothing. The parsed
    // document stays in the request for its execution.
    let operation_name = request.operation_name.clone();
    let writes = cost::scan(&request.query, &state.config.query_limits()).is_ok()
        && request.parsed_query().is_ok_and(|doc| is_mutation(doc, operation_name.as_deref()));
    if !writes {
        return answer(state, &caller.clone(), execute(state, caller, request, media, locale, false).await, media)
            .await;
    }
    // A caller whose buckets are empty is refused before its key costs a write.
    if let Err(refusal) = state.rates.admit(&caller) {
        return rate_limited(&refusal, 0, &state.config.query_limits(), media, locale).respond(media);
    }
    let variables = serde_json::to_value(&request.variables).unwrap_or_default();
    let hash = idempotency::request_hash(&request.query, operation_name.as_deref(), &variables);
    let (tenant, user) = (caller.tenant_id, caller.user_id);
    // A retry that arrives while the first is running waits for its answer, as long as a request
    // may run at most.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(state.config.request_timeout_secs);
    let mut poll = Duration::from_millis(20);
    loop {
        let begun = match idempotency::begin(&state.db, tenant, user, key, &hash).await {
            Ok(b) => b,
            Err(err) => return caller_error(&err, media, locale),
        };
        match begun {
            Begin::Proceed => break,
            Begin::Replay { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                // In the language of the first answer.
                return HttpResponse::build(status)
                    .content_type(media)
                    .insert_header(("Idempotent-Replayed", "true"))
                    .body(body);
            }
            Begin::Mismatch => {
                let err = Error::invalid(
                    "Idempotency-Key",
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was used for a different request",
                );
                metrics::graphql_error(err.code());
                let status = if media == GRAPHQL_RESPONSE { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
                return reply(status, media, &error_body(&err, locale), locale);
            }
            Begin::InProgress if tokio::time::Instant::now() < deadline => {
                // Each look is a write: retries that pile up on a running key look less often.
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(Duration::from_millis(500));
            }
            Begin::InProgress => {
                let err = Error::Conflict {
                    code: "IN_PROGRESS",
                    message: "a request with this Idempotency-Key is still running".into(),
                    field: None,
                };
                return reply(StatusCode::CONFLICT, media, &error_body(&err, locale), locale);
            }
            Begin::Lost => {
                let err = Error::Conflict {
                    code: "ANSWER_LOST",
                    message: "the request with this Idempotency-Key made its changes, but the server stopped before \
                              answering; it is not run again: read the records to see them"
                        .into(),
                    field: None,
                };
                return reply(StatusCode::CONFLICT, media, &error_body(&err, locale), locale);
            }
        }
    }
    let claim = idempotency::Claim { tenant_id: tenant, user_id: user, key: key.to_owned() };
    let outcome = idempotency::CLAIM.scope(claim, execute(state, caller.clone(), request, media, locale, false)).await;
    let stored = if outcome.internal && !outcome.committed {
        // An internal failure that wrote nothing is not an answer to remember: let the retry
        // run for real. One that committed a write (the first of two mutations, say) is kept,
        // so that its retry does not write again.
        idempotency::abandon(&state.db, tenant, user, key).await
    } else {
        idempotency::complete(&state.db, tenant, user, key, outcome.status.as_u16(), &outcome.body).await
    };
    if let Err(err) = stored {
        tracing::error!(error = %err, "storing idempotent response");
    }
    answer(state, &caller, outcome, media).await
}

/// Whether the request runs a mutation; with several operations and no name it runs nothing, so
/// any mutation among them counts (a GET must not be the way to one).
fn is_mutation(doc: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    match cost::operation(doc, operation_name) {
        Some(op) => op.node.ty == OperationType::Mutation,
        None => doc.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation),
    }
}

/// Executes one request.
async fn execute(
    state: &AppState,
    caller: Caller,
    mut request: async_graphql::Request,
    media: &'static str,
    locale: Locale,
    get: bool,
) -> Outcome {
    let operation = request.operation_name.clone().unwrap_or_default();
    let span =
        tracing::info_span!("graphql", tenant = %caller.tenant_slug, user = %caller.subject, operation = %operation);
    let started = std::time::Instant::now();
    let outcome = async move {
        let answer = Answer { media, locale, get };
        let request_error =
            |errors: Vec<ServerError>, internal: bool| finish(None, errors, answer, true, internal, None);
        let limits = state.config.query_limits();
        // A caller whose buckets are empty is refused before its document costs anything.
        if let Err(refusal) = state.rates.admit(&caller) {
            return rate_limited(&refusal, 0, &limits, media, locale);
        }
        let tenant = match state.schemas.get(&state.db, caller.tenant_id).await {
            Ok(s) => s,
            Err(err) => {
                return request_error(vec![err.extend().into_server_error(async_graphql::Pos::default())], true);
            }
        };
        let registration = match documents::prepare(state, &caller, &tenant, &mut request).await {
            Ok(registration) => registration,
            Err(err) => {
                let internal = err.code() == "INTERNAL";
                return request_error(vec![err.extend().into_server_error(async_graphql::Pos::default())], internal);
            }
        };
        let operation_name = request.operation_name.clone();
        // Counted before parsing, so no document can make the parser recurse or allocate without bound.
        if let Err(too) = cost::scan(&request.query, &limits) {
            return refused(state, &caller, &too, &limits, answer);
        }
        // Out of the request while its parsed document is borrowed; back before it runs.
        let variables = std::mem::take(&mut request.variables);
        let doc = match request.parsed_query() {
            Ok(doc) => doc,
            Err(e) => return request_error(vec![e], false),
        };
        if get && is_mutation(doc, operation_name.as_deref()) {
            return Outcome {
                status: StatusCode::METHOD_NOT_ALLOWED,
                body: user_error("mutations must be sent with POST", locale).to_string(),
                errors: 1,
                allow: Some("POST"),
                internal: false,
                committed: false,
                statements: None,
                retry_after: None,
                locale,
                etag: None,
                registration: None,
            };
        }
        let measure = match cost::walk(doc, operation_name.as_deref(), &variables, &tenant.shapes, &limits) {
            Ok(m) => m,
            Err(too) => return refused(state, &caller, &too, &limits, answer),
        };
        request.variables = variables;
        // Every operation pays at least a point, so a flood of free ones is limited too.
        let charged = measure.cost.max(1);
        let standing = match state.rates.charge(&caller, charged) {
            Ok(standing) => standing,
            Err(refusal) => return rate_limited(&refusal, charged, &limits, media, locale),
        };
        // Its turn among its tenant's operations, held until it has answered.
        let Ok(turn) = state.turns.enter(caller.tenant_id).await else {
            // It ran nothing: all but the point every operation pays is given back.
            let standing = state.rates.settle(&caller, charged, 1).or(standing);
            return limited("inFlight", 1, standing, charged, &limits, media, locale);
        };
        let statements = Arc::new(AtomicU64::new(0));
        let tenant_id = caller.tenant_id;
        let payer = caller.clone();
        // Made under the request's clock, which its loaders' tasks take along.
        let context = Arc::new(crate::clock::CLOCK.sync_scope(state.config.clock.clone(), || {
            let turn = Arc::new(turn);
            RequestContext::new(
                caller,
                state.db.clone(),
                state.plugins.clone(),
                tenant.fields.clone(),
                statements.clone(),
                turn,
            )
        }));
        let request = request.data(context.clone()).data(state.webhooks.clone()).data(limits);
        let timeout = Duration::from_secs(state.config.request_timeout_secs);
        let commits = Arc::new(AtomicU64::new(0));
        let run = crate::clock::COMMITS.scope(
            commits.clone(),
            crate::clock::STATEMENTS.scope(
                statements.clone(),
                crate::clock::CLOCK
                    .scope(state.config.clock.clone(), context.execution.clone().track(tenant.schema.execute(request))),
            ),
        );
        let response = tokio::time::timeout(timeout, run).await;
        if context.schema_changed.load(Ordering::Relaxed) {
            state.schemas.invalidate(tenant_id);
        }
        let committed = commits.load(Ordering::Relaxed) > 0;
        if committed {
            state.feed.committed();
        }
        let mut response = match response {
            Ok(r) => r,
            Err(_) => {
                let err = Error::Internal(anyhow::anyhow!("request exceeded {} s", timeout.as_secs()));
                let mut outcome =
                    request_error(vec![err.extend().into_server_error(async_graphql::Pos::default())], true);
                outcome.committed = committed;
                return outcome;
            }
        };
        let answered_null =
            std::mem::take(&mut *context.field_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        response.errors.extend(answered_null);
        let internal = response.errors.iter().any(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code")).is_some_and(|c| {
                *c == async_graphql::Value::from("INTERNAL") || *c == async_graphql::Value::from("UNAVAILABLE")
            })
        });
        // Errors without a path never reached a resolver: the request itself was invalid.
        let never_ran = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let actual = objects_in(&response.data).saturating_add(measure.work);
        let standing = state.rates.settle(&payer, charged, actual.max(1)).or(standing);
        let cost = CostReport { requested: measure.cost, actual, limit: limits.cost, bucket: standing };
        let mut outcome = finish(Some(response.data), response.errors, answer, never_ran, internal, Some(&cost));
        outcome.committed = committed;
        // A document sent with its hash is remembered once it ran (or ran into a rule of the
        // data, not of the document).
        if !never_ran {
            outcome.registration = registration;
        }
        if state.config.sql_statements_header {
            outcome.statements = Some(statements.load(Ordering::Relaxed));
        }
        outcome
    }
    .instrument(span.clone())
    .await;
    let errors = outcome.errors;
    span.in_scope(|| {
        tracing::info!(
            status = outcome.status.as_u16(),
            errors,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "graphql request"
        );
    });
    outcome
}

/// How a request is answered: its media type, its language, and whether it came by GET (whose
/// answers carry an `ETag`).
#[derive(Clone, Copy)]
struct Answer {
    media: &'static str,
    locale: Locale,
    get: bool,
}

fn finish(
    data: Option<async_graphql::Value>,
    mut errors: Vec<ServerError>,
    answer: Answer,
    request_error: bool,
    internal: bool,
    cost: Option<&CostReport>,
) -> Outcome {
    let Answer { media, locale, get } = answer;
    classify(&mut errors);
    locale.localize(&mut errors);
    for e in &errors {
        if let Some(code) = e.extensions.as_ref().and_then(|x| x.get("code")) {
            metrics::graphql_error(code.to_string().trim_matches('"'));
        }
    }
    // Serialized in one pass, straight from async-graphql's values.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a async_graphql::Value>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        errors: &'a [ServerError],
        #[serde(skip_serializing_if = "Option::is_none")]
        extensions: Option<Extensions<'a>>,
    }
    #[derive(serde::Serialize)]
    struct Extensions<'a> {
        cost: &'a CostReport,
    }
    let data = if request_error { None } else { Some(data.unwrap_or(async_graphql::Value::Null)) };
    let extensions = cost.map(|cost| Extensions { cost });
    let body = serde_json::to_string(&Body { data: data.as_ref(), errors: &errors, extensions })
        .unwrap_or_else(|_| r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.to_owned());
    let status = if request_error && media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    // The data alone: the cost report beside it changes with every request.
    let etag = match &data {
        Some(data) if get && errors.is_empty() => {
            let mut hasher = Sha256::new();
            serde_json::to_writer(&mut hasher, data).ok().map(|()| hex::encode(&hasher.finalize()[..16]))
        }
        _ => None,
    };
    Outcome {
        status,
        body,
        errors: errors.len(),
        allow: None,
        internal,
        committed: false,
        statements: None,
        retry_after: None,
        locale,
        etag,
        registration: None,
    }
}

/// `extensions.cost` of a response: what the operation was charged, what it returned, the
/// limit, and where the caller's bucket stands (absent when rate limits are off).
#[derive(serde::Serialize)]
struct CostReport {
    requested: u64,
    actual: u64,
    limit: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<Standing>,
}

/// Objects in a response's data: what the operation returned, in the cost's points.
pub(crate) fn objects_in(value: &async_graphql::Value) -> u64 {
    fn count(value: &async_graphql::Value) -> u64 {
        match value {
            async_graphql::Value::Object(map) => map.values().map(count).fold(1, u64::saturating_add),
            async_graphql::Value::List(items) => items.iter().map(count).fold(0, u64::saturating_add),
            _ => 0,
        }
    }
    // The data object itself is the operation, not something it returned.
    count(value).saturating_sub(1)
}

/// Points a refused document costs: reading and parsing up to the token limit is work too, so
/// sending refused documents in a loop is rate-limited like any other.
pub(super) const REFUSED_POINTS: u64 = 100;

/// Charges a document the cost guard refused, then answers why (or that the bucket is empty).
fn refused(
    state: &AppState,
    caller: &Caller,
    too: &cost::TooComplex,
    limits: &cost::Limits,
    answer: Answer,
) -> Outcome {
    match state.rates.charge(caller, REFUSED_POINTS) {
        Err(refusal) => rate_limited(&refusal, REFUSED_POINTS, limits, answer.media, answer.locale),
        Ok(_) => too_complex(too, limits, answer),
    }
}

/// The answer to an operation refused by the cost walk: nothing of it ran.
fn too_complex(too: &cost::TooComplex, limits: &cost::Limits, answer: Answer) -> Outcome {
    let report = CostReport { requested: too.requested, actual: 0, limit: limits.cost, bucket: None };
    let err = Error::QueryTooComplex(too.message.clone()).extend().extend_with(|_, e| {
        e.set("cost", async_graphql::to_value(&report).unwrap_or_default());
    });
    finish(None, vec![err.into_server_error(async_graphql::Pos::default())], answer, true, false, Some(&report))
}

/// The answer to an operation the caller's buckets cannot pay for now: HTTP 429 with
/// `Retry-After`, whatever the media type, so clients and proxies back off alike.
fn rate_limited(
    refusal: &Refusal,
    charged: u64,
    limits: &cost::Limits,
    media: &'static str,
    locale: Locale,
) -> Outcome {
    limited(refusal.bucket, refusal.retry_after, Some(refusal.standing.clone()), charged, limits, media, locale)
}

/// A refusal by `bucket` (`user`, `tenant`, or `inFlight` when the tenant's turns are all taken).
fn limited(
    bucket: &'static str,
    retry_after: u64,
    standing: Option<Standing>,
    charged: u64,
    limits: &cost::Limits,
    media: &'static str,
    locale: Locale,
) -> Outcome {
    let report = CostReport { requested: charged, actual: 0, limit: limits.cost, bucket: standing };
    let err = Error::RateLimited { bucket, points: charged, retry_after }.extend();
    let answer = Answer { media, locale, get: false };
    let mut outcome =
        finish(None, vec![err.into_server_error(async_graphql::Pos::default())], answer, true, true, Some(&report));
    outcome.status = StatusCode::TOO_MANY_REQUESTS;
    outcome.retry_after = Some(retry_after);
    outcome
}

/// `GET /schema.graphql`: the caller's schema as SDL.
pub async fn sdl(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let caller = match auth::caller(&req, &state).await {
        Ok(c) => c,
        Err(err) => return caller_error(&err, JSON, asked_language(&req)),
    };
    match state.schemas.get(&state.db, caller.tenant_id).await {
        Ok(tenant) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(tenant.schema.sdl()),
        Err(err) => caller_error(&err, JSON, language(&req, &caller)),
    }
}
