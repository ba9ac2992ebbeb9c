//! Reading input objects into the domain's absent / null / value patches.

use async_graphql::dynamic::ObjectAccessor;
use chrono::{DateTime, Utc};

use crate::domain::input::Patch;

fn get<'a, T>(
    obj: &'a ObjectAccessor<'_>,
    name: &str,
    read: impl Fn(&async_graphql::dynamic::ValueAccessor<'a>) -> Option<T>,
) -> Patch<T> {
    match obj.get(name) {
        None => Patch::Absent,
        Some(v) if v.is_null() => Patch::Null,
        Some(v) => read(&v).map_or(Patch::Absent, Patch::Value),
    }
}

/// A string or enum field.
#[must_use]
pub fn string(obj: &ObjectAccessor<'_>, name: &str) -> Patch<String> {
    get(obj, name, |v| v.string().or_else(|_| v.enum_name()).ok().map(str::to_owned))
}

/// A Decimal field (a string, or a JSON number taken by its text).
#[must_use]
pub fn decimal(obj: &ObjectAccessor<'_>, name: &str) -> Patch<String> {
    get(obj, name, |v| match v.as_value() {
        async_graphql::Value::String(s) => Some(s.clone()),
        async_graphql::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[must_use]
pub fn int(obj: &ObjectAccessor<'_>, name: &str) -> Patch<i64> {
    get(obj, name, |v| v.i64().ok())
}

#[must_use]
pub fn boolean(obj: &ObjectAccessor<'_>, name: &str) -> Patch<bool> {
    get(obj, name, |v| v.boolean().ok())
}

/// A DateTime field (already checked by the scalar's validator).
#[must_use]
pub fn date_time(obj: &ObjectAccessor<'_>, name: &str) -> Patch<DateTime<Utc>> {
    get(obj, name, |v| {
        v.string().ok().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
    })
}

/// A Date field (already checked by the scalar's validator).
#[must_use]
pub fn date(obj: &ObjectAccessor<'_>, name: &str) -> Patch<chrono::NaiveDate> {
    get(obj, name, |v| v.string().ok().and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()))
}

/// A JSON field, as a `serde_json` value.
#[must_use]
pub fn json(obj: &ObjectAccessor<'_>, name: &str) -> Patch<serde_json::Value> {
    get(obj, name, |v| v.as_value().clone().into_json().ok())
}

/// A list of strings.
#[must_use]
pub fn strings(obj: &ObjectAccessor<'_>, name: &str) -> Patch<Vec<String>> {
    get(obj, name, |v| v.list().ok().map(|l| l.iter().filter_map(|t| t.string().ok().map(str::to_owned)).collect()))
}

/// The `input` argument, read with `read`.
///
/// # Errors
/// `BAD_USER_INPUT` when it is missing (GraphQL validation normally catches that first).
pub fn input<T>(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
    read: fn(&ObjectAccessor<'_>) -> T,
) -> crate::Result<T> {
    let obj = ctx
        .args
        .get("input")
        .and_then(|v| v.object().ok())
        .ok_or_else(|| crate::Error::invalid("input", "REQUIRED", "input is required"))?;
    Ok(read(&obj))
}

/// The optional `expectedVersion` argument.
///
/// # Errors
/// `BAD_USER_INPUT` for a number that cannot be a version.
pub fn expected_version(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> crate::Result<Option<i32>> {
    super::context::int_arg(ctx, "expectedVersion")
        .map(|v| {
            i32::try_from(v).map_err(|_| crate::Error::invalid("expectedVersion", "OUT_OF_RANGE", "not a version"))
        })
        .transpose()
}
