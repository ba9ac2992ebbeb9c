//! A WebAssembly plugin installed in a tenant (a scorer, a validator, or both).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plugins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique within the tenant.
    pub name: String,
    /// The installer's version label.
    pub version: String,
    /// The component now in use; its bytes are in `plugin_binaries`.
    pub sha256: String,
    /// A JSON array of `PluginCapability` names.
    pub capabilities: Json,
    /// A JSON array of `{key, kind, description}` the scorer declared.
    pub score_keys: Json,
    /// The tenant's configuration, handed to every call as JSON.
    pub config: Option<Json>,
    /// Limits lowered for this plugin (absent keys: the server's).
    pub limits: Json,
    pub enabled: bool,
    /// Bumped by every change (optimistic concurrency and upgrade count).
    pub revision: i32,
    pub installed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
