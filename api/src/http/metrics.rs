//! Prometheus metrics: requests and latency per route and status, GraphQL errors per code, and
//! the database pool.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseBackend;

use super::AppState;

/// Latency buckets in seconds: sub-millisecond reads up to multi-second outliers.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process-wide recorder (the `metrics` facade has one global recorder; every server in the
/// process, including test servers, shares it).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Middleware: counts and times every request by route pattern and status.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // Both labels come from fixed lists, never from what the client sent: every distinct label
    // value is a series kept for the life of the process.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// The `method` label: a standard method by name, anything else (a client may send any token
/// as the method) as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Counts one GraphQL error by its code.
pub fn graphql_error(code: &str) {
    metrics::counter!("graphql_errors_total", "code" => code.to_owned()).increment(1);
}

/// `GET /metrics`.
pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    let (size, idle) = match state.db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let p = state.db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => {
            let p = state.db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_max_connections").set(f64::from(state.config.db_max_connections));
    #[expect(clippy::cast_precision_loss, reason = "subscriptions far below 2^52")]
    metrics::gauge!("subscriptions").set(state.subscribers.total() as f64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_have_a_label_of_their_own() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").expect("a method token")), "OTHER");
        assert_eq!(method_label(&Method::CONNECT), "OTHER");
    }
}
