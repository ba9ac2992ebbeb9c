//! One attempt to send a webhook delivery, and its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: Uuid,
    /// 1 for the first attempt.
    #[sea_orm(primary_key, auto_increment = false)]
    pub attempt: i32,
    /// When it was sent.
    pub at: DateTimeUtc,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
