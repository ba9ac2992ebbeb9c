//! Input handling shared by every entity: absent / null / value patches, and [`apply`], which
//! checks and sets each built-in field as the entity's declaration says while collecting
//! violations, so one request reports every problem at once.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sea_orm::{EntityTrait, Value as DbValue};
use serde_json::Value;

use super::ids;
use super::records::Record;
use super::values::{Refusal, text};
use crate::error::{Error, Violation};
use crate::query::{Check, FieldKind, FieldSpec};

/// An input field that may be absent (leave as is), explicitly null (clear) or a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    /// The value, if one was given (absent and null both give `None`).
    pub fn into_value(self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v),
            Patch::Absent | Patch::Null => None,
        }
    }
}

/// A value given for a built-in field, as its GraphQL input type reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Given {
    /// Strings, enum names, global ids and decimals.
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    List(Vec<String>),
}

/// What a create or an update asks for: a patch of each built-in field given, by GraphQL name,
/// and the object of custom values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    given: Vec<(&'static str, Patch<Given>)>,
    /// An object keyed by custom field key; checked against the tenant's definitions.
    pub custom_fields: Patch<Value>,
}

impl Input {
    #[must_use]
    pub fn new(given: Vec<(&'static str, Patch<Given>)>, custom_fields: Patch<Value>) -> Self {
        Self { given, custom_fields }
    }

    /// Takes the patch of `name` out: what is taken is no longer applied by [`apply`].
    pub fn take(&mut self, name: &str) -> Patch<Given> {
        match self.given.iter().position(|(n, _)| *n == name) {
            Some(i) => self.given.swap_remove(i).1,
            None => Patch::Absent,
        }
    }

    /// Takes the text (string, enum name or global id) given for `name`.
    pub fn take_text(&mut self, name: &str) -> Patch<String> {
        match self.take(name) {
            Patch::Value(Given::Text(s)) => Patch::Value(s),
            Patch::Null => Patch::Null,
            Patch::Absent | Patch::Value(_) => Patch::Absent,
        }
    }

    /// Takes the patch of `name` out if it is null: for a field whose null the entity reads
    /// its own way (a plan's `plannedVisits: null` is no visits).
    pub fn take_null(&mut self, name: &str) -> bool {
        let null = self.given.iter().any(|(n, p)| *n == name && *p == Patch::Null);
        if null {
            self.take(name);
        }
        null
    }
}

/// Applies `input` over `row` field by field, as each field's declaration in `R::FIELDS` says,
/// collecting every violation so one answer reports every problem. A create (`creating`) must
/// give the required fields; an update may not give create-only ones.
///
/// # Errors
/// `INTERNAL` when a declared field has no column of the value's type (a programming error).
pub fn apply<R: Record>(row: &mut R, input: &mut Input, creating: bool, v: &mut Vec<Violation>) -> Result<(), Error> {
    for spec in R::FIELDS {
        let Some(rule) = spec.input else { continue };
        let name = spec.name;
        match input.take(name) {
            Patch::Absent if creating && rule.required => {
                v.push(Violation::new(name, "REQUIRED", format!("{name} is required")));
            }
            Patch::Absent => {}
            _ if !creating && rule.create_only => {
                v.push(Violation::new(name, "NOT_ALLOWED", format!("{name} is set when the record is created")));
            }
            _ if creating && rule.update_only => {
                v.push(Violation::new(name, "NOT_ALLOWED", format!("{name} is set by an update")));
            }
            patch => {
                if let Some(value) = checked(spec, rule.check, patch, v) {
                    let column = <R::Entity as EntityTrait>::Column::from_str(name)
                        .map_err(|_| Error::Internal(anyhow::anyhow!("{} has no column {name}", R::TYPE_NAME)))?;
                    row.try_set(column, value)?;
                }
            }
        }
    }
    Ok(())
}

/// The value to store for `patch`, or `None`: absent, or refused (with a violation).
fn checked(spec: &FieldSpec, check: Check, patch: Patch<Given>, v: &mut Vec<Violation>) -> Option<DbValue> {
    stored(spec, check, patch, v).unwrap_or_else(|(code, msg)| {
        v.push(Violation::new(spec.name, code, msg));
        None
    })
}

fn stored(
    spec: &FieldSpec,
    check: Check,
    patch: Patch<Given>,
    v: &mut Vec<Violation>,
) -> Result<Option<DbValue>, Refusal> {
    let name = spec.name;
    let given = match patch {
        Patch::Absent => return Ok(None),
        Patch::Null => return null_of(spec).map(Some).ok_or_else(|| ("REQUIRED", format!("{name} cannot be null"))),
        Patch::Value(given) => given,
    };
    let value = match (spec.kind, check, given) {
        (_, Check::Text(_) | Check::Parsed(_), Given::Text(s)) if spec.nullable && s.trim().is_empty() => {
            return Ok(null_of(spec));
        }
        (_, Check::Text(max), Given::Text(s)) => DbValue::String(Some(text(&s, 1, max)?)),
        (_, Check::Parsed(parse), Given::Text(s)) => DbValue::String(Some(parse(&s)?)),
        (FieldKind::Enum { values, .. }, _, Given::Text(s)) => {
            if !values.contains(&s.as_str()) {
                return Err(("INVALID_VALUE", format!("'{s}' is not one of {}", values.join(", "))));
            }
            DbValue::String(Some(s))
        }
        (FieldKind::Id { type_name }, _, Given::Text(s)) => DbValue::Uuid(Some(ids::decode(type_name, &s)?)),
        (FieldKind::Int, Check::Range(lo, hi), Given::Int(n)) => match i32::try_from(n) {
            Ok(small) if (lo..=hi).contains(&n) => DbValue::Int(Some(small)),
            _ => return Err(("OUT_OF_RANGE", format!("must be {lo} to {hi}, got {n}"))),
        },
        (FieldKind::Boolean, _, Given::Bool(b)) => DbValue::Bool(Some(b)),
        // Both databases keep microseconds; truncating here makes what is read back equal.
        (FieldKind::DateTime, _, Given::Time(t)) => DbValue::ChronoDateTimeUtc(Some(t.trunc_subsecs(6))),
        (FieldKind::Date, _, Given::Date(d)) => DbValue::ChronoDate(Some(d)),
        (FieldKind::StringList | FieldKind::IdList { .. }, Check::List { items, chars }, Given::List(list)) => {
            DbValue::Json(Some(Box::new(Value::from(distinct(spec, &list, items, chars, v)))))
        }
        _ => return Err(("INVALID_VALUE", format!("not a value {name} can hold"))),
    };
    Ok(Some(value))
}

/// What null stores: nothing for a nullable field, an empty list for a list, `None` (refused)
/// for a field that must hold a value.
fn null_of(spec: &FieldSpec) -> Option<DbValue> {
    match spec.kind {
        FieldKind::StringList | FieldKind::IdList { .. } => {
            Some(DbValue::Json(Some(Box::new(Value::Array(Vec::new())))))
        }
        FieldKind::String | FieldKind::Decimal | FieldKind::Enum { .. } if spec.nullable => Some(DbValue::String(None)),
        FieldKind::Id { .. } if spec.nullable => Some(DbValue::Uuid(None)),
        FieldKind::Int if spec.nullable => Some(DbValue::Int(None)),
        FieldKind::Boolean if spec.nullable => Some(DbValue::Bool(None)),
        FieldKind::DateTime if spec.nullable => Some(DbValue::ChronoDateTimeUtc(None)),
        FieldKind::Date if spec.nullable => Some(DbValue::ChronoDate(None)),
        _ => None,
    }
}

/// The distinct entries of a list (texts, or the uuids of global ids), the first of each kept;
/// a violation, at `field.i`, for each refused entry. A list over `items` is refused whole,
/// before its entries are read.
fn distinct(spec: &FieldSpec, list: &[String], items: usize, chars: usize, v: &mut Vec<Violation>) -> Vec<String> {
    let name = spec.name;
    if list.len() > items {
        v.push(Violation::new(name, "TOO_MANY", format!("at most {items} {name}, got {}", list.len())));
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::with_capacity(list.len());
    let mut clean = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let entry = match spec.kind {
            FieldKind::IdList { type_name } => ids::decode(type_name, entry).map(|id| id.to_string()),
            _ => text(entry, 1, chars),
        };
        match entry {
            Ok(e) if seen.insert(e.clone()) => clean.push(e),
            Ok(_) => {}
            Err((code, msg)) => v.push(Violation::new(format!("{name}.{i}"), code, msg)),
        }
    }
    clean
}

/// Refuses a change made against an `expectedVersion` that is no longer current (lost-update
/// protection for every entity).
///
/// # Errors
/// `CONFLICT` (reason `STALE_VERSION`, field `expectedVersion`).
pub fn check_version(what: &str, current: i32, expected: Option<i32>) -> Result<(), Error> {
    match expected {
        Some(v) if v != current => Err(Error::Conflict {
            code: "STALE_VERSION",
            message: format!("{what} is at version {current}, not {v}: reload it and apply your change again"),
            field: Some("expectedVersion".into()),
        }),
        _ => Ok(()),
    }
}
