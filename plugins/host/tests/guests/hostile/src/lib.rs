//! A scorer and validator of contract 0.1.0 that misbehaves as its config says:
//! `{"mode": "..."}`. Built against the frozen 0.1.0 contract, so the host's tests of limits and
//! failures run the 0.1.0 calls; `"fields"` answers the custom values it was given.

wit_bindgen::generate!({ path: "../../../../wit/0.1.0", world: "scorer-and-validator" });

use std::hash::{BuildHasher, Hasher};

use exports::guanxi::plugin::scorer::Guest as Scorer;
use exports::guanxi::plugin::validator::Guest as Validator;
use guanxi::plugin::types::{
    CustomerScores, CustomerSnapshot, Score, ScoreKey, ScoreKind, ScoreValue, ValidationRequest, Violation,
};

struct Hostile;

fn mode(config: &str) -> &str {
    config.split('"').nth(3).unwrap_or("ok")
}

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let deeper = recurse(n + 1);
    std::hint::black_box(deeper) + n
}

/// Misbehaves per `mode`; returns normally for "ok" and unknown modes.
fn misbehave(mode: &str) -> Result<(), String> {
    match mode {
        "loop" => loop {
            std::hint::black_box(0);
        },
        "recursion" => {
            std::hint::black_box(recurse(0));
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(Vec::with_capacity(1 << 20));
                std::hint::black_box(&hoard);
            }
        }
        "panic" => panic!("the hostile plugin panics on purpose"),
        "sleep" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        "error" => return Err("the configuration is missing a threshold".into()),
        "print" => {
            for i in 0..1000 {
                println!("log line {i} of a chatty plugin");
            }
        }
        _ => {}
    }
    Ok(())
}

impl Scorer for Hostile {
    fn keys() -> Vec<ScoreKey> {
        vec![
            ScoreKey { key: "risk".into(), kind: ScoreKind::Number, description: "a number".into() },
            ScoreKey { key: "note".into(), kind: ScoreKind::Label, description: "a label".into() },
        ]
    }

    fn score(batch: Vec<CustomerSnapshot>, config_json: String) -> Result<Vec<CustomerScores>, String> {
        let mode = mode(&config_json);
        misbehave(mode)?;
        let note = match mode {
            // What the guest sees of time and chance: both pinned by the host.
            "clock" => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
                let started = std::time::Instant::now();
                format!("{secs} {random} {}", started.elapsed().as_nanos())
            }
            "huge" => "x".repeat(100),
            _ => "fine".into(),
        };
        let mut out: Vec<CustomerScores> = batch
            .iter()
            .map(|s| {
                let note = if mode == "fields" { s.custom_fields_json.clone() } else { note.clone() };
                CustomerScores {
                    customer_id: s.customer_id.clone(),
                    scores: vec![
                        Score { key: "risk".into(), value: ScoreValue::Number(0.5), explanation: None },
                        Score { key: "note".into(), value: ScoreValue::Label(note), explanation: None },
                    ],
                }
            })
            .collect();
        match mode {
            "invalid" => out.push(CustomerScores { customer_id: "Customer:nobody".into(), scores: vec![] }),
            "nan" => out[0].scores[0].value = ScoreValue::Number(f64::NAN),
            "huge" => out[0].scores[0].explanation = Some("why ".repeat(40_000)),
            _ => {}
        }
        Ok(out)
    }
}

impl Validator for Hostile {
    fn validate(request: ValidationRequest) -> Result<Vec<Violation>, String> {
        misbehave(mode(&request.config_json))?;
        if request.value_json.contains("bad") {
            return Ok(vec![Violation {
                field: request.field,
                code: "BAD_VALUE".into(),
                message: "values containing 'bad' are refused".into(),
            }]);
        }
        Ok(vec![])
    }
}

export!(Hostile);
