//! `TestApp`: a running server to call, and typed helpers to call it.
//!
//! Most tests take a handle on a server shared by every test of the binary ([`TestApp::shared`],
//! [`TestApp::shared_bare`]) and work in tenants of their own there: the slugs a test names are
//! made unique to it ([`TestApp::slug`]). A test that changes the configuration, stops or
//! replicates the server, or reads what all tenants share (whole tables, expression indexes,
//! `/metrics`) starts a server and database of its own ([`TestApp::spawn_with`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use guanxi_api::{Application, Config};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-of-at-least-16-bytes";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's database, for tests that check a library function against the API.
    pub database_url: String,
    /// Appended to every tenant slug the test names on a shared server, so that its tenants are
    /// its own; empty on a server of the test's own.
    suffix: String,
    /// The SQLite database of a server of the test's own, removed with the handle.
    _dir: Option<tempfile::TempDir>,
    /// A server of the test's own: how to stop it, and its task, which ends once it stopped.
    running: Option<(guanxi_api::Stopper, std::sync::Mutex<Option<ServerTask>>)>,
}

/// The task a server of the test's own runs in.
type ServerTask = tokio::task::JoinHandle<std::io::Result<()>>;

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

/// A fresh, empty database URL for one server.
pub async fn fresh_database(dir: &Path) -> String {
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

/// The settings every test server starts from.
fn test_config(database_url: String) -> Config {
    let mut config = Config::defaults();
    config.database_url = database_url;
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
    // Webhook tests receive on loopback, and retry without waiting long.
    config.webhook_allow_private = true;
    config.webhook_retry_base_ms = 200;
    config
}

/// Idle connections are dropped before the server's keep-alive (5 s) closes them, so a request
/// never races the server closing the connection it reuses (hyper's IncompleteMessage).
fn http_client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2)).build().expect("http client")
}

/// What a test needs of a shared server: nothing tied to the runtime it runs on.
struct SharedServer {
    base: String,
    database_url: String,
}

/// The server with the default scorers, shared by every test of the binary.
static SHARED: OnceLock<SharedServer> = OnceLock::new();
/// The server whose new tenants start without plugins, shared by every test of the binary.
static SHARED_BARE: OnceLock<SharedServer> = OnceLock::new();

/// Starts a server on a thread and runtime of its own: each test's runtime ends with the test,
/// and the server must outlive them all. It runs until the process exits. Its threads write
/// into the captured output of the test that started it (threads inherit it), so its logs
/// (`TEST_LOG`) and panics show with `--nocapture`.
fn start_shared(configure: fn(&mut Config)) -> SharedServer {
    init_logs();
    let (started, server) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("shared-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("shared-server-worker")
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut config = test_config(fresh_database(&shared_dir()).await);
                configure(&mut config);
                let database_url = config.database_url.clone();
                let app = Application::build(config).await.expect("the shared server starts");
                let base = format!("http://127.0.0.1:{}", app.port());
                started.send(SharedServer { base, database_url }).expect("the starting test waits");
                let _ = app.run_until_stopped().await;
            });
        })
        .expect("a thread for the shared server");
    // A panic while starting drops the sender, and the test that asked fails with it.
    server.recv().expect("the shared server started")
}

/// A directory for a shared server's SQLite database, which lives as long as the process. The
/// process holds a lock in it until it exits; a later run removes directories whose lock is
/// free, since nothing removes them at exit.
fn shared_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-servers");
    std::fs::create_dir_all(&root).expect("the shared servers' directory");
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        // A directory only just made may not hold its lock yet.
        let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        let unused = std::fs::File::open(entry.path().join("lock")).is_ok_and(|lock| lock.try_lock().is_ok());
        if old.is_some_and(|age| age > std::time::Duration::from_secs(60)) && unused {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = tempfile::Builder::new().prefix("run-").tempdir_in(&root).expect("a shared server's directory").keep();
    let lock = std::fs::File::create(dir.join("lock")).expect("lock file");
    lock.try_lock().expect("a lock nobody else knows of");
    // Closing it would release the lock: it is released when the process exits.
    std::mem::forget(lock);
    dir
}

/// Tenant suffixes: unique within the process, and so within its shared servers' databases.
static NEXT_SUFFIX: AtomicU64 = AtomicU64::new(1);

impl TestApp {
    /// A handle on the shared server whose new tenants get the default scorers.
    pub async fn shared() -> Self {
        Self::handle_on(&SHARED, |_| {}).await
    }

    /// A handle on the shared server whose new tenants start without the default scorers: for
    /// tests of what an ADMIN defines, or of tiers set by hand.
    pub async fn shared_bare() -> Self {
        Self::handle_on(&SHARED_BARE, |c| c.default_plugins = false).await
    }

    async fn handle_on(server: &'static OnceLock<SharedServer>, configure: fn(&mut Config)) -> Self {
        // The first test to ask waits for the start without holding up its runtime.
        let server = tokio::task::spawn_blocking(move || server.get_or_init(|| start_shared(configure)))
            .await
            .expect("the shared server started");
        let suffix = format!("t{}", NEXT_SUFFIX.fetch_add(1, Ordering::Relaxed));
        Self {
            base: server.base.clone(),
            client: http_client(),
            database_url: server.database_url.clone(),
            suffix,
            _dir: None,
            running: None,
        }
    }

    /// A server and database of this test's own, with the default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server and database of this test's own, whose new tenants start without the default
    /// scorers.
    pub async fn spawn_bare() -> Self {
        Self::spawn_with(|c| c.default_plugins = false).await
    }

    /// A server and database of this test's own, with settings of its own. It runs on the
    /// test's runtime and stops with it.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(fresh_database(dir.path()).await);
        configure(&mut config);
        let database_url = config.database_url.clone();
        let app = Application::build(config).await.expect("server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let stopper = app.stopper();
        let task = tokio::spawn(app.run_until_stopped());
        let running = Some((stopper, std::sync::Mutex::new(Some(task))));
        Self { base, client: http_client(), database_url, suffix: String::new(), _dir: Some(dir), running }
    }

    /// Stops a server of the test's own as SIGTERM does, and waits until it has stopped: its
    /// requests drained, its background tasks ended, its database closed.
    pub async fn stop(&self) {
        let (stopper, task) = self.running.as_ref().expect("a shared server is not the test's to stop");
        stopper.stop().await;
        let task = task.lock().expect("lock").take().expect("stopped once");
        let served = tokio::time::timeout(std::time::Duration::from_secs(30), task).await;
        served.expect("stopped within 30 s").expect("the server task").expect("served without error");
    }

    /// Another server on this one's database, as a second replica behind a load balancer
    /// would be: its own caches, plugin host and background workers.
    pub async fn replica(&self) -> Self {
        // Its background workers would work for every test's tenants, and stop with this test.
        assert!(self.suffix.is_empty(), "a shared server has no replicas: start one with spawn_with");
        let url = self.database_url.clone();
        Self::spawn_with(move |c| c.database_url = url).await
    }

    /// The slug this test's tenant `tenant` has on the server: `tenant` itself on a server of
    /// the test's own, `tenant-<suffix>` on a shared one.
    pub fn slug(&self, tenant: &str) -> String {
        if self.suffix.is_empty() {
            return tenant.to_owned();
        }
        let slug = format!("{tenant}-{}", self.suffix);
        assert!(guanxi_api::auth::is_tenant_slug(&slug), "{slug} is no tenant slug: name tenants shorter");
        slug
    }

    /// A valid HS256 token for `user` with `role` in this test's tenant `tenant`.
    pub fn token(&self, tenant: &str, role: &str, user: &str) -> String {
        guanxi_api::auth::mint(SECRET, &self.slug(tenant), role, user, 3600, Some(user)).expect("token")
    }

    /// The id of this test's tenant `tenant`, read from the database (for tests that call the
    /// store).
    pub async fn tenant_id(&self, db: &sea_orm::DatabaseConnection, tenant: &str) -> uuid::Uuid {
        guanxi_api::store::tenants::find_by_slug(db, &self.slug(tenant))
            .await
            .expect("tenant")
            .unwrap_or_else(|| panic!("no tenant {tenant} yet"))
            .id
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

    /// Creates a customer per input (as `token`), in order, and returns their ids.
    pub async fn create_customers(&self, token: &str, inputs: &[Value]) -> Vec<String> {
        self.create_all(token, "createCustomer", "CreateCustomerInput", inputs).await
    }

    /// Runs the mutation `field(input: …) { id }` once per input, in order, and returns the ids:
    /// a large fixture loads in a request per 25 records instead of one per record. Mutations
    /// of one document run one after the other, each as it would alone.
    pub async fn create_all(&self, token: &str, field: &str, input_type: &str, inputs: &[Value]) -> Vec<String> {
        // Each is an alias, and a document may have 30 by default.
        const PER_REQUEST: usize = 25;
        let mut ids = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(PER_REQUEST) {
            let declared: Vec<String> = (0..chunk.len()).map(|k| format!("$i{k}: {input_type}!")).collect();
            let fields: Vec<String> =
                (0..chunk.len()).map(|k| format!("m{k}: {field}(input: $i{k}) {{ id }}")).collect();
            let query = format!("mutation({}) {{ {} }}", declared.join(", "), fields.join(" "));
            let variables = chunk.iter().enumerate().map(|(k, input)| (format!("i{k}"), input.clone())).collect();
            let res = self.gql(token, &query, Value::Object(variables)).await;
            for k in 0..chunk.len() {
                let id = res["data"][format!("m{k}")]["id"].as_str();
                ids.push(id.unwrap_or_else(|| panic!("{field} {k} of {} failed: {res}", chunk.len())).to_owned());
            }
        }
        ids
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
