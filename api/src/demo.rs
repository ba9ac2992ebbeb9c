//! `guanxi serve --demo`: a development secret kept in the working directory, and the `demo`
//! tenant seeded once with about fifty customers.

use std::path::Path;

use anyhow::Context as _;
use guanxi_entity::customer;
use rand::RngCore;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::domain::plugins::Plugins;
use crate::{seed, store};

/// Where the development secret is kept between runs.
pub const SECRET_FILE: &str = "guanxi-dev-secret";
pub const TENANT: &str = "demo";
/// Customers the demo tenant starts with.
const CUSTOMERS: u64 = 50;
/// Interactions per demo customer, on average.
const INTERACTIONS: u32 = 20;
/// The seed of the demo data, so every demo looks the same.
const SEED: u64 = 20_261_126;

/// The development secret, created on first use.
///
/// # Errors
/// The file cannot be read or written.
pub fn dev_secret(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(SECRET_FILE);
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &secret).with_context(|| format!("writing the development secret to {}", path.display()))?;
    Ok(secret)
}

/// Seeds the demo tenant unless it already has customers.
///
/// # Errors
/// Database failures.
pub async fn seed_tenant(db: &DatabaseConnection, plugins: &Plugins, default_plugins: bool) -> anyhow::Result<()> {
    let tenant = crate::domain::plugins::tenant_for(db, plugins, TENANT, default_plugins).await?;
    store::tenants::rename(db, tenant.id, "Guanxi Demo Trading Co. 关系演示贸易公司").await?;
    let existing = customer::Entity::find().filter(customer::Column::TenantId.eq(tenant.id)).count(db).await?;
    if existing == 0 {
        seed::customers(db, TENANT, CUSTOMERS, SEED, INTERACTIONS).await?;
    }
    Ok(())
}
