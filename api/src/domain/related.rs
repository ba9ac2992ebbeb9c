//! Rows related to a page of records, each read in one statement per batch for the GraphQL
//! loaders (one batch per page however many records it holds).
//!
//! Rows come back as stored, within the tenant: who may see them is for the field that asks to
//! decide, with the rules of [`super::access`] (a customer reached from a complaint is not the
//! customer reached by id). Keeping these reads here keeps the GraphQL layer off the store.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use guanxi_entity::{complaint_transition, customer, customer_stats, interaction, key_account_plan, plan_action, user};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::snapshot::Activity;
use crate::error::Result;
use crate::store;

/// Users by id (customer owners, assignees, audit actors).
///
/// # Errors
/// Database failures.
pub async fn users(db: &DatabaseConnection, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<user::Model>> {
    store::users::find_many(db, tenant_id, ids).await
}

/// One user by id.
///
/// # Errors
/// Database failures.
pub async fn user(db: &DatabaseConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<user::Model>> {
    store::users::find(db, tenant_id, id).await
}

/// Customers by id, whoever owns them.
///
/// # Errors
/// Database failures.
pub async fn customers(db: &DatabaseConnection, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<customer::Model>> {
    store::customers::find_many(db, tenant_id, ids).await
}

/// The newest `n` interactions of each customer.
///
/// # Errors
/// Database failures.
pub async fn latest_interactions(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    n: u64,
) -> Result<HashMap<Uuid, Vec<interaction::Model>>> {
    store::interactions::latest_per_customer(db, tenant_id, customers, n).await
}

/// Customers' stored figures (an empty row for a customer without any), and their purchases in
/// the last 90 and 365 days as of `now`: two statements, run side by side.
///
/// # Errors
/// Database failures.
pub async fn stats(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, (customer_stats::Model, (i64, i64))>> {
    let (mut stats, windows) = futures_util::try_join!(
        store::stats::figures_many(db, tenant_id, customers),
        store::interactions::purchase_windows(db, tenant_id, customers, now),
    )?;
    Ok(customers
        .iter()
        .map(|id| {
            let figures = stats.remove(id).unwrap_or_else(|| super::stats::empty(tenant_id, *id));
            (*id, (figures, windows.get(id).copied().unwrap_or_default()))
        })
        .collect())
}

/// What a scoring snapshot reads of customers besides their rows: their stored figures (an
/// empty row for a customer without any) and their interactions per kind in the 30, 90 and 365
/// days up to `now`: two statements, run side by side.
///
/// # Errors
/// Database failures.
pub async fn snapshot_figures(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, (customer_stats::Model, Activity)>> {
    let (mut stats, mut activity) = futures_util::try_join!(
        store::stats::find_many(db, tenant_id, customers),
        store::interactions::windows_per_kind(db, tenant_id, customers, now),
    )?;
    Ok(customers
        .iter()
        .map(|id| {
            let figures = stats.remove(id).unwrap_or_else(|| super::stats::empty(tenant_id, *id));
            let activity = activity.remove(id).map(|kinds| Activity::of(&kinds)).unwrap_or_default();
            (*id, (figures, activity))
        })
        .collect())
}

/// The score details of customers scored so far.
///
/// # Errors
/// Database failures.
pub async fn score_details(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, serde_json::Value>> {
    store::scoring::details_of(db, tenant_id, customers).await
}

/// The histories of complaints, oldest first.
///
/// # Errors
/// Database failures.
pub async fn complaint_histories(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    complaints: &[Uuid],
) -> Result<HashMap<Uuid, Vec<complaint_transition::Model>>> {
    store::complaints::transitions_of(db, tenant_id, complaints).await
}

/// The actions of plans, oldest first.
///
/// # Errors
/// Database failures.
pub async fn plan_actions(db: &DatabaseConnection, tenant_id: Uuid, plans: &[Uuid]) -> Result<Vec<plan_action::Model>> {
    store::plans::actions_of(db, tenant_id, plans).await
}

/// Visits and purchases of customers between `from` and `until` (plans' progress).
///
/// # Errors
/// Database failures.
pub async fn visits_and_purchases(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<interaction::Model>> {
    store::interactions::visits_and_purchases(db, tenant_id, customers, from, until).await
}

/// The newest ACTIVE plan of customers that have one.
///
/// # Errors
/// Database failures.
pub async fn active_plans(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, key_account_plan::Model>> {
    store::plans::active_of_customers(db, tenant_id, customers).await
}
