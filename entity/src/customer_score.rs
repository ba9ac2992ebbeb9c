//! What the scorers computed for a customer, kept apart from the customer row so that scoring
//! does not rewrite it: the computed field values and the tier, which every customer read joins
//! in, and the details, which only `Customer.scores` and `score(key)` read. Every customer has
//! one row, made with it.

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
    /// The values of the fields plugins compute, keyed like `customers.custom_fields`.
    pub computed: Json,
    /// Value tier, ranked from the value score; `None` until ranked.
    pub tier: Option<String>,
    /// A fingerprint of the computed values last written, to compare new scores with.
    pub values_hash: Option<i64>,
    /// A fingerprint of the details last written, without their times.
    pub details_hash: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
