//! The details of a customer's scores, kept apart from the customer row: only `Customer.scores`
//! and `score(key)` read them. The computed values are in the customer's `custom_fields`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_scores")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: Uuid,
    /// A JSON object keyed by score key: `{value, label, explanation, pluginId, version,
    /// computedAt}`.
    pub details: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
