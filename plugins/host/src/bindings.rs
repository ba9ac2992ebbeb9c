//! Host bindings of the `guanxi:plugin` worlds of both contract versions, the calls of either
//! version behind one interface (a 0.1.0 component gets the 0.1.0 snapshot), and the checks on
//! what guests answer.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use wasmtime::Store;

use crate::sandbox::State;
use crate::{CallError, Reason};

pub mod scorer {
    wasmtime::component::bindgen!({ path: "../wit", world: "scorer-plugin", additional_derives: [PartialEq] });
}

pub mod validator {
    wasmtime::component::bindgen!({ path: "../wit", world: "validator-plugin", additional_derives: [PartialEq] });
}

pub mod config {
    wasmtime::component::bindgen!({ path: "../wit", world: "config-checker" });
}

/// Contract 0.1.0, frozen: components built against it keep running unchanged.
pub mod v0_1 {
    pub mod scorer {
        wasmtime::component::bindgen!({ path: "../wit/0.1.0", world: "scorer-plugin" });
    }

    pub mod validator {
        wasmtime::component::bindgen!({ path: "../wit/0.1.0", world: "validator-plugin" });
    }
}

pub use scorer::guanxi::plugin::types::{CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue};
pub use validator::guanxi::plugin::types::{ValidationRequest, Violation};

use v0_1::scorer::guanxi::plugin::types as old;
use v0_1::validator::guanxi::plugin::types as old_validator;

/// The exports that make a component a scorer, a validator or a checker of its configuration,
/// by contract version.
pub const SCORER_INTERFACE: &str = "guanxi:plugin/scorer@0.2.0";
pub const VALIDATOR_INTERFACE: &str = "guanxi:plugin/validator@0.2.0";
pub const CONFIG_INTERFACE: &str = "guanxi:plugin/config@0.2.0";
pub const SCORER_INTERFACE_0_1: &str = "guanxi:plugin/scorer@0.1.0";
pub const VALIDATOR_INTERFACE_0_1: &str = "guanxi:plugin/validator@0.1.0";

/// A version of the `guanxi:plugin` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    /// The newest version, the one `plugins/wit/guanxi-plugin.wit` defines.
    pub const CURRENT: Contract = Contract::V0_2;

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The customers of one scoring call, shared by every scorer that reads them (cloning a batch
/// copies no snapshot). A scorer of contract 0.1.0 gets each snapshot converted down: the fields
/// 0.1.0 knew, and the custom values as 0.1.0 carried them when the caller gave them
/// ([`Batch::with_custom_fields_0_1`]; the server does: the values as stored, decimals as
/// strings), else the 0.2.0 `custom_fields_json`.
#[derive(Debug, Clone)]
pub struct Batch {
    snapshots: Arc<[CustomerSnapshot]>,
    custom_fields_0_1: Option<Arc<[String]>>,
}

impl Batch {
    #[must_use]
    pub fn new(snapshots: impl Into<Arc<[CustomerSnapshot]>>) -> Self {
        Self { snapshots: snapshots.into(), custom_fields_0_1: None }
    }

    /// The `custom-fields-json` each snapshot has under contract 0.1.0, in the batch's order.
    #[must_use]
    pub fn with_custom_fields_0_1(mut self, json: impl Into<Arc<[String]>>) -> Self {
        self.custom_fields_0_1 = Some(json.into());
        self
    }

    #[must_use]
    pub fn snapshots(&self) -> &[CustomerSnapshot] {
        &self.snapshots
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// The first `mid` customers and the others, each a batch of its own (copied).
    #[must_use]
    pub fn split_at(&self, mid: usize) -> (Batch, Batch) {
        let mid = mid.min(self.len());
        let part = |range: std::ops::Range<usize>| Batch {
            snapshots: self.snapshots[range.clone()].into(),
            custom_fields_0_1: self.custom_fields_0_1.as_ref().and_then(|c| c.get(range)).map(Into::into),
        };
        (part(0..mid), part(mid..self.len()))
    }

    /// The 0.1.0 custom values of the `i`-th snapshot.
    fn custom_fields_0_1(&self, i: usize) -> &str {
        self.custom_fields_0_1
            .as_ref()
            .and_then(|c| c.get(i))
            .map_or(self.snapshots[i].custom_fields_json.as_str(), String::as_str)
    }

    /// The batch as contract 0.1.0 has it.
    fn to_0_1(&self) -> Vec<old::CustomerSnapshot> {
        self.snapshots.iter().enumerate().map(|(i, s)| snapshot_0_1(s, self.custom_fields_0_1(i))).collect()
    }

    /// About how many bytes the batch takes (strings and numbers) as `contract` carries it, for
    /// the input limit.
    #[must_use]
    pub fn size(&self, contract: Contract) -> usize {
        self.snapshots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let custom = match contract {
                    Contract::V0_1 => self.custom_fields_0_1(i).len(),
                    Contract::V0_2 => s.custom_fields_json.len(),
                };
                let added_in_0_2 = match contract {
                    Contract::V0_1 => 0,
                    Contract::V0_2 => [
                        &s.interactions_last30_days,
                        &s.interactions_last90_days,
                        &s.interactions_last365_days,
                        &s.days_since_last_interaction,
                    ]
                    .iter()
                    .map(|m| m.iter().map(|(k, _)| k.len() + 8).sum::<usize>())
                    .sum(),
                };
                snapshot_size(s) + custom + added_in_0_2
            })
            .sum()
    }
}

impl From<Vec<CustomerSnapshot>> for Batch {
    fn from(snapshots: Vec<CustomerSnapshot>) -> Self {
        Batch::new(snapshots)
    }
}

impl From<Arc<[CustomerSnapshot]>> for Batch {
    fn from(snapshots: Arc<[CustomerSnapshot]>) -> Self {
        Batch::new(snapshots)
    }
}

/// The bytes of the fields both versions have, but the custom values.
fn snapshot_size(s: &CustomerSnapshot) -> usize {
    let strings = [&s.customer_id, &s.kind, &s.name, &s.status, &s.created_at, &s.now];
    let options = [&s.region, &s.industry, &s.channel, &s.relationship_type, &s.tier];
    strings.iter().map(|x| x.len()).sum::<usize>()
        + options.iter().map(|x| x.as_ref().map_or(0, String::len)).sum::<usize>()
        + s.tags.iter().map(String::len).sum::<usize>()
        + s.purchase_totals.iter().map(|(a, b)| a.len() + b.len()).sum::<usize>()
        + (s.interaction_counts.len() + s.complaints_open.len() + s.complaints_total.len()) * 16
        + 128
}

/// A 0.2.0 snapshot as contract 0.1.0 has it: the fields 0.1.0 knew, with `custom_fields_json`.
fn snapshot_0_1(s: &CustomerSnapshot, custom_fields_json: &str) -> old::CustomerSnapshot {
    old::CustomerSnapshot {
        customer_id: s.customer_id.clone(),
        kind: s.kind.clone(),
        name: s.name.clone(),
        status: s.status.clone(),
        region: s.region.clone(),
        industry: s.industry.clone(),
        channel: s.channel.clone(),
        tags: s.tags.clone(),
        relationship_type: s.relationship_type.clone(),
        tier: s.tier.clone(),
        created_at: s.created_at.clone(),
        custom_fields_json: custom_fields_json.to_owned(),
        base_currency: s.base_currency.clone(),
        purchase_count: s.purchase_count,
        purchase_total: s.purchase_total.clone(),
        purchase_totals: s.purchase_totals.clone(),
        first_purchase_at: s.first_purchase_at.clone(),
        last_purchase_at: s.last_purchase_at.clone(),
        purchases_last90_days: s.purchases_last90_days,
        purchases_last365_days: s.purchases_last365_days,
        interaction_count: s.interaction_count,
        interaction_counts: s.interaction_counts.clone(),
        last_interaction_at: s.last_interaction_at.clone(),
        complaints_open: s.complaints_open.clone(),
        complaints_total: s.complaints_total.clone(),
        survey_count: s.survey_count,
        average_satisfaction: s.average_satisfaction,
        would_buy_again_rate: s.would_buy_again_rate,
        now: s.now.clone(),
    }
}

impl From<old::ScoreKey> for ScoreKey {
    fn from(k: old::ScoreKey) -> Self {
        let kind = match k.kind {
            old::ScoreKind::Number => ScoreKind::Number,
            old::ScoreKind::Label => ScoreKind::Label,
        };
        ScoreKey { key: k.key, kind, description: k.description }
    }
}

impl From<old::CustomerScores> for CustomerScores {
    fn from(c: old::CustomerScores) -> Self {
        let scores = c
            .scores
            .into_iter()
            .map(|s| Score {
                key: s.key,
                value: match s.value {
                    old::ScoreValue::Number(n) => ScoreValue::Number(n),
                    old::ScoreValue::Label(l) => ScoreValue::Label(l),
                },
                explanation: s.explanation,
            })
            .collect();
        CustomerScores { customer_id: c.customer_id, scores }
    }
}

impl From<old_validator::Violation> for Violation {
    fn from(v: old_validator::Violation) -> Self {
        Violation { field: v.field, code: v.code, message: v.message }
    }
}

fn request_0_1(r: &ValidationRequest) -> old_validator::ValidationRequest {
    old_validator::ValidationRequest {
        entity: r.entity.clone(),
        field: r.field.clone(),
        value_json: r.value_json.clone(),
        record_json: r.record_json.clone(),
        config_json: r.config_json.clone(),
    }
}

/// A component's scorer export, of either version, ready to instantiate.
pub enum Scorer {
    V0_1(v0_1::scorer::ScorerPluginPre<State>),
    V0_2(scorer::ScorerPluginPre<State>),
}

impl Scorer {
    pub fn contract(&self) -> Contract {
        match self {
            Scorer::V0_1(_) => Contract::V0_1,
            Scorer::V0_2(_) => Contract::V0_2,
        }
    }

    /// `keys()` in a fresh instance.
    pub fn keys(&self, store: &mut Store<State>) -> wasmtime::Result<Vec<ScoreKey>> {
        match self {
            Scorer::V0_1(pre) => {
                let keys = pre.instantiate(&mut *store)?.guanxi_plugin_scorer().call_keys(&mut *store)?;
                Ok(keys.into_iter().map(Into::into).collect())
            }
            Scorer::V0_2(pre) => pre.instantiate(&mut *store)?.guanxi_plugin_scorer().call_keys(&mut *store),
        }
    }

    /// `keys()` then `score(batch, config_json)` in one fresh instance: the keys the scores are
    /// checked against.
    #[expect(clippy::type_complexity, reason = "the guest's result inside the call's")]
    pub fn score(
        &self,
        store: &mut Store<State>,
        batch: &Batch,
        config_json: &str,
    ) -> wasmtime::Result<Result<(Vec<ScoreKey>, Vec<CustomerScores>), String>> {
        match self {
            Scorer::V0_1(pre) => {
                let scorer = pre.instantiate(&mut *store)?;
                let scorer = scorer.guanxi_plugin_scorer();
                let keys = scorer.call_keys(&mut *store)?;
                let scores = scorer.call_score(&mut *store, &batch.to_0_1(), config_json)?;
                Ok(scores.map(|scores| {
                    (keys.into_iter().map(Into::into).collect(), scores.into_iter().map(Into::into).collect())
                }))
            }
            Scorer::V0_2(pre) => {
                let scorer = pre.instantiate(&mut *store)?;
                let scorer = scorer.guanxi_plugin_scorer();
                let keys = scorer.call_keys(&mut *store)?;
                let scores = scorer.call_score(&mut *store, batch.snapshots(), config_json)?;
                Ok(scores.map(|scores| (keys, scores)))
            }
        }
    }
}

/// A component's validator export, of either version, ready to instantiate.
pub enum Validator {
    V0_1(v0_1::validator::ValidatorPluginPre<State>),
    V0_2(validator::ValidatorPluginPre<State>),
}

impl Validator {
    pub fn contract(&self) -> Contract {
        match self {
            Validator::V0_1(_) => Contract::V0_1,
            Validator::V0_2(_) => Contract::V0_2,
        }
    }

    /// `validate(request)` in a fresh instance.
    pub fn validate(
        &self,
        store: &mut Store<State>,
        request: &ValidationRequest,
    ) -> wasmtime::Result<Result<Vec<Violation>, String>> {
        match self {
            Validator::V0_1(pre) => {
                let instance = pre.instantiate(&mut *store)?;
                let found = instance.guanxi_plugin_validator().call_validate(&mut *store, &request_0_1(request))?;
                Ok(found.map(|v| v.into_iter().map(Into::into).collect()))
            }
            Validator::V0_2(pre) => {
                pre.instantiate(&mut *store)?.guanxi_plugin_validator().call_validate(&mut *store, request)
            }
        }
    }
}

/// `check-config(config_json)` in a fresh instance.
pub fn check_config(
    pre: &config::ConfigCheckerPre<State>,
    store: &mut Store<State>,
    config_json: &str,
) -> wasmtime::Result<Result<(), String>> {
    pre.instantiate(&mut *store)?.guanxi_plugin_config().call_check_config(&mut *store, config_json)
}

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
