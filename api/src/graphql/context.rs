//! What every resolver can reach: the caller, the database, the loaders; and small helpers that
//! turn arguments into domain values with violations instead of panics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use futures_util::future::BoxFuture;

use super::batch::{Batched, Execution, Spawn};
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use guanxi_entity::{
    complaint, complaint_transition, customer, interaction, key_account_plan, plan_action, plugin, plugin_validator, user,
};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::error::into_gql;
use super::loaders::{self, Latest, LoadedActivity, LoadedStats, NestedCounts, NestedPages, PlanKey, Related};
use crate::domain::custom_fields::TenantFields;
use crate::domain::plugins::Plugins;
use crate::domain::settings::TenantSettings;
use crate::domain::{Caller, ids};
use crate::error::{Error, Result};

/// A relation's batched loads in one request, keyed by `K`.
pub type Loads<K, V> = Batched<K, V, Related<K, V>>;

/// The batches of one nested connection for this request's caller.
fn nested<T>(db: &DatabaseConnection, caller: &Caller) -> NestedPages<T> {
    NestedPages {
        db: db.clone(),
        caller: caller.clone(),
        queries: std::sync::Mutex::default(),
        rows: std::marker::PhantomData,
    }
}

/// The counts of one nested connection for this request's caller.
fn nested_counts<T>(db: &DatabaseConnection, caller: &Caller) -> NestedCounts<T> {
    NestedCounts {
        db: db.clone(),
        caller: caller.clone(),
        filters: std::sync::Mutex::default(),
        rows: std::marker::PhantomData,
    }
}

/// Customers' first pages of a nested connection of `T`, keyed by (arguments, customer).
pub type PagesPerCustomer<T> = Batched<(Arc<str>, Uuid), crate::query::Page<T>, NestedPages<T>>;

/// Customers' counts of a nested connection of `T`, keyed by (filter, customer).
pub type CountsPerCustomer<T> = Batched<(Arc<str>, Uuid), u64, NestedCounts<T>>;

/// Request-scoped data, put into every GraphQL request by the HTTP layer.
pub struct RequestContext {
    pub caller: Caller,
    pub db: DatabaseConnection,
    pub plugins: Arc<Plugins>,
    /// The custom field definitions the request's schema was built from.
    pub fields: Arc<TenantFields>,
    /// Set by a definition change, so the HTTP layer drops the tenant's cached schema.
    pub schema_changed: AtomicBool,
    /// Errors of nullable fields, which answered null (see `error::FieldErrors`); the HTTP
    /// layer adds them to the response.
    pub field_errors: std::sync::Mutex<Vec<async_graphql::ServerError>>,
    pub users: Loads<Uuid, user::Model>,
    pub customers: Loads<Uuid, customer::Model>,
    pub latest_interactions: Loads<(Uuid, u64), Latest>,
    pub stats: Loads<Uuid, LoadedStats>,
    /// `Customer.scoringSnapshot`'s figures: apart from `stats`, whose page asks for less.
    pub activity: Loads<Uuid, LoadedActivity>,
    pub open_complaints: Loads<Uuid, Vec<complaint::Model>>,
    pub plan_actions: Loads<Uuid, Vec<plan_action::Model>>,
    /// Not kept, like the nested pages below: a transition's answer shows the history after it.
    pub complaint_histories: Loads<Uuid, Vec<complaint_transition::Model>>,
    pub plan_timeline: Loads<PlanKey, Vec<interaction::Model>>,
    pub active_plans: Loads<Uuid, Option<key_account_plan::Model>>,
    pub scores: Loads<Uuid, Option<serde_json::Value>>,
    /// `Customer.keyAccountPlans`, `Customer.complaints` and `Customer.interactions` (beyond a
    /// plain latest page) under a page of customers. Not cached: a mutation's answer reads the
    /// lists as they are after it, not as an earlier field of the request saw them.
    pub plans_per_customer: PagesPerCustomer<guanxi_entity::key_account_plan::Model>,
    pub complaints_per_customer: PagesPerCustomer<guanxi_entity::complaint::Model>,
    pub interactions_per_customer: PagesPerCustomer<guanxi_entity::interaction::Model>,
    /// The `totalCount`s of those connections, not kept for the same reason.
    pub plan_counts: CountsPerCustomer<guanxi_entity::key_account_plan::Model>,
    pub complaint_counts: CountsPerCustomer<guanxi_entity::complaint::Model>,
    pub interaction_counts: CountsPerCustomer<guanxi_entity::interaction::Model>,
    /// The request's execution, which its batches wait on (see [`Execution`]).
    pub execution: Arc<Execution>,
    settings: tokio::sync::OnceCell<TenantSettings>,
    installed: tokio::sync::OnceCell<Vec<plugin::Model>>,
    attachments: tokio::sync::OnceCell<Vec<(plugin_validator::Model, plugin::Model)>>,
}

impl RequestContext {
    /// A context whose loaders count their statements into `statements` and keep `turn` (the
    /// request's turn among its tenant's operations) until their last batch has ended.
    #[must_use]
    pub fn new(
        caller: Caller,
        db: DatabaseConnection,
        plugins: Arc<Plugins>,
        fields: Arc<TenantFields>,
        statements: Arc<AtomicU64>,
        turn: Arc<dyn std::any::Any + Send + Sync>,
    ) -> Self {
        let tenant_id = caller.tenant_id;
        // Loaders run their batches in tasks of their own; the statement counter goes with them.
        // Each loader caches per request, so fields that need the same rows share one batch.
        // So does the request's clock. A batch outlives a request that timed out; it holds the
        // turn meanwhile, so a tenant's timed-out operations still count against its turns.
        let clock = crate::clock::CLOCK.try_with(Clone::clone).unwrap_or_default();
        let spawn: Spawn = Arc::new(move |fut: BoxFuture<'static, ()>| {
            let turn = turn.clone();
            let fut = crate::clock::STATEMENTS.scope(statements.clone(), crate::clock::CLOCK.scope(clock.clone(), fut));
            tokio::spawn(async move {
                fut.await;
                drop(turn);
            });
        });
        let execution = Arc::new(Execution::new(spawn));
        Self {
            users: Batched::new(Related::new(&db, tenant_id, loaders::users), &execution, true),
            customers: Batched::new(Related::new(&db, tenant_id, loaders::customers), &execution, true),
            latest_interactions: Batched::new(Related::new(&db, tenant_id, loaders::latest_interactions), &execution, true),
            stats: Batched::new(Related::new(&db, tenant_id, loaders::stats), &execution, true),
            activity: Batched::new(Related::new(&db, tenant_id, loaders::activity), &execution, true),
            scores: Batched::new(Related::new(&db, tenant_id, loaders::scores), &execution, true),
            open_complaints: Batched::new(Related::new(&db, tenant_id, loaders::open_complaints), &execution, true),
            plan_actions: Batched::new(Related::new(&db, tenant_id, loaders::plan_actions), &execution, true),
            complaint_histories: Batched::new(Related::fresh(&db, tenant_id, loaders::complaint_histories), &execution, false),
            plan_timeline: Batched::new(Related::new(&db, tenant_id, loaders::plan_timeline), &execution, true),
            active_plans: Batched::new(Related::new(&db, tenant_id, loaders::active_plans), &execution, true),
            plans_per_customer: Batched::new(nested(&db, &caller), &execution, false),
            complaints_per_customer: Batched::new(nested(&db, &caller), &execution, false),
            interactions_per_customer: Batched::new(nested(&db, &caller), &execution, false),
            plan_counts: Batched::new(nested_counts(&db, &caller), &execution, false),
            complaint_counts: Batched::new(nested_counts(&db, &caller), &execution, false),
            interaction_counts: Batched::new(nested_counts(&db, &caller), &execution, false),
            execution,
            settings: tokio::sync::OnceCell::new(),
            installed: tokio::sync::OnceCell::new(),
            attachments: tokio::sync::OnceCell::new(),
            fields,
            plugins,
            schema_changed: AtomicBool::new(false),
            field_errors: std::sync::Mutex::new(Vec::new()),
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
        let all = self.installed.get_or_try_init(|| crate::domain::plugins::installed(&self.db, &self.caller)).await?;
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

impl RequestContext {
    /// The customer a record the caller may see belongs to, through the request's batched loader
    /// and the caller's visibility: whole, or as its case view (see
    /// [`crate::domain::customers::reached_from_record`]).
    ///
    /// # Errors
    /// `INTERNAL` when the record's customer is gone (its deletion removes the record in the same
    /// transaction) or the database fails.
    pub async fn customer_of_record(&self, customer_id: Uuid) -> Result<guanxi_entity::customer::Model> {
        let row = self
            .customers
            .load_one(customer_id)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a record without its customer")))?;
        Ok(crate::domain::customers::reached_from_record(&self.caller, row))
    }

    /// May the caller see all of `customer` (its timeline, figures, plans and scores), or only
    /// its case view?
    #[must_use]
    pub fn sees_all_of(&self, customer: &guanxi_entity::customer::Model) -> bool {
        crate::domain::access::can_read_owned(&self.caller, customer.owner_id)
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

/// The request's context, shared: for what outlives the resolver that made it (a connection's
/// lazy `totalCount`).
///
/// # Errors
/// `INTERNAL` if the HTTP layer did not provide one (a wiring bug).
pub fn shared_request(ctx: &ResolverContext<'_>) -> Result<Arc<RequestContext>> {
    ctx.data::<Arc<RequestContext>>()
        .cloned()
        .map_err(|_| Error::Internal(anyhow::anyhow!("request context missing")))
}

/// The parent customer of a field that hangs below a customer, and whether the caller may see
/// what hangs there (see [`RequestContext::sees_all_of`]).
///
/// # Errors
/// `INTERNAL` when the parent is not a customer (a wiring bug).
pub fn customer_parent<'a>(ctx: &ResolverContext<'a>) -> Result<(&'a guanxi_entity::customer::Model, bool)> {
    let c = super::parent::<guanxi_entity::customer::Model>(ctx)?;
    Ok((c, request(ctx)?.sees_all_of(c)))
}

/// The answer of a field the caller may not read on a customer's case view.
#[must_use]
pub fn hidden_on_case_view(field: &str) -> Error {
    Error::Forbidden(format!(
        "`{field}` is shown only to those who may see the whole customer; a case assigned to you shows its name and contact"
    ))
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

/// The `first` argument of a list read whole: how many of its items to return, at most `bound`
/// (all of them when absent). The cost walk reads it too, so a client that wants a few pays for
/// a few.
///
/// # Errors
/// `BAD_USER_INPUT` outside `0..=bound`.
pub fn list_first(ctx: &ResolverContext<'_>, bound: u64) -> Result<usize> {
    match int_arg(ctx, "first") {
        None => Ok(usize::try_from(bound).unwrap_or(usize::MAX)),
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| *n <= bound)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::invalid("first", "OUT_OF_RANGE", format!("must be 0 to {bound}, got {n}"))),
    }
}

/// The argument [`list_first`] reads, described.
#[must_use]
pub fn list_first_arg(bound: u64) -> async_graphql::dynamic::InputValue {
    async_graphql::dynamic::InputValue::new(
        "first",
        async_graphql::dynamic::TypeRef::named(async_graphql::dynamic::TypeRef::INT),
    )
    .description(format!("At most this many (0 to {bound}); all of them when absent."))
}

/// An optional String argument.
#[must_use]
pub fn str_arg(ctx: &ResolverContext<'_>, name: &str) -> Option<String> {
    ctx.args.get(name).filter(|v| !v.is_null()).and_then(|v| v.string().ok().map(str::to_owned))
}
