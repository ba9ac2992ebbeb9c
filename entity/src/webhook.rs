//! An address a tenant's ADMIN registered to be sent the tenant's change events.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    /// The event names sent, as a JSON array of strings; `["*"]` for all.
    pub events: Json,
    pub enabled: bool,
    /// The key deliveries are signed with (HMAC-SHA256).
    pub secret: String,
    /// The key before the last rotation, still signing beside the new one until
    /// `previous_secret_until`, so a receiver can move to the new key without losing a delivery.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
