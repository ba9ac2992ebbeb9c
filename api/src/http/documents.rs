//! A request's document as a hash: Apollo's automatic persisted queries
//! (`extensions.persistedQuery: { version: 1, sha256Hash }`) and a tenant's trusted documents,
//! the same over HTTP and over a socket.

use std::sync::Arc;

use async_graphql::Value;

use super::AppState;
use crate::domain::documents::{MAX_DOCUMENT_BYTES, parse_hash, sha256};
use crate::domain::{Caller, Role};
use crate::error::Error;
use crate::graphql::TenantSchema;

/// Points a registration costs beside the request: a write, once per new document, and a
/// point per KiB it stores.
const REGISTER_POINTS: u64 = 10;

/// A document a client sent with its hash, to register once it has run.
pub struct Registration {
    sha256: String,
    text: Arc<str>,
}

/// Fills in the request's document from its hash, checks a document sent with a hash against
/// it, and refuses a document the tenant does not trust. Returns what to register once the
/// request has run.
///
/// # Errors
/// `PERSISTED_QUERY_NOT_FOUND` for a hash the tenant does not know (the client sends the document
/// with it); `BAD_USER_INPUT` for a malformed `persistedQuery` or a hash that is not the
/// document's; `FORBIDDEN` (reason `UNTRUSTED_DOCUMENT`) for a document outside the tenant's
/// enforced trusted list; database failures.
pub async fn prepare(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantSchema,
    request: &mut async_graphql::Request,
) -> Result<Option<Registration>, Error> {
    let hash = match request.extensions.get("persistedQuery") {
        None => None,
        Some(persisted) => Some(requested_hash(persisted)?),
    };
    let mut registration = None;
    if let Some(hash) = &hash {
        if request.query.is_empty() {
            request.query = text_of(state, caller, hash).await?;
        } else if sha256(&request.query) == *hash {
            // A longer document runs, but is not stored: it is sent whole each time.
            if request.query.len() <= MAX_DOCUMENT_BYTES {
                registration = Some(Registration { sha256: hash.clone(), text: request.query.as_str().into() });
            }
        } else {
            return Err(Error::invalid(
                "extensions.persistedQuery.sha256Hash",
                "HASH_MISMATCH",
                "is not the SHA-256 of the query",
            ));
        }
    }
    // An ADMIN may send any document, so that it can change the list.
    if let Some(trusted) = &tenant.trusted
        && caller.role != Role::Admin
    {
        let hash = hash.unwrap_or_else(|| sha256(&request.query));
        if !trusted.contains(&hash) {
            return Err(Error::UntrustedDocument);
        }
        // A trusted document is stored already.
        registration = None;
    }
    Ok(registration)
}

/// Fills in the document of a request sent by hash alone: a retry by hash must be known for
/// the same operation as the first try by text before it runs. A malformed `persistedQuery` is
/// left for [`prepare`] to refuse.
///
/// # Errors
/// `PERSISTED_QUERY_NOT_FOUND` for a hash the tenant does not know; database failures.
pub async fn fill(state: &AppState, caller: &Caller, request: &mut async_graphql::Request) -> Result<(), Error> {
    let Some(Ok(hash)) = request.extensions.get("persistedQuery").map(requested_hash) else { return Ok(()) };
    if request.query.is_empty() {
        request.query = text_of(state, caller, &hash).await?;
    }
    Ok(())
}

/// The text of the tenant's document of `hash`.
async fn text_of(state: &AppState, caller: &Caller, hash: &str) -> Result<String, Error> {
    let text = state.documents.find(&state.db, caller.tenant_id, hash).await?.ok_or(Error::PersistedQueryNotFound)?;
    Ok(text.to_string())
}

/// Stores a document a client sent with its hash, once it ran, if the caller's buckets can pay
/// for the write; if not, the client sends the document again next time.
pub async fn register(state: &AppState, caller: &Caller, registration: Registration) {
    let points = REGISTER_POINTS + (registration.text.len() as u64).div_ceil(1024);
    if state.rates.charge(caller, points).is_err() {
        return;
    }
    if let Err(err) =
        state.documents.register(&state.db, caller.tenant_id, &registration.sha256, registration.text).await
    {
        tracing::warn!(error = %err, "registering a persisted query");
    }
}

/// The hash of `extensions.persistedQuery`.
fn requested_hash(persisted: &Value) -> Result<String, Error> {
    let Value::Object(persisted) = persisted else {
        return Err(Error::invalid(
            "extensions.persistedQuery",
            "INVALID_VALUE",
            "must be an object { version: 1, sha256Hash }",
        ));
    };
    if persisted.get("version") != Some(&Value::from(1)) {
        return Err(Error::invalid(
            "extensions.persistedQuery.version",
            "UNSUPPORTED",
            "only version 1 of persisted queries is supported",
        ));
    }
    match persisted.get("sha256Hash") {
        Some(Value::String(raw)) => parse_hash(raw).ok_or_else(|| {
            Error::invalid(
                "extensions.persistedQuery.sha256Hash",
                "INVALID_HASH",
                "must be 64 hexadecimal digits (a SHA-256)",
            )
        }),
        _ => Err(Error::invalid("extensions.persistedQuery.sha256Hash", "REQUIRED", "give the document's SHA-256")),
    }
}
