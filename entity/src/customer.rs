//! A customer (客户): an individual or an organization.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub credit_code: Option<String>,
    pub channel: Option<String>,
    /// An http or https address, normalised.
    pub website: Option<String>,
    /// A JSON array of strings.
    pub tags: Json,
    pub status: String,
    pub relationship_type: Option<String>,
    pub owner_id: Option<Uuid>,
    /// Value tier (客户金字塔), ranked by the server from the value score; `None` until scored.
    /// Stored in `customer_scores`: reads join it in, writes leave it alone.
    #[sea_orm(ignore)]
    pub tier: Option<String>,
    /// Values of the tenant's custom fields, a JSON object keyed by definition key. The row
    /// stores those an ADMIN defined; reads add the computed ones from `customer_scores`.
    pub custom_fields: Json,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
