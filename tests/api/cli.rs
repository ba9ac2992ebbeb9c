//! The binary: bad settings stop the start with one clear line; tokens it mints are accepted.

use std::process::Command;

use serde_json::json;

use crate::helpers::{SECRET, TestApp};

pub(crate) fn guanxi() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guanxi"));
    for var in
        ["GUANXI_DATABASE_URL", "GUANXI_LISTEN", "GUANXI_JWT_SECRET", "GUANXI_JWT_PUBLIC_KEY", "GUANXI_JWKS_FILE"]
    {
        cmd.env_remove(var);
    }
    cmd.env("GUANXI_LOG", "off");
    cmd
}

pub(crate) fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {stderr}");
    assert!(stderr.contains(needle), "stderr names {needle}: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
}

#[test]
fn bad_settings_stop_the_start_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    fails_with(guanxi().args(["serve", "--listen", "not-an-address"]), "--listen");
    fails_with(
        guanxi().args(["serve", "--database-url", &db]).env("GUANXI_LISTEN", "127.0.0.1:0"),
        "GUANXI_JWT_SECRET",
    );
    fails_with(
        guanxi()
            .args(["serve", "--database-url", &db, "--listen", "127.0.0.1:0"])
            .env("GUANXI_JWT_SECRET", "change-me-to-a-long-random-secret"),
        "GUANXI_JWT_SECRET",
    );
    fails_with(
        guanxi()
            .args(["serve", "--database-url", "postgres://postgres@127.0.0.1:1/none", "--listen", "127.0.0.1:0"])
            .env("GUANXI_JWT_SECRET", SECRET),
        "GUANXI_DATABASE_URL",
    );
    fails_with(
        guanxi().args([
            "serve",
            "--database-url",
            &db,
            "--listen",
            "127.0.0.1:0",
            "--jwt-public-key",
            "/nonexistent.pem",
        ]),
        "GUANXI_JWT_PUBLIC_KEY",
    );
    fails_with(
        guanxi()
            .args(["token", "--tenant", "Bad Slug", "--role", "ADMIN", "--user", "u"])
            .env("GUANXI_JWT_SECRET", SECRET),
        "--tenant",
    );
}

#[tokio::test]
async fn minted_tokens_are_accepted() {
    let app = TestApp::shared().await;
    let tenant = app.slug("cli-tenant");
    let out = guanxi()
        .args(["token", "--tenant", &tenant, "--role", "AGENT", "--user", "zhang.wei", "--name", "张伟"])
        .env("GUANXI_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let res = app.gql(&token, "{ viewer { role user { name } tenant { slug } } }", json!({})).await;
    assert_eq!(
        res["data"]["viewer"],
        json!({ "role": "AGENT", "user": { "name": "张伟" }, "tenant": { "slug": tenant } })
    );
}

#[tokio::test]
async fn seeded_data_is_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/seed.db?mode=rwc", dir.path().display());
    let out = guanxi()
        .args([
            "seed",
            "--tenant",
            "bench",
            "--customers",
            "60",
            "--seed",
            "7",
            "--interactions",
            "12",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("seeded 60 customers"));
    let status = guanxi().args(["migrate", "status", "--database-url", &db]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("m20261126_000002_create_customers") && text.contains("Applied"), "{text}");

    // Served, the generated figures agree with the generated records.
    let app = TestApp::spawn_with(|c| c.database_url = db.clone()).await;
    let t = app.token("bench", "ADMIN", "admin");
    let res = app
        .gql(
            &t,
            "{ customers(first: 60) { totalCount nodes { kind creditCode stats { interactionCount purchaseCount openComplaints totalComplaints }
               interactions(first: 100) { totalCount nodes { kind } } complaints { totalCount nodes { status } } } } }",
            json!({}),
        )
        .await;
    let nodes = res["data"]["customers"]["nodes"].as_array().unwrap_or_else(|| panic!("{res}"));
    assert_eq!(nodes.len(), 60);
    let (mut interactions, mut complaints) = (0, 0);
    for n in nodes {
        let timeline = n["interactions"]["nodes"].as_array().unwrap();
        assert_eq!(n["stats"]["interactionCount"], n["interactions"]["totalCount"]);
        assert_eq!(
            n["stats"]["purchaseCount"].as_u64().unwrap(),
            timeline.iter().filter(|i| i["kind"] == "PURCHASE").count() as u64
        );
        assert_eq!(n["stats"]["totalComplaints"], n["complaints"]["totalCount"]);
        let open = n["complaints"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| !["RESOLVED", "CLOSED"].contains(&c["status"].as_str().unwrap()))
            .count();
        assert_eq!(n["stats"]["openComplaints"].as_u64().unwrap(), open as u64);
        if n["kind"] == "ORGANIZATION" {
            let code = n["creditCode"].as_str().unwrap();
            assert!(guanxi_api::domain::values::CreditCode::parse(code).is_ok(), "{code}");
        }
        interactions += timeline.len();
        complaints += n["complaints"]["totalCount"].as_u64().unwrap();
    }
    assert!(interactions > 60 * 6, "about 12 per customer, got {interactions}");
    assert!(complaints > 0);
}

#[tokio::test]
async fn plugin_check_and_run_report_what_an_author_needs() {
    let dir = guanxi_test_programs::components();
    let out = guanxi().args(["plugin", "check"]).arg(dir.join("value_scorer.wasm")).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("exports  scorer") && text.contains("verdict  accepted"), "{text}");
    // The contract each speaks: built with the SDK, 0.2.0 (and a configuration check); the
    // embedded default, 0.1.0.
    assert!(text.contains("contract guanxi:plugin@0.2.0") && text.contains("exports  scorer, config"), "{text}");
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/examples/dist/value-scorer.wasm");
    let out = guanxi().args(["plugin", "check"]).arg(dist).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("contract guanxi:plugin@0.1.0") && text.contains("exports  scorer\n"), "{text}");
    fails_with(guanxi().args(["plugin", "check"]).arg(dir.join("fs_reader.wasm")), "wasi:filesystem/");

    // The input is what the API shows as Customer.scoringSnapshot.
    let app = TestApp::shared().await;
    let t = app.token("acme", "MANAGER", "mgr");
    let id = app.create_customer(&t, json!({ "kind": "INDIVIDUAL", "name": "王芳" })).await;
    let res = app.gql(&t, "query($id: ID!) { customer(id: $id) { scoringSnapshot } }", json!({ "id": id })).await;
    let work = tempfile::tempdir().expect("dir");
    let input = work.path().join("snapshot.json");
    std::fs::write(&input, res["data"]["customer"]["scoringSnapshot"].to_string()).expect("write");
    let out = guanxi()
        .args(["plugin", "run"])
        .arg(dir.join("value_scorer.wasm"))
        .arg("--input")
        .arg(&input)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["result"][0]["customerId"], json!(id));
    assert_eq!(report["result"][0]["scores"][0]["key"], "value_score");
    assert!(report["fuelUsed"].as_u64().is_some_and(|f| f > 0), "{report}");

    let config = work.path().join("config.json");
    std::fs::write(&config, r#"{"mode": "loop"}"#).expect("write");
    let out = guanxi()
        .args(["plugin", "run"])
        .arg(dir.join("hostile.wasm"))
        .arg("--input")
        .arg(&input)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["error"]["reason"], "OUT_OF_FUEL", "{report}");
}

/// `plugin run` takes a value to validate from the command line, and an input of the other kind
/// than the plugin's is refused naming both.
#[test]
fn plugin_run_validates_a_value_and_tells_a_scorers_input_from_a_validators() {
    let components = guanxi_test_programs::components();
    let run = |plugin: &str, args: &[&str]| {
        guanxi().args(["plugin", "run"]).arg(components.join(plugin)).args(args).output().expect("runs")
    };
    let out = run("card_validator.wasm", &["--field", "vip_card", "--value", "42"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["result"][0]["code"], "INVALID_TYPE", "{report}");
    assert_eq!(report["result"][0]["field"], "vip_card", "{report}");

    let work = tempfile::tempdir().unwrap();
    let snapshot = work.path().join("snapshot.json");
    std::fs::write(&snapshot, r#"{"customerId": "c1", "kind": "INDIVIDUAL", "name": "王"}"#).expect("write");
    let out = run("card_validator.wasm", &["--input", snapshot.to_str().expect("path")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("exports the validator interface, not the scorer one"), "{said}");

    let out = run("value_scorer.wasm", &["--field", "vip_card", "--value", "\"x\""]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("exports the scorer interface, not the validator one"), "{said}");
    let out = run("card_validator.wasm", &["--field", "vip_card", "--value", "not json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--value is not JSON"), "{out:?}");
}

#[tokio::test]
async fn plugin_install_puts_a_plugin_into_a_tenant_a_server_then_uses() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/install.db?mode=rwc", dir.path().display());
    let card = guanxi_test_programs::components().join("card_validator.wasm");
    let install = |tenant: &str, create: bool| {
        let mut command = guanxi();
        command.args(["plugin", "install"]).arg(&card).args(["--tenant", tenant, "--name", "card-validator"]);
        command.args(["--database-url", &db]);
        if create {
            command.arg("--create");
        }
        command.output().expect("runs")
    };
    // Run where there is no database (the plugin's own folder, say), it makes none.
    let out = install("acme", false);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no database at") && said.contains("install.db") && said.contains("--create"), "{said}");
    assert!(!dir.path().join("install.db").exists(), "no database was made");

    let out = install("acme", true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(printed["name"], "card-validator");
    assert_eq!(printed["tenant"], "acme");
    assert!(printed["database"].as_str().is_some_and(|d| d.contains("install.db")), "{printed}");
    // A misspelt tenant is refused, not made.
    let out = install("acmee", false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant 'acmee'"), "{out:?}");
    assert_eq!(printed["capabilities"], json!(["VALIDATOR"]));

    // Refused components say why and leave nothing behind.
    let out = guanxi()
        .args(["plugin", "install"])
        .arg(guanxi_test_programs::components().join("fs_reader.wasm"))
        .args(["--tenant", "acme", "--database-url", &db])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasi:filesystem"), "{out:?}");

    let url = db.clone();
    let app = TestApp::spawn_with(move |c| c.database_url = url).await;
    let admin = app.token("acme", "ADMIN", "root");
    let res = app.gql(&admin, "{ plugins { name } }", json!({})).await;
    assert_eq!(
        res["data"]["plugins"],
        json!([{ "name": "value-scorer" }, { "name": "lifecycle-scorer" }, { "name": "card-validator" }])
    );
}

/// A port nobody listens on now (the server is told to listen there).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// SIGTERM: the server stops accepting, finishes the requests in flight, stops its workers and
/// writes the plugin run records it buffered, then exits 0. Every write a client saw succeed is
/// there afterwards; none that failed is; and every scored customer's scoring has its record.
#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_flushes_the_run_log() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    let port = free_port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_guanxi"))
        .args(["serve", "--database-url", &database_url, "--listen", &format!("127.0.0.1:{port}")])
        .env("GUANXI_JWT_SECRET", SECRET)
        .env("GUANXI_LOG", "off")
        .env("GUANXI_RATE_LIMITS", "off")
        .env("GUANXI_SCORE_POLL_MS", "100")
        .env("GUANXI_PLUGIN_CACHE_DIR", std::env::temp_dir().join("guanxi-test-plugin-cache"))
        .env("GUANXI_SHUTDOWN_GRACE_SECS", "20")
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the server never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let token = guanxi_api::auth::mint(SECRET, "acme", "ADMIN", "admin", 3600, Some("admin")).expect("token");
    let create = |name: String| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let body = json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                               "variables": { "i": { "kind": "INDIVIDUAL", "name": name } } });
            let res = client.post(format!("{base}/graphql")).bearer_auth(&token).json(&body).send().await;
            match res {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res.json().await.expect("a whole JSON answer");
                    Some((status, body))
                }
                // Refused or closed before a request was taken: nothing was done.
                Err(_) => None,
            }
        }
    };
    // One customer scored before the stop, so the run log has records to keep.
    let (status, first) = create("first".into()).await.expect("served");
    assert_eq!(status, 200, "{first}");
    let id = first["data"]["createCustomer"]["id"].clone();
    loop {
        let body =
            json!({ "query": "query($id: ID!) { customer(id: $id) { scores { key } } }", "variables": { "id": id } });
        let res = crate::helpers::post_graphql(&client, &base, &token, &body).await;
        if res["data"]["customer"]["scores"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "never scored: {res}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let writes: Vec<_> = (0..40).map(|i| tokio::spawn(create(format!("c{i}")))).collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let pid = server.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut succeeded = 1;
    for w in writes {
        if let Some((status, body)) = w.await.unwrap() {
            assert!(status < 500, "{status}: {body}");
            assert!(body["errors"].is_null(), "{body}");
            succeeded += 1;
        }
    }
    let exit = tokio::time::timeout(std::time::Duration::from_secs(60), server.wait()).await.expect("exits").unwrap();
    assert!(exit.success(), "exit status {exit}");
    assert!(reqwest::get(format!("{base}/readyz")).await.is_err(), "no longer listening");

    let db = sea_orm::Database::connect(&database_url).await.expect("db");
    let backend = db.get_database_backend();
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db.query_one_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM customers").await, succeeded, "what clients saw succeed, and only that");
    let scored = count("SELECT COUNT(*) FROM customer_scores WHERE values_hash IS NOT NULL").await;
    let recorded = count(
        "SELECT COALESCE(SUM(r.items), 0) FROM plugin_runs r JOIN plugins p ON p.tenant_id = r.tenant_id AND p.id = r.plugin_id \
         WHERE p.name = 'value-scorer' AND r.call = 'SCORE'",
    )
    .await;
    assert!(scored >= 1, "the first customer was scored");
    assert!(recorded >= scored, "{scored} customers scored, their runs record {recorded}: records were lost");
}
