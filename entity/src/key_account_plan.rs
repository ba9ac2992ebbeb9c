//! A key-account plan (大客户计划): the planned relationship with one key account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_account_plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub status: String,
    pub period_start: Date,
    pub period_end: Date,
    /// A canonical decimal string in `currency`.
    pub revenue_target: Option<String>,
    /// The tenant's base currency when the plan was made; revenue is counted in it.
    pub currency: String,
    pub planned_visits: i32,
    /// A JSON array of strings.
    pub objectives: Json,
    /// A JSON array of user ids (the dedicated team, 专门机构).
    #[sea_orm(column_name = "team")]
    pub team_ids: Json,
    pub owner_id: Option<Uuid>,
    /// Values of the tenant's custom fields, a JSON object keyed by definition key.
    pub custom_fields: Json,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
