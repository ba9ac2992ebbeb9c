//! The one error type of the server. Client errors are variants a caller can act on; everything
//! else is `Internal`, logged with its cause chain and shown to callers only as `INTERNAL`.
//! [`crate::graphql::error`] maps these to GraphQL errors, in one place.

use serde::Serialize;

/// One problem with one input field, as `extensions.violations` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The input path, in GraphQL names: `email`, `tags.3`, `customFields.vip`.
    pub field: String,
    /// A stable SCREAMING_CASE code clients can switch on.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// The validator plugin that found the problem, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

impl Violation {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.to_owned(), message: message.into(), plugin: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid token (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing with that id is visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The input breaks one or more rules; every problem is listed.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<Violation>),
    /// A stale `expectedVersion`, an illegal transition or a duplicate.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, field: Option<String> },
    /// A plugin call failed (a limit was hit, it trapped, or it answered outside the contract);
    /// what depended on it was not done.
    #[error("plugin {plugin} failed ({reason}): {message}")]
    Plugin { plugin: String, reason: &'static str, message: String },
    /// The query is deeper, more complex or uses more aliases than allowed.
    #[error("{0}")]
    QueryTooComplex(String),
    /// A persisted query's hash the tenant does not know: the client sends the document with it
    /// (Apollo's clients look for this message and code).
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// The tenant runs only its trusted documents, and this is not one (`FORBIDDEN`).
    #[error("this tenant runs only its trusted documents, and this document is not one of them")]
    UntrustedDocument,
    /// The caller's `bucket` (`user` or `tenant`) cannot pay `points` now; it could in
    /// `retry_after` seconds (HTTP 429). `inFlight`: the tenant's turns are all taken.
    #[error("{}", rate_limited_message(bucket, *points, *retry_after))]
    RateLimited { bucket: &'static str, points: u64, retry_after: u64 },
    /// The database stayed taken by other writers beyond the wait allowed (SQLite's one writer,
    /// held by another process or a long write): the statement that waited did not run.
    #[error("{0}")]
    Unavailable(String),
    /// A database statement failed for a reason the caller cannot fix; never shown beyond
    /// `INTERNAL`. A unique key a write raced into becomes a conflict with [`Error::on_unique`].
    #[error("database: {0}")]
    Database(sea_orm::DbErr),
    /// Anything else the caller cannot fix; never shown beyond `INTERNAL`.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn rate_limited_message(bucket: &str, points: u64, retry_after: u64) -> String {
    if bucket == "inFlight" {
        format!(
            "rate limited: your tenant already runs as many operations at once as it may, and more wait; retry in {retry_after} s"
        )
    } else {
        format!(
            "rate limited: this operation costs {points} points and the {bucket} bucket cannot pay for it now; retry in {retry_after} s"
        )
    }
}

fn invalid_message(violations: &[Violation]) -> String {
    match violations {
        [one] => format!("invalid input: {}: {}", one.field, one.message),
        many => format!("invalid input: {} problems", many.len()),
    }
}

impl Error {
    /// A single-violation `Invalid`.
    pub fn invalid(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(field, code, message)])
    }

    /// The `extensions.code` this error carries.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Invalid(_) => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::Plugin { .. } => "PLUGIN_ERROR",
            Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::UntrustedDocument => "FORBIDDEN",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Database(_) | Self::Internal(_) => "INTERNAL",
        }
    }

    /// `conflict()` in place of a unique-key violation (a write that raced another past the
    /// check for a duplicate); any other error as it is.
    #[must_use]
    pub fn on_unique(self, conflict: impl FnOnce() -> Self) -> Self {
        match &self {
            Self::Database(err) if matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                conflict()
            }
            _ => self,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_busy(&err) {
            return Self::unavailable();
        }
        Self::Database(err)
    }
}

/// What a batched load failed with, shared by every field that waited on its batch: each field
/// answers with the same kind of error (a busy database stays `UNAVAILABLE`), never a vaguer one.
impl From<std::sync::Arc<Error>> for Error {
    fn from(shared: std::sync::Arc<Error>) -> Self {
        match std::sync::Arc::try_unwrap(shared) {
            Ok(err) => err,
            Err(shared) => match &*shared {
                Self::Unauthenticated(m) => Self::Unauthenticated(m.clone()),
                Self::Forbidden(m) => Self::Forbidden(m.clone()),
                Self::NotFound(m) => Self::NotFound(m.clone()),
                Self::Invalid(v) => Self::Invalid(v.clone()),
                Self::Conflict { code, message, field } => {
                    Self::Conflict { code, message: message.clone(), field: field.clone() }
                }
                Self::Plugin { plugin, reason, message } => {
                    Self::Plugin { plugin: plugin.clone(), reason, message: message.clone() }
                }
                Self::QueryTooComplex(m) => Self::QueryTooComplex(m.clone()),
                Self::PersistedQueryNotFound => Self::PersistedQueryNotFound,
                Self::UntrustedDocument => Self::UntrustedDocument,
                Self::RateLimited { bucket, points, retry_after } => {
                    Self::RateLimited { bucket, points: *points, retry_after: *retry_after }
                }
                Self::Unavailable(m) => Self::Unavailable(m.clone()),
                // Neither is Clone; the message and its causes are what the log shows.
                Self::Database(e) => Self::Internal(anyhow::anyhow!("database: {e}")),
                Self::Internal(e) => Self::Internal(anyhow::anyhow!("{e:#}")),
            },
        }
    }
}

impl Error {
    /// The database was busy with other writers for longer than a write waits.
    #[must_use]
    pub fn unavailable() -> Self {
        Self::Unavailable("the database was busy with other writers for too long; try again".into())
    }
}

/// SQLITE_BUSY, in any of its extended forms: another connection, perhaps of another process,
/// kept the lock past the busy timeout.
fn is_busy(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let (DbErr::Conn(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    e.as_database_error()
        .filter(|d| d.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some())
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}
