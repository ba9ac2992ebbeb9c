//! Custom field values: what each [`FieldType`] accepts, how it is stored, and how a write's
//! `customFields` object is checked against the tenant's definitions.
//!
//! Values are stored in the entity's `custom_fields` JSON object in one canonical form per type,
//! chosen so that the database compares them the way people expect: integers as JSON numbers,
//! decimals as exact decimal strings, dates as `YYYY-MM-DD` and timestamps as fixed-width UTC
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ` (so text order is time order).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::custom_fields::{Definition, FieldType, Source};
use super::input::Patch;
use super::values::{Email, Phone, Refusal};
use crate::error::Violation;

/// Characters of a STRING value and of a TEXT value.
pub const MAX_STRING_CHARS: usize = 1_000;
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Bytes of a JSON value, serialized.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Levels of nested lists and objects in a JSON value. serde_json refuses to read text nested
/// deeper than 128 levels, and a GraphQL literal can be nested further: a value that deep would
/// be written but could not be read back, failing every list that holds it. No form needs a
/// quarter of that.
pub const MAX_JSON_DEPTH: usize = 32;
/// Bytes of a value in an indexed field: a PostgreSQL b-tree entry must fit a third of a page.
pub const MAX_INDEXED_BYTES: usize = crate::store::custom_fields::MAX_INDEXED_BYTES;

fn refuse(code: &'static str, msg: impl Into<String>) -> Refusal {
    (code, msg.into())
}

/// A string value, trimmed like every text field of the API.
fn as_text(value: &Value, what: &str) -> Result<String, Refusal> {
    let s = value.as_str().ok_or_else(|| refuse("INVALID_TYPE", format!("expected {what}, got {}", kind_of(value))))?;
    no_nul(s)?;
    Ok(s.trim().to_owned())
}

/// PostgreSQL text and jsonb cannot hold U+0000.
fn no_nul(s: &str) -> Result<(), Refusal> {
    if s.contains('\0') {
        Err(refuse("INVALID_CHARACTER", "must not contain the NUL character (U+0000)"))
    } else {
        Ok(())
    }
}

/// Does any string of `value`, or key, hold U+0000?
///
/// # Errors
/// `INVALID_CHARACTER` when one does.
pub fn json_without_nul(value: &Value) -> Result<(), Refusal> {
    match value {
        Value::String(s) => no_nul(s),
        Value::Array(items) => items.iter().try_for_each(json_without_nul),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| no_nul(k).and_then(|()| json_without_nul(v))),
        _ => Ok(()),
    }
}

/// Is `value` nested deeper than `max` levels of lists and objects? Stops looking at `max + 1`,
/// so the walk itself never goes deep.
#[must_use]
pub fn deeper_than(value: &Value, max: usize) -> bool {
    match value {
        Value::Array(items) => max == 0 || items.iter().any(|v| deeper_than(v, max - 1)),
        Value::Object(map) => max == 0 || map.values().any(|v| deeper_than(v, max - 1)),
        _ => false,
    }
}

fn not_too_deep(value: &Value) -> Result<(), Refusal> {
    if deeper_than(value, MAX_JSON_DEPTH) {
        Err(refuse("TOO_DEEP", format!("must be nested at most {MAX_JSON_DEPTH} levels deep")))
    } else {
        Ok(())
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn length(s: &str, max: usize) -> Result<(), Refusal> {
    let n = s.chars().count();
    if n > max { Err(refuse("TOO_LONG", format!("must have at most {max} characters, has {n}"))) } else { Ok(()) }
}

/// A timestamp in the stored form.
#[must_use]
pub fn canonical_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An exact decimal from a string or a JSON number (taken by its text).
///
/// # Errors
/// `INVALID_DECIMAL`.
pub fn decimal(value: &Value) -> Result<Decimal, Refusal> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => return Err(refuse("INVALID_TYPE", format!("expected a decimal number, got {}", kind_of(other)))),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map(|d| d.normalize())
        .map_err(|_| refuse("INVALID_DECIMAL", format!("'{text}' is not a decimal number")))
}

/// A 64-bit integer from a JSON integer or a string of digits (JavaScript clients send large
/// integers as strings).
///
/// # Errors
/// `INVALID_INT` or `OUT_OF_RANGE`.
pub fn integer(value: &Value) -> Result<i64, Refusal> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            if n.is_u64() {
                refuse("OUT_OF_RANGE", format!("{n} is outside the 64-bit integer range"))
            } else {
                refuse("INVALID_INT", format!("{n} is not a whole number"))
            }
        }),
        Value::String(s) => s.trim().parse::<i64>().map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                refuse("OUT_OF_RANGE", format!("{s} is outside the 64-bit integer range"))
            }
            _ => refuse("INVALID_INT", format!("'{s}' is not a whole number")),
        }),
        other => Err(refuse("INVALID_TYPE", format!("expected a whole number, got {}", kind_of(other)))),
    }
}

fn url(s: &str) -> Result<String, Refusal> {
    super::values::web_address(s)
}

/// Checks one non-null value against `def` and returns its stored form.
///
/// # Errors
/// A refusal code and message (the caller names the field).
pub fn check(def: &Definition, value: &Value) -> Result<Value, Refusal> {
    let stored = match def.ty {
        FieldType::String => {
            let s = as_text(value, "a string")?;
            length(&s, MAX_STRING_CHARS)?;
            Value::String(s)
        }
        FieldType::Text => {
            let s = as_text(value, "a string")?;
            length(&s, MAX_TEXT_CHARS)?;
            Value::String(s)
        }
        FieldType::Int => Value::from(integer(value)?),
        FieldType::Decimal => Value::String(decimal(value)?.to_string()),
        FieldType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            other => return Err(refuse("INVALID_TYPE", format!("expected true or false, got {}", kind_of(other)))),
        },
        FieldType::Date => {
            let s = as_text(value, "a date (YYYY-MM-DD)")?;
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| refuse("INVALID_DATE", format!("'{s}' is not a date like 2026-11-26")))?;
            Value::String(d.format("%Y-%m-%d").to_string())
        }
        FieldType::DateTime => {
            let s = as_text(value, "an RFC 3339 timestamp")?;
            let t = DateTime::parse_from_rfc3339(s.trim())
                .map_err(|_| refuse("INVALID_DATETIME", format!("'{s}' is not an RFC 3339 timestamp")))?;
            Value::String(canonical_time(&t.with_timezone(&Utc)))
        }
        FieldType::Enum => {
            let s = as_text(value, "one of the options")?;
            if !def.options.contains(&s) {
                return Err(refuse("INVALID_OPTION", format!("'{s}' is not one of {}", def.options.join(", "))));
            }
            Value::String(s)
        }
        FieldType::MultiEnum => {
            let Value::Array(items) = value else {
                return Err(refuse("INVALID_TYPE", format!("expected a list of options, got {}", kind_of(value))));
            };
            let mut chosen: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let s = as_text(item, "a list of strings")?;
                if !def.options.contains(&s) {
                    return Err(refuse("INVALID_OPTION", format!("'{s}' is not one of {}", def.options.join(", "))));
                }
                if chosen.contains(&s) {
                    return Err(refuse("DUPLICATE", format!("'{s}' is chosen twice")));
                }
                chosen.push(s);
            }
            Value::Array(chosen.into_iter().map(Value::String).collect())
        }
        FieldType::Email => Value::String(Email::parse(&as_text(value, "an e-mail address")?)?.into_inner()),
        FieldType::Phone => Value::String(Phone::parse(&as_text(value, "a phone number")?)?.into_inner()),
        FieldType::Url => Value::String(url(&as_text(value, "a URL")?)?),
        FieldType::Json => {
            not_too_deep(value)?;
            let bytes = value.to_string().len();
            if bytes > MAX_JSON_BYTES {
                return Err(refuse("TOO_LARGE", format!("must be at most {MAX_JSON_BYTES} bytes as JSON, is {bytes}")));
            }
            json_without_nul(value)?;
            value.clone()
        }
    };
    if def.indexed
        && let Value::String(s) = &stored
        && s.len() > MAX_INDEXED_BYTES
    {
        return Err(refuse(
            "TOO_LONG_FOR_INDEX",
            format!("an indexed field holds at most {MAX_INDEXED_BYTES} bytes of UTF-8, this value has {}", s.len()),
        ));
    }
    Ok(stored)
}

/// A stored value carried over to a new definition of the field (a type or option change):
/// checked as if written anew, with numbers and booleans also read from their text.
///
/// # Errors
/// When the value has no form in the new definition.
pub fn convert(def: &Definition, stored: &Value) -> Result<Value, Refusal> {
    check(def, stored).or_else(|first| match (stored, def.ty) {
        (Value::Number(n), ty) if ty.is_text() => check(def, &Value::String(n.to_string())),
        (Value::Bool(b), ty) if ty.is_text() => check(def, &Value::String(b.to_string())),
        (Value::String(s), FieldType::Boolean) => match s.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(first),
        },
        (Value::String(s), FieldType::MultiEnum) => check(def, &Value::Array(vec![Value::String(s.clone())])),
        _ => Err(first),
    })
}

/// The value a read shows for `def` in a stored object: the stored one, else the default of a
/// required field (rows written before it was defined).
#[must_use]
pub fn read<'a>(def: &'a Definition, stored: &'a Value) -> Option<&'a Value> {
    match stored.get(&def.key) {
        Some(v) if !v.is_null() => Some(v),
        _ if def.required => def.default_value.as_ref(),
        _ => None,
    }
}

/// A stored value as JSON of its field's type, as scorer plugins of contract 0.2.0 read it: a
/// DECIMAL (stored as exact text) is a number, whole ones as integers and others as the nearest
/// double; every other type's stored form is its JSON already (INT a number, BOOLEAN true or
/// false, dates and times strings, MULTI_ENUM a list, JSON itself).
#[must_use]
pub fn typed(def: &Definition, stored: &Value) -> Value {
    use rust_decimal::prelude::ToPrimitive;
    if def.ty != FieldType::Decimal {
        return stored.clone();
    }
    let Ok(d) = decimal(stored) else { return stored.clone() };
    if d.scale() == 0
        && let Some(whole) = d.to_i64()
    {
        return Value::from(whole);
    }
    d.to_f64().and_then(serde_json::Number::from_f64).map_or_else(|| stored.clone(), Value::Number)
}

/// `customFields` as clients see it: every live definition's value, by key.
#[must_use]
pub fn visible<'a>(defs: impl Iterator<Item = &'a Definition>, stored: &Value) -> Value {
    let mut out = Map::new();
    for def in defs.filter(|d| !d.archived) {
        if let Some(v) = read(def, stored) {
            out.insert(def.key.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The part of a customer's custom object its own row stores: all but the computed values,
/// which live in its scores row (`customer_scores.computed`) and are joined in on reads.
#[must_use]
pub fn stored_in_row(defs: &[Definition], values: &Value) -> Value {
    let mut out = values.as_object().cloned().unwrap_or_default();
    for def in defs.iter().filter(|d| d.source == Source::Plugin) {
        out.remove(&def.key);
    }
    Value::Object(out)
}

/// Applies a write's `customFields` over the stored object (`None` on create), checking every
/// value against `defs` (all of the entity's definitions, archived included). Keys left out keep
/// their values; null clears one. Archived fields' values are kept untouched.
///
/// Validator plugins attached to a field run after these checks, on the values returned here.
pub fn apply(
    defs: &[Definition],
    input: Patch<Value>,
    stored: Option<&Value>,
    violations: &mut Vec<Violation>,
) -> Value {
    let mut out = stored.and_then(Value::as_object).cloned().unwrap_or_default();
    let given = match input {
        Patch::Absent => Map::new(),
        Patch::Null => {
            // Null clears every value the caller may write.
            for def in defs.iter().filter(|d| !d.archived && d.source == Source::User) {
                out.remove(&def.key);
            }
            Map::new()
        }
        Patch::Value(Value::Object(map)) => map,
        Patch::Value(other) => {
            violations.push(Violation::new(
                "customFields",
                "INVALID_TYPE",
                format!("customFields must be an object keyed by field key, got {}", kind_of(&other)),
            ));
            return Value::Object(out);
        }
    };
    for (key, value) in given {
        let field = format!("customFields.{key}");
        if let Err((code, msg)) = not_too_deep(&value) {
            violations.push(Violation::new(field, code, msg));
            continue;
        }
        let Some(def) = defs.iter().find(|d| d.key == key && !d.archived) else {
            // The GraphQL name (`wechatId`) where the key (`wechat_id`) belongs: say which.
            let message = match defs.iter().find(|d| d.name == key && !d.archived) {
                Some(def) => format!(
                    "'{key}' is the GraphQL name of a custom field: customFields takes its key, '{}'",
                    def.key
                ),
                None => format!("'{key}' is not a custom field of this entity"),
            };
            violations.push(Violation::new(field, "UNKNOWN_FIELD", message));
            continue;
        };
        if def.source != Source::User {
            violations.push(Violation::new(
                field,
                "READ_ONLY",
                format!("'{key}' is computed by a plugin and cannot be written"),
            ));
            continue;
        }
        if value.is_null() {
            out.remove(&key);
            continue;
        }
        match check(def, &value) {
            Ok(v) => {
                out.insert(key, v);
            }
            Err((code, msg)) => violations.push(Violation::new(field, code, msg)),
        }
    }
    for def in defs.iter().filter(|d| d.required && !d.archived && d.source == Source::User) {
        if out.get(&def.key).is_none_or(Value::is_null) {
            match (&def.default_value, stored) {
                // A new row takes the default; a stored row may not drop a required value.
                (Some(default), None) => {
                    out.insert(def.key.clone(), default.clone());
                }
                _ => violations.push(Violation::new(
                    format!("customFields.{}", def.key),
                    "REQUIRED",
                    format!("'{}' is required", def.key),
                )),
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::custom_fields::EntityKind;

    fn def(ty: FieldType) -> Definition {
        Definition::for_test(EntityKind::Customer, "f", ty)
    }

    #[test]
    fn each_type_stores_a_canonical_form() {
        assert_eq!(check(&def(FieldType::Int), &json!("9007199254740993")), Ok(json!(9_007_199_254_740_993_i64)));
        assert_eq!(check(&def(FieldType::Decimal), &json!("012.500")), Ok(json!("12.5")));
        assert_eq!(check(&def(FieldType::Decimal), &json!(0.1)), Ok(json!("0.1")));
        assert_eq!(
            check(&def(FieldType::DateTime), &json!("2026-11-26T08:00:00+08:00")),
            Ok(json!("2026-11-26T00:00:00.000000Z"))
        );
        assert_eq!(check(&def(FieldType::Email), &json!("a@B.CN")), Ok(json!("a@b.cn")));
        assert_eq!(check(&def(FieldType::Url), &json!("https://example.com")), Ok(json!("https://example.com/")));
    }

    #[test]
    fn stored_values_read_as_json_of_their_type() {
        let typed_of = |ty: FieldType, value: serde_json::Value| {
            let stored = check(&def(ty), &value).unwrap();
            typed(&def(ty), &stored)
        };
        assert_eq!(typed_of(FieldType::Decimal, json!("30")), json!(30));
        assert_eq!(typed_of(FieldType::Decimal, json!("012.500")), json!(12.5));
        assert_eq!(typed_of(FieldType::Decimal, json!("-0.1")), json!(-0.1));
        assert_eq!(typed_of(FieldType::Decimal, json!("1e3")), json!(1000));
        assert_eq!(typed_of(FieldType::Int, json!("42")), json!(42));
        assert_eq!(typed_of(FieldType::Boolean, json!(false)), json!(false));
        assert_eq!(typed_of(FieldType::Date, json!("2026-11-26")), json!("2026-11-26"));
        assert_eq!(typed_of(FieldType::Json, json!({ "a": [1, null] })), json!({ "a": [1, null] }));
        // Nothing a decimal could not be: a value stored by hand stays as it is.
        assert_eq!(typed(&def(FieldType::Decimal), &json!("soon")), json!("soon"));
    }

    #[test]
    fn refusals_name_their_reason() {
        assert_eq!(check(&def(FieldType::Int), &json!(1.5)).unwrap_err().0, "INVALID_INT");
        assert_eq!(check(&def(FieldType::Int), &json!(u64::MAX)).unwrap_err().0, "OUT_OF_RANGE");
        assert_eq!(check(&def(FieldType::Boolean), &json!("yes")).unwrap_err().0, "INVALID_TYPE");
        assert_eq!(check(&def(FieldType::Date), &json!("2026-02-30")).unwrap_err().0, "INVALID_DATE");
        assert_eq!(check(&def(FieldType::Url), &json!("ftp://x.cn")).unwrap_err().0, "INVALID_URL");
        assert_eq!(check(&def(FieldType::String), &json!("x".repeat(1001))).unwrap_err().0, "TOO_LONG");
        assert_eq!(check(&def(FieldType::String), &json!("a\u{0}b")).unwrap_err().0, "INVALID_CHARACTER");
        assert_eq!(check(&def(FieldType::Json), &json!({"k": ["\u{0}"]})).unwrap_err().0, "INVALID_CHARACTER");
        assert_eq!(check(&def(FieldType::String), &json!("  padded ")), Ok(json!("padded")));
    }

    #[test]
    fn json_values_are_at_most_so_deep() {
        let nested = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }));
        assert!(!deeper_than(&nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH));
        assert!(deeper_than(&nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH));
        assert!(!deeper_than(&json!("text"), 0));
        assert!(deeper_than(&json!([]), 0));
        assert!(check(&def(FieldType::Json), &nested(MAX_JSON_DEPTH)).is_ok());
        assert_eq!(check(&def(FieldType::Json), &nested(MAX_JSON_DEPTH + 1)).unwrap_err().0, "TOO_DEEP");
    }

    #[test]
    fn conversion_reads_numbers_from_text_and_back() {
        assert_eq!(convert(&def(FieldType::String), &json!(42)), Ok(json!("42")));
        assert_eq!(convert(&def(FieldType::Int), &json!("42")), Ok(json!(42)));
        assert!(convert(&def(FieldType::Int), &json!("forty-two")).is_err());
    }
}
