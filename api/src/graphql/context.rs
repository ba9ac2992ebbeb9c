//! What every resolver can reach: the caller, the database, the loaders; and small helpers that
//! turn arguments into domain values with violations instead of panics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures_util::future::BoxFuture;

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::error::into_gql;
use super::loaders::{
    ActivePlans, LatestInteractions, OpenComplaints, PlanActions, PlanTimeline, StatsByCustomer, UsersById,
};
use crate::domain::settings::TenantSettings;
use crate::domain::{Caller, ids};
use crate::error::{Error, Result};

/// A loader with a per-request cache.
pub type Cached<T> = DataLoader<T, HashMapCache>;

/// Request-scoped data, put into every GraphQL request by the HTTP layer.
pub struct RequestContext {
    pub caller: Caller,
    pub db: DatabaseConnection,
    pub users: Cached<UsersById>,
    pub latest_interactions: Cached<LatestInteractions>,
    pub stats: Cached<StatsByCustomer>,
    pub open_complaints: Cached<OpenComplaints>,
    pub plan_actions: Cached<PlanActions>,
    pub plan_timeline: Cached<PlanTimeline>,
    pub active_plans: Cached<ActivePlans>,
    settings: tokio::sync::OnceCell<TenantSettings>,
}

impl RequestContext {
    /// A context whose loaders count their statements into `statements`.
    #[must_use]
    pub fn new(caller: Caller, db: DatabaseConnection, statements: Arc<AtomicU64>) -> Self {
        let tenant_id = caller.tenant_id;
        // Loaders run their batches in tasks of their own; the statement counter goes with them.
        // Each loader caches per request, so fields that need the same rows share one batch.
        let spawner = move || {
            let statements = statements.clone();
            move |fut: BoxFuture<'static, ()>| tokio::spawn(crate::store::STATEMENTS.scope(statements.clone(), fut))
        };
        Self {
            users: DataLoader::with_cache(UsersById { db: db.clone(), tenant_id }, spawner(), HashMapCache::default()),
            latest_interactions: DataLoader::with_cache(
                LatestInteractions { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            stats: DataLoader::with_cache(
                StatsByCustomer { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            open_complaints: DataLoader::with_cache(
                OpenComplaints { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            plan_actions: DataLoader::with_cache(
                PlanActions { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            plan_timeline: DataLoader::with_cache(
                PlanTimeline { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            active_plans: DataLoader::with_cache(
                ActivePlans { db: db.clone(), tenant_id },
                spawner(),
                HashMapCache::default(),
            ),
            settings: tokio::sync::OnceCell::new(),
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
}

/// The request's context.
///
/// # Errors
/// `INTERNAL` if the HTTP layer did not provide one (a wiring bug).
pub fn request<'a>(ctx: &ResolverContext<'a>) -> Result<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|_| Error::Internal(anyhow::anyhow!("request context missing")))
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
