//! What a custom field definition is: its kind of source, the state of its index, the stored row
//! it reads from and writes to, a tenant's set of definitions, and the rules for keys and the
//! GraphQL names they become. Plain values without the database, shared by the definition
//! service and the scorer fields.

use chrono::{DateTime, Utc};
use guanxi_entity::custom_field_definition as model;
use serde_json::{Value, json};
use uuid::Uuid;

use super::EntityKind;
use crate::error::{Error, Result};
use crate::store;

/// The GraphQL type name, used in global ids and the audit trail.
pub const TYPE_NAME: &str = "CustomFieldDefinition";

/// Live definitions per entity; a schema with more would be slow to build and to read.
pub const MAX_FIELDS_PER_ENTITY: usize = 200;
pub const MAX_OPTIONS: usize = 200;
pub const MAX_OPTION_CHARS: usize = 100;
pub const MAX_LABEL_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

pub use crate::query::FieldType;

/// Who defined a field: an ADMIN (writable) or a scorer plugin (read-only, computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    User,
    Plugin,
    /// Not a custom field: a built-in field shown as a definition (a validator's target).
    BuiltIn,
}

impl Source {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Source::User => "USER",
            Source::Plugin => "PLUGIN",
            Source::BuiltIn => "BUILT_IN",
        }
    }
}

/// Where the expression index an indexed definition asks for stands. Indexes are built in the
/// background (see `field_indexes`): a definition commits at once, `BUILDING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// Not indexed (or archived, or of a type without an index).
    None,
    Building,
    Ready,
    /// Not built; `index_error` says why. Turning `indexed` off and on again retries.
    Failed,
}

impl IndexState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::None => "NONE",
            IndexState::Building => "BUILDING",
            IndexState::Ready => "READY",
            IndexState::Failed => "FAILED",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [IndexState::None, IndexState::Building, IndexState::Ready, IndexState::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub entity: EntityKind,
    pub key: String,
    /// The GraphQL field name: the key in camelCase.
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    pub ty: FieldType,
    pub required: bool,
    pub options: Vec<String>,
    pub default_value: Option<Value>,
    pub indexed: bool,
    pub index_state: IndexState,
    pub index_error: Option<String>,
    pub archived: bool,
    pub source: Source,
    pub position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Definition {
    /// Reads a stored definition; rows the server did not write are an internal error.
    ///
    /// # Errors
    /// `INTERNAL` for an unknown entity, type or source.
    pub fn from_model(m: model::Model) -> Result<Self> {
        let bad = |what: &str| Error::Internal(anyhow::anyhow!("custom field {} has an unknown {what}", m.id));
        Ok(Self {
            entity: EntityKind::parse(&m.entity).ok_or_else(|| bad("entity"))?,
            ty: FieldType::parse(&m.r#type).ok_or_else(|| bad("type"))?,
            source: match m.source.as_str() {
                "USER" => Source::User,
                "PLUGIN" => Source::Plugin,
                _ => return Err(bad("source")),
            },
            name: camel_case(&m.key),
            index_state: IndexState::parse(&m.index_state).ok_or_else(|| bad("index state"))?,
            options: m
                .options
                .as_ref()
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            id: m.id,
            key: m.key,
            label: m.label,
            description: m.description,
            required: m.required,
            default_value: m.default_value,
            indexed: m.indexed,
            index_error: m.index_error,
            archived: m.archived,
            position: m.position,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    pub(super) fn into_model(self, tenant_id: Uuid) -> model::Model {
        model::Model {
            tenant_id,
            id: self.id,
            entity: self.entity.as_str().to_owned(),
            key: self.key,
            label: self.label,
            description: self.description,
            r#type: self.ty.as_str().to_owned(),
            required: self.required,
            options: if self.options.is_empty() { None } else { Some(json!(self.options)) },
            default_value: self.default_value,
            indexed: self.indexed,
            index_state: self.index_state.as_str().to_owned(),
            index_error: self.index_error,
            archived: self.archived,
            source: self.source.as_str().to_owned(),
            position: self.position,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Does it ask for an expression index: indexed, live, of a type that has one?
    #[must_use]
    pub fn wants_index(&self) -> bool {
        self.indexed && !self.archived && self.ty.indexable()
    }

    /// The expression index this definition asks for when it is indexed.
    #[must_use]
    pub fn index(&self, backend: sea_orm::DatabaseBackend) -> store::custom_fields::FieldIndex {
        store::custom_fields::index_of(backend, self.entity, &self.key, self.ty, self.source == Source::Plugin)
    }

    /// Sets where this version's index stands, given the version `before` it: the same index
    /// as before keeps its state (a label or default changed), another one is to be built, and
    /// none is `NONE`. The index builder takes it from there once the change commits.
    pub(super) fn settle_index_state(&mut self, before: Option<&Definition>) {
        let backend = sea_orm::DatabaseBackend::Postgres;
        let same_index = before
            .filter(|b| b.wants_index() && self.wants_index())
            .is_some_and(|b| b.index(backend) == self.index(backend));
        if same_index {
            return;
        }
        self.index_state = if self.wants_index() { IndexState::Building } else { IndexState::None };
        self.index_error = None;
    }

    /// The definition as the audit trail records it.
    #[must_use]
    pub fn audit_snapshot(&self) -> Value {
        json!({
            "entity": self.entity.as_str(), "key": self.key, "label": self.label, "description": self.description,
            "type": self.ty.as_str(), "required": self.required, "options": self.options,
            "defaultValue": self.default_value, "indexed": self.indexed, "archived": self.archived,
        })
    }

    #[cfg(test)]
    #[must_use]
    pub fn for_test(entity: EntityKind, key: &str, ty: FieldType) -> Self {
        Self {
            id: Uuid::now_v7(),
            entity,
            key: key.into(),
            name: camel_case(key),
            label: key.into(),
            description: None,
            ty,
            required: false,
            options: vec!["a".into(), "b".into()],
            default_value: None,
            indexed: false,
            index_state: IndexState::None,
            index_error: None,
            archived: false,
            source: Source::User,
            position: 0,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }
}

/// Every definition of a tenant, archived ones included, in definition order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantFields {
    pub definitions: Vec<Definition>,
}

impl TenantFields {
    /// The live (not archived) definitions of `entity`.
    pub fn live(&self, entity: EntityKind) -> impl Iterator<Item = &Definition> {
        self.definitions.iter().filter(move |d| d.entity == entity && !d.archived)
    }

    /// The live definition of `entity` whose GraphQL name or key is `name`.
    #[must_use]
    pub fn find_live(&self, entity: EntityKind, name: &str) -> Option<&Definition> {
        self.live(entity).find(|d| d.name == name || d.key == name)
    }
}

/// The GraphQL name of a key: `loyalty_card_no` → `loyaltyCardNo`.
#[must_use]
pub fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `[a-z][a-z0-9_]{0,62}`.
#[must_use]
pub fn key_is_valid(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl crate::query::CustomKey {
    /// The key of a definition's field.
    #[must_use]
    pub fn of(def: &Definition) -> Self {
        Self { key: def.key.clone(), ty: def.ty, computed: def.source == Source::Plugin, indexed: def.wants_index() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        assert_eq!(camel_case("loyalty_card_no"), "loyaltyCardNo");
        assert_eq!(camel_case("level"), "level");
        assert_eq!(camel_case("a__b_"), "aB");
        for ok in ["a", "level_2", &"x".repeat(63)] {
            assert!(key_is_valid(ok), "{ok}");
        }
        for bad in ["", "2a", "_a", "A", "a-b", "a b", &"x".repeat(64), "等级"] {
            assert!(!key_is_valid(bad), "{bad}");
        }
    }
}
