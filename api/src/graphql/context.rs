//! What every resolver can reach: the caller, the database, the loaders; and small helpers that
//! turn arguments into domain values with violations instead of panics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use futures_util::future::BoxFuture;

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use guanxi_entity::{plugin, plugin_validator};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::error::into_gql;
use super::loaders::{
    ActivePlans, LatestInteractions, OpenComplaints, PlanActions, PlanTimeline, ScoresByCustomer, StatsByCustomer,
    UsersById,
};
use crate::domain::custom_fields::TenantFields;
use crate::domain::plugins::Plugins;
use crate::domain::settings::TenantSettings;
use crate::domain::{Caller, ids};
use crate::error::{Error, Result};

/// A loader with a per-request cache.
pub type Cached<T> = DataLoader<T, HashMapCache>;

/// A loader with a per-request cache, batching with the default 1 ms wait.
fn cached<T, S, R>(loader: T, spawner: S) -> Cached<T>
where
    T: Send + Sync + 'static,
    S: Fn(BoxFuture<'static, ()>) -> R + Send + Sync + 'static,
{
    DataLoader::with_cache(loader, spawner, HashMapCache::default())
}

/// Request-scoped data, put into every GraphQL request by the HTTP layer.
pub struct RequestContext {
    pub caller: Caller,
    pub db: DatabaseConnection,
    pub plugins: Arc<Plugins>,
    /// The custom field definitions the request's schema was built from.
    pub fields: Arc<TenantFields>,
    /// Set by a definition change, so the HTTP layer drops the tenant's cached schema.
    pub schema_changed: AtomicBool,
    pub users: Cached<UsersById>,
    pub latest_interactions: Cached<LatestInteractions>,
    pub stats: Cached<StatsByCustomer>,
    pub open_complaints: Cached<OpenComplaints>,
    pub plan_actions: Cached<PlanActions>,
    pub plan_timeline: Cached<PlanTimeline>,
    pub active_plans: Cached<ActivePlans>,
    pub scores: Cached<ScoresByCustomer>,
    settings: tokio::sync::OnceCell<TenantSettings>,
    installed: tokio::sync::OnceCell<Vec<plugin::Model>>,
    attachments: tokio::sync::OnceCell<Vec<(plugin_validator::Model, plugin::Model)>>,
}

impl RequestContext {
    /// A context whose loaders count their statements into `statements`.
    #[must_use]
    pub fn new(
        caller: Caller,
        db: DatabaseConnection,
        plugins: Arc<Plugins>,
        fields: Arc<TenantFields>,
        statements: Arc<AtomicU64>,
    ) -> Self {
        let tenant_id = caller.tenant_id;
        // Loaders run their batches in tasks of their own; the statement counter goes with them.
        // Each loader caches per request, so fields that need the same rows share one batch.
        let spawner = move || {
            let statements = statements.clone();
            move |fut: BoxFuture<'static, ()>| tokio::spawn(crate::store::STATEMENTS.scope(statements.clone(), fut))
        };
        Self {
            users: cached(UsersById { db: db.clone(), tenant_id }, spawner()),
            latest_interactions: cached(LatestInteractions { db: db.clone(), tenant_id }, spawner()),
            stats: cached(StatsByCustomer { db: db.clone(), tenant_id }, spawner()),
            scores: cached(ScoresByCustomer { db: db.clone(), tenant_id }, spawner()),
            open_complaints: cached(OpenComplaints { db: db.clone(), tenant_id }, spawner()),
            plan_actions: cached(PlanActions { db: db.clone(), tenant_id }, spawner()),
            plan_timeline: cached(PlanTimeline { db: db.clone(), tenant_id }, spawner()),
            active_plans: cached(ActivePlans { db: db.clone(), tenant_id }, spawner()),
            settings: tokio::sync::OnceCell::new(),
            installed: tokio::sync::OnceCell::new(),
            attachments: tokio::sync::OnceCell::new(),
            fields,
            plugins,
            schema_changed: AtomicBool::new(false),
            caller,
            db,
        }
    }

    /// The tenant's settings, read once per request.
    ///
    /// # Errors
    /// Database failures.
    pub async fn settings(&self) -> Result<&TenantSettings> {
        self.settings.get_or_try_init(|| crate::domain::tenant::settings(&self.db, self.caller.tenant_id)).await
    }

    /// The tenant's plugins, read once per request (for `Score.plugin`).
    ///
    /// # Errors
    /// Database failures.
    pub async fn installed_plugins(&self) -> Result<&[plugin::Model]> {
        let all =
            self.installed.get_or_try_init(|| crate::store::plugins::all(&self.db, self.caller.tenant_id)).await?;
        Ok(all.as_slice())
    }

    /// The tenant's validator attachments, read once per request.
    ///
    /// # Errors
    /// Database failures.
    pub async fn attachments(&self) -> Result<&[(plugin_validator::Model, plugin::Model)]> {
        let all = self
            .attachments
            .get_or_try_init(|| crate::domain::plugins::attachments(&self.db, self.caller.tenant_id))
            .await?;
        Ok(all.as_slice())
    }
}

/// The request's context.
///
/// # Errors
/// `INTERNAL` if the HTTP layer did not provide one (a wiring bug).
pub fn request<'a>(ctx: &ResolverContext<'a>) -> Result<&'a RequestContext> {
    ctx.data::<Arc<RequestContext>>()
        .map(AsRef::as_ref)
        .map_err(|_| Error::Internal(anyhow::anyhow!("request context missing")))
}

/// Runs a resolver body that speaks domain errors, mapping them once.
pub fn resolve<'a, Fut>(fut: Fut) -> FieldFuture<'a>
where
    Fut: Future<Output = Result<Option<FieldValue<'a>>>> + Send + 'a,
{
    FieldFuture::new(async move { fut.await.map_err(into_gql) })
}

/// The uuid of a required global-id argument of type `type_name`.
///
/// # Errors
/// `BAD_USER_INPUT` (code `INVALID_ID`) when it is not such an id.
pub fn id_arg(ctx: &ResolverContext<'_>, name: &str, type_name: &str) -> Result<Uuid> {
    let raw = ctx.args.get(name).and_then(|v| v.string().ok()).unwrap_or_default();
    ids::decode(type_name, raw).map_err(|(code, msg)| Error::invalid(name, code, msg))
}

/// An optional Int argument.
#[must_use]
pub fn int_arg(ctx: &ResolverContext<'_>, name: &str) -> Option<i64> {
    ctx.args.get(name).filter(|v| !v.is_null()).and_then(|v| v.i64().ok())
}

/// An optional String argument.
#[must_use]
pub fn str_arg(ctx: &ResolverContext<'_>, name: &str) -> Option<String> {
    ctx.args.get(name).filter(|v| !v.is_null()).and_then(|v| v.string().ok().map(str::to_owned))
}
