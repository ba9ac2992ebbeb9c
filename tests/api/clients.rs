//! Frontend tooling against the server, as a web team sets it up: graphql-codegen types a client
//! from a tenant's schema, relay-compiler compiles fragments and a connection against it, and
//! Apollo Client runs a query, an idempotent mutation and automatic persisted queries. The npm
//! packages are in tests/clients; a tool that generates files works in a copy of its project in
//! a temp dir, so nothing it writes lands in the repo and tests run side by side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::custom_fields::{define, sdl};
use crate::helpers::TestApp;

/// Each tool takes a few seconds; one still running after this has hung.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

fn clients_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    assert!(
        dir.join("node_modules/.bin/graphql-codegen").exists(),
        "the client tests' npm packages are missing: run `npm ci --prefix tests/clients` (the README's test command does)"
    );
    dir
}

/// A copy of the project `tests/clients/<project>` in a temp dir of its own, with the npm
/// packages linked in, for the tools to generate into.
fn stage(project: &str) -> tempfile::TempDir {
    let clients = clients_dir();
    let dir = tempfile::Builder::new().prefix(&format!("guanxi-{project}-")).tempdir().expect("temp dir");
    copy_tree(&clients.join(project), dir.path());
    std::os::unix::fs::symlink(clients.join("node_modules"), dir.path().join("node_modules")).expect("link");
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir(&target).expect("create dir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The npm packages' command `name`, to run in the staged project `dir`.
fn tool(dir: &Path, name: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(dir.join("node_modules/.bin").join(name));
    command.current_dir(dir);
    command
}

/// Runs `command` to its end: whether it succeeded, and what it printed (stdout, then stderr).
async fn output(command: &mut tokio::process::Command) -> (bool, String) {
    let ran = tokio::time::timeout(TOOL_TIMEOUT, command.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} still runs after {TOOL_TIMEOUT:?}"))
        .expect("node runs (the README's test command installs it)");
    let printed = format!("{}{}", String::from_utf8_lossy(&ran.stdout), String::from_utf8_lossy(&ran.stderr));
    (ran.status.success(), printed)
}

/// Saves `schema` (SDL) as the typed client's schema, generates its types and type-checks it:
/// whether `tsc` passed, and what it printed.
async fn typecheck(project: &Path, schema: &str) -> (bool, String) {
    let file = project.join("schema.graphql");
    std::fs::write(&file, schema).expect("save the schema");
    let (generated, printed) =
        output(tool(project, "graphql-codegen").args(["--config", "codegen.yml"]).env("GUANXI_SCHEMA", &file)).await;
    assert!(generated, "graphql-codegen failed:\n{printed}");
    output(tool(project, "tsc").args(["-p", ".", "--pretty", "false"])).await
}

#[tokio::test]
async fn graphql_codegen_types_a_client_against_a_fresh_tenants_schema_and_a_new_custom_field() {
    // A shared server's tenant gets the default scorers, whose fields make up `Customer.custom`
    // until the tenant defines fields of its own.
    let app = TestApp::shared().await;
    let admin = app.token("codegen", "ADMIN", "admin");
    let project = stage("typed");

    let (passed, printed) = typecheck(project.path(), &sdl(&app, &admin).await).await;
    let errors: Vec<&str> = printed.lines().filter(|line| line.contains(": error TS")).collect();
    assert!(
        !passed && errors.iter().all(|e| e.starts_with("custom/vip.ts")),
        "without wechat_id, tsc fails in custom/vip.ts alone:\n{printed}"
    );
    assert!(errors.iter().any(|e| e.contains("'wechatId'")), "custom/vip.ts fails for want of wechatId:\n{printed}");

    define(&app, &admin, json!({ "entity": "CUSTOMER", "key": "wechat_id", "label": "微信号", "type": "STRING" }))
        .await;
    let (passed, printed) = typecheck(project.path(), &sdl(&app, &admin).await).await;
    assert!(passed, "the regenerated types have custom.wechatId:\n{printed}");
}

/// The text of the operation `name` that relay-compiler generated in `project`: what a Relay
/// app sends.
fn relay_operation(project: &Path, name: &str) -> String {
    let artifact = std::fs::read_to_string(project.join(format!("__generated__/{name}.graphql.ts")))
        .unwrap_or_else(|e| panic!("relay-compiler wrote no {name}: {e}"));
    let text = artifact.lines().find_map(|line| line.trim().strip_prefix("\"text\": "));
    let text = text.unwrap_or_else(|| panic!("no operation text in {name}:\n{artifact}"));
    serde_json::from_str(text.trim_end_matches(',')).expect("a JSON string")
}

#[tokio::test]
async fn relay_compiler_accepts_the_schema_with_fragments_and_a_connection() {
    let app = TestApp::shared().await;
    let admin = app.token("relay", "ADMIN", "admin");
    let project = stage("relay");
    std::fs::write(project.path().join("schema.graphql"), sdl(&app, &admin).await).expect("save the schema");
    // relay-compiler refuses an artifact directory that does not exist.
    std::fs::create_dir(project.path().join("__generated__")).expect("create __generated__");
    let (compiled, printed) = output(&mut tool(project.path(), "relay-compiler")).await;
    assert!(compiled, "relay-compiler failed:\n{printed}");

    // The queries Relay made of the fragments run: two pages of the connection, and a refetch
    // of one customer through node(id:). Customers sort by name, by code point.
    let names = ["关羽", "刘备", "张飞"];
    let ids = app.create_customers(&admin, &names.map(|name| json!({ "kind": "INDIVIDUAL", "name": name }))).await;
    let paginate = relay_operation(project.path(), "CustomerListPaginationQuery");
    let first = app.gql(&admin, &paginate, json!({ "count": 2 })).await;
    let cursor = &first["data"]["customers"]["pageInfo"]["endCursor"];
    let next = app.gql(&admin, &paginate, json!({ "count": 2, "cursor": cursor })).await;
    // A page as [its customers' names, hasNextPage].
    let page = |res: &Value| {
        let edges = res["data"]["customers"]["edges"].as_array().unwrap_or_else(|| panic!("no page: {res}"));
        let names: Vec<&Value> = edges.iter().map(|e| &e["node"]["name"]).collect();
        json!([names, res["data"]["customers"]["pageInfo"]["hasNextPage"]])
    };
    assert_eq!(page(&first), json!([["关羽", "刘备"], true]), "{first}");
    assert_eq!(page(&next), json!([["张飞"], false]), "{next}");
    let refetch = relay_operation(project.path(), "CustomerRowRefetchQuery");
    let refetched = app.gql(&admin, &refetch, json!({ "id": ids[2] })).await;
    assert_eq!(refetched["data"]["node"]["name"], "张飞", "{refetched}");
}

#[tokio::test]
async fn apollo_client_runs_a_query_an_idempotent_mutation_and_an_apq_round_trip() {
    let app = TestApp::shared().await;
    let admin = app.token("apollo", "ADMIN", "admin");
    app.create_customer(&admin, json!({ "kind": "ORGANIZATION", "name": "长城商贸" })).await;
    let (finished, printed) = output(
        tokio::process::Command::new("node")
            .arg(clients_dir().join("apollo.mjs"))
            .env("GUANXI_URL", format!("{}/graphql", app.base))
            .env("GUANXI_TOKEN", &admin),
    )
    .await;
    let steps: HashMap<String, Value> = printed
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|step| Some((step["step"].as_str()?.to_owned(), step)))
        .collect();
    let step = |name: &str| steps.get(name).unwrap_or_else(|| panic!("no step {name}:\n{printed}"));
    // What each request of a step carried (the document, its hash) and the error code it got.
    let sent = |name: &str| -> Vec<Value> {
        let requests = step(name)["requests"].as_array().unwrap_or_else(|| panic!("no requests:\n{printed}"));
        requests.iter().map(|r| json!([r["method"], r["query"], r["hash"], r["code"]])).collect()
    };

    // A mutation step sent createCustomer twice with one Idempotency-Key, as a client retries
    // an answer it never got: the retry is answered the first answer, and one customer is made.
    let made_once = |name: &str| {
        let step = step(name);
        let ids = &step["ids"];
        assert!(
            ids[0].is_string() && ids[0] == ids[1] && step["made"] == 1,
            "{name}: the retry wrote again:\n{printed}"
        );
        let retry = step["requests"].as_array().and_then(|requests| requests.last());
        assert_eq!(
            retry.map(|r| &r["replayed"]),
            Some(&json!("true")),
            "{name}: a replayed answer says so:\n{printed}"
        );
    };

    assert_eq!(step("query")["data"]["customers"]["nodes"][0]["name"], "长城商贸", "{printed}");
    made_once("mutation");
    // A client sends the hash alone, by GET; unknown, it is sent again with the document.
    assert_eq!(
        sent("apq-first"),
        [json!(["GET", false, true, "PERSISTED_QUERY_NOT_FOUND"]), json!(["POST", true, true, null])],
        "{printed}"
    );
    // Another client (a fresh cache) gets the same answer for the hash alone, with an ETag.
    assert_eq!(sent("apq-second"), [json!(["GET", false, true, null])], "{printed}");
    assert!(step("apq-second")["requests"][0]["etag"].is_string(), "{printed}");
    let persisted = &step("apq-first")["data"]["customers"]["nodes"];
    assert!(persisted.as_array().is_some_and(|nodes| nodes.len() == 2), "{printed}");
    assert_eq!(&step("apq-second")["data"]["customers"]["nodes"], persisted, "{printed}");
    made_once("apq-mutation");
    assert!(finished, "{printed}");
}
