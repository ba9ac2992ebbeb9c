//! Custom fields (自定义字段): typed fields a tenant ADMIN adds to an entity. Each live definition
//! becomes a typed GraphQL field under `custom`, a filter and an order key of the tenant's schema.
//!
//! A definition change bumps the tenant's schema version in the same transaction, and takes the
//! tenant row's lock: every entity write holds that lock shared while it checks values against
//! the definitions, so no write can slip between a definition change and the values it rewrites.
//!
//! The module is split along those lines: `entity` names the entities that carry custom fields
//! and their built-in fields, `types` the definition and its parts, `service` what an ADMIN does
//! with definitions (define, change, archive, restore) and what writes read of them, `computed`
//! the fields a scorer plugin's keys become.

mod computed;
mod entity;
mod service;
mod types;

pub(crate) use computed::sync_computed;
pub use entity::EntityKind;
pub use service::{DefineInput, UpdateInput, archive, define, for_write, list, restore, tenant_fields, update};
pub use types::{Definition, FieldType, IndexState, Source, TYPE_NAME, TenantFields, camel_case, key_is_valid};
