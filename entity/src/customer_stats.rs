//! A customer's figures, maintained in the same transaction as every interaction or complaint
//! write, so reads never scan the timeline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_stats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: Uuid,
    pub purchase_count: i64,
    /// `{ "CNY": "1200.00", "USD": "12.50" }`: purchase totals per currency, canonical decimal
    /// strings. The tenant's base currency is picked at read time, so changing it rewrites nothing.
    pub purchase_totals: Json,
    pub first_purchase_at: Option<DateTimeUtc>,
    pub last_purchase_at: Option<DateTimeUtc>,
    pub interaction_count: i64,
    /// `{ "VISIT": 3, … }`.
    pub interaction_counts: Json,
    pub last_interaction_at: Option<DateTimeUtc>,
    /// `{ "VISIT": "2026-11-20T10:00:00Z", … }`: the latest interaction of each kind (scoring
    /// snapshots count days since each from it).
    pub last_interaction_at_by_kind: Json,
    pub satisfaction_sum: i64,
    pub satisfaction_count: i64,
    pub would_buy_again_yes: i64,
    pub would_buy_again_count: i64,
    /// `{ "HIGH": 1, … }`: complaints not yet resolved or closed.
    pub complaints_open: Json,
    /// `{ "HIGH": 4, … }`: every complaint.
    pub complaints_total: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
