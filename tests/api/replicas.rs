//! Several servers on one database, as replicas behind a load balancer: what one server changes
//! in a tenant, another serves at once, whether it had built the tenant's schema before or
//! starts afterwards; and writers in two server processes share one SQLite file.

use serde_json::{Value, json};

use crate::custom_fields::define;
use crate::helpers::{SECRET, TestApp, code, post_graphql, violations};
use crate::plugins::eventually;

const CUSTOM_TYPE: &str = "{ __type(name: \"CustomerCustom\") { fields { name type { name } } } }";

/// The fields of `CustomerCustom` by name, with their GraphQL type.
fn custom_fields_of(res: &Value) -> Vec<(String, String)> {
    res["data"]["__type"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no CustomerCustom: {res}"))
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f["type"]["name"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn has_field(res: &Value, name: &str, ty: &str) -> bool {
    custom_fields_of(res).contains(&(name.to_owned(), ty.to_owned()))
}

#[tokio::test]
async fn a_replica_serves_a_tenant_after_an_archive_a_type_change_and_an_uninstall() {
    let first = TestApp::spawn().await;
    let admin = first.token("acme", "ADMIN", "root");
    let legacy = define(
        &first,
        &admin,
        json!({ "entity": "CUSTOMER", "key": "legacy_code", "label": "Legacy code", "type": "STRING" }),
    )
    .await;
    let size = define(
        &first,
        &admin,
        json!({ "entity": "CUSTOMER", "key": "size", "label": "Size", "type": "STRING", "indexed": true }),
    )
    .await;
    let id = first
        .create_customer(
            &admin,
            json!({ "kind": "INDIVIDUAL", "name": "王芳", "customFields": { "legacy_code": "L-1", "size": "12" } }),
        )
        .await;
    let scored = "query($id: ID!) { customer(id: $id) { custom { valueScore } } }";
    eventually(&first, &admin, scored, json!({ "id": id }), |r| {
        !r["data"]["customer"]["custom"]["valueScore"].is_null()
    })
    .await;

    // This replica builds the tenant's schema before the changes, and must not keep it.
    let warm = first.replica().await;
    let before = warm.gql(&admin, CUSTOM_TYPE, json!({})).await;
    assert!(
        has_field(&before, "legacyCode", "String")
            && has_field(&before, "size", "String")
            && has_field(&before, "valueScore", "Decimal"),
        "{before}"
    );

    let res = first
        .gql(&admin, "mutation($id: ID!) { archiveCustomField(id: $id) { archived } }", json!({ "id": legacy["id"] }))
        .await;
    assert_eq!(res["data"]["archiveCustomField"]["archived"], true, "{res}");
    let res = first
        .gql(
            &admin,
            "mutation($id: ID!) { updateCustomField(id: $id, input: { type: INT }) { type } }",
            json!({ "id": size["id"] }),
        )
        .await;
    assert_eq!(res["data"]["updateCustomField"]["type"], "INT", "{res}");
    let plugins = first.gql(&admin, "{ plugins { id name } }", json!({})).await;
    let value_scorer = plugins["data"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "value-scorer")
        .unwrap_or_else(|| panic!("{plugins}"))["id"]
        .clone();
    let res = first.gql(&admin, "mutation($id: ID!) { uninstallPlugin(id: $id) }", json!({ "id": value_scorer })).await;
    assert!(res["errors"].is_null(), "{res}");

    // This one starts after them.
    let cold = first.replica().await;
    for (server, name) in [(&warm, "Warm"), (&cold, "Cold")] {
        // The warm replica learns of the changes within its schema poll.
        let schema = eventually(server, &admin, CUSTOM_TYPE, json!({}), |r| {
            !has_field(r, "legacyCode", "String") && has_field(r, "size", "BigInt")
        })
        .await;
        let names: Vec<String> = custom_fields_of(&schema).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"churnRisk".to_owned()), "the other scorer's fields stay: {names:?}");
        assert!(!names.contains(&"valueScore".to_owned()) && !names.contains(&"rfmSegment".to_owned()), "{names:?}");
        let res = server.gql(&admin, scored, json!({ "id": id })).await;
        assert_eq!(code(&res), "BAD_USER_INPUT", "valueScore left the schema: {res}");

        let defs =
            server.gql(&admin, "{ customFieldDefinitions(entity: CUSTOMER) { key type archived } }", json!({})).await;
        let defs = defs["data"]["customFieldDefinitions"].as_array().unwrap_or_else(|| panic!("{defs}")).clone();
        assert!(defs.contains(&json!({ "key": "size", "type": "INT", "archived": false })), "{defs:?}");
        assert!(
            defs.iter().all(|d| !["legacy_code", "value_score", "rfm_segment"].contains(&d["key"].as_str().unwrap())),
            "{defs:?}"
        );

        // Reads: the value converted to the new type; the archived one hidden; no scores of
        // the uninstalled scorer.
        let read = "query($id: ID!) { customer(id: $id) { customFields custom { size } scores { key } } }";
        let res = server.gql(&admin, read, json!({ "id": id })).await;
        assert!(res["errors"].is_null(), "{res}");
        let stored = res["data"]["customer"]["customFields"].as_object().unwrap();
        assert_eq!(stored["size"], 12, "{res}");
        for gone in ["legacy_code", "value_score", "rfm_segment"] {
            assert!(!stored.contains_key(gone), "{gone}: {res}");
        }
        assert_eq!(res["data"]["customer"]["custom"]["size"], 12, "{res}");
        let keys: Vec<&str> =
            res["data"]["customer"]["scores"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
        assert!(!keys.contains(&"value_score") && !keys.contains(&"rfm_segment"), "{keys:?}");

        // Writes follow the new definitions.
        let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id custom { size } } }";
        let res = server
            .gql(
                &admin,
                create,
                json!({ "i": { "kind": "INDIVIDUAL", "name": name, "customFields": { "size": "7" } } }),
            )
            .await;
        assert!(res["errors"].is_null(), "{res}");
        assert_eq!(res["data"]["createCustomer"]["custom"]["size"], 7, "stored as a number: {res}");
        let res = server
            .gql(
                &admin,
                create,
                json!({ "i": { "kind": "INDIVIDUAL", "name": name, "customFields": { "legacy_code": "L-2" } } }),
            )
            .await;
        assert_eq!(violations(&res), [("customFields.legacy_code".to_owned(), "UNKNOWN_FIELD".to_owned())]);
        let res = server
            .gql(
                &admin,
                create,
                json!({ "i": { "kind": "INDIVIDUAL", "name": name, "customFields": { "size": "large" } } }),
            )
            .await;
        assert_eq!(violations(&res), [("customFields.size".to_owned(), "INVALID_INT".to_owned())]);

        // Filters compare numbers now: "7" < "12" would not hold as text.
        let res = server
            .gql(&admin, "{ customers(filter: { custom: { size: { gte: 10 } } }) { nodes { id } } }", json!({}))
            .await;
        assert_eq!(res["data"]["customers"]["nodes"], json!([{ "id": id }]), "{res}");

        let res = server.gql(&admin, "{ plugins { name } }", json!({})).await;
        assert_eq!(res["data"]["plugins"], json!([{ "name": "lifecycle-scorer" }]), "{res}");
    }
    // Every server's index builder sees the new type's index to be built; one build it is.
    let state = "{ customFieldDefinitions(entity: CUSTOMER) { key indexState indexError } }";
    for server in [&first, &warm, &cold] {
        let res = eventually(server, &admin, state, json!({}), |r| {
            r["data"]["customFieldDefinitions"]
                .as_array()
                .is_some_and(|defs| defs.iter().any(|d| d["key"] == "size" && d["indexState"] != "BUILDING"))
        })
        .await;
        let defs = res["data"]["customFieldDefinitions"].as_array().unwrap();
        let size = defs.iter().find(|d| d["key"] == "size").unwrap();
        assert_eq!(size["indexState"], "READY", "{res}");
    }
    let res =
        first.gql(&admin, "{ customers { totalCount } }", json!({})).await["data"]["customers"]["totalCount"].clone();
    assert_eq!(res, 3, "one customer each, and nothing of the refused writes");

    // Archived is not deleted: restored on a replica, the value is back on every server.
    let res = cold
        .gql(&admin, "mutation($id: ID!) { restoreCustomField(id: $id) { archived } }", json!({ "id": legacy["id"] }))
        .await;
    assert_eq!(res["data"]["restoreCustomField"]["archived"], false, "{res}");
    let read = "query($id: ID!) { customer(id: $id) { custom { legacyCode size } } }";
    for server in [&first, &warm, &cold] {
        eventually(server, &admin, read, json!({ "id": id }), |r| {
            r["data"]["customer"]["custom"] == json!({ "legacyCode": "L-1", "size": 12 })
        })
        .await;
    }
}

/// The codes docs/api.md lists that a client can act on (`INTERNAL` is not one of them).
const DOCUMENTED: [&str; 9] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "PLUGIN_ERROR",
    "QUERY_TOO_COMPLEX",
    "RATE_LIMITED",
    "UNAVAILABLE",
];

/// A port nobody listens on now (the server is told to listen there).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The server binary serving `database_url` with `settings` (environment variables) beside the
/// tests' own, ready for requests.
pub async fn serve(database_url: &str, settings: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let port = free_port();
    let server = tokio::process::Command::new(env!("CARGO_BIN_EXE_guanxi"))
        .args(["serve", "--database-url", database_url, "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("GUANXI_JWT_PUBLIC_KEY")
        .env_remove("GUANXI_JWKS_FILE")
        .env("GUANXI_JWT_SECRET", SECRET)
        .env("GUANXI_LOG", "off")
        .env("GUANXI_RATE_LIMITS", "off")
        .env("GUANXI_SCORE_POLL_MS", "100")
        .env("GUANXI_DB_MAX_CONNECTIONS", "8")
        .env("GUANXI_PLUGIN_CACHE_DIR", std::env::temp_dir().join("guanxi-test-plugin-cache"))
        .envs(settings.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    while reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the server never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (server, base)
}

/// Two server processes write to one database at once; on SQLite they share its one writer
/// through the file lock alone, each process's own queue of writers knowing nothing of the
/// other's. Every write succeeds or fails with a code a client can act on, and exactly the
/// writes that succeeded are there. On SQLite, writes that cannot get the file's lock within
/// the busy timeout fail as `UNAVAILABLE`. (With `GUANXI_TEST_DATABASE_URL` set, the two
/// processes share a PostgreSQL database instead, whose writers never wait for one lock.)
#[tokio::test]
async fn writers_in_two_processes_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    let (mut one, one_base) = serve(&database_url, &[]).await;
    let (mut two, two_base) = serve(&database_url, &[]).await;
    let token = guanxi_api::auth::mint(SECRET, "acme", "ADMIN", "admin", 3600, Some("admin")).expect("token");
    let client = reqwest::Client::new();
    let create = |base: &str, name: String| {
        let (client, url, token) = (client.clone(), format!("{base}/graphql"), token.clone());
        async move {
            let body = json!({ "query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                               "variables": { "i": { "kind": "INDIVIDUAL", "name": name } } });
            let res = client.post(url).bearer_auth(&token).json(&body).send().await.expect("answered");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("a JSON answer"))
        }
    };
    // 50 writes into each process, 8 at a time each; the tenant does not exist yet, so the
    // first of them also race to create it.
    let writes = |base: String, prefix: &'static str| {
        let create = &create;
        async move {
            let mut answers = Vec::new();
            for chunk in (0..50).collect::<Vec<_>>().chunks(8) {
                let batch = chunk.iter().map(|i| create(&base, format!("{prefix}{i}")));
                answers.extend(futures_util::future::join_all(batch).await);
            }
            answers
        }
    };
    let (a, b) = tokio::join!(writes(one_base.clone(), "one-"), writes(two_base.clone(), "two-"));
    let mut succeeded = 0;
    for (status, body) in a.iter().chain(&b) {
        match body["errors"][0]["extensions"]["code"].as_str() {
            None => {
                assert_eq!(*status, 200, "{body}");
                assert!(body["data"]["createCustomer"]["id"].is_string(), "{body}");
                succeeded += 1;
            }
            Some(code) => {
                assert!(DOCUMENTED.contains(&code), "a write failed inside the server: {body}");
                assert!(!body["errors"][0]["message"].as_str().unwrap_or_default().is_empty(), "{body}");
            }
        }
    }
    assert!(succeeded > 0, "nothing was written");
    for base in [&one_base, &two_base] {
        let res = post_graphql(&client, base, &token, &json!({ "query": "{ customers { totalCount } }" })).await;
        assert_eq!(res["data"]["customers"]["totalCount"], succeeded, "what succeeded, and only that: {res}");
    }

    if database_url.starts_with("sqlite:") {
        // A third process keeps SQLite's one writer past the servers' busy timeout: their writes
        // give up with a code a client can retry on, and write nothing.
        let holder = guanxi_api::store::connect(&database_url, 1).await.expect("db");
        let lock = guanxi_api::store::begin_write(&holder).await.expect("the write lock");
        let started = std::time::Instant::now();
        let waiting = [&one_base, &one_base, &two_base, &two_base].map(|base| create(base, "locked out".into()));
        for (status, body) in futures_util::future::join_all(waiting).await {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(25), "the writes waited too long");
        lock.rollback().await.expect("rollback");
        for base in [&one_base, &two_base] {
            let (_, body) = create(base, "after the lock".into()).await;
            assert!(body["errors"].is_null(), "{body}");
            succeeded += 1;
        }
        let res = post_graphql(&client, &one_base, &token, &json!({ "query": "{ customers { totalCount } }" })).await;
        assert_eq!(res["data"]["customers"]["totalCount"], succeeded, "nothing of the refused writes: {res}");
    }

    for server in [&mut one, &mut two] {
        let pid = server.id().expect("running").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }
    for server in [one, two] {
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), server.wait_with_output())
            .await
            .expect("exits")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "exit status {}: {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
