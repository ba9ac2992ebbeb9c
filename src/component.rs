//! The component a plugin command works on: a `.wasm` file, or a plugin crate's folder built
//! for `wasm32-wasip2` first, so an author never hunts for the file in `target/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// The component at `path`: the file itself, or the crate of the folder, built (release) by
/// cargo, whose output goes to stderr.
///
/// # Errors
/// Nothing at `path`, a folder without a crate, or a failed build.
pub fn component(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    if !path.is_dir() {
        bail!("nothing at {}: give a .wasm file or a plugin crate's folder", path.display());
    }
    let manifest = path.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} holds no Cargo.toml: give a .wasm file or a plugin crate's folder", path.display());
    }
    let manifest = std::fs::canonicalize(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    // Under `cargo run`, CARGO is the cargo that runs us; otherwise the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo (is the Rust toolchain installed?)")?;
    if !output.status.success() {
        bail!("building {} failed (above); for a missing target: rustup target add wasm32-wasip2", manifest.display());
    }
    wasm_of(&output.stdout, &manifest)
        .with_context(|| format!("cargo built no .wasm for {}: is its crate-type cdylib?", manifest.display()))
}

/// The `.wasm` cargo's JSON messages report for the package of `manifest`.
fn wasm_of(messages: &[u8], manifest: &Path) -> Option<PathBuf> {
    String::from_utf8_lossy(messages)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["manifest_path"].as_str() == manifest.to_str())
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_crates_own_component_among_cargos_messages() {
        let messages =
            br#"{"reason":"compiler-artifact","manifest_path":"/p/sdk/Cargo.toml","filenames":["/t/libsdk.rlib"]}
{"reason":"compiler-artifact","manifest_path":"/p/Cargo.toml","filenames":["/t/x.wasm","/t/libx.rlib"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(wasm_of(messages, Path::new("/p/Cargo.toml")), Some(PathBuf::from("/t/x.wasm")));
        assert_eq!(wasm_of(messages, Path::new("/q/Cargo.toml")), None);
    }
}
