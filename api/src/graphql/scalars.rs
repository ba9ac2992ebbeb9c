//! Custom scalars of the API that inputs are checked against at validation time.

use async_graphql::Value;
use async_graphql::dynamic::Scalar;

/// `DateTime`: RFC 3339; outputs are UTC.
#[must_use]
pub fn date_time() -> Scalar {
    Scalar::new("DateTime")
        .description("An RFC 3339 timestamp; the server answers in UTC, e.g. 2026-11-26T06:03:10.123456Z")
        .specified_by_url("https://datatracker.ietf.org/doc/html/rfc3339")
        .validator(|v| matches!(v, Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok()))
}

/// `Decimal`: an exact decimal number, as a string ("1234.50"); plain JSON numbers are accepted
/// on input and taken by their text.
#[must_use]
pub fn decimal() -> Scalar {
    Scalar::new("Decimal").description("An exact decimal number as a string, e.g. \"1234.50\"").validator(|v| match v {
        Value::String(s) => s.trim().parse::<rust_decimal::Decimal>().is_ok(),
        Value::Number(_) => true,
        _ => false,
    })
}

/// `Date`: a calendar day, `YYYY-MM-DD`.
#[must_use]
pub fn date() -> Scalar {
    Scalar::new("Date")
        .description("A calendar date, YYYY-MM-DD")
        .validator(|v| matches!(v, Value::String(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()))
}

/// `BigInt`: a 64-bit integer (custom INT fields), a JSON number; strings of digits are accepted
/// on input, for clients whose numbers are doubles.
#[must_use]
pub fn big_int() -> Scalar {
    Scalar::new("BigInt").description("A 64-bit signed integer").validator(|v| match v {
        Value::Number(n) => n.is_i64(),
        Value::String(s) => s.trim().parse::<i64>().is_ok(),
        _ => false,
    })
}

/// `JSON`: any JSON value.
#[must_use]
pub fn json() -> Scalar {
    Scalar::new("JSON").description("Any JSON value")
}

/// A `DateTime` output value.
#[must_use]
pub fn time_value(t: &chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// An optional string output value.
#[must_use]
pub fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}
