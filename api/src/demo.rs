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

/// The development secret, created on first use, readable by its owner only.
///
/// # Errors
/// The file cannot be read, written or made private.
pub fn dev_secret(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join(SECRET_FILE);
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            // Made by an earlier version, perhaps readable by everyone.
            make_private(&path).with_context(|| format!("making {} private", path.display()))?;
            return Ok(s);
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret).with_context(|| format!("writing the development secret to {}", path.display()))?;
    Ok(secret)
}

/// Writes `contents` to a file only its owner may read (mode 0600 on unix): anyone who can read
/// the secret can mint tokens for any tenant and role.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // The mode above applies only to a new file; one that was there keeps its own until now.
    make_private(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
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

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn the_development_secret_is_readable_by_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("guanxi-demo-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(SECRET_FILE);

        let secret = dev_secret(&dir).expect("created");
        assert_eq!(secret.len(), 64);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(dev_secret(&dir).expect("read again"), secret, "kept between runs");

        // A file an earlier version left readable by everyone is made private.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(dev_secret(&dir).expect("read"), secret);
        assert_eq!(mode(&path), 0o600);

        // A weak one is replaced, privately.
        std::fs::write(&path, "short").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_ne!(dev_secret(&dir).expect("replaced"), "short");
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(&dir).ok();
    }
}
