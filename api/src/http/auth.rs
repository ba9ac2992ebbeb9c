//! From the `Authorization` header to a [`Caller`], before any GraphQL work.

use actix_web::HttpRequest;
use actix_web::http::header;

use super::AppState;
use crate::domain::Caller;
use crate::error::{Error, Result};

/// Verifies the bearer token and resolves its tenant and user.
///
/// # Errors
/// `UNAUTHENTICATED` without a valid bearer token; database failures while resolving.
pub async fn caller(req: &HttpRequest, state: &AppState) -> Result<Caller> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthenticated("missing Authorization: Bearer <token> header".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(bearer)
        .ok_or_else(|| Error::Unauthenticated("the Authorization header must be `Bearer <token>`".into()))?;
    Ok(of_token(token, state).await?.0)
}

/// The token of an `Authorization` value `Bearer <token>`, wherever it came from (a header, a
/// socket's `connection_init`).
#[must_use]
pub fn bearer(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim).filter(|t| !t.is_empty())
}

/// Verifies a bearer token (without its `Bearer ` prefix) and resolves its tenant and user; with
/// the token's expiry, in seconds since the epoch.
///
/// # Errors
/// `UNAUTHENTICATED` for a bad token; database failures while resolving.
pub async fn of_token(token: &str, state: &AppState) -> Result<(Caller, u64)> {
    let identity = state.auth.verify(token)?;
    let caller = state.identities.resolve(&state.db, &state.plugins, state.config.default_plugins, &identity).await?;
    Ok((caller, identity.expires))
}
