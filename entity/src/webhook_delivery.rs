//! One event to send to one webhook, with the outcome of its latest attempt.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// uuid v7: newest last.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The outbox event sent (`events.id`).
    pub event_id: i64,
    /// Its name: `customer.updated`, …
    pub event: String,
    /// Attempts begun so far (one is counted when it is claimed, so an attempt whose sender died
    /// counts too).
    pub attempt: i32,
    /// PENDING, DELIVERED or FAILED.
    pub status: String,
    /// The HTTP status of the latest answer, if one came.
    pub response_status: Option<i32>,
    /// What went wrong in the latest attempt.
    pub error: Option<String>,
    /// When a PENDING delivery is due.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// After this, a failed attempt is the last: the delivery is FAILED.
    pub retry_until: DateTimeUtc,
    /// While in the future, a sender holds the delivery; once past, another may claim it.
    pub lease_until: Option<DateTimeUtc>,
    /// The holder's claim: its outcome is recorded only while the claim is still its own.
    pub claim: Option<Uuid>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
