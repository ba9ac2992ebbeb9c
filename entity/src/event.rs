//! One committed change, recorded in the change's own transaction (the outbox).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Increasing per tenant in commit order (see `event_counters`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// `interaction.recorded`, `complaint.transitioned`, …
    pub name: String,
    /// The GraphQL type of the record changed: `Customer`, `Interaction`, …
    pub entity: String,
    pub entity_id: Uuid,
    /// The customer the record is of (the record itself for a customer): who may hear of it.
    pub customer_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// The GraphQL names of the fields the change set, changed or cleared.
    pub changed_fields: Json,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
