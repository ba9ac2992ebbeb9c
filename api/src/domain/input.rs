//! Input handling shared by every entity: absent / null / value patches, and setters that apply
//! one patched field while collecting violations, so one request reports every problem at once.

use super::values::{Refusal, text};
use crate::error::{Error, Violation};

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

/// A free-text field: blank clears it, otherwise 1..=`max` characters.
pub fn set_text(v: &mut Vec<Violation>, field: &str, patch: Patch<String>, target: &mut Option<String>, max: usize) {
    match patch {
        Patch::Absent => {}
        Patch::Null => *target = None,
        Patch::Value(s) if s.trim().is_empty() => *target = None,
        Patch::Value(s) => match text(&s, 1, max) {
            Ok(s) => *target = Some(s),
            Err((code, msg)) => v.push(Violation::new(field, code, msg)),
        },
    }
}

/// A field checked by a value parser (`Email::parse`, …): blank clears it.
pub fn set_parsed<T>(
    v: &mut Vec<Violation>,
    field: &str,
    patch: Patch<String>,
    target: &mut Option<String>,
    parse: impl Fn(&str) -> std::result::Result<T, Refusal>,
    inner: impl Fn(T) -> String,
) {
    match patch {
        Patch::Absent => {}
        Patch::Null => *target = None,
        Patch::Value(s) if s.trim().is_empty() => *target = None,
        Patch::Value(s) => match parse(&s) {
            Ok(x) => *target = Some(inner(x)),
            Err((code, msg)) => v.push(Violation::new(field, code, msg)),
        },
    }
}

/// An optional enum field.
pub fn set_enum(
    v: &mut Vec<Violation>,
    field: &str,
    patch: Patch<String>,
    allowed: &[&str],
    target: &mut Option<String>,
) {
    match patch {
        Patch::Absent => {}
        Patch::Null => *target = None,
        Patch::Value(s) if allowed.contains(&s.as_str()) => *target = Some(s),
        Patch::Value(s) => {
            v.push(Violation::new(field, "INVALID_VALUE", format!("'{s}' is not one of {}", allowed.join(", "))));
        }
    }
}

/// A required enum field: null is a violation.
pub fn set_required_enum(
    v: &mut Vec<Violation>,
    field: &str,
    patch: Patch<String>,
    allowed: &[&str],
    target: &mut String,
) {
    let mut slot = Some(target.clone());
    let was_null = patch == Patch::Null;
    set_enum(v, field, patch, allowed, &mut slot);
    match slot {
        Some(s) if !was_null => *target = s,
        _ => v.push(Violation::new(field, "REQUIRED", format!("{field} cannot be null"))),
    }
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
