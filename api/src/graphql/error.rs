//! The one place where errors become GraphQL errors with `extensions.code` (docs/api.md, "Errors").
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
            Error::Database(err) => {
                tracing::error!(error = %err, "database error");
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
                Error::UntrustedDocument => e.set("reason", "UNTRUSTED_DOCUMENT"),
                Error::Plugin { plugin, reason, .. } => {
                    e.set("plugin", plugin.as_str());
                    e.set("reason", *reason);
                }
                Error::RateLimited { bucket, points, retry_after } => {
                    e.set("bucket", *bucket);
                    e.set("points", *points);
                    e.set("retryAfter", *retry_after);
                }
                _ => {}
            }
        })
    }
}

/// Maps a domain error to a GraphQL error.
#[must_use]
#[expect(clippy::needless_pass_by_value, reason = "taken by value to serve as `map_err(into_gql)`")]
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

/// Gives every field error its `path` and, on a nullable field, the field its `null`, as the
/// GraphQL spec asks: the dynamic schema's executor leaves a failed field out of its object and
/// its error without a path, so a client could not tell which field failed (and a request that
/// ran looked like one refused before running). A nullable field's error is kept in the
/// request's context and joins the response's errors after execution; a non-null field's goes
/// up as before, now with its path.
pub struct FieldErrors;

impl async_graphql::extensions::ExtensionFactory for FieldErrors {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(FieldErrors)
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for FieldErrors {
    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        let nullable = !info.return_type.ends_with('!');
        let node = info.path_node;
        let mut err = match next.run(ctx, info).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if err.path.is_empty() {
            err.path = path_of(node);
        }
        match ctx.data_opt::<std::sync::Arc<super::context::RequestContext>>() {
            Some(request) if nullable => {
                request.field_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(err);
                Ok(None)
            }
            _ => Err(err),
        }
    }
}

fn path_of(node: &async_graphql::QueryPathNode<'_>) -> Vec<async_graphql::PathSegment> {
    let mut path: Vec<async_graphql::PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|n| match n.segment {
            async_graphql::QueryPathSegment::Name(name) => async_graphql::PathSegment::Field(name.to_owned()),
            async_graphql::QueryPathSegment::Index(i) => async_graphql::PathSegment::Index(i),
        })
        .collect();
    path.reverse();
    path
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
