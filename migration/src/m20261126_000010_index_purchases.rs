//! An index of the PURCHASE interactions by customer and time, for the purchase windows (how
//! many purchases in the last 90 and 365 days) that every scoring snapshot and every
//! `Customer.stats` computes as of now. Through the index of all interactions by customer,
//! PostgreSQL read each customer's whole recent timeline and dropped the other kinds (about
//! 45 µs per customer, 10 ms per scoring batch of 200), and SQLite walked the tenant's
//! purchases of the whole year through the kind index; this one holds only the purchases
//! (2.7 ms per batch on PostgreSQL).

use sea_orm_migration::prelude::*;

use crate::partial_index::PartialIndex;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000010_index_purchases"
    }
}

const INDEX: PartialIndex = PartialIndex {
    name: "interactions_purchase_time_idx",
    table: "interactions",
    columns: &["tenant_id", "customer_id", "occurred_at"],
    only: ("kind", "PURCHASE"),
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        INDEX.create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        INDEX.drop(manager).await
    }
}
