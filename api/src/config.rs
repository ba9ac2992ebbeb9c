//! One configuration struct, read from flags with `GUANXI_*` environment fallbacks.
//!
//! Values clap can check (addresses, numbers) are typed here so that a bad one stops the start
//! with clap's one-line message naming the flag. What needs more than parsing (that some JWT key is
//! present, that the database answers) is checked when the token verifier is built from it (`auth`) and at connect time.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the server reads from its environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Database URL: `sqlite://FILE?mode=rwc` (embedded, the default) or `postgres://…`.
    #[arg(long, env = "GUANXI_DATABASE_URL", default_value = "sqlite://guanxi.db?mode=rwc")]
    pub database_url: String,

    /// Address the HTTP server listens on (port 0 picks a free port).
    #[arg(long, env = "GUANXI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// HS256 secret that signs and verifies tokens.
    #[arg(long, env = "GUANXI_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM file with an RS256 or ES256 public key that verifies tokens.
    #[arg(long, env = "GUANXI_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS file (JSON) whose keys, chosen by `kid`, verify tokens.
    #[arg(long, env = "GUANXI_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "GUANXI_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "GUANXI_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// tracing filter, e.g. `info` or `guanxi_api=debug,sqlx=warn`.
    #[arg(long, env = "GUANXI_LOG", default_value = "info")]
    pub log: String,

    /// Largest accepted request body in bytes; larger bodies get HTTP 413.
    #[arg(long, env = "GUANXI_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest selection nesting a query may have. The deepest legitimate page (a connection's
    /// edges → node → owner → field) is 6 levels; 15 leaves room without allowing abuse.
    #[arg(long, env = "GUANXI_MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: u32,

    /// Most field selections a query may make once its fragments are expanded: what validation
    /// and execution visit. The 360° page selects about 150; GraphiQL's introspection about 400.
    #[arg(long, env = "GUANXI_MAX_QUERY_COMPLEXITY", default_value_t = 1000)]
    pub max_query_complexity: u64,

    /// Most aliases a query may use, fragments counted once per use; aliases multiply work
    /// without adding depth.
    #[arg(long, env = "GUANXI_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: u64,

    /// Most lexical tokens a query document may have, counted before it is parsed. The 360°
    /// page has about 300.
    #[arg(long, env = "GUANXI_MAX_TOKENS", default_value_t = 10_000)]
    pub max_tokens: u64,

    /// Highest cost an operation may have: one point per object it can return, lists and
    /// connections multiplied by `first`/`last` (20 when absent) and through their nesting, 10
    /// per mutation. A page of 100 customers each with 100 interactions costs about 10,000.
    #[arg(long, env = "GUANXI_MAX_COST", default_value_t = 50_000)]
    pub max_cost: u64,

    /// `off` stops charging operations to rate-limit buckets (for a single trusted client, such
    /// as a benchmark); the cost limit still applies.
    #[arg(long, env = "GUANXI_RATE_LIMITS", default_value = "on", value_parser = ["on", "off"])]
    pub rate_limits: String,

    /// Each user's bucket of points, as CAPACITY/RESTORE-PER-SECOND. The capacity equals the
    /// cost limit so any allowed operation can run from a full bucket; 1,000 points a second is
    /// a 50-customer page with its timelines every two or three seconds, far beyond a person.
    #[arg(long, env = "GUANXI_RATE_USER", default_value = "50000/1000", value_parser = crate::rate::BucketSpec::parse)]
    pub rate_user: crate::rate::BucketSpec,

    /// The user bucket's capacity alone (overrides the first half of `GUANXI_RATE_USER`).
    #[arg(long, env = "GUANXI_RATE_CAPACITY")]
    pub rate_capacity: Option<f64>,

    /// The user bucket's points restored per second alone (the second half of `GUANXI_RATE_USER`).
    #[arg(long, env = "GUANXI_RATE_RESTORE")]
    pub rate_restore: Option<f64>,

    /// Per-role overrides of the user bucket, e.g. `ADMIN=200000/5000,VIEWER=20000/200`.
    #[arg(long, env = "GUANXI_RATE_ROLES", default_value = "")]
    pub rate_roles: String,

    /// Each tenant's bucket, shared by its users, as CAPACITY/RESTORE-PER-SECOND: what keeps
    /// one tenant's many callers from taking the server from the others. By default 50,000
    /// points (any operation the cost limit allows) restored at 500 a second per core: on two
    /// cores a tenant sustains about a seventh of what the server answers in all, so one tenant
    /// at its limit leaves the others most of the machine (BENCHMARKS.md, "Fair sharing").
    #[arg(long, env = "GUANXI_RATE_TENANT", default_value_t = crate::rate::BucketSpec::tenant_default(), value_parser = crate::rate::BucketSpec::parse)]
    pub rate_tenant: crate::rate::BucketSpec,

    /// Tenants whose bucket differs from `GUANXI_RATE_TENANT`, by slug, e.g.
    /// `acme=500000/20000,beta=20000/200`: a large tenant gets more of the server, a trial less.
    #[arg(long, env = "GUANXI_RATE_TENANTS", default_value = "")]
    pub rate_tenants: String,

    /// Operations one tenant may run at once (0: half the database connections). More wait
    /// their turn, up to four per slot, for at most `GUANXI_RATE_QUEUE_WAIT_MS`; beyond that
    /// they are refused as `RATE_LIMITED` (bucket `inFlight`). A tenant with many connections
    /// then runs no more operations at once than one with few. Turns count operations, not
    /// database connections: one operation's loaders may use several at once.
    #[arg(long, env = "GUANXI_RATE_TENANT_IN_FLIGHT", default_value_t = 0)]
    pub rate_tenant_in_flight: usize,

    /// How long an operation waits for one of its tenant's turns, in milliseconds.
    #[arg(long, env = "GUANXI_RATE_QUEUE_WAIT_MS", default_value_t = 2_000)]
    pub rate_queue_wait_ms: u64,

    /// Send `X-Sql-Statements` (statements a request ran) on every GraphQL response: a
    /// development aid for hunting N+1 queries; it tells a caller about the server's internals.
    #[arg(long, env = "GUANXI_SQL_STATEMENTS_HEADER", default_value_t = false, action = clap::ArgAction::Set)]
    pub sql_statements_header: bool,

    /// Database connections in the pool. A request that waits for a connection holds its
    /// worker's other requests up too: at 32 concurrent requests the 360° page went 37 % faster
    /// with 32 connections than with 10, cheap reads alike (BENCHMARKS.md). Several replicas
    /// share PostgreSQL's `max_connections` (100 by default).
    #[arg(long, env = "GUANXI_DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: u32,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "GUANXI_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Seconds a request may take before the client gets an error.
    #[arg(long, env = "GUANXI_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Days the change events (the outbox every write appends to) are kept; older ones are
    /// purged.
    #[arg(long, env = "GUANXI_EVENT_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub event_retention_days: u32,

    /// Milliseconds between reads of the change events when nothing announced new ones: a
    /// write on this server, or a NOTIFY from another replica on PostgreSQL, makes the read at
    /// once, so this only bounds how late an event whose announcement was lost arrives.
    #[arg(long, env = "GUANXI_EVENT_POLL_MS", default_value_t = 1000)]
    pub event_poll_ms: u64,

    /// Batches of change events a tenant's subscribers on this server may fall behind before
    /// the slowest is closed (1013, "too slow") instead of buffered further. A read of the
    /// outbox hands each tenant one batch of at most 1,024 events (several when it found more),
    /// so one large change (a ranking that moves thousands of tiers) is one or a few batches,
    /// and a socket that listens to none of it passes over them at once. Rounded up to a power
    /// of two.
    #[arg(long, env = "GUANXI_EVENT_BUFFER", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub event_buffer: u64,

    /// Milliseconds between checks for complaint deadlines that passed unmet; each is told once
    /// (`complaint.sla_breached`), by whichever replica checks first.
    #[arg(long, env = "GUANXI_SLA_CHECK_MS", default_value_t = 10_000)]
    pub sla_check_ms: u64,

    /// Let webhooks go to loopback, private and link-local addresses, and over plain http: for
    /// development and tests only. Otherwise such addresses are refused when a webhook is
    /// registered and again at every delivery.
    #[arg(long, env = "GUANXI_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// Seconds a webhook receiver has to answer a delivery; no 2xx by then is a failed attempt.
    #[arg(long, env = "GUANXI_WEBHOOK_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_secs: u64,

    /// Milliseconds before a failed webhook delivery is tried again; each further failure
    /// doubles the wait (up to an hour), less a random part up to half.
    #[arg(long, env = "GUANXI_WEBHOOK_RETRY_BASE_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_retry_base_ms: u64,

    /// Seconds a webhook delivery is retried before it is FAILED.
    #[arg(long, env = "GUANXI_WEBHOOK_RETRY_FOR_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub webhook_retry_for_secs: u64,

    /// Webhook deliveries of one tenant in flight on this server at once: a slow receiver holds
    /// up its own tenant's deliveries, not the others'. At 4, ten tenants' deliveries to a
    /// receiver on loopback fell behind at about 540 a second (BENCHMARKS.md).
    #[arg(long, env = "GUANXI_WEBHOOK_CONCURRENCY_PER_TENANT", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub webhook_concurrency_per_tenant: u64,

    /// Webhook deliveries in flight on this server at once, over all tenants.
    #[arg(long, env = "GUANXI_WEBHOOK_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub webhook_concurrency: u64,

    /// Hours a webhook's previous secret keeps signing deliveries (beside the new one) after
    /// `rotateWebhookSecret`.
    #[arg(long, env = "GUANXI_WEBHOOK_SECRET_GRACE_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(0..=720))]
    pub webhook_secret_grace_hours: u64,

    /// Subscriptions one tenant may hold open on this server, over all its sockets (each socket
    /// holds at most 100).
    #[arg(long, env = "GUANXI_MAX_SUBSCRIPTIONS_PER_TENANT", default_value_t = 10_000)]
    pub max_subscriptions_per_tenant: usize,

    /// Seconds, at SIGTERM or SIGINT, that in-flight requests have to finish once the server
    /// stops accepting connections; then background tasks get as long to finish what they hold.
    #[arg(long, env = "GUANXI_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// The clock requests read; not a setting (tests move it to pass deadlines).
    #[arg(skip)]
    pub clock: crate::clock::Clock,

    /// Serve the example web client at `/demo`; not a setting: `serve --demo` turns it on.
    #[arg(skip)]
    pub demo_page: bool,

    /// How long a tenant's cached schema is trusted before its schema version is read again.
    /// PostgreSQL replicas also hear every change at once (LISTEN/NOTIFY); this is the backstop.
    #[arg(long, env = "GUANXI_SCHEMA_POLL_MS", default_value_t = 1000)]
    pub schema_poll_ms: u64,

    /// Install the value and lifecycle scorers into every new tenant.
    #[arg(long, env = "GUANXI_DEFAULT_PLUGINS", default_value_t = true, action = clap::ArgAction::Set)]
    pub default_plugins: bool,

    /// Where compiled plugins are kept so a restart does not compile them again (empty: not kept).
    #[arg(long, env = "GUANXI_PLUGIN_CACHE_DIR", default_value = ".guanxi-plugin-cache")]
    pub plugin_cache_dir: PathBuf,

    /// Compiled plugins kept in memory; the least recently used leaves beyond this.
    #[arg(long, env = "GUANXI_PLUGIN_MAX_LOADED", default_value_t = 256)]
    pub plugin_max_loaded: usize,

    /// Megabytes the compiled-plugin directory may hold; the artifacts used least recently are
    /// removed beyond this.
    #[arg(long, env = "GUANXI_PLUGIN_CACHE_MAX_MB", default_value_t = 1024)]
    pub plugin_cache_max_mb: u64,

    /// Plugin calls running at once (0: one per CPU); more wait their turn.
    #[arg(long, env = "GUANXI_PLUGIN_CONCURRENCY", default_value_t = 0)]
    pub plugin_concurrency: usize,

    /// How often the scoring worker looks for queued customers when nothing woke it, in ms.
    #[arg(long, env = "GUANXI_SCORE_POLL_MS", default_value_t = 1000)]
    pub score_poll_ms: u64,

    /// How often every customer of every tenant with a scorer is scored again, in seconds (0:
    /// never): scores that depend on time (recency, churn risk, lifecycle stage) move even when
    /// nothing is written.
    #[arg(long, env = "GUANXI_RESCORE_SECS", default_value_t = 86_400)]
    pub rescore_secs: u64,

    /// Customers the scoring worker claims at once. On SQLite a round's scores are written in
    /// one transaction: larger claims write faster per customer but hold the one writer longer.
    #[arg(long, env = "GUANXI_SCORE_CLAIM", default_value_t = 2000)]
    pub score_claim: u64,

    /// Batches of 200 customers the scoring worker has in flight at once: snapshot reads,
    /// plugin calls and writes of different batches overlap. On PostgreSQL the worker has this
    /// many connections plus one of its own, beside the pool.
    #[arg(long, env = "GUANXI_SCORE_BATCHES_IN_FLIGHT", default_value_t = 4)]
    pub score_batches_in_flight: usize,

    /// Custom-field expression indexes a shared table may carry, across all tenants: every
    /// index costs every tenant's writes to that table. A definition asking for one more is
    /// stored, with `indexState: FAILED`.
    #[arg(long, env = "GUANXI_MAX_FIELD_INDEXES", default_value_t = 64)]
    pub max_field_indexes: usize,
}

impl Config {
    /// A configuration with every default, for tests and tools.
    ///
    /// # Panics
    /// Never: the defaults always parse.
    #[must_use]
    pub fn defaults() -> Self {
        use clap::{Args, FromArgMatches};
        let cmd = Self::augment_args(clap::Command::new("guanxi").no_binary_name(true));
        #[expect(clippy::expect_used, reason = "the defaults always parse; every test starts from them")]
        let matches = cmd.try_get_matches_from(Vec::<String>::new()).expect("defaults parse");
        #[expect(clippy::expect_used, reason = "the defaults always parse; every test starts from them")]
        Self::from_arg_matches(&matches).expect("defaults parse")
    }

    /// The database URL with any password hidden, safe to print.
    #[must_use]
    pub fn database_url_redacted(&self) -> String {
        crate::store::redact_url(&self.database_url)
    }

    /// The cost walk's limits.
    #[must_use]
    pub fn query_limits(&self) -> crate::graphql::cost::Limits {
        crate::graphql::cost::Limits {
            cost: self.max_cost,
            depth: self.max_query_depth,
            aliases: self.max_aliases,
            selections: self.max_query_complexity,
            tokens: self.max_tokens,
        }
    }

    /// The rate limiter's settings.
    ///
    /// # Errors
    /// `GUANXI_RATE_ROLES` is not a list of `ROLE=CAPACITY/RESTORE`.
    pub fn rate_settings(&self) -> Result<crate::rate::RateSettings, String> {
        use crate::domain::Role;
        let positive = |name: &str, v: Option<f64>| match v {
            Some(n) if !(n.is_finite() && n > 0.0) => Err(format!("{name}: '{n}' is not a positive number")),
            _ => Ok(v),
        };
        let mut each = self.rate_user;
        if let Some(capacity) = positive("GUANXI_RATE_CAPACITY", self.rate_capacity)? {
            each.capacity = capacity;
        }
        if let Some(restore) = positive("GUANXI_RATE_RESTORE", self.rate_restore)? {
            each.restore_per_second = restore;
        }
        let mut user = Role::ALL.map(|role| (role, each));
        for item in self.rate_roles.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (role, spec) = item
                .split_once('=')
                .ok_or_else(|| format!("GUANXI_RATE_ROLES: '{item}' is not ROLE=CAPACITY/RESTORE"))?;
            let role = Role::parse(role.trim())
                .ok_or_else(|| format!("GUANXI_RATE_ROLES: '{role}' is not ADMIN, MANAGER, AGENT or VIEWER"))?;
            let spec = crate::rate::BucketSpec::parse(spec).map_err(|e| format!("GUANXI_RATE_ROLES: {e}"))?;
            if let Some(slot) = user.iter_mut().find(|(r, _)| *r == role) {
                slot.1 = spec;
            }
        }
        let mut tenants = std::collections::HashMap::new();
        for item in self.rate_tenants.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (slug, spec) = item
                .split_once('=')
                .ok_or_else(|| format!("GUANXI_RATE_TENANTS: '{item}' is not SLUG=CAPACITY/RESTORE"))?;
            let slug = slug.trim();
            // A slug no token can name would size nobody: say so instead of ignoring it.
            if !crate::auth::is_tenant_slug(slug) {
                return Err(format!(
                    "GUANXI_RATE_TENANTS: '{slug}' is not a tenant slug (1 to 63 lowercase letters, digits or '-')"
                ));
            }
            let spec = crate::rate::BucketSpec::parse(spec).map_err(|e| format!("GUANXI_RATE_TENANTS: {e}"))?;
            tenants.insert(slug.to_owned(), spec);
        }
        Ok(crate::rate::RateSettings { enabled: self.rate_limits == "on", user, tenant: self.rate_tenant, tenants })
    }

    /// The rules webhooks are registered and sent by.
    #[must_use]
    pub fn webhook_rules(&self) -> crate::domain::webhooks::Rules {
        let hours = i64::try_from(self.webhook_secret_grace_hours).unwrap_or(24);
        let retry_for = i64::try_from(self.webhook_retry_for_secs).unwrap_or(86_400);
        crate::domain::webhooks::Rules {
            allow_private: self.webhook_allow_private,
            retry_for: chrono::Duration::seconds(retry_for),
            secret_grace: chrono::Duration::hours(hours),
            bell: tokio::sync::Notify::new(),
        }
    }

    /// How the webhook sender works.
    #[must_use]
    pub fn webhook_sending(&self) -> crate::domain::webhooks::sender::Settings {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        crate::domain::webhooks::sender::Settings {
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs),
            retry_base: std::time::Duration::from_millis(self.webhook_retry_base_ms),
            per_tenant: count(self.webhook_concurrency_per_tenant),
            in_flight: count(self.webhook_concurrency),
            poll: std::time::Duration::from_millis(self.event_poll_ms.max(10)),
        }
    }

    /// Each tenant's turns: none bounded when rate limits are off (a single trusted client).
    #[must_use]
    pub fn in_flight(&self) -> crate::rate::InFlight {
        crate::rate::InFlight::new(self.turns_per_tenant(), std::time::Duration::from_millis(self.rate_queue_wait_ms))
    }

    /// Operations a tenant runs at once; 0 for no bound.
    #[must_use]
    pub fn turns_per_tenant(&self) -> usize {
        match self.rate_tenant_in_flight {
            _ if self.rate_limits != "on" => 0,
            0 => usize::try_from(self.db_max_connections / 2).unwrap_or(1).max(1),
            n => n,
        }
    }

    /// True for the embedded SQLite default.
    #[must_use]
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert!(c.is_sqlite());
        let rates = c.rate_settings().expect("default rates");
        assert!(rates.enabled);
        assert_eq!(rates.user[0].1.capacity, 50_000.0);
    }

    #[test]
    fn role_overrides_replace_one_role_or_say_what_is_wrong() {
        let mut c = Config::defaults();
        c.rate_roles = "VIEWER=100/2".into();
        let rates = c.rate_settings().expect("rates");
        let viewer = rates.user.iter().find(|(r, _)| *r == crate::domain::Role::Viewer).expect("viewer").1;
        assert_eq!((viewer.capacity, viewer.restore_per_second), (100.0, 2.0));
        assert_eq!(
            rates.user.iter().find(|(r, _)| *r == crate::domain::Role::Admin).expect("admin").1.capacity,
            50_000.0
        );
        c.rate_capacity = Some(900.0);
        c.rate_restore = Some(9.0);
        let agent = c.rate_settings().expect("rates").user[2].1;
        assert_eq!((agent.capacity, agent.restore_per_second), (900.0, 9.0));
        c.rate_restore = Some(0.0);
        assert!(c.rate_settings().unwrap_err().contains("GUANXI_RATE_RESTORE"));
        c.rate_restore = None;
        c.rate_roles = "BOSS=1/1".into();
        assert!(c.rate_settings().unwrap_err().contains("BOSS"));
    }

    #[test]
    fn tenants_sized_apart_parse_or_say_what_is_wrong() {
        let mut c = Config::defaults();
        c.rate_tenants = "acme=500000/20000, beta=20000/200".into();
        let rates = c.rate_settings().expect("rates");
        assert_eq!(rates.tenants["acme"].restore_per_second, 20_000.0);
        assert_eq!(rates.tenants["beta"].capacity, 20_000.0);
        c.rate_tenants = "acme".into();
        assert!(c.rate_settings().unwrap_err().contains("SLUG=CAPACITY/RESTORE"));
        c.rate_tenants = "acme=lots".into();
        assert!(c.rate_settings().unwrap_err().contains("GUANXI_RATE_TENANTS"));
        c.rate_tenants = "Acme Corp=1000/10".into();
        assert!(c.rate_settings().unwrap_err().contains("'Acme Corp' is not a tenant slug"));
    }

    #[test]
    fn turns_follow_the_pool_and_go_with_the_rate_limits() {
        let mut c = Config::defaults();
        c.db_max_connections = 32;
        assert_eq!(c.turns_per_tenant(), 16);
        c.db_max_connections = 1;
        assert_eq!(c.turns_per_tenant(), 1);
        c.rate_tenant_in_flight = 3;
        assert_eq!(c.turns_per_tenant(), 3);
        c.rate_limits = "off".into();
        assert_eq!(c.turns_per_tenant(), 0);
    }

    #[test]
    fn passwords_are_redacted() {
        use crate::store::redact_url;
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://guanxi.db"), "sqlite://guanxi.db");
    }
}
