//! The audit trail: every write appends who, when, what, and each changed field's before and
//! after, in the same transaction as the write, so the trail cannot miss a committed change.

use chrono::{DateTime, Utc};
use guanxi_entity::audit_entry;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Caller, Role, access};
use crate::error::Result;
use crate::query::{OrderKey, Page, PageRequest};
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
        }
    }
}

/// `{ field: { before, after } }` for every field whose value differs between two snapshots.
#[must_use]
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Value {
    let empty = Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let a = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut changes = Map::new();
    for key in b.keys().chain(a.keys()) {
        let (old, new) = (b.get(key).unwrap_or(&Value::Null), a.get(key).unwrap_or(&Value::Null));
        if old != new && !changes.contains_key(key) {
            changes.insert(key.clone(), json!({ "before": old, "after": new }));
        }
    }
    Value::Object(changes)
}

/// Appends one entry. Call inside the write's transaction.
///
/// # Errors
/// Database failures.
#[expect(clippy::too_many_arguments, reason = "an entry's parts, each plain")]
pub async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    entity_kind: &str,
    entity_id: Uuid,
    action: Action,
    before: Option<Value>,
    after: Option<Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    let entry = audit_entry::Model {
        tenant_id: caller.tenant_id,
        id: Uuid::now_v7(),
        actor_id: Some(caller.user_id),
        entity_kind: entity_kind.to_owned(),
        entity_id,
        action: action.as_str().to_owned(),
        changes: diff(before.as_ref(), after.as_ref()),
        at,
    };
    store::audit::insert(conn, &entry).await
}

/// The newest entries first, optionally for one entity. Below ADMIN, confidential values (a
/// plugin's configuration, anything named like a secret) read as [`REDACTED`].
///
/// # Errors
/// `FORBIDDEN` for AGENTs and VIEWERs; database failures.
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    entity_id: Option<Uuid>,
    page: &PageRequest,
) -> Result<Page<audit_entry::Model>> {
    access::ensure_can_read_audit(caller)?;
    let mut page = store::audit::list(db, caller.tenant_id, entity_id, page).await?;
    if caller.role != Role::Admin {
        for entry in &mut page.rows {
            redact(entry);
        }
    }
    Ok(page)
}

/// The one order of the audit log: newest first.
#[must_use]
pub fn order() -> [OrderKey; 1] {
    store::audit::order()
}

/// How many entries [`list`] pages through.
///
/// # Errors
/// `FORBIDDEN` for AGENTs and VIEWERs; database failures.
pub async fn count(db: &DatabaseConnection, caller: &Caller, entity_id: Option<Uuid>) -> Result<u64> {
    access::ensure_can_read_audit(caller)?;
    store::audit::count(db, caller.tenant_id, entity_id).await
}

/// What a redacted value reads as: the change shows, its value does not.
pub const REDACTED: &str = "[redacted]";

/// Is a changed field one whose values only an ADMIN may read? A plugin's `config` (ADMIN-only on
/// `Plugin`, and where API keys for a scorer's services go), everything of a webhook, and anything
/// named like a secret.
fn is_confidential(entity_kind: &str, field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    // A webhook's address may carry a token in its path (chat services' incoming webhooks do).
    entity_kind == super::webhooks::TYPE_NAME
        || (entity_kind == super::plugins::TYPE_NAME && field == "config")
        || ["secret", "password", "token", "apikey", "api_key", "credential"].iter().any(|s| lower.contains(s))
}

/// Hides the values of confidential fields in an entry, for readers below ADMIN. Values are
/// recorded in full: the trail stays complete for those allowed to see the values.
pub fn redact(entry: &mut audit_entry::Model) {
    let Some(changes) = entry.changes.as_object_mut() else { return };
    for (field, change) in changes.iter_mut() {
        if !is_confidential(&entry.entity_kind, field) {
            continue;
        }
        let Some(change) = change.as_object_mut() else { continue };
        for value in change.values_mut() {
            if !value.is_null() {
                *value = Value::String(REDACTED.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_only_changed_fields() {
        let before = json!({"name": "a", "email": null, "tags": []});
        let after = json!({"name": "b", "email": null, "tags": ["x"]});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            json!({"name": {"before": "a", "after": "b"}, "tags": {"before": [], "after": ["x"]}})
        );
        assert_eq!(diff(None, Some(&json!({"name": "a"}))), json!({"name": {"before": null, "after": "a"}}));
    }

    #[test]
    fn redaction_hides_plugin_configuration_and_secrets_but_shows_the_change() {
        let mut entry = audit_entry::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            actor_id: None,
            entity_kind: "Plugin".into(),
            entity_id: Uuid::nil(),
            action: "UPDATE".into(),
            changes: json!({
                "config": { "before": null, "after": { "apiKey": "k-123" } },
                "webhookSecret": { "before": "old", "after": "new" },
                "enabled": { "before": true, "after": false },
            }),
            at: chrono::Utc::now(),
        };
        redact(&mut entry);
        assert_eq!(
            entry.changes,
            json!({
                "config": { "before": null, "after": REDACTED },
                "webhookSecret": { "before": REDACTED, "after": REDACTED },
                "enabled": { "before": true, "after": false },
            })
        );
    }
}
