//! The computed fields of Customer that a scorer plugin's score keys become (`source: PLUGIN`):
//! made, changed and archived as the plugin is installed, upgraded and uninstalled, inside the
//! plugin's own transaction. Apart from the definition service because no ADMIN edits them and
//! they follow the plugin's keys, not an input.

use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::EntityKind;
use super::service::tenant_fields;
use super::types::{Definition, FieldType, IndexState, MAX_FIELDS_PER_ENTITY, Source, TYPE_NAME, camel_case};
use crate::domain::{Caller, audit};
use crate::error::{Error, Result};
use crate::store;

/// Makes a scorer's keys computed fields of Customer (`source: PLUGIN`, DECIMAL for numbers —
/// indexed, since tiers and lists sort by them — and STRING for labels) and archives the fields
/// of `released` keys. A key that was a computed field before comes back with its values.
///
/// # Errors
/// `CONFLICT KEY_TAKEN` for a key an ADMIN's field uses, or whose GraphQL name another field of
/// Customer has; `BAD_USER_INPUT TOO_MANY` when
/// Customer would have too many fields; database failures.
pub(crate) async fn sync_computed(
    txn: &DatabaseTransaction,
    caller: &Caller,
    declared: &[crate::domain::plugins::KeySpec],
    released: &[String],
) -> Result<()> {
    let existing = tenant_fields(txn, caller.tenant_id).await?;
    let customer: Vec<&Definition> = existing.definitions.iter().filter(|d| d.entity == EntityKind::Customer).collect();
    let mut live = customer.iter().filter(|d| !d.archived).count();
    let mut position = customer.iter().map(|d| d.position + 1).max().unwrap_or(0);
    for key in released {
        if let Some(before) = customer.iter().find(|d| &d.key == key && d.source == Source::Plugin && !d.archived) {
            let mut def = (*before).clone();
            def.archived = true;
            save_computed(txn, caller, Some(before), def).await?;
            live -= 1;
        }
    }
    for spec in declared {
        let at = crate::clock::now();
        let ty = spec.field_type();
        let description = Some(spec.description.clone()).filter(|d| !d.trim().is_empty());
        let name = camel_case(&spec.key);
        match customer.iter().find(|d| d.key == spec.key || d.name == name) {
            // A field of another key with the same GraphQL name, an ADMIN's or one a plugin
            // computed before: taking it over would give one field two keys.
            Some(other) if other.source == Source::User || other.key != spec.key => {
                let whose = if other.source == Source::User { "defined by an ADMIN" } else { "computed by a plugin" };
                let archived = if other.archived { " (archived)" } else { "" };
                let message = if other.key == spec.key {
                    format!("score key '{}' is already a custom field of Customer {whose}{archived}", spec.key)
                } else {
                    format!(
                        "score key '{}' and the custom field '{}' of Customer {whose}{archived} are both the GraphQL \
                         field '{name}'",
                        spec.key, other.key
                    )
                };
                return Err(Error::Conflict { code: "KEY_TAKEN", message, field: Some("wasmBase64".into()) });
            }
            Some(before) => {
                let mut def = (*before).clone();
                if !def.archived && def.ty == ty && def.description == description {
                    continue;
                }
                if def.archived {
                    live += 1;
                }
                def.archived = false;
                def.ty = ty;
                def.indexed = ty == FieldType::Decimal;
                def.description = description;
                save_computed(txn, caller, Some(before), def).await?;
            }
            None => {
                live += 1;
                let def = Definition {
                    id: Uuid::now_v7(),
                    entity: EntityKind::Customer,
                    key: spec.key.clone(),
                    name,
                    label: spec.key.clone(),
                    description,
                    ty,
                    required: false,
                    options: Vec::new(),
                    default_value: None,
                    indexed: ty == FieldType::Decimal,
                    index_state: IndexState::None,
                    index_error: None,
                    archived: false,
                    source: Source::Plugin,
                    position,
                    version: 0,
                    created_at: at,
                    updated_at: at,
                };
                position += 1;
                save_computed(txn, caller, None, def).await?;
            }
        }
    }
    if live > MAX_FIELDS_PER_ENTITY {
        return Err(Error::invalid(
            "wasmBase64",
            "TOO_MANY",
            format!("Customer would have more than {MAX_FIELDS_PER_ENTITY} custom fields"),
        ));
    }
    Ok(())
}

/// Stores a computed field's new version (or first, when `before` is `None`), fits its index
/// and audits it.
async fn save_computed(
    txn: &DatabaseTransaction,
    caller: &Caller,
    before: Option<&Definition>,
    mut def: Definition,
) -> Result<()> {
    let at = crate::clock::now();
    def.version += 1;
    def.updated_at = at;
    def.settle_index_state(before);
    let model = def.clone().into_model(caller.tenant_id);
    let action = if before.is_some() {
        store::custom_fields::update(txn, &model).await?;
        audit::Action::Update
    } else {
        store::custom_fields::insert(txn, &model).await?;
        audit::Action::Create
    };
    // The plugin's change wakes the index builder once it commits.
    let old = before.map(Definition::audit_snapshot);
    audit::record(txn, caller, TYPE_NAME, def.id, action, old, Some(def.audit_snapshot()), at).await
}
