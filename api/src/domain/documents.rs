//! Persisted documents: a client sends a document's SHA-256 instead of its text (Apollo's
//! automatic persisted queries, APQ), and a tenant's ADMIN may trust a list of documents and
//! refuse every other one.
//!
//! Registered documents are stored per tenant in the database, so every replica knows a hash
//! any of them learnt; each server keeps the ones it used in memory. A tenant keeps at most
//! [`MAX_REGISTERED`] registered documents of at most [`MAX_DOCUMENT_BYTES`] (the oldest go
//! first), and holds at most [`MEMORY_BYTES_PER_TENANT`] of a server's memory: a client that
//! registers a new document per request churns its own tenant's documents, nobody else's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sea_orm::DatabaseConnection;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::settings::TenantSettings;
use super::{Caller, Role, audit};
use crate::error::{Error, Result, Violation};
use crate::store;

/// Registered (not trusted) documents a tenant keeps.
pub const MAX_REGISTERED: u64 = 1_000;
/// Trusted documents a tenant may list.
pub const MAX_TRUSTED: usize = 5_000;
/// The longest document stored (a client's operations are a few kilobytes at most); a longer
/// one runs when sent whole, and is not registered.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;
/// Bytes of document text a server keeps in memory, all tenants together; past it the memory is
/// emptied and refilled from the database as documents are asked for.
const MEMORY_BYTES: usize = 32 << 20;
/// Bytes of that memory one tenant may hold; past it, that tenant's documents are forgotten,
/// not the others'.
pub const MEMORY_BYTES_PER_TENANT: usize = 2 << 20;

/// The lowercase hex SHA-256 of a document's text, as clients compute it.
#[must_use]
pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A hash as a client sends it, lowercased, if it is one: 64 hex digits, bare or after
/// `sha256:` (as graphql-codegen's persisted documents name them).
#[must_use]
pub fn parse_hash(raw: &str) -> Option<String> {
    let raw = raw.strip_prefix("sha256:").unwrap_or(raw);
    (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit())).then(|| raw.to_ascii_lowercase())
}

/// The documents this server has read or registered, by tenant and hash.
#[derive(Debug, Default)]
pub struct Documents {
    memory: Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    texts: HashMap<(Uuid, String), Arc<str>>,
    bytes: usize,
    by_tenant: HashMap<Uuid, usize>,
}

impl Documents {
    /// The tenant's document of `sha256`, if a client registered it or the ADMIN trusted it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find(&self, db: &DatabaseConnection, tenant_id: Uuid, sha256: &str) -> Result<Option<Arc<str>>> {
        let key = (tenant_id, sha256.to_owned());
        if let Some(text) = self.memory.lock().ok().and_then(|m| m.texts.get(&key).cloned()) {
            return Ok(Some(text));
        }
        let Some(text) = store::documents::find(db, tenant_id, sha256).await? else { return Ok(None) };
        let text: Arc<str> = text.into();
        self.remember(key, text.clone());
        Ok(Some(text))
    }

    /// Registers a document a client sent with its hash (the caller checked that it is the
    /// text's hash, and that the document ran).
    ///
    /// # Errors
    /// Database failures.
    pub async fn register(&self, db: &DatabaseConnection, tenant_id: Uuid, sha256: &str, text: Arc<str>) -> Result<()> {
        let key = (tenant_id, sha256.to_owned());
        if self.memory.lock().is_ok_and(|m| m.texts.contains_key(&key)) {
            return Ok(());
        }
        store::in_write(db, async |txn| {
            store::documents::register(txn, tenant_id, sha256, &text, MAX_REGISTERED).await
        })
        .await?;
        self.remember(key, text);
        Ok(())
    }

    fn remember(&self, key: (Uuid, String), text: Arc<str>) {
        let Ok(mut memory) = self.memory.lock() else { return };
        if memory.texts.contains_key(&key) {
            return;
        }
        let tenant = key.0;
        if memory.by_tenant.get(&tenant).copied().unwrap_or(0) + text.len() > MEMORY_BYTES_PER_TENANT {
            let mut freed = 0;
            memory.texts.retain(|(t, _), text| {
                let keep = *t != tenant;
                if !keep {
                    freed += text.len();
                }
                keep
            });
            memory.bytes -= freed;
            memory.by_tenant.remove(&tenant);
        }
        if memory.bytes + text.len() > MEMORY_BYTES {
            memory.texts.clear();
            memory.by_tenant.clear();
            memory.bytes = 0;
        }
        memory.bytes += text.len();
        *memory.by_tenant.entry(tenant).or_default() += text.len();
        memory.texts.insert(key, text);
    }
}

/// The hashes a tenant that enforces its trusted documents accepts; `None` when it accepts any
/// document.
///
/// # Errors
/// Database failures.
pub async fn enforced(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Option<Arc<HashSet<String>>>> {
    if !super::tenant::settings(db, tenant_id).await?.enforce_trusted_documents {
        return Ok(None);
    }
    Ok(Some(Arc::new(store::documents::trusted(db, tenant_id).await?.into_iter().collect())))
}

/// Makes `documents` (hash, text) the tenant's trusted documents and, with `enforce`, the only
/// documents its non-ADMIN callers may send (ADMINs may send any, so they can change the list).
/// `not_a_document` says why a text is not a document the server could run, if it is not.
/// Returns how many documents are trusted.
///
/// # Errors
/// `FORBIDDEN` for other roles than ADMIN; `BAD_USER_INPUT` listing every text that is not a
/// document and every hash that is not the SHA-256 of its text, or a list longer than
/// [`MAX_TRUSTED`].
pub async fn set_trusted(
    db: &DatabaseConnection,
    caller: &Caller,
    documents: Vec<(String, String)>,
    enforce: bool,
    not_a_document: impl Fn(&str) -> Option<String>,
) -> Result<usize> {
    if caller.role != Role::Admin {
        return Err(Error::Forbidden("only an ADMIN sets the trusted documents".into()));
    }
    if documents.len() > MAX_TRUSTED {
        return Err(Error::invalid(
            "documents",
            "TOO_MANY",
            format!("at most {MAX_TRUSTED} documents, got {}", documents.len()),
        ));
    }
    let mut violations = Vec::new();
    let mut trusted: Vec<(String, String)> = Vec::with_capacity(documents.len());
    let mut seen = HashSet::new();
    for (i, (raw, text)) in documents.into_iter().enumerate() {
        if let Some(why) = not_a_document(&text) {
            violations.push(Violation::new(
                format!("documents.{i}.document"),
                "INVALID_DOCUMENT",
                format!("is not a GraphQL document: {why}"),
            ));
        }
        let Some(hash) = parse_hash(&raw) else {
            violations.push(Violation::new(
                format!("documents.{i}.sha256Hash"),
                "INVALID_HASH",
                "must be 64 hexadecimal digits (a SHA-256)",
            ));
            continue;
        };
        if text.len() > MAX_DOCUMENT_BYTES {
            violations.push(Violation::new(
                format!("documents.{i}.document"),
                "TOO_LONG",
                format!("at most {MAX_DOCUMENT_BYTES} bytes, got {}", text.len()),
            ));
            continue;
        }
        if sha256(&text) != hash {
            violations.push(Violation::new(
                format!("documents.{i}.sha256Hash"),
                "HASH_MISMATCH",
                "is not the SHA-256 of the document's text",
            ));
            continue;
        }
        if seen.insert(hash.clone()) {
            trusted.push((hash, text));
        }
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    let txn = store::begin_write(db).await?;
    // Every replica rebuilds the tenant's schema, and with it the hashes it accepts.
    store::tenants::bump_schema_version(&txn, caller.tenant_id).await?;
    let tenant =
        store::tenants::find(&txn, caller.tenant_id).await?.ok_or_else(|| Error::NotFound("no such tenant".into()))?;
    let mut settings = TenantSettings::from_json(&tenant.settings);
    let before = json!({ "enforceTrustedDocuments": settings.enforce_trusted_documents, "trustedDocuments": store::documents::trusted(&txn, caller.tenant_id).await?.len() });
    settings.enforce_trusted_documents = enforce;
    store::tenants::set_settings(&txn, caller.tenant_id, &settings.to_json()).await?;
    store::documents::trust(&txn, caller.tenant_id, &trusted).await?;
    let after = json!({ "enforceTrustedDocuments": enforce, "trustedDocuments": trusted.len() });
    audit::record(&txn, caller, "Tenant", caller.tenant_id, audit::Action::Update, Some(before), Some(after), crate::clock::now())
        .await?;
    txn.commit().await?;
    Ok(trusted.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_that_fills_its_share_of_memory_forgets_its_own_documents_only() {
        let documents = Documents::default();
        let (other, churner) = (Uuid::now_v7(), Uuid::now_v7());
        documents.remember((other, "kept".into()), "{ a }".into());
        let big: Arc<str> = "x".repeat(MEMORY_BYTES_PER_TENANT / 4).into();
        for i in 0..20 {
            documents.remember((churner, format!("{i}")), big.clone());
        }
        let memory = documents.memory.lock().unwrap();
        assert!(memory.texts.contains_key(&(other, "kept".into())));
        assert!(memory.by_tenant[&churner] <= MEMORY_BYTES_PER_TENANT);
        assert_eq!(memory.bytes, memory.texts.values().map(|t| t.len()).sum::<usize>());
    }

    #[test]
    fn hashes_are_sixty_four_hex_digits_lowercased() {
        let h = sha256("{ __typename }");
        assert_eq!(parse_hash(&h.to_ascii_uppercase()), Some(h.clone()));
        assert_eq!(parse_hash(&format!("sha256:{h}")), Some(h.clone()));
        assert_eq!(parse_hash(&format!("md5:{h}")), None);
        assert_eq!(parse_hash(&h[1..]), None);
        assert_eq!(parse_hash(&format!("{}g", &h[1..])), None);
    }
}
