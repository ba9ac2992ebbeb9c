//! A touch point on a customer's timeline (互动 / 接触).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub kind: String,
    pub channel: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// The user who recorded it.
    pub staff_id: Option<Uuid>,
    pub summary: Option<String>,
    pub outcome: Option<String>,
    /// PURCHASE: a canonical decimal string (SQLite has no exact decimal type).
    pub amount: Option<String>,
    /// PURCHASE: ISO 4217 code.
    pub currency: Option<String>,
    /// SURVEY: 1–5.
    pub satisfaction: Option<i32>,
    pub would_buy_again: Option<bool>,
    /// How long it took, in minutes (1 to 1440).
    pub duration_minutes: Option<i32>,
    /// Values of the tenant's custom fields, a JSON object keyed by definition key.
    pub custom_fields: Json,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
