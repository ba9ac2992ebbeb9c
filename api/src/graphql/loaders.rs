//! DataLoaders: one per relation, each a single `IN (…)` query per batch.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use guanxi_entity::user;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::domain::related;
use crate::error::Error;

/// Users of one tenant by id (customer owners, audit actors).
pub struct UsersById {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for UsersById {
    type Value = user::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = related::users(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// Customers of one tenant by id, as stored: visibility is the caller's to apply (see
/// [`crate::domain::customers::reached_from_record`]), so one batch serves every edge that leads to a
/// customer (`Complaint.customer`, `Interaction.customer`, `KeyAccountPlan.customer`).
pub struct CustomersById {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for CustomersById {
    type Value = guanxi_entity::customer::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = related::customers(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

/// The newest `n` interactions of customers, keyed by (customer, n): one statement per distinct n.
pub struct LatestInteractions {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<(Uuid, u64)> for LatestInteractions {
    /// Shared: the cache hands out a pointer, not a copy of every row, on each ask.
    type Value = Arc<Vec<guanxi_entity::interaction::Model>>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[(Uuid, u64)]) -> Result<HashMap<(Uuid, u64), Self::Value>, Self::Error> {
        let mut by_n: HashMap<u64, Vec<Uuid>> = HashMap::new();
        for (customer, n) in keys {
            by_n.entry(*n).or_default().push(*customer);
        }
        let mut out = HashMap::new();
        for (n, customers) in by_n {
            let mut rows =
                related::latest_interactions(&self.db, self.tenant_id, &customers, n).await.map_err(Arc::new)?;
            for customer in customers {
                out.insert((customer, n), Arc::new(rows.remove(&customer).unwrap_or_default()));
            }
        }
        Ok(out)
    }
}

/// Customers' figures with the clock-dependent purchase windows: two statements per batch, run
/// together.
pub struct StatsByCustomer {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

/// Stored figures and (purchases in 90 days, in 365 days), as of the batch's `now`. The figures
/// are shared: the cache hands out a pointer on each ask rather than a copy of their JSON maps.
#[derive(Clone)]
pub struct LoadedStats {
    pub stats: Arc<guanxi_entity::customer_stats::Model>,
    pub windows: (i64, i64),
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Loader<Uuid> for StatsByCustomer {
    type Value = LoadedStats;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let now = crate::store::now();
        let found = related::stats(&self.db, self.tenant_id, keys, now).await.map_err(Arc::new)?;
        Ok(found
            .into_iter()
            .map(|(id, (stats, windows))| (id, LoadedStats { stats: Arc::new(stats), windows, now }))
            .collect())
    }
}

/// The score details of customers (`Customer.scores`, `score(key)`): one statement per batch.
pub struct ScoresByCustomer {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for ScoresByCustomer {
    /// `None` for a customer not scored yet: every key gets an answer, so the request's cache
    /// remembers misses too.
    type Value = Option<serde_json::Value>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found = related::score_details(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    }
}

/// Open complaints of customers, oldest first: one statement per batch.
pub struct OpenComplaints {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for OpenComplaints {
    type Value = Vec<guanxi_entity::complaint::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut rows =
            crate::domain::complaints::open_of_customers(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(keys.iter().map(|k| (*k, rows.remove(k).unwrap_or_default())).collect())
    }
}

/// Histories of complaints (oldest first), by complaint id. The complaints were read through the
/// caller's scope; their histories go with them.
pub struct ComplaintHistories {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for ComplaintHistories {
    type Value = Vec<guanxi_entity::complaint_transition::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut rows = related::complaint_histories(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(keys.iter().map(|k| (*k, rows.remove(k).unwrap_or_default())).collect())
    }
}

/// Actions of plans, by plan id.
pub struct PlanActions {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for PlanActions {
    type Value = Vec<guanxi_entity::plan_action::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = related::plan_actions(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        let mut out: HashMap<Uuid, Self::Value> = keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            out.entry(row.plan_id).or_default().push(row);
        }
        Ok(out)
    }
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

/// Visits and purchases of plans' customers within the plans' periods: one statement per batch.
pub struct PlanTimeline {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<PlanKey> for PlanTimeline {
    type Value = Vec<guanxi_entity::interaction::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[PlanKey]) -> Result<HashMap<PlanKey, Self::Value>, Self::Error> {
        let customers: Vec<Uuid> = keys.iter().map(|k| k.0.customer_id).collect();
        let day = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let from = keys.iter().filter_map(|k| day(k.0.period_start)).min().unwrap_or_default();
        let until = keys.iter().filter_map(|k| day(k.0.period_end + chrono::Days::new(1))).max().unwrap_or_default();
        let rows =
            related::visits_and_purchases(&self.db, self.tenant_id, &customers, from, until).await.map_err(Arc::new)?;
        Ok(keys
            .iter()
            .map(|k| (k.clone(), rows.iter().filter(|r| r.customer_id == k.0.customer_id).cloned().collect()))
            .collect())
    }
}

/// The newest ACTIVE plan of customers: one statement per batch.
pub struct ActivePlans {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for ActivePlans {
    /// `None` for a customer without an active plan (most of them), so misses are cached too.
    type Value = Option<guanxi_entity::key_account_plan::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found = related::active_plans(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    }
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

    async fn load(&self, keys: &[(Arc<str>, Uuid)]) -> Result<HashMap<(Arc<str>, Uuid), Self::Value>, Self::Error> {
        let mut by_query: HashMap<Arc<str>, Vec<Uuid>> = HashMap::new();
        for (signature, parent) in keys {
            by_query.entry(signature.clone()).or_default().push(*parent);
        }
        let mut out = HashMap::new();
        for (signature, parents) in by_query {
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
