//! Builds the example plugins (`plugins/examples`) and the test guests (`plugins/host/tests/guests`)
//! for wasm32-wasip2, each its own workspace, and tells the crate where the components are. As
//! wasmtime's `test-programs` artifacts: the tests depend on this crate instead of building the
//! guests themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let plugins = here.parent().unwrap_or(&here).to_path_buf();
    let manifests = [plugins.join("examples/Cargo.toml"), plugins.join("host/tests/guests/Cargo.toml")];
    // One build directory per profile beside the outer build's own (`<target>/<profile>/wasm-guests`),
    // shared by `cargo test`, `clippy` and `bench`, so the guests are compiled once.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let target = out.ancestors().nth(3).unwrap_or(&out).join("wasm-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for manifest in &manifests {
        let status = Command::new(&cargo)
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(manifest)
            .arg("--target-dir")
            .arg(&target)
            // The outer build's flags and wrappers are for the host crates: under `cargo clippy`
            // they would lint the guests with clippy-driver instead of building them.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env_remove("CLIPPY_CONF_DIR")
            .status();
        if !status.is_ok_and(|s| s.success()) {
            // Exiting with a failure makes cargo show the guests' build output above.
            eprintln!("building {} failed; is `rustup target add wasm32-wasip2` done?", manifest.display());
            std::process::exit(1);
        }
        if let Some(dir) = manifest.parent() {
            rerun_if_changed(dir);
        }
    }
    // What the guests are built with: the SDK and its WIT world.
    rerun_if_changed(&plugins.join("sdk"));
    println!("cargo::rerun-if-changed={}", plugins.join("wit").display());
    let components = target.join("wasm32-wasip2/release");
    println!("cargo::rustc-env=GUANXI_TEST_COMPONENTS={}", components.display());
}

/// Watches a guest workspace's sources, not its own `target/`.
fn rerun_if_changed(dir: &Path) {
    for name in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", dir.join(name).display());
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}
