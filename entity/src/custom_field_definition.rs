//! A tenant-defined field on one entity (CUSTOMER, INTERACTION, COMPLAINT, KEY_ACCOUNT_PLAN).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_field_definitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub entity: String,
    /// `[a-z][a-z0-9_]{0,62}`; the key of its values in the entity's `custom_fields` object.
    pub key: String,
    pub label: String,
    pub description: Option<String>,
    /// A `CustomFieldType` name.
    pub r#type: String,
    pub required: bool,
    /// ENUM / MULTI_ENUM: a JSON array of the allowed strings.
    pub options: Option<Json>,
    pub default_value: Option<Json>,
    pub indexed: bool,
    /// NONE, BUILDING, READY or FAILED: where the expression index `indexed` asks for stands.
    pub index_state: String,
    /// Why the index could not be built (FAILED only).
    pub index_error: Option<String>,
    pub archived: bool,
    /// USER or PLUGIN.
    pub source: String,
    /// Order of definition within the entity, which the schema's field order follows.
    pub position: i32,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
