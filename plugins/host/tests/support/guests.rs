//! Builds the plugin components the tests and benches run: the examples and the test guests,
//! for wasm32-wasip2, once per process, into a target dir of their own.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the built components are (`<name>.wasm`).
pub fn components() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Used by more than one crate: find the plugins folder above this crate's manifest.
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("plugins"))
            .find(|p| p.join("examples/Cargo.toml").exists())
            .expect("the plugins folder");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for manifest in [plugins.join("examples/Cargo.toml"), plugins.join("host/tests/guests/Cargo.toml")] {
            let status = std::process::Command::new(&cargo)
                .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target)
                .status()
                .expect("cargo runs");
            assert!(
                status.success(),
                "building {} failed (is `rustup target add wasm32-wasip2` done?)",
                manifest.display()
            );
        }
        target.join("wasm32-wasip2/release")
    })
}
