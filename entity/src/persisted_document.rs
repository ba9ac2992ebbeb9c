//! A GraphQL document a tenant's clients send by its SHA-256 hash: registered by a client
//! (automatic persisted queries) or trusted by the tenant's ADMIN.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persisted_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// SHA-256 of the document's text, lowercase hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sha256: String,
    pub document: String,
    /// In the ADMIN's list of trusted documents (never evicted); `false`: registered by a client.
    pub trusted: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
