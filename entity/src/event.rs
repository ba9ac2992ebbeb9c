//! One committed change, recorded in the change's own transaction (the outbox).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// From one sequence: increasing, with gaps (see the migration that creates the table for
    /// how a reader misses none).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: Uuid,
    /// `interaction.recorded`, `complaint.transitioned`, …
    pub name: String,
    /// The GraphQL type of the record changed: `Customer`, `Interaction`, …
    pub entity: String,
    pub entity_id: Uuid,
    /// The customer the record is of (the record itself for a customer). Who may hear of an
    /// event is decided when it is delivered, by the record's own visibility rules.
    pub customer_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// The customer's owner when the change was made, for events of customers: once a customer
    /// is deleted, nothing else tells who may hear of it.
    pub owner_id: Option<Uuid>,
    /// The GraphQL names of the fields the change set, changed or cleared.
    pub changed_fields: Json,
    pub at: DateTimeUtc,
    /// The writing transaction's id on PostgreSQL (set by the database); `None` on SQLite.
    pub txid: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
