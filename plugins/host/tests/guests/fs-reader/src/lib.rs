//! A scorer that reads a file: it imports wasi:filesystem and must be refused at install.

wit_bindgen::generate!({ path: "../../../../wit", world: "scorer-plugin" });

use exports::guanxi::plugin::scorer::Guest;
use guanxi::plugin::types::{CustomerScores, CustomerSnapshot, ScoreKey};

struct FsReader;

impl Guest for FsReader {
    fn keys() -> Vec<ScoreKey> {
        vec![]
    }

    fn score(_batch: Vec<CustomerSnapshot>, _config_json: String) -> Result<Vec<CustomerScores>, String> {
        let secret = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
        Err(secret)
    }
}

export!(FsReader);
