//! The caller's tenant: its settings, read and changed by ADMINs.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::settings::{SlaTerms, TenantSettings, TierCutPoints};
use super::{Caller, Role, audit, money};
use crate::error::{Error, Result, Violation};
use crate::store;

/// The settings of a tenant (defaults for what it never set).
///
/// # Errors
/// Database failures.
pub async fn settings(db: &impl sea_orm::ConnectionTrait, tenant_id: Uuid) -> Result<TenantSettings> {
    let tenant = store::tenants::find(db, tenant_id).await?.ok_or_else(|| Error::NotFound("no such tenant".into()))?;
    Ok(TenantSettings::from_json(&tenant.settings))
}

/// A change of settings; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    pub base_currency: Option<String>,
    /// (severity, terms) pairs to replace.
    pub sla: Vec<(String, SlaTerms)>,
    pub tier_cut_points: Option<TierCutPoints>,
    pub tier_score_key: Option<String>,
}

/// Longest SLA deadline a tenant may set: a year, in minutes.
const MAX_SLA_MINUTES: i64 = 366 * 24 * 60;

/// Changes the tenant's settings (ADMIN only), recorded in the audit trail.
///
/// # Errors
/// `FORBIDDEN` for other roles, `BAD_USER_INPUT` listing every problem.
pub async fn update_settings(db: &DatabaseConnection, caller: &Caller, input: SettingsInput) -> Result<TenantSettings> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN changes tenant settings".into()));
    }
    let txn = store::begin_write(db).await?;
    store::tenants::lock_exclusive(&txn, caller.tenant_id).await?;
    let tenant =
        store::tenants::find(&txn, caller.tenant_id).await?.ok_or_else(|| Error::NotFound("no such tenant".into()))?;
    let before = TenantSettings::from_json(&tenant.settings);
    let mut after = before.clone();
    let mut v = Vec::new();
    if let Some(raw) = input.base_currency {
        match money::currency(&raw) {
            Ok(c) => after.base_currency = c,
            Err((code, msg)) => v.push(Violation::new("baseCurrency", code, msg)),
        }
    }
    for (i, (severity, terms)) in input.sla.into_iter().enumerate() {
        let ok = |m: i64| (1..=MAX_SLA_MINUTES).contains(&m);
        if !ok(terms.response_minutes) || !ok(terms.resolution_minutes) {
            v.push(Violation::new(
                format!("sla.{i}"),
                "OUT_OF_RANGE",
                format!("minutes must be 1 to {MAX_SLA_MINUTES}"),
            ));
        } else if terms.resolution_minutes < terms.response_minutes {
            v.push(Violation::new(
                format!("sla.{i}"),
                "RESOLUTION_BEFORE_RESPONSE",
                "resolution cannot be due before the response",
            ));
        } else {
            after.sla.insert(severity, terms);
        }
    }
    if let Some(cuts) = input.tier_cut_points {
        if cuts.is_valid() {
            after.tier_cut_points = cuts;
        } else {
            v.push(Violation::new(
                "tierCutPoints",
                "OUT_OF_RANGE",
                "each share is 0 to 100 percent with at most two decimals, together at most 100",
            ));
        }
    }
    if let Some(key) = input.tier_score_key {
        if super::custom_fields::key_is_valid(&key) {
            after.tier_score_key = key;
        } else {
            v.push(Violation::new("tierScoreKey", "INVALID_KEY", format!("'{key}' is not a score key")));
        }
    }
    if !v.is_empty() {
        return Err(Error::Invalid(v));
    }
    let reranks = after.tier_cut_points != before.tier_cut_points || after.tier_score_key != before.tier_score_key;
    store::tenants::set_settings(&txn, caller.tenant_id, &after.to_json()).await?;
    audit::record(
        &txn,
        caller,
        "Tenant",
        caller.tenant_id,
        audit::Action::Update,
        Some(before.to_json()),
        Some(after.to_json()),
        crate::clock::now(),
    )
    .await?;
    txn.commit().await?;
    if reranks {
        super::scoring::rank(db, caller.tenant_id).await?;
    }
    Ok(after)
}

/// The version of the tenant's schema (custom fields, plugins' score keys): it changes whenever
/// the GraphQL schema the tenant sees changes.
///
/// # Errors
/// Database failures.
pub async fn schema_version(db: &DatabaseConnection, tenant_id: Uuid) -> Result<i64> {
    Ok(store::tenants::schema_version(db, tenant_id).await?.unwrap_or_default())
}
