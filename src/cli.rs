//! Commands: `serve`, `migrate`, `token`, `seed`, `plugin`. Every server flag has a `GUANXI_*`
//! variable.

use std::io::IsTerminal as _;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use std::sync::Arc;

use guanxi_api::{Application, Config, Plugins, auth, demo, seed};
use guanxi_migration::{Migrator, MigratorTrait};
use guanxi_plugin_host::{Host, HostConfig};

#[derive(Debug, Parser)]
#[command(name = "guanxi", version, about = "Guanxi (关系): a multi-tenant CRM server with one GraphQL API")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the API.
    Serve {
        /// Seed a `demo` tenant once and print a token and a sample query; generates and keeps a
        /// development secret when no JWT key is configured.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        config: Box<Config>,
    },
    /// Apply, revert or list migrations.
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
        #[arg(long, env = "GUANXI_DATABASE_URL", default_value = "sqlite://guanxi.db?mode=rwc")]
        database_url: String,
    },
    /// Mint an HS256 token with the configured secret (development and bootstrap).
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["ADMIN", "MANAGER", "AGENT", "VIEWER"])]
        role: String,
        #[arg(long)]
        user: String,
        /// Display name put in the token.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 24 * 3600)]
        ttl: u64,
        /// The language of the messages the bearer gets (`zh-CN` or `en`), whatever its
        /// Accept-Language says.
        #[arg(long)]
        locale: Option<String>,
        /// Falls back to the development secret that `serve --demo` keeps in this directory.
        #[arg(long, env = "GUANXI_JWT_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Generate deterministic, realistic customers into a tenant (demo and benchmarks).
    Seed {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Interactions per customer, on average (half to one and a half times this).
        #[arg(long, default_value_t = 20)]
        interactions: u32,
        #[arg(long, env = "GUANXI_DATABASE_URL", default_value = "sqlite://guanxi.db?mode=rwc")]
        database_url: String,
    },
    /// Tools for plugin authors: check a component, run it once under the server's limits.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
}

#[derive(Debug, Subcommand)]
enum PluginAction {
    /// Writes a new plugin crate: code, native tests, cases for `plugin test`, a README, and
    /// the SDK copied beside it.
    New {
        /// The crate's name (lower case, digits, `-`), also its folder's.
        #[arg(required_unless_present = "sdk_only")]
        name: Option<String>,
        /// A validator: checks a field's value as records are written.
        #[arg(long, conflicts_with_all = ["scorer", "sdk_only"])]
        validator: bool,
        /// A scorer: gives every customer named scores.
        #[arg(long, conflicts_with = "sdk_only")]
        scorer: bool,
        /// The folder to make the crate in (with `--sdk-only`: the crate to refresh).
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// Only write this binary's SDK and contract into an existing plugin crate.
        #[arg(long)]
        sdk_only: bool,
    },
    /// Exports, imports, size and whether the server would install it.
    Check {
        /// A component (.wasm), or a plugin crate's folder to build first.
        #[arg(default_value = ".")]
        path: std::path::PathBuf,
    },
    /// Runs the cases of a cases file (inputs with the answers expected) in the server's own
    /// sandbox and limits; prints one line a case and fails if any case does.
    Test {
        /// A component (.wasm), or a plugin crate's folder to build first.
        #[arg(default_value = ".")]
        path: std::path::PathBuf,
        /// Default: cases.json in the crate's folder (or in this one, for a .wasm).
        #[arg(long)]
        cases: Option<std::path::PathBuf>,
    },
    /// Runs it once: a scorer on a snapshot (or a list), a validator on {entity, field, value,
    /// record}; prints the result, fuel, peak memory, duration and logs as JSON.
    Run {
        /// A component (.wasm), or a plugin crate's folder to build first.
        path: std::path::PathBuf,
        /// Call the validator (the default when the input has `field`).
        #[arg(long, conflicts_with = "score")]
        validate: bool,
        /// Call the scorer (the default when the input has no `field`).
        #[arg(long, conflicts_with = "field")]
        score: bool,
        /// `Customer.scoringSnapshot` saved from the API, or a list of them (a scorer), or
        /// `{ "entity", "field", "value", "record" }` (a validator).
        #[arg(long, conflicts_with_all = ["field", "from_server"])]
        input: Option<std::path::PathBuf>,
        /// Score this customer's snapshot as the running server has it now (with --token).
        #[arg(long, value_name = "CUSTOMER_ID", conflicts_with = "field")]
        from_server: Option<String>,
        /// Validate this field's value (a validator): the key of the field, e.g. `wechat_id`.
        #[arg(long, requires = "value")]
        field: Option<String>,
        /// The value to validate, as JSON (`'"wxid_abc"'`, `42`, `null`).
        #[arg(long)]
        value: Option<String>,
        /// The record's entity.
        #[arg(long, default_value = "CUSTOMER", requires = "field")]
        entity: String,
        /// The whole record being written, as JSON.
        #[arg(long, requires = "field")]
        record: Option<String>,
        /// The plugin's configuration, a JSON file.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Installs it into a tenant: through a running server's API (`--url`, `--token`, the
    /// token's tenant) or, with `--database-url`, straight into a database (`--tenant`), which
    /// must exist unless `--create`. Prints what was installed, where.
    Install {
        /// A component (.wasm), or a plugin crate's folder to build first.
        #[arg(default_value = ".")]
        path: std::path::PathBuf,
        /// Defaults to the component's file name without `.wasm`, `_` read as `-` (a crate's
        /// name).
        #[arg(long)]
        name: Option<String>,
        /// The plugin's configuration, a JSON file; checked by the plugin first if it checks
        /// its configuration.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// If a plugin of that name is installed, replace its component (and configuration).
        #[arg(long)]
        upgrade: bool,
        /// Attach the validator to a field: `ENTITY.field`, e.g. `CUSTOMER.wechat_id`.
        #[arg(long, value_name = "ENTITY.field")]
        attach: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
        /// Write into this database instead of calling a server.
        #[arg(long, requires = "tenant")]
        database_url: Option<String>,
        /// The tenant to install into (with --database-url).
        #[arg(long, requires = "database_url")]
        tenant: Option<String>,
        /// Create the database (SQLite) and the tenant (with its default plugins) if missing.
        #[arg(long, requires = "database_url")]
        create: bool,
    },
}

/// A running server to talk to.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// The server's address.
    #[arg(long, env = "GUANXI_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A token of the tenant (an ADMIN's, to install).
    #[arg(long, env = "GUANXI_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MigrateAction {
    Up,
    Down,
    Status,
}

fn init_tracing(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { demo, mut config } => serve(demo, &mut config).await,
        Command::Migrate { action, database_url } => {
            let db = guanxi_api::connect(&database_url, 1).await?;
            match action {
                MigrateAction::Up => guanxi_api::migrate(&db).await?,
                MigrateAction::Down => Migrator::down(&db, Some(1)).await?,
                MigrateAction::Status => {
                    for m in Migrator::get_migration_with_status(&db).await? {
                        println!("{}\t{}", m.name(), m.status());
                    }
                }
            }
            Ok(())
        }
        Command::Token { tenant, role, user, name, ttl, locale, secret } => {
            let secret = match secret {
                Some(s) => s,
                None => std::fs::read_to_string(demo::SECRET_FILE)
                    .map(|s| s.trim().to_owned())
                    .context("no secret: set GUANXI_JWT_SECRET (or run `guanxi serve --demo` here first)")?,
            };
            println!(
                "{}",
                auth::mint_with_locale(&secret, &tenant, &role, &user, ttl, name.as_deref(), locale.as_deref())?
            );
            Ok(())
        }
        Command::Plugin { action } => plugin(action).await,
        Command::Seed { tenant, customers, seed: s, interactions, database_url } => {
            if !auth::is_tenant_slug(&tenant) {
                bail!("--tenant must match [a-z0-9-]{{1,63}}");
            }
            let db = guanxi_api::connect(&database_url, 4).await?;
            guanxi_api::migrate(&db).await?;
            let plugins = Plugins::new(Arc::new(Host::new(HostConfig::default()).map_err(anyhow::Error::msg)?));
            guanxi_api::tenant_for(&db, &plugins, &tenant, true).await?;
            let started = std::time::Instant::now();
            let n = seed::customers(&db, &tenant, customers, s, interactions).await?;
            let secs = started.elapsed().as_secs_f64();
            #[expect(clippy::cast_precision_loss, reason = "a row count far below 2^52")]
            let rate = n.rows() as f64 / secs.max(1e-9);
            println!(
                "seeded {} customers, {} interactions, {} complaints, {} plans into tenant {tenant} in {secs:.1} s ({:.0} rows/s)",
                n.customers, n.interactions, n.complaints, n.plans, rate
            );
            Ok(())
        }
    }
}

async fn plugin(action: PluginAction) -> anyhow::Result<()> {
    use crate::component::component;
    match action {
        PluginAction::New { name, validator, scorer, dir, sdk_only } => {
            if sdk_only {
                crate::scaffold::refresh_sdk(&dir)?;
                println!("wrote this guanxi's plugin SDK and contract into {}", dir.display());
                return Ok(());
            }
            let kind = match (validator, scorer) {
                (true, _) => crate::scaffold::Kind::Validator,
                (_, true) => crate::scaffold::Kind::Scorer,
                _ => bail!(
                    "say which kind of plugin: --validator (checks a field's value) or --scorer (scores customers)"
                ),
            };
            let root = crate::scaffold::new_plugin(name.as_deref().unwrap_or_default(), kind, &dir)?;
            println!(
                "made {}: see its README.md. Next:\n  cd {}\n  cargo test            # natively, in seconds\n  \
                 guanxi plugin test    # builds the component and runs cases.json in the server's sandbox",
                root.display(),
                root.display()
            );
            Ok(())
        }
        PluginAction::Check { path } => crate::plugin::check(&component(&path)?),
        PluginAction::Test { path, cases } => {
            let cases =
                cases.unwrap_or_else(|| if path.is_dir() { path.join("cases.json") } else { "cases.json".into() });
            crate::cases::test(&component(&path)?, &cases).await
        }
        PluginAction::Run {
            path,
            validate,
            score,
            input,
            from_server,
            field,
            value,
            entity,
            record,
            config,
            server,
        } => {
            let input = match (input, field, from_server) {
                (Some(path), _, _) => crate::plugin::Input::File(path),
                (None, Some(field), _) => crate::plugin::Input::Validation { entity, field, value, record },
                (None, None, Some(id)) => {
                    let server = crate::remote::Server::new(&server.url, server.token)?;
                    crate::plugin::Input::Snapshot(server.snapshot(&id).await?)
                }
                (None, None, None) => bail!("give --input FILE, --field K --value JSON, or --from-server CUSTOMER_ID"),
            };
            let mode = match (validate, score) {
                (true, _) => crate::plugin::Mode::Validate,
                (_, true) => crate::plugin::Mode::Score,
                _ => crate::plugin::Mode::Input,
            };
            crate::plugin::run(&component(&path)?, input, mode, config.as_deref()).await
        }
        PluginAction::Install { path, name, config, upgrade, attach, server, database_url, tenant, create } => {
            let target = match database_url {
                Some(url) => crate::plugin::Target::Database { url, tenant: tenant.unwrap_or_default(), create },
                None => crate::plugin::Target::Server { url: server.url, token: server.token },
            };
            let what = crate::plugin::Install { name, config, upgrade, attach };
            crate::plugin::install(&component(&path)?, what, target).await
        }
    }
}

async fn serve(demo_mode: bool, config: &mut Config) -> anyhow::Result<()> {
    init_tracing(&config.log);
    if demo_mode && config.jwt_secret.is_none() && config.jwt_public_key.is_none() && config.jwks_file.is_none() {
        config.jwt_secret = Some(demo::dev_secret(&std::env::current_dir()?)?);
    }
    config.demo_page = demo_mode;
    let app = Application::build(config.clone()).await?;
    let url = format!("http://{}:{}", display_host(config), app.port());
    if demo_mode {
        demo::seed_tenant(app.db(), app.plugins(), config.default_plugins).await?;
        match &config.jwt_secret {
            Some(secret) => {
                let token = auth::mint(secret, demo::TENANT, "ADMIN", "demo-admin", 24 * 3600, Some("Demo Admin"))?;
                // The path this binary was started by, so the hint works under `cargo run` too.
                let exe = std::env::args().next().unwrap_or_else(|| "guanxi".into());
                // A JWT is base64url and dots: it goes into the GraphiQL link as it is.
                println!(
                    "\nGuanxi is running at {url} with the demo tenant.\n\n\
                     ADMIN token (24 h):\n  {token}\n\n\
                     Try it:\n  curl -s {url}/graphql -H 'Content-Type: application/json' -H \"Authorization: Bearer {token}\" \\\n    \
                     -d '{{\"query\":\"{{ viewer {{ tenant {{ name }} }} customers(first: 5, filter: {{status: {{eq: ACTIVE}}}}) {{ totalCount nodes {{ name kind region tier lifecycleStage owner {{ name }} }} }} }}\"}}'\n\n\
                     GraphiQL, signed in with this token:\n  {url}/graphiql?token={token}\n\n\
                     The example web client (paste the token to sign in):\n  {url}/demo\n\n\
                     More tokens: {exe} token --tenant demo --role AGENT --user zhang.wei\n"
                );
            }
            None => {
                println!(
                    "\nGuanxi is running at {url}; the demo tenant is seeded. Mint tokens with your own key.\n\
                     The example web client: {url}/demo\n"
                );
            }
        }
    } else {
        println!("Guanxi is running at {url} (GraphiQL: {url}/graphiql)");
    }
    app.run_until_stopped().await.context("server stopped with an error")
}

fn display_host(config: &Config) -> String {
    match config.listen.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".into(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    }
}
