//! `TestApp`: a running server, a database of its own, and typed helpers to call it.

use std::sync::Once;

use guanxi_api::{Application, Config};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-of-at-least-16-bytes";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's database, for tests that check a library function against the API.
    pub database_url: String,
    _dir: tempfile::TempDir,
}

/// Server logs stay silent unless `TEST_LOG` is set (to a tracing filter, e.g. `info`).
fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("GUANXI_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sea_orm::ConnectionTrait;
            let name = format!("guanxi_t_{}", uuid::Uuid::now_v7().simple());
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("GUANXI_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            let (base, query) = match admin_url.split_once('?') {
                Some((b, q)) => (b.to_owned(), format!("?{q}")),
                None => (admin_url.clone(), String::new()),
            };
            let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
            format!("{server}/{name}{query}")
        }
        _ => format!("sqlite://{}/guanxi-test.db?mode=rwc", dir.display()),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose new tenants start without the default scorers: for tests of what an
    /// ADMIN defines, or of tiers set by hand.
    pub async fn spawn_bare() -> Self {
        Self::spawn_with(|c| c.default_plugins = false).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.database_url = fresh_database(dir.path()).await;
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.jwt_secret = Some(SECRET.into());
        config.jwt_public_key = None;
        config.jwks_file = None;
        config.jwt_issuer = None;
        config.jwt_audience = None;
        config.workers = 2;
        config.db_max_connections = 5;
        // Compiled plugins are shared by every test server (and run): each would otherwise
        // compile the default scorers again.
        config.plugin_cache_dir = std::env::temp_dir().join("guanxi-test-plugin-cache");
        config.score_poll_ms = 200;
        // Tests count statements through this header (the server sends it only when asked).
        config.sql_statements_header = true;
        // Suites send many requests as one user; the rate-limit tests turn limits back on.
        config.rate_limits = "off".into();
        configure(&mut config);
        let database_url = config.database_url.clone();
        let app = Application::build(config).await.expect("server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        // Idle connections are dropped before the server's keep-alive (5 s) closes them, so a request
        // never races the server closing the connection it reuses (hyper's IncompleteMessage).
        let client = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("http client");
        Self { base, client, database_url, _dir: dir }
    }

    /// Another server on this one's database, as a second replica behind a load balancer
    /// would be: its own caches, plugin host and background workers.
    pub async fn replica(&self) -> Self {
        let url = self.database_url.clone();
        Self::spawn_with(move |c| c.database_url = url).await
    }

    /// A valid HS256 token for `user` with `role` in `tenant`.
    pub fn token(&self, tenant: &str, role: &str, user: &str) -> String {
        guanxi_api::auth::mint(SECRET, tenant, role, user, 3600, Some(user)).expect("token")
    }

    /// POSTs a GraphQL request and returns the JSON body (any status).
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post(token, &json!({ "query": query, "variables": variables })).await.json().await.expect("json body")
    }

    pub async fn post(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client.post(format!("{}/graphql", self.base)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// Creates a customer (as `token`) and returns its id.
    pub async fn create_customer(&self, token: &str, input: Value) -> String {
        let res = self
            .gql(
                token,
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        res["data"]["createCustomer"]["id"].as_str().unwrap_or_else(|| panic!("create failed: {res}")).to_owned()
    }
}

/// The `extensions.code` of the first error.
pub fn code(res: &Value) -> &str {
    res["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {res}"))
}

/// The `(field, code)` pairs of the first error's violations.
pub fn violations(res: &Value) -> Vec<(String, String)> {
    res["errors"][0]["extensions"]["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no violations in {res}"))
        .iter()
        .map(|v| (v["field"].as_str().unwrap_or("").to_owned(), v["code"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// The id of the tenant with `slug`, read from the database (for tests that call the store).
pub async fn tenant_id(db: &sea_orm::DatabaseConnection, slug: &str) -> uuid::Uuid {
    use sea_orm::ConnectionTrait;
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "SELECT id FROM tenants WHERE slug = $1"
    } else {
        "SELECT id FROM tenants WHERE slug = ?"
    };
    db.query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [slug.into()]))
        .await
        .expect("tenant")
        .expect("row")
        .try_get("", "id")
        .expect("id")
}

/// The query plan of `statement` on `db` (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on
/// SQLite), one line per step. On PostgreSQL sequential scans are forbidden for it: a test's
/// tables are small enough for a scan to win, and the question is whether an index fits.
pub async fn plan(db: &sea_orm::DatabaseConnection, statement: &sea_orm::Statement) -> String {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let backend = db.get_database_backend();
    let txn = db.begin().await.expect("txn");
    let (explain, column) = if backend == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.expect("set");
        ("EXPLAIN", "QUERY PLAN")
    } else {
        ("EXPLAIN QUERY PLAN", "detail")
    };
    let explain = sea_orm::Statement::from_sql_and_values(
        backend,
        format!("{explain} {}", statement.sql),
        statement.values.clone().map(|v| v.0).unwrap_or_default(),
    );
    let lines: Vec<String> = txn
        .query_all_raw(explain)
        .await
        .expect("explain")
        .iter()
        .map(|r| r.try_get::<String>("", column).expect("plan line"))
        .collect();
    txn.rollback().await.expect("rollback");
    lines.join("\n")
}

/// POSTs a GraphQL request to a server this test started some other way (a process of its own)
/// and returns the JSON body.
pub async fn post_graphql(client: &reqwest::Client, base: &str, token: &str, body: &Value) -> Value {
    let res = client.post(format!("{base}/graphql")).bearer_auth(token).json(body).send().await.expect("request");
    res.json().await.expect("json body")
}
