//! What runs as the system rather than as a caller of a request: a tenant created on first
//! sight, with the default scorers every new tenant starts with, and the operator's install
//! from the command line. Apart because no token stands behind these: the caller is made here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use guanxi_entity::{plugin, tenant};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::lifecycle::{ConfigureInput, InstallInput, configure, install, prepare_install, store_install, upgrade};
use super::validators::{attach, target_parts};
use super::runtime::Plugins;
use crate::domain::{Caller, Role};
use crate::error::Result;
use crate::store;

/// The scorers every new tenant starts with: the RFM value score that ranks tiers,
/// and the lifecycle stage with churn risk and loyalty. Built from `plugins/examples`.
pub const DEFAULT_PLUGINS: [(&str, &[u8]); 2] = [
    ("value-scorer", include_bytes!("../../../../plugins/examples/dist/value-scorer.wasm")),
    ("lifecycle-scorer", include_bytes!("../../../../plugins/examples/dist/lifecycle-scorer.wasm")),
];

/// The caller that installs a new tenant's default plugins.
fn system_caller(t: &tenant::Model) -> Caller {
    Caller {
        tenant_id: t.id,
        tenant_slug: t.slug.clone(),
        tenant_name: t.name.clone(),
        user_id: Uuid::nil(),
        subject: "guanxi".into(),
        name: Some("Guanxi".into()),
        email: None,
        role: Role::Admin,
        locale: None,
    }
}

/// The tenant of `slug`, created on first sight, with the default plugins when `defaults`.
///
/// The tenant and its default plugins are stored in one transaction, so a tenant never exists
/// without them, whatever fails or crashes in between; of concurrent first requests one creates
/// the tenant and the others wait for it and find it.
///
/// # Errors
/// Database failures; a default plugin that cannot be installed (a broken build).
pub async fn tenant_for(
    db: &DatabaseConnection,
    plugins: &Plugins,
    slug: &str,
    defaults: bool,
) -> Result<tenant::Model> {
    if let Some(t) = store::tenants::find_by_slug(db, slug).await? {
        return Ok(t);
    }
    let txn = store::begin_write(db).await?;
    let (t, created) = store::tenants::get_or_create(&txn, slug).await?;
    let install_defaults = created && defaults;
    if install_defaults {
        let caller = system_caller(&t);
        for (name, bytes) in DEFAULT_PLUGINS {
            let input =
                InstallInput { name: name.into(), wasm_base64: STANDARD.encode(bytes), ..InstallInput::default() };
            let prepared = prepare_install(plugins, &caller, input).await?;
            store_install(&txn, &caller, prepared).await?;
        }
    }
    txn.commit().await?;
    if install_defaults {
        plugins.wake_scorer();
        // Computed fields may have come or gone: their indexes too.
        crate::domain::field_indexes::wake();
    }
    Ok(t)
}

/// What the operator's install does beyond installing.
#[derive(Debug, Default)]
pub struct OperatorInstall {
    pub input: InstallInput,
    /// Create the tenant, with its default plugins, if the database does not have it.
    pub create: bool,
    /// Replace the component (and the configuration, if one is given) of the plugin of that
    /// name if it is installed already.
    pub upgrade: bool,
    /// Attach the (validator) plugin to this field: entity and key or name.
    pub attach: Option<(String, String)>,
}

/// Installs a plugin into the tenant of `slug` as the operator (the command line), as an
/// ADMIN's `installPlugin` would, then upgrades and attaches as asked.
///
/// # Errors
/// As an ADMIN's install: `BAD_USER_INPUT` for bad input or a component the host refuses,
/// `PLUGIN_ERROR` if a scorer fails to declare its keys, `CONFLICT` for a name or score key in use
/// (without `upgrade`); as `attachValidator` for the field. Answers the plugin and the field it
/// was attached to (`ENTITY.key`).
///
/// Without `create`, a tenant the database does not have is `NOT_FOUND` rather than made: a
/// typo in a slug must not install a plugin into a new, empty tenant.
pub async fn install_as_operator(
    db: &DatabaseConnection,
    plugins: &Plugins,
    slug: &str,
    op: OperatorInstall,
) -> Result<(plugin::Model, Option<String>)> {
    if !op.create && crate::store::tenants::find_by_slug(db, slug).await?.is_none() {
        return Err(crate::error::Error::NotFound(format!(
            "no tenant '{slug}' in this database (a tenant exists from its first request): check the slug, or pass --create"
        )));
    }
    let t = tenant_for(db, plugins, slug, true).await?;
    let caller = system_caller(&t);
    let existing = if op.upgrade {
        crate::store::plugins::all(db, t.id).await?.into_iter().find(|p| p.name == op.input.name)
    } else {
        None
    };
    let p = match existing {
        Some(p) => {
            let mut p = upgrade(db, plugins, &caller, p.id, &op.input.wasm_base64, op.input.version).await?;
            if let Some(config) = op.input.config {
                let input = ConfigureInput { config: Some(config), limits: None };
                p = configure(db, plugins, &caller, p.id, input).await?;
            }
            p
        }
        None => install(db, plugins, &caller, op.input).await?,
    };
    let target = match op.attach {
        Some((entity, field)) => {
            let (entity, key) = target_parts(&attach(db, &caller, p.id, &entity, &field).await?);
            Some(format!("{}.{key}", entity.as_str()))
        }
        None => None,
    };
    Ok((p, target))
}
