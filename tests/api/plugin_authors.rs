//! A plugin author's commands end to end: `plugin new` makes a crate that passes its own tests
//! and cases; `plugin test` runs cases in the server's sandbox and fails on a wrong answer;
//! `plugin install` goes through a running server and attaches; `plugin run` scores a real
//! customer's snapshot fetched from the server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

use crate::cli::{fails_with, guanxi};
use crate::helpers::{TestApp, violations};

/// One build directory for every crate these tests make, kept between runs: the SDK's
/// dependencies compile once. Offline: the workspace's own build fetched them already.
fn plugin_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/plugin-authors")
}

fn with_cargo(mut cmd: Command) -> Command {
    cmd.env("CARGO_TARGET_DIR", plugin_target()).env("CARGO_NET_OFFLINE", "true");
    cmd
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Blocking commands off the runtime the servers of the test answer on.
async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("runs")).await.expect("joined")
}

fn new_crate(dir: &Path, kind: &str, name: &str) -> PathBuf {
    let mut cmd = guanxi();
    cmd.args(["plugin", "new", kind, name, "--dir"]).arg(dir);
    let said = ok(&cmd.output().expect("runs"));
    assert!(said.contains("guanxi plugin test"), "{said}");
    dir.join(name)
}

#[test]
fn plugin_new_makes_crates_that_pass_their_tests_and_cases_first_time() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, name, cases) in [("--validator", "member-code", 8), ("--scorer", "engagement", 4)] {
        let root = new_crate(dir.path(), kind, name);
        for file in [
            "Cargo.toml",
            "README.md",
            "cases.json",
            "src/lib.rs",
            "guanxi-plugin-sdk/Cargo.toml",
            "wit/guanxi-plugin.wit",
        ] {
            assert!(root.join(file).is_file(), "{name} has {file}");
        }
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("path = \"guanxi-plugin-sdk\""), "the SDK is the copy beside it: {manifest}");

        // Natively, with the crate's own tests.
        let mut test = with_cargo(Command::new(env!("CARGO")));
        test.arg("test").arg("--manifest-path").arg(root.join("Cargo.toml"));
        let out = test.output().expect("cargo runs");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("test result: ok"),
            "{said}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // In the sandbox: `plugin test` builds the component and runs cases.json.
        let mut run = with_cargo(guanxi());
        run.args(["plugin", "test"]).arg(&root);
        let said = ok(&run.output().expect("runs"));
        assert!(said.contains(&format!("{cases} cases: {cases} passed, 0 failed")), "{said}");
    }

    // A case whose expectation the plugin does not meet fails the run, naming the case.
    let root = dir.path().join("member-code");
    let cases = std::fs::read_to_string(root.join("cases.json")).unwrap();
    let wrong = cases.replacen(
        r#""value": "GX 2026", "expect": ["INVALID_CHARACTER"]"#,
        r#""value": "GX 2026", "expect": []"#,
        1,
    );
    assert_ne!(wrong, cases);
    std::fs::write(root.join("cases.json"), wrong).unwrap();
    let mut run = with_cargo(guanxi());
    run.args(["plugin", "test"]).arg(&root);
    let out = run.output().expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("FAILED  a space is refused: expected [], got [\"INVALID_CHARACTER\"]"), "{said}");
    assert!(said.contains("8 cases: 7 passed, 1 failed"), "{said}");

    // `--sdk-only` writes this binary's SDK over the copy of a crate, and only into such a crate.
    std::fs::write(root.join("guanxi-plugin-sdk/src/helpers.rs"), "// stale").unwrap();
    ok(&guanxi().args(["plugin", "new", "--sdk-only", "--dir"]).arg(&root).output().expect("runs"));
    let helpers = std::fs::read_to_string(root.join("guanxi-plugin-sdk/src/helpers.rs")).unwrap();
    assert!(helpers.contains("pub fn days_between"), "the copy is whole again");
    fails_with(guanxi().args(["plugin", "new", "--sdk-only", "--dir"]).arg(dir.path()), "is not a plugin crate");

    // A name that is no crate name, or a folder in use, is refused before anything is written.
    fails_with(guanxi().args(["plugin", "new", "--scorer", "Bad Name", "--dir"]).arg(dir.path()), "crate name");
    fails_with(guanxi().args(["plugin", "new", "--scorer", "member-code", "--dir"]).arg(dir.path()), "not empty");
    fails_with(
        guanxi().args(["plugin", "new", "other", "--dir"]).arg(dir.path()),
        "--validator (checks a field's value) or --scorer",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_install_goes_through_the_running_server_and_attaches() {
    let app = TestApp::shared().await;
    let admin = app.token("acme", "ADMIN", "root");
    let res = app
        .gql(&admin, "mutation { defineCustomField(input: { entity: CUSTOMER, key: \"member_card\", label: \"卡号\", type: STRING }) { key } }", json!({}))
        .await;
    assert!(res["errors"].is_null(), "{res}");
    let card = guanxi_test_programs::components().join("card_validator.wasm");
    let install = |token: &str, extra: &[&str]| {
        let mut cmd = guanxi();
        cmd.args(["plugin", "install"]).arg(&card).args(["--url", &app.base, "--token", token]);
        cmd.args(extra);
        cmd
    };

    let out = output(install(&admin, &["--name", "card-validator", "--attach", "CUSTOMER.memberCard"])).await;
    let printed: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
    assert_eq!(printed["name"], "card-validator");
    assert_eq!(printed["version"], "1");
    assert_eq!(printed["attachedTo"]["key"], "member_card", "{printed}");
    assert!(printed["server"].as_str().is_some_and(|s| s.starts_with(&app.base)), "{printed}");

    // The server now checks the field with it.
    let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    let res = app
        .gql(
            &admin,
            create,
            json!({ "i": { "kind": "INDIVIDUAL", "name": "王", "customFields": { "member_card": "1234" } } }),
        )
        .await;
    let found = violations(&res);
    assert!(found.iter().any(|(f, _)| f == "customFields.member_card"), "{res}");
    assert_eq!(res["errors"][0]["extensions"]["violations"][0]["plugin"], "card-validator", "{res}");

    // Again: refused, with the way on; with --upgrade, a new version of the same plugin.
    let out = output(install(&admin, &["--name", "card-validator"])).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("installed already") && said.contains("--upgrade"), "{said}");
    let out = output(install(&admin, &["--name", "card-validator", "--upgrade"])).await;
    let printed: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON");
    assert_eq!(printed["version"], "2", "{printed}");
    let res = app.gql(&admin, "{ plugins { name } }", json!({})).await;
    let names: Vec<&str> =
        res["data"]["plugins"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "card-validator").count(), 1, "{res}");

    // A configuration the component refuses stops an upgrade before its first step: the plugin
    // keeps its component and version.
    let checked = guanxi_test_programs::components().join("checked_scorer.wasm");
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), r#"{"window_days": "soon"}"#).unwrap();
    let mut cmd = guanxi();
    cmd.args(["plugin", "install"]).arg(&checked).args(["--url", &app.base, "--token", &admin]);
    cmd.args(["--name", "card-validator", "--upgrade", "--config"]).arg(bad.path());
    let out = output(cmd).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("refuses this configuration"), "{said}");
    let res = app.gql(&admin, "{ plugins { name version capabilities } }", json!({})).await;
    let kept = res["data"]["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "card-validator").cloned();
    assert_eq!(kept, Some(json!({ "name": "card-validator", "version": "2", "capabilities": ["VALIDATOR"] })), "{res}");

    // An AGENT's token installs nothing; no token, or no server, says what to do.
    let agent = app.token("acme", "AGENT", "zhang");
    let out = output(install(&agent, &["--name", "other-card"])).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("FORBIDDEN"), "{out:?}");
    let mut no_token = guanxi();
    no_token.env_remove("GUANXI_TOKEN").args(["plugin", "install"]).arg(&card).args(["--url", &app.base]);
    fails_with(&mut no_token, "--token");
    let mut nobody = guanxi();
    nobody.args(["plugin", "install"]).arg(&card).args(["--url", "http://127.0.0.1:9", "--token", &admin]);
    fails_with(&mut nobody, "is the server running there?");
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_run_scores_a_real_customer_fetched_from_the_server() {
    let app = TestApp::shared().await;
    let manager = app.token("acme", "MANAGER", "mgr");
    let id = app.create_customer(&manager, json!({ "kind": "INDIVIDUAL", "name": "李娜" })).await;
    let scorer = guanxi_test_programs::components().join("value_scorer.wasm");
    let mut run = guanxi();
    run.args(["plugin", "run"]).arg(&scorer).args([
        "--score",
        "--from-server",
        &id,
        "--url",
        &app.base,
        "--token",
        &manager,
    ]);
    let report: serde_json::Value = serde_json::from_str(&ok(&output(run).await)).expect("JSON");
    assert_eq!(report["result"][0]["customerId"], json!(id), "{report}");
    assert_eq!(report["result"][0]["scores"][0]["key"], "value_score", "{report}");

    // Another tenant's customer is not there for this token.
    let other = app.token("other", "MANAGER", "mgr");
    let mut run = guanxi();
    run.args(["plugin", "run"]).arg(&scorer).args(["--from-server", &id, "--url", &app.base, "--token", &other]);
    let out = output(run).await;
    assert!(!out.status.success(), "{out:?}");

    // Asking a scorer to validate names what it exports.
    let mut run = guanxi();
    run.args(["plugin", "run"]).arg(&scorer).args(["--validate", "--field", "x", "--value", "1"]);
    fails_with(&mut run, "exports the scorer interface, not the validator one");
}

/// A component larger than the server takes in one request is told apart from a refusal, with
/// the two ways on.
#[tokio::test(flavor = "multi_thread")]
async fn plugin_install_says_when_the_component_is_too_large_for_the_servers_requests() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 16 * 1024).await;
    let admin = app.token("acme", "ADMIN", "root");
    let mut cmd = guanxi();
    cmd.args(["plugin", "install"]).arg(guanxi_test_programs::components().join("card_validator.wasm"));
    cmd.args(["--url", &app.base, "--token", &admin]);
    let out = output(cmd).await;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("GUANXI_MAX_BODY_BYTES") && said.contains("--database-url"), "{said}");
}
