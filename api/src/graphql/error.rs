//! The one place where errors become GraphQL errors with `extensions.code` (API.md, "Errors").
//!
//! Resolvers return [`crate::Error`]; [`into_gql`] maps it. Errors async-graphql raises itself
//! (syntax, validation, depth, complexity) carry no code; [`classify`] gives them theirs before the
//! response leaves the server.

use async_graphql::{ErrorExtensions, ServerError};

use crate::error::Error;

impl ErrorExtensions for Error {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            Error::Internal(err) => {
                // The request id is on the enclosing span, so this line can be found from a report.
                tracing::error!(error = format!("{err:#}"), "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", self.code());
            match self {
                Error::Invalid(violations) => {
                    let list: Vec<async_graphql::Value> = violations
                        .iter()
                        .map(|v| async_graphql::to_value(v).unwrap_or(async_graphql::Value::Null))
                        .collect();
                    e.set("violations", async_graphql::Value::List(list));
                }
                Error::Conflict { code, field, .. } => {
                    e.set("reason", *code);
                    if let Some(field) = field {
                        e.set("field", field.as_str());
                    }
                }
                Error::Plugin { plugin, reason, .. } => {
                    e.set("plugin", plugin.as_str());
                    e.set("reason", *reason);
                }
                Error::RateLimited { bucket, retry_after, .. } => {
                    e.set("bucket", *bucket);
                    e.set("retryAfter", *retry_after);
                }
                _ => {}
            }
        })
    }
}

/// Maps a domain error to a GraphQL error.
#[must_use]
pub fn into_gql(err: Error) -> async_graphql::Error {
    err.extend()
}

/// Gives every error without a code one: the parser's recursion limits are `QUERY_TOO_COMPLEX`;
/// an error async-graphql raised while executing (a non-null field that resolved to null, a value
/// of the wrong type: it carries a path, or says `internal:`) is the server's fault, so `INTERNAL`
/// with its message logged and hidden; any other (syntax, unknown fields, bad variables) is the
/// caller's: `BAD_USER_INPUT`.
pub fn classify(errors: &mut [ServerError]) {
    for err in errors {
        let has_code = err.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        // The parser's own recursion limit stops a document the cost walk never saw.
        let code = if err.message.contains("recursion limit exceeded")
            || err.message.starts_with("The recursion depth of the query")
        {
            "QUERY_TOO_COMPLEX"
        } else if err.message.starts_with("internal:") || !err.path.is_empty() {
            tracing::error!(error = %err.message, path = ?err.path, "internal error while executing");
            err.message = "internal error".to_owned();
            "INTERNAL"
        } else {
            "BAD_USER_INPUT"
        };
        err.extensions.get_or_insert_with(Default::default).set("code", code);
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{PathSegment, Pos};

    use super::*;

    fn code_of(err: &ServerError) -> String {
        err.extensions.as_ref().and_then(|e| e.get("code")).map(ToString::to_string).unwrap_or_default()
    }

    #[test]
    fn execution_failures_are_internal_and_hide_their_message() {
        let mut errors = vec![
            ServerError::new("internal: non-null types require a return value", Some(Pos { line: 1, column: 3 })),
            ServerError::new("Unknown field \"nope\" on type \"Query\".", Some(Pos { line: 1, column: 3 })),
        ];
        errors[0].path = vec![PathSegment::Field("options".into())];
        classify(&mut errors);
        assert_eq!(code_of(&errors[0]), "\"INTERNAL\"");
        assert_eq!(errors[0].message, "internal error");
        assert_eq!(code_of(&errors[1]), "\"BAD_USER_INPUT\"");
    }
}
