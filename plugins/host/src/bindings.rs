//! Host bindings of the `guanxi:plugin` worlds, and the checks on what guests answer.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::{CallError, Reason};

pub mod scorer {
    wasmtime::component::bindgen!({ path: "../wit", world: "scorer-plugin", additional_derives: [PartialEq] });
}

pub mod validator {
    wasmtime::component::bindgen!({ path: "../wit", world: "validator-plugin", additional_derives: [PartialEq] });
}

pub use scorer::guanxi::plugin::types::{CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue};
pub use validator::guanxi::plugin::types::{ValidationRequest, Violation};

/// The exports that make a component a scorer or a validator.
pub const SCORER_INTERFACE: &str = "guanxi:plugin/scorer@0.1.0";
pub const VALIDATOR_INTERFACE: &str = "guanxi:plugin/validator@0.1.0";

fn too_large(what: &str, size: usize, limit: usize) -> Result<(), CallError> {
    if size > limit {
        Err(CallError::new(Reason::OutputTooLarge, format!("{what} is {size} bytes; at most {limit} are allowed")))
    } else {
        Ok(())
    }
}

fn invalid(message: String) -> CallError {
    CallError::new(Reason::InvalidOutput, message)
}

/// About how many bytes a batch takes (strings and numbers), for the input limit.
#[must_use]
pub fn snapshots_size(batch: &[CustomerSnapshot]) -> usize {
    batch
        .iter()
        .map(|s| {
            let strings = [&s.customer_id, &s.kind, &s.name, &s.status, &s.created_at, &s.custom_fields_json, &s.now];
            let options = [&s.region, &s.industry, &s.channel, &s.relationship_type, &s.tier];
            strings.iter().map(|x| x.len()).sum::<usize>()
                + options.iter().map(|x| x.as_ref().map_or(0, String::len)).sum::<usize>()
                + s.tags.iter().map(String::len).sum::<usize>()
                + s.purchase_totals.iter().map(|(a, b)| a.len() + b.len()).sum::<usize>()
                + (s.interaction_counts.len() + s.complaints_open.len() + s.complaints_total.len()) * 16
                + 128
        })
        .sum()
}

/// A seed for the guest's random numbers: the same batch, the same numbers.
#[must_use]
pub fn seed_of(batch: &[CustomerSnapshot]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for s in batch {
        s.customer_id.hash(&mut h);
        s.now.hash(&mut h);
    }
    h.finish()
}

fn key_is_valid(key: &str) -> bool {
    let b = key.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Score keys must be custom-field keys (`[a-z][a-z0-9_]{0,62}`), each once.
///
/// # Errors
/// `INVALID_OUTPUT` naming the bad key.
pub fn check_keys(keys: &[ScoreKey], output_limit: usize) -> Result<(), CallError> {
    let size: usize = keys.iter().map(|k| k.key.len() + k.description.len() + 8).sum();
    too_large("the list of score keys", size, output_limit)?;
    let mut seen = HashSet::new();
    for k in keys {
        if !key_is_valid(&k.key) {
            return Err(invalid(format!("score key '{}' must match [a-z][a-z0-9_]{{0,62}}", k.key)));
        }
        if !seen.insert(k.key.as_str()) {
            return Err(invalid(format!("score key '{}' is declared twice", k.key)));
        }
    }
    Ok(())
}

/// Scores must be for customers of the batch (each once), with declared keys of the declared
/// kind, finite numbers and short labels.
///
/// # Errors
/// `INVALID_OUTPUT` or `OUTPUT_TOO_LARGE`, saying what is wrong.
pub fn check_scores(
    keys: &[ScoreKey],
    batch: &[CustomerSnapshot],
    scores: &[CustomerScores],
    output_limit: usize,
) -> Result<(), CallError> {
    check_keys(keys, output_limit)?;
    let size: usize = scores
        .iter()
        .map(|c| {
            c.customer_id.len()
                + c.scores
                    .iter()
                    .map(|s| {
                        s.key.len()
                            + s.explanation.as_ref().map_or(0, String::len)
                            + match &s.value {
                                ScoreValue::Number(_) => 8,
                                ScoreValue::Label(l) => l.len(),
                            }
                    })
                    .sum::<usize>()
        })
        .sum();
    too_large("the scores", size, output_limit)?;
    let asked: HashSet<&str> = batch.iter().map(|s| s.customer_id.as_str()).collect();
    let mut answered = HashSet::new();
    for c in scores {
        if !asked.contains(c.customer_id.as_str()) {
            return Err(invalid(format!("scores for customer {} which was not in the batch", c.customer_id)));
        }
        if !answered.insert(c.customer_id.as_str()) {
            return Err(invalid(format!("customer {} is scored twice", c.customer_id)));
        }
        for s in &c.scores {
            let Some(declared) = keys.iter().find(|k| k.key == s.key) else {
                return Err(invalid(format!("score key '{}' was not declared by keys()", s.key)));
            };
            match (&s.value, declared.kind) {
                (ScoreValue::Number(n), ScoreKind::Number) if n.is_finite() => {}
                (ScoreValue::Number(n), ScoreKind::Number) => {
                    return Err(invalid(format!("score '{}' of {} is {n}, not a finite number", s.key, c.customer_id)));
                }
                (ScoreValue::Label(l), ScoreKind::Label) if l.chars().count() <= 200 => {}
                (ScoreValue::Label(_), ScoreKind::Label) => {
                    return Err(invalid(format!(
                        "label '{}' of {} is longer than 200 characters",
                        s.key, c.customer_id
                    )));
                }
                _ => {
                    return Err(invalid(format!("score '{}' of {} is not of its declared kind", s.key, c.customer_id)));
                }
            }
        }
    }
    Ok(())
}

/// Violations must fit the output limit.
///
/// # Errors
/// `OUTPUT_TOO_LARGE`.
pub fn check_violations(violations: &[Violation], output_limit: usize) -> Result<(), CallError> {
    let size: usize = violations.iter().map(|v| v.field.len() + v.code.len() + v.message.len()).sum();
    too_large("the violations", size, output_limit)
}
