//! The record of one plugin call: outcome, resources used and captured logs.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plugin_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// uuid v7: newest last.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub plugin_id: Uuid,
    pub version: String,
    /// KEYS, SCORE or VALIDATE.
    pub call: String,
    /// Customers in a scoring batch; 1 for a validation.
    pub items: i32,
    /// OK, or the failure's reason (OUT_OF_FUEL, TIMEOUT, …).
    pub outcome: String,
    pub error: Option<String>,
    pub fuel_used: i64,
    pub memory_peak_bytes: i64,
    pub duration_us: i64,
    pub logs: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
