//! What callers ask of scoring: a re-score of every customer of the tenant (a score run) and
//! how far it is, and a ranking of the tenant's customers into value tiers with its cut points.

use guanxi_entity::score_run;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::domain::plugins::{self, Plugins};
use crate::domain::{Caller, Role, ids, tenant};
use crate::error::{Error, Result};
use crate::store;
use crate::store::scoring::CutPoints;

pub const RUN_TYPE_NAME: &str = "ScoreRun";

/// Ranks the tenant's customers into tiers by its tier score, if an enabled scorer computes it,
/// and announces the tiers that moved.
///
/// # Errors
/// Database failures.
pub async fn rank(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64> {
    let settings = tenant::settings(db, tenant_id).await?;
    let key = settings.tier_score_key.clone();
    let computed = store::plugins::all(db, tenant_id)
        .await?
        .iter()
        .any(|p| p.enabled && plugins::score_keys(p).iter().any(|k| k.key == key && k.kind == "NUMBER"));
    if !computed {
        return Ok(0);
    }
    let cuts = &settings.tier_cut_points;
    let bp = |percent: f64| {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 ≤ percent ≤ 100, checked")]
        let bp = (percent * 100.0).round() as u32;
        bp
    };
    let cuts = CutPoints {
        key_primary: bp(cuts.key_primary),
        key_secondary: bp(cuts.key_secondary),
        ordinary: bp(cuts.ordinary),
    };
    let moved = store::scoring::rank_tiers(db, tenant_id, &key, cuts).await?;
    if moved > 0 {
        // Each move is a `customer.scored` event: every replica's subscriptions should read now
        // (on SQLite, with one process, its reader finds them at its next poll).
        store::notifications::announce_events(db).await?;
    }
    Ok(moved)
}

/// Re-scores every customer of the caller's tenant (`pluginId`: check that this scorer is
/// installed and enabled; every enabled scorer runs). Progress: [`progress`].
///
/// # Errors
/// `FORBIDDEN`; `NOT_FOUND` for an unknown plugin; `BAD_USER_INPUT` for a plugin that is no
/// enabled scorer; database failures.
pub async fn recompute(
    db: &DatabaseConnection,
    plugins: &Plugins,
    caller: &Caller,
    plugin_id: Option<Uuid>,
) -> Result<score_run::Model> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN may recompute scores".into()));
    }
    if let Some(id) = plugin_id {
        let p = plugins::get(db, caller, id).await?;
        if !(p.enabled && plugins::is_scorer(&p)) {
            return Err(Error::invalid(
                "pluginId",
                "NOT_AN_ENABLED_SCORER",
                format!("{} is no enabled scorer", p.name),
            ));
        }
    }
    let run = score_run::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        plugin_id,
        total: 0,
        started_at: crate::clock::now(),
    };
    let txn = store::begin_write(db).await?;
    store::scoring::sweep_all(&txn, caller.tenant_id, run.id).await?;
    let run = score_run::Model { total: store::scoring::customers_ahead(&txn, caller.tenant_id, None).await?, ..run };
    store::scoring::insert_run(&txn, &run).await?;
    txn.commit().await?;
    plugins.wake_scorer();
    Ok(run)
}

/// A recompute request and how many of its customers still wait.
///
/// # Errors
/// `FORBIDDEN`, `NOT_FOUND`; database failures.
pub async fn progress(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> Result<(score_run::Model, i64)> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN may follow score runs".into()));
    }
    let run = store::scoring::find_run(db, caller.tenant_id, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no score run {}", ids::encode(RUN_TYPE_NAME, id))))?;
    let pending = store::scoring::pending(db, caller.tenant_id, Some(run.id)).await?;
    Ok((run, pending))
}
