//! An index of the PURCHASE interactions by customer and time, for the purchase windows (how
//! many purchases in the last 90 and 365 days) that every scoring snapshot and every
//! `Customer.stats` computes as of now. Through the index of all interactions by customer,
//! PostgreSQL read each customer's whole recent timeline and dropped the other kinds (about
//! 45 µs per customer, 10 ms per scoring batch of 200), and SQLite walked the tenant's
//! purchases of the whole year through the kind index; this one holds only the purchases
//! (2.7 ms per batch on PostgreSQL).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000010_index_purchases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("interactions_purchase_time_idx")
                    .table(Alias::new("interactions"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("customer_id"))
                    .col(Alias::new("occurred_at"))
                    .and_where(Expr::col(Alias::new("kind")).eq("PURCHASE"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop().name("interactions_purchase_time_idx").table(Alias::new("interactions")).to_owned(),
            )
            .await
    }
}
