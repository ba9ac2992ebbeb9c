//! Liveness and readiness.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::store;

/// The process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// How long readiness waits for the database: a load balancer probing every few seconds needs
/// an answer well within its own timeout, and a database slower than this is not ready.
const READY_WITHIN: Duration = Duration::from_secs(1);

/// The database answers (within a second) and every migration is applied.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let Ok(applied) = tokio::time::timeout(READY_WITHIN, store::migrations_applied(&state.db)).await else {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "database not answering" }));
    };
    match applied {
        Ok(true) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(false) => HttpResponse::ServiceUnavailable().json(json!({ "status": "migrations pending" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unreachable" }))
        }
    }
}
