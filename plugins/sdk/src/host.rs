//! Running your plugin under Guanxi's own sandbox, from `cargo test` (feature `host`): the
//! component is built for wasm32-wasip2 and called through the server's host with the server's
//! limits, so what passes here passes on the server. Calls block; use them from plain
//! `#[test]` functions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use guanxi_plugin_host as h;

use crate::{CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue, ValidationRequest, Violation};

/// What one call did: its result (an error reads `REASON: message`, e.g. `OUT_OF_FUEL: …`) and
/// what it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<T> {
    pub result: Result<T, String>,
    pub fuel_used: u64,
    pub peak_memory_bytes: usize,
    pub duration: Duration,
    /// stdout then stderr, cut to the log limit (1 KiB).
    pub logs: String,
}

/// A plugin component loaded into the server's host.
pub struct Component {
    runtime: tokio::runtime::Runtime,
    host: h::Host,
    plugin: Arc<h::Plugin>,
    /// The component's bytes (what `installPlugin` takes, base64-encoded).
    pub bytes: Vec<u8>,
}

impl Component {
    /// Builds the plugin crate at `crate_dir` (`cargo build --release --target wasm32-wasip2`)
    /// and loads it as the server would install it.
    ///
    /// ```no_run
    /// let plugin = guanxi_plugin_sdk::host::Component::build(env!("CARGO_MANIFEST_DIR")).unwrap();
    /// assert!(plugin.bytes.len() < 4 * 1024 * 1024);
    /// ```
    pub fn build(crate_dir: impl AsRef<Path>) -> Result<Self, String> {
        let manifest = crate_dir.as_ref().join("Cargo.toml");
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| crate_dir.as_ref().join("target"), PathBuf::from)
            .join("guanxi-plugin-harness");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .output()
            .map_err(|e| format!("running cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building {} for wasm32-wasip2 failed (is `rustup target add wasm32-wasip2` done?):\n{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let wasm = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .filter(|m| {
                m["manifest_path"]
                    .as_str()
                    .is_some_and(|p| Path::new(p) == manifest.canonicalize().unwrap_or(manifest.clone()))
            })
            .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f.as_str().map(PathBuf::from))
            .find(|f| f.extension().is_some_and(|e| e == "wasm"))
            .ok_or_else(|| format!("{} built no .wasm: is its crate-type [\"cdylib\"]?", manifest.display()))?;
        Self::load(std::fs::read(&wasm).map_err(|e| format!("{}: {e}", wasm.display()))?)
    }

    /// Loads a built component, with the install checks of the server (a component, the
    /// contract's exports, no forbidden imports, at most 4 MiB).
    ///
    /// ```
    /// let refused = guanxi_plugin_sdk::host::Component::load(b"not wasm".to_vec());
    /// assert!(refused.is_err());
    /// ```
    pub fn load(bytes: Vec<u8>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let host = {
            let _guard = runtime.enter();
            h::Host::new(h::HostConfig::default())?
        };
        let plugin = host.load(&bytes).map_err(|e| e.to_string())?;
        Ok(Self { runtime, host, plugin, bytes })
    }

    /// The server's limits of a call.
    ///
    /// ```no_run
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// assert_eq!(plugin.limits().memory_bytes, 16 * 1024 * 1024);
    /// ```
    #[must_use]
    pub fn limits(&self) -> h::Limits {
        self.host.limits()
    }

    /// The score keys the scorer declares.
    ///
    /// ```no_run
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// let keys = plugin.keys().result.unwrap();
    /// assert!(!keys.is_empty());
    /// ```
    #[must_use]
    pub fn keys(&self) -> Run<Vec<ScoreKey>> {
        let (result, record) = self.runtime.block_on(self.host.keys(&self.plugin, self.host.limits()));
        run(result.map(|keys| keys.into_iter().map(key_from).collect()), record)
    }

    /// Scores a batch under the sandbox (fuel grows with the batch, as on the server).
    ///
    /// ```no_run
    /// use guanxi_plugin_sdk::testing::snapshot;
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// let run = plugin.score(vec![snapshot("Customer:1", "2026-11-26T00:00:00.000000Z")], "null");
    /// assert!(run.result.is_ok(), "{:?}", run.result);
    /// println!("fuel {} memory {} logs {}", run.fuel_used, run.peak_memory_bytes, run.logs);
    /// ```
    #[must_use]
    pub fn score(&self, batch: Vec<CustomerSnapshot>, config_json: &str) -> Run<Vec<CustomerScores>> {
        let batch: Vec<_> = batch.into_iter().map(snapshot_to).collect();
        let call = self.host.score(&self.plugin, batch, config_json.to_owned(), self.host.limits());
        let (result, record) = self.runtime.block_on(call);
        run(result.map(|all| all.into_iter().map(scores_from).collect()), record)
    }

    /// Validates one value under the sandbox.
    ///
    /// ```no_run
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// let run = plugin.validate(guanxi_plugin_sdk::testing::request("CUSTOMER", "card", "\"4111\""));
    /// assert_eq!(run.result.unwrap()[0].code, "INVALID_LENGTH");
    /// ```
    #[must_use]
    pub fn validate(&self, request: ValidationRequest) -> Run<Vec<Violation>> {
        let request = h::ValidationRequest {
            entity: request.entity,
            field: request.field,
            value_json: request.value_json,
            record_json: request.record_json,
            config_json: request.config_json,
        };
        let (result, record) = self.runtime.block_on(self.host.validate(&self.plugin, request, self.host.limits()));
        let found = result
            .map(|v| v.into_iter().map(|x| Violation { field: x.field, code: x.code, message: x.message }).collect());
        run(found, record)
    }

    /// Checks a configuration as `installPlugin` and `configurePlugin` do: the component's
    /// `check_config` under the sandbox. A component that does not check its configuration (one
    /// of contract 0.1.0) accepts any, as on the server, without a call.
    ///
    /// ```no_run
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// assert!(plugin.check_config(r#"{"churnDays": 400}"#).result.is_ok());
    /// let refused = plugin.check_config(r#"{"churnDays": "soon"}"#).result.unwrap_err();
    /// assert!(refused.starts_with("GUEST_ERROR: "), "{refused}");
    /// ```
    #[must_use]
    pub fn check_config(&self, config_json: &str) -> Run<()> {
        if !self.plugin.inspection().checks_config {
            let record = h::RunRecord {
                outcome: Ok(()),
                fuel_used: 0,
                peak_memory: 0,
                duration: Duration::ZERO,
                logs: String::new(),
            };
            return run(Ok(()), record);
        }
        let call = self.host.check_config(&self.plugin, config_json.to_owned(), self.host.limits());
        let (result, record) = self.runtime.block_on(call);
        run(result, record)
    }

    /// The contract version the component speaks (`0.2.0` for one built with this SDK).
    ///
    /// ```no_run
    /// # let plugin = guanxi_plugin_sdk::host::Component::build(".").unwrap();
    /// assert_eq!(plugin.contract(), "0.2.0");
    /// ```
    #[must_use]
    pub fn contract(&self) -> &'static str {
        self.plugin.inspection().contract.as_str()
    }
}

fn run<T>(result: Result<T, h::CallError>, record: h::RunRecord) -> Run<T> {
    Run {
        result: result.map_err(|e| e.to_string()),
        fuel_used: record.fuel_used,
        peak_memory_bytes: record.peak_memory,
        duration: record.duration,
        logs: record.logs,
    }
}

fn key_from(k: h::ScoreKey) -> ScoreKey {
    let kind = if k.kind == h::ScoreKind::Number { ScoreKind::Number } else { ScoreKind::Label };
    ScoreKey { key: k.key, kind, description: k.description }
}

fn scores_from(c: h::CustomerScores) -> CustomerScores {
    CustomerScores {
        customer_id: c.customer_id,
        scores: c
            .scores
            .into_iter()
            .map(|s| Score {
                key: s.key,
                value: match s.value {
                    h::ScoreValue::Number(n) => ScoreValue::Number(n),
                    h::ScoreValue::Label(l) => ScoreValue::Label(l),
                },
                explanation: s.explanation,
            })
            .collect(),
    }
}

fn snapshot_to(s: CustomerSnapshot) -> h::CustomerSnapshot {
    h::CustomerSnapshot {
        customer_id: s.customer_id,
        kind: s.kind,
        name: s.name,
        status: s.status,
        region: s.region,
        industry: s.industry,
        channel: s.channel,
        tags: s.tags,
        relationship_type: s.relationship_type,
        tier: s.tier,
        created_at: s.created_at,
        custom_fields_json: s.custom_fields_json,
        base_currency: s.base_currency,
        purchase_count: s.purchase_count,
        purchase_total: s.purchase_total,
        purchase_totals: s.purchase_totals,
        first_purchase_at: s.first_purchase_at,
        last_purchase_at: s.last_purchase_at,
        purchases_last90_days: s.purchases_last90_days,
        purchases_last365_days: s.purchases_last365_days,
        interaction_count: s.interaction_count,
        interaction_counts: s.interaction_counts,
        last_interaction_at: s.last_interaction_at,
        interactions_last30_days: s.interactions_last30_days,
        interactions_last90_days: s.interactions_last90_days,
        interactions_last365_days: s.interactions_last365_days,
        days_since_last_interaction: s.days_since_last_interaction,
        complaints_open: s.complaints_open,
        complaints_total: s.complaints_total,
        survey_count: s.survey_count,
        average_satisfaction: s.average_satisfaction,
        would_buy_again_rate: s.would_buy_again_rate,
        now: s.now,
    }
}
