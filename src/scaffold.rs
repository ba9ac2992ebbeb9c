//! `guanxi plugin new`: a plugin crate that builds and passes its tests on the first try, with
//! the SDK copied beside it.
//!
//! The SDK is copied, not referenced: a path into a checkout breaks as soon as the crate moves,
//! and a registry or git dependency needs a published release and a network. The copy is the
//! SDK of this very binary, so it speaks the contract of the server the author runs; the
//! contract's version is in `wit/guanxi-plugin.wit`, and servers keep running older versions.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// What kind of plugin to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Validator,
    Scorer,
}

/// The SDK's files, as this binary was built with them: (path in the copy, text).
const SDK_FILES: [(&str, &str); 4] = [
    ("guanxi-plugin-sdk/src/lib.rs", include_str!("../plugins/sdk/src/lib.rs")),
    ("guanxi-plugin-sdk/src/helpers.rs", include_str!("../plugins/sdk/src/helpers.rs")),
    ("guanxi-plugin-sdk/src/testing.rs", include_str!("../plugins/sdk/src/testing.rs")),
    ("wit/guanxi-plugin.wit", include_str!("../plugins/wit/guanxi-plugin.wit")),
];
const SDK_MANIFEST: &str = include_str!("../plugins/sdk/Cargo.toml");

/// The lines of the SDK's `lib.rs` that declare the under-the-host harness, which needs the
/// server's own crates: the copy leaves them out.
const HOST_MODULE: &str = "#[cfg(all(feature = \"host\", not(target_arch = \"wasm32\")))]\npub mod host;\n";

/// The SDK's version, from its manifest's `[package]`.
fn sdk_version() -> anyhow::Result<&'static str> {
    let package = SDK_MANIFEST.split("\n[").next().unwrap_or_default();
    package
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .context("the SDK's manifest has no version")
}

/// The SDK's manifest for the copy: its `[package]` and `[dependencies]` only (the harness and
/// its dependencies stay with the server).
fn sdk_manifest() -> String {
    let mut out = String::from("# Copied by `guanxi plugin new`; the harness of the server's checkout is left out.\n");
    let mut keep = true;
    for line in SDK_MANIFEST.lines() {
        if line.starts_with('[') {
            keep = line == "[package]" || line == "[dependencies]";
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The files of the SDK copy, with their paths under the crate.
fn sdk_files() -> anyhow::Result<Vec<(String, String)>> {
    let mut files = vec![("guanxi-plugin-sdk/Cargo.toml".to_owned(), sdk_manifest())];
    for (path, text) in SDK_FILES {
        let text = if path.ends_with("/lib.rs") {
            if !text.contains(HOST_MODULE) {
                bail!("this binary's SDK declares its harness differently; the copy would not build");
            }
            text.replace(HOST_MODULE, "")
        } else {
            text.to_owned()
        };
        files.push((path.to_owned(), text));
    }
    Ok(files)
}

/// `member-code` → `MemberCode`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
        && !name.ends_with(['-', '_'])
}

/// The crate's own files for `kind`, placeholders filled.
fn crate_files(name: &str, kind: Kind) -> anyhow::Result<Vec<(String, String)>> {
    let file = name.replace('-', "_");
    let (code, cases, expect, run_example, attach) = match kind {
        Kind::Validator => (
            include_str!("scaffold/validator.rs.in"),
            include_str!("scaffold/validator-cases.json.in"),
            "the violation codes, `[]` for none",
            format!(
                "guanxi plugin run target/wasm32-wasip2/release/{file}.wasm --validate --field member_code --value '\"GX 1\"'"
            ),
            " \\\n  --attach CUSTOMER.member_code    # a custom field of customers, defined first",
        ),
        Kind::Scorer => (
            include_str!("scaffold/scorer.rs.in"),
            include_str!("scaffold/scorer-cases.json.in"),
            "each score key's value",
            format!(
                "guanxi plugin run target/wasm32-wasip2/release/{file}.wasm --score --input snapshot.json\n\
                 # a real customer's snapshot, from the server of GUANXI_URL with the token of GUANXI_TOKEN:\n\
                 guanxi plugin run target/wasm32-wasip2/release/{file}.wasm --score --from-server CUSTOMER_ID"
            ),
            "",
        ),
    };
    let kind_word = match kind {
        Kind::Validator => "validator",
        Kind::Scorer => "scorer",
    };
    let sdk = sdk_version()?;
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{type}}", &type_name(name))
            .replace("{{file}}", &file)
            .replace("{{kind}}", kind_word)
            .replace("{{expect}}", expect)
            .replace("{{run_example}}", &run_example)
            .replace("{{attach}}", attach)
            .replace("{{sdk_version}}", sdk)
            .replace("{{guanxi_version}}", env!("CARGO_PKG_VERSION"))
    };
    let mut files = vec![
        ("Cargo.toml".to_owned(), fill(include_str!("scaffold/Cargo.toml.in"))),
        ("README.md".to_owned(), fill(include_str!("scaffold/README.md.in"))),
        (".gitignore".to_owned(), include_str!("scaffold/gitignore.in").to_owned()),
        ("src/lib.rs".to_owned(), fill(code)),
        ("cases.json".to_owned(), cases.to_owned()),
    ];
    if kind == Kind::Scorer {
        files.push(("snapshot.json".to_owned(), snapshot_fixture()?));
    }
    Ok(files)
}

/// The first case's snapshot, as `plugin run --input` takes it.
fn snapshot_fixture() -> anyhow::Result<String> {
    let cases: serde_json::Value = serde_json::from_str(include_str!("scaffold/scorer-cases.json.in"))?;
    let snapshot = cases.pointer("/cases/0/snapshot").context("the scorer's cases have a snapshot")?;
    Ok(serde_json::to_string_pretty(snapshot)? + "\n")
}

fn write_all(root: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes a new plugin crate `NAME` under `parent` and says what to run next.
///
/// # Errors
/// A name that is not a crate name, a folder that exists and is not empty, or a failed write.
pub fn new_plugin(name: &str, kind: Kind, parent: &Path) -> anyhow::Result<PathBuf> {
    if !valid_name(name) {
        bail!("the name must be a crate name: lower-case letters, digits, - and _, a letter first (e.g. member-code)");
    }
    let root = parent.join(name);
    if root.exists() && std::fs::read_dir(&root).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty: choose another name or folder", root.display());
    }
    let mut files = crate_files(name, kind)?;
    files.extend(sdk_files()?);
    write_all(&root, &files)?;
    Ok(root)
}

/// Writes this binary's SDK and contract into an existing plugin crate, replacing the copy there.
///
/// # Errors
/// `dir` is not a plugin crate made by `plugin new`, or a write failed.
pub fn refresh_sdk(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("Cargo.toml").is_file() || !dir.join("guanxi-plugin-sdk").is_dir() {
        bail!("{} is not a plugin crate with a guanxi-plugin-sdk/ folder", dir.display());
    }
    write_all(dir, &sdk_files()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(type_name("member-code_check"), "MemberCodeCheck");
        assert!(valid_name("wechat-validator") && valid_name("v2"));
        for bad in ["", "Wechat", "2fa", "a b", "x-", "../x", "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    /// The copy is the whole SDK: a file added to it must be added here too.
    #[test]
    fn the_copy_holds_every_file_of_the_sdk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("guanxi-plugin-sdk/src/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|p| !p.ends_with("/host.rs"))
            .collect();
        on_disk.sort();
        let mut copied: Vec<String> =
            SDK_FILES.iter().map(|(p, _)| (*p).to_owned()).filter(|p| p.contains("/src/")).collect();
        copied.sort();
        assert_eq!(on_disk, copied);
        let files = sdk_files().unwrap();
        assert!(!files.iter().any(|(_, text)| text.contains("pub mod host;")));
        let manifest = &files[0].1;
        assert!(manifest.contains("wit-bindgen") && !manifest.contains("guanxi-plugin-host"), "{manifest}");
        assert!(sdk_version().unwrap().starts_with("0."));
    }
}
