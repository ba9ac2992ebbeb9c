//! Tenants and users come into being from their first valid token (the issuer is trusted).
//!
//! Resolving a token to a [`Caller`] would otherwise cost a write per request, so resolved
//! identities are cached in memory; the database is touched again only when a token shows a new
//! name, e-mail or role for the user. The cache is bounded by clearing it when full: rare, cheap
//! to refill, and simpler than an LRU.

use std::collections::HashMap;
use std::sync::RwLock;

use sea_orm::DatabaseConnection;

use super::{Caller, Role};
use crate::error::Result;
use crate::store;

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub tenant_slug: String,
    pub subject: String,
    pub role: Role,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The language the token's `locale` claim asks for.
    pub locale: Option<crate::locale::Locale>,
    /// When the token expires, in seconds since the epoch: a socket it opened closes then.
    pub expires: u64,
}

impl TokenIdentity {
    /// What the store keeps of it.
    #[must_use]
    pub fn claimed(&self) -> store::users::Claimed<'_> {
        store::users::Claimed {
            subject: &self.subject,
            role: self.role.as_str(),
            name: self.name.as_deref(),
            email: self.email.as_deref(),
        }
    }
}

/// Identities resolved so far, keyed by (tenant slug, subject).
#[derive(Debug, Default)]
pub struct IdentityCache {
    entries: RwLock<HashMap<(String, String), Caller>>,
}

/// Enough for every user of many tenants; memory stays in the low megabytes.
const MAX_CACHED_IDENTITIES: usize = 50_000;

impl IdentityCache {
    /// The caller a verified token stands for, creating its tenant and user on first sight.
    ///
    /// # Errors
    /// Database failures.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        plugins: &super::plugins::Plugins,
        default_plugins: bool,
        token: &TokenIdentity,
    ) -> Result<Caller> {
        let key = (token.tenant_slug.clone(), token.subject.clone());
        if let Some(hit) = self.read(&key)
            && hit.role == token.role
            && hit.name == token.name
            && hit.email == token.email
        {
            // The cache is keyed by user; the language is the token's own.
            return Ok(Caller { locale: token.locale, ..hit });
        }
        let tenant = super::plugins::tenant_for(db, plugins, &token.tenant_slug, default_plugins).await?;
        let user = store::in_write(db, async |txn| store::users::upsert(txn, tenant.id, token.claimed()).await).await?;
        let caller = Caller {
            tenant_id: tenant.id,
            tenant_slug: tenant.slug,
            tenant_name: tenant.name,
            user_id: user.id,
            subject: user.subject,
            name: token.name.clone(),
            email: token.email.clone(),
            role: token.role,
            locale: token.locale,
        };
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_CACHED_IDENTITIES {
                map.clear();
            }
            map.insert(key, caller.clone());
        }
        Ok(caller)
    }

    fn read(&self, key: &(String, String)) -> Option<Caller> {
        self.entries.read().ok().and_then(|m| m.get(key).cloned())
    }
}
