//! Loaders: one per relation, each a batch of keys read in one statement (two for a customer's
//! figures, run together), batched within a request by [`super::batch::Batched`]. A relation is a
//! [`Related`] loader and the function that fetches its batch. The lists and optional rows answer
//! every key (empty, or `None`), so the request keeps those misses too; a user or customer that
//! is not there has no entry (a reference to one is rare: it was deleted).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use guanxi_entity::{complaint, complaint_transition, customer, customer_stats, interaction, key_account_plan};
use guanxi_entity::{plan_action, user};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::domain::related;
use crate::error::{Error, Result};

/// Reads one batch of a relation within a tenant.
pub type Fetch<K, V> = for<'a> fn(&'a DatabaseConnection, Uuid, &'a [K]) -> Batch<'a, K, V>;

/// A batch being read: each key's answer.
pub type Batch<'a, K, V> = BoxFuture<'a, Result<HashMap<K, V>>>;

/// A customer's newest interactions, shared: the cache hands out a pointer, not a copy of every
/// row, on each ask.
pub type Latest = Arc<Vec<interaction::Model>>;

/// The loader of one relation in one tenant.
pub struct Related<K, V> {
    db: DatabaseConnection,
    tenant_id: Uuid,
    fetch: Fetch<K, V>,
    /// Whether answers are kept for the request (see [`Related::read`]).
    keep: bool,
    /// The batches read in this request (or, when answers are not kept, being read), with
    /// their keys. A key asked for again before its batch's answers are kept (read up front by a
    /// page and asked by a resolver meanwhile, say) would be read again, by a statement more or
    /// not depending on which finished first; it takes its answer from the batch that reads it
    /// instead.
    read: std::sync::Mutex<Vec<Read<K, V>>>,
}

/// A batch read or being read: its keys, and its answers.
type Read<K, V> = (HashSet<K>, Reading<K, V>);

/// A batch being read, shared by every load that needs one of its keys.
type Reading<K, V> = Shared<BoxFuture<'static, std::result::Result<Arc<HashMap<K, V>>, Arc<Error>>>>;

impl<K, V> Related<K, V> {
    /// A loader whose answers last the request.
    pub fn new(db: &DatabaseConnection, tenant_id: Uuid, fetch: Fetch<K, V>) -> Self {
        Self { db: db.clone(), tenant_id, fetch, keep: true, read: std::sync::Mutex::default() }
    }

    /// A loader that reads again what is asked again once its batch is back (for rows a
    /// mutation of the request may change).
    pub fn fresh(db: &DatabaseConnection, tenant_id: Uuid, fetch: Fetch<K, V>) -> Self {
        Self { keep: false, ..Self::new(db, tenant_id, fetch) }
    }
}

impl<K, V> Loader<K> for Related<K, V>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
{
    type Value = V;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[K]) -> std::result::Result<HashMap<K, V>, Self::Error> {
        let lock = || self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batches: Vec<(Vec<K>, Reading<K, V>)> = Vec::new();
        {
            let mut read = lock();
            let mut rest: Vec<K> = Vec::new();
            for key in keys {
                match read.iter().find(|(batch, _)| batch.contains(key)) {
                    Some((_, batch)) => match batches.iter_mut().find(|(_, b)| b.ptr_eq(batch)) {
                        Some((wanted, _)) => wanted.push(key.clone()),
                        None => batches.push((vec![key.clone()], batch.clone())),
                    },
                    None => rest.push(key.clone()),
                }
            }
            if !rest.is_empty() {
                let (db, tenant, fetch, batch) = (self.db.clone(), self.tenant_id, self.fetch, rest.clone());
                let reading: BoxFuture<'static, _> =
                    Box::pin(async move { fetch(&db, tenant, &batch).await.map(Arc::new).map_err(Arc::new) });
                let reading = reading.shared();
                read.push((rest.iter().cloned().collect(), reading.clone()));
                batches.push((rest, reading));
            }
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (wanted, batch) in batches {
            let found = batch.clone().await;
            if !self.keep {
                lock().retain(|(_, b)| !b.ptr_eq(&batch));
            }
            let found = found?;
            out.extend(wanted.into_iter().filter_map(|key| Some((key.clone(), found.get(&key)?.clone()))));
        }
        Ok(out)
    }
}

/// Each key's rows from a batch grouped by key; an empty list for a key without any.
fn each<K: std::hash::Hash + Eq + Clone, V>(keys: &[K], mut found: HashMap<K, Vec<V>>) -> HashMap<K, Vec<V>> {
    keys.iter().map(|k| (k.clone(), found.remove(k).unwrap_or_default())).collect()
}

/// Users by id (owners, assignees, teams, audit actors).
pub fn users<'a>(db: &'a DatabaseConnection, tenant: Uuid, keys: &'a [Uuid]) -> Batch<'a, Uuid, user::Model> {
    Box::pin(async move { Ok(related::users(db, tenant, keys).await?.into_iter().map(|u| (u.id, u)).collect()) })
}

/// Customers by id, as stored: visibility is the caller's to apply (see
/// [`crate::domain::customers::reached_from_record`]), so one batch serves every edge that leads
/// to a customer (`Complaint.customer`, `Interaction.customer`, `KeyAccountPlan.customer`).
pub fn customers<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, customer::Model> {
    Box::pin(async move { Ok(related::customers(db, tenant, keys).await?.into_iter().map(|c| (c.id, c)).collect()) })
}

/// The newest `n` interactions of customers, keyed by (customer, n): one statement per distinct
/// n.
pub fn latest_interactions<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [(Uuid, u64)],
) -> Batch<'a, (Uuid, u64), Latest> {
    Box::pin(async move {
        let mut by_n: HashMap<u64, Vec<Uuid>> = HashMap::new();
        for (customer, n) in keys {
            by_n.entry(*n).or_default().push(*customer);
        }
        let mut out = HashMap::new();
        for (n, customers) in by_n {
            let mut rows = related::latest_interactions(db, tenant, &customers, n).await?;
            for customer in customers {
                out.insert((customer, n), Arc::new(rows.remove(&customer).unwrap_or_default()));
            }
        }
        Ok(out)
    })
}

/// Stored figures and (purchases in 90 days, in 365 days), as of the batch's `now`. The figures
/// are shared: the cache hands out a pointer on each ask rather than a copy of their JSON maps.
#[derive(Clone)]
pub struct LoadedStats {
    pub stats: Arc<customer_stats::Model>,
    pub windows: (i64, i64),
}

/// Customers' figures with the clock-dependent purchase windows: two statements, run together.
pub fn stats<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, LoadedStats> {
    Box::pin(async move {
        let now = crate::clock::now();
        let found = related::stats(db, tenant, keys, now).await?;
        Ok(found.into_iter().map(|(id, (stats, windows))| (id, LoadedStats { stats: Arc::new(stats), windows })).collect())
    })
}

/// Stored figures and interactions per kind in the 30, 90 and 365 days up to the batch's `now`:
/// what `Customer.scoringSnapshot` reads besides the customer.
#[derive(Clone)]
pub struct LoadedActivity {
    pub stats: Arc<customer_stats::Model>,
    pub activity: Arc<crate::domain::snapshot::Activity>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Customers' figures with their interactions per kind and window: two statements, run together.
pub fn activity<'a>(db: &'a DatabaseConnection, tenant: Uuid, keys: &'a [Uuid]) -> Batch<'a, Uuid, LoadedActivity> {
    Box::pin(async move {
        let now = crate::clock::now();
        let found = related::snapshot_figures(db, tenant, keys, now).await?;
        Ok(found
            .into_iter()
            .map(|(id, (stats, activity))| {
                (id, LoadedActivity { stats: Arc::new(stats), activity: Arc::new(activity), now })
            })
            .collect())
    })
}

/// The score details of customers (`Customer.scores`, `score(key)`); `None` when not scored yet.
pub fn scores<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, Option<serde_json::Value>> {
    Box::pin(async move {
        let mut found = related::score_details(db, tenant, keys).await?;
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    })
}

/// Open complaints of customers, oldest first.
pub fn open_complaints<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, Vec<complaint::Model>> {
    Box::pin(async move { Ok(each(keys, crate::domain::complaints::open_of_customers(db, tenant, keys).await?)) })
}

/// Histories of complaints (oldest first), by complaint id. The complaints were read through the
/// caller's scope; their histories go with them.
pub fn complaint_histories<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, Vec<complaint_transition::Model>> {
    Box::pin(async move { Ok(each(keys, related::complaint_histories(db, tenant, keys).await?)) })
}

/// Actions of plans, by plan id, oldest first.
pub fn plan_actions<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, Vec<plan_action::Model>> {
    Box::pin(async move {
        let mut by_plan: HashMap<Uuid, Vec<plan_action::Model>> = HashMap::new();
        for row in related::plan_actions(db, tenant, keys).await? {
            by_plan.entry(row.plan_id).or_default().push(row);
        }
        Ok(each(keys, by_plan))
    })
}

/// A plan as a loader key: equal and hashed by id, carrying the period to look at.
#[derive(Clone)]
pub struct PlanKey(pub guanxi_entity::key_account_plan::Model);

impl PartialEq for PlanKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for PlanKey {}

impl std::hash::Hash for PlanKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

/// Visits and purchases of plans' customers within the plans' periods.
pub fn plan_timeline<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [PlanKey],
) -> Batch<'a, PlanKey, Vec<interaction::Model>> {
    Box::pin(async move {
        let customers: Vec<Uuid> = keys.iter().map(|k| k.0.customer_id).collect();
        let day = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let from = keys.iter().filter_map(|k| day(k.0.period_start)).min().unwrap_or_default();
        let until = keys.iter().filter_map(|k| day(k.0.period_end + chrono::Days::new(1))).max().unwrap_or_default();
        let rows = related::visits_and_purchases(db, tenant, &customers, from, until).await?;
        Ok(keys
            .iter()
            .map(|k| (k.clone(), rows.iter().filter(|r| r.customer_id == k.0.customer_id).cloned().collect()))
            .collect())
    })
}

/// The newest ACTIVE plan of customers; `None` for the many without one.
pub fn active_plans<'a>(
    db: &'a DatabaseConnection,
    tenant: Uuid,
    keys: &'a [Uuid],
) -> Batch<'a, Uuid, Option<key_account_plan::Model>> {
    Box::pin(async move {
        let mut found = related::active_plans(db, tenant, keys).await?;
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    })
}

/// The parents of a batch of nested keys, by the signature of what they ask.
fn by_signature(keys: &[(Arc<str>, Uuid)]) -> HashMap<Arc<str>, Vec<Uuid>> {
    let mut by: HashMap<Arc<str>, Vec<Uuid>> = HashMap::new();
    for (signature, parent) in keys {
        by.entry(signature.clone()).or_default().push(*parent);
    }
    by
}

/// What a nested connection asked for: its filter (without the parent), order and first page.
#[derive(Clone)]
pub struct NestedQuery {
    pub filter: crate::query::Filter,
    pub order: Vec<crate::query::OrderKey>,
    pub page: crate::query::PageRequest,
}

/// First pages of a nested connection (e.g. `Customer.keyAccountPlans(first: 5)` under a page of
/// customers), keyed by (the arguments' signature, parent): one batch per distinct set of
/// arguments, however many parents ask, so the statements follow the operation's shape and not
/// the number of rows above.
pub struct NestedPages<T> {
    pub db: DatabaseConnection,
    pub caller: crate::domain::Caller,
    /// The queries behind the signatures of this request's keys.
    pub queries: std::sync::Mutex<HashMap<Arc<str>, NestedQuery>>,
    pub rows: std::marker::PhantomData<T>,
}

impl<T: crate::domain::records::OnCustomer> Loader<(Arc<str>, Uuid)> for NestedPages<T> {
    type Value = crate::query::Page<T>;
    type Error = Arc<Error>;

    async fn load(
        &self,
        keys: &[(Arc<str>, Uuid)],
    ) -> std::result::Result<HashMap<(Arc<str>, Uuid), Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for (signature, parents) in by_signature(keys) {
            let query = self.queries.lock().ok().and_then(|q| q.get(&signature).cloned());
            let Some(NestedQuery { filter, order, page }) = query else { continue };
            let pages = crate::domain::records::first_pages_per_customer::<T>(
                &self.db,
                &self.caller,
                filter,
                &order,
                &page,
                &parents,
            )
            .await
            .map_err(Arc::new)?;
            out.extend(pages.into_iter().map(|(parent, page)| ((signature.clone(), parent), page)));
        }
        Ok(out)
    }
}

/// `totalCount`s of a nested connection (e.g. `Customer.complaints(filter: …) { totalCount }`
/// under a page of customers), keyed by (the filter's signature, parent): one grouped count per
/// distinct filter, however many parents ask.
pub struct NestedCounts<T> {
    pub db: DatabaseConnection,
    pub caller: crate::domain::Caller,
    /// The filters behind the signatures of this request's keys.
    pub filters: std::sync::Mutex<HashMap<Arc<str>, crate::query::Filter>>,
    pub rows: std::marker::PhantomData<T>,
}

impl<T: crate::domain::records::OnCustomer> Loader<(Arc<str>, Uuid)> for NestedCounts<T> {
    type Value = u64;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[(Arc<str>, Uuid)]) -> std::result::Result<HashMap<(Arc<str>, Uuid), u64>, Self::Error> {
        let mut out = HashMap::new();
        for (signature, parents) in by_signature(keys) {
            let filter = self.filters.lock().ok().and_then(|f| f.get(&signature).cloned());
            let Some(filter) = filter else { continue };
            let counts = crate::domain::records::counts_per_customer::<T>(&self.db, &self.caller, filter, &parents)
                .await
                .map_err(Arc::new)?;
            out.extend(counts.into_iter().map(|(parent, n)| ((signature.clone(), parent), n)));
        }
        Ok(out)
    }
}
