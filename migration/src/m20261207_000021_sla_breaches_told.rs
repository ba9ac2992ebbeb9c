//! Which of a complaint's deadlines were announced as breached (`complaint.sla_breached`), so
//! each is announced once, by one replica. Deadlines already past when this runs are counted as
//! announced: nothing is announced after the fact. A partial index per deadline holds only the
//! complaints still to be announced, so the check that runs every few seconds reads only those.
//! On PostgreSQL the server's index builder makes those indexes `CONCURRENTLY` after the
//! migrations (`store::deferred_indexes` in the api crate): migrations run in one transaction,
//! where a build on a large complaints table would block every tenant's writes to it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::ChronoUtc;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000021_sla_breaches_told"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Complaints {
    Table,
    ResponseDueAt,
    RespondedAt,
    ResponseBreachTold,
    ResolutionDueAt,
    ResolvedAt,
    ResolutionBreachTold,
}

/// (deadline, when it was met, told, index name)
const DEADLINES: [(Complaints, Complaints, Complaints, &str); 2] = [
    (
        Complaints::ResponseDueAt,
        Complaints::RespondedAt,
        Complaints::ResponseBreachTold,
        "complaints_response_breach_idx",
    ),
    (
        Complaints::ResolutionDueAt,
        Complaints::ResolvedAt,
        Complaints::ResolutionBreachTold,
        "complaints_resolution_breach_idx",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = ChronoUtc::now();
        for (due, done, told, index) in DEADLINES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Complaints::Table)
                        .add_column(ColumnDef::new(told).boolean().not_null().default(false))
                        .to_owned(),
                )
                .await?;
            let past = Query::update()
                .table(Complaints::Table)
                .value(told, true)
                .and_where(Expr::col(done).is_null())
                .and_where(Expr::col(due).lt(now))
                .to_owned();
            manager.exec_stmt(past).await?;
            if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
                continue;
            }
            // The predicate is written as the check writes it, so both databases see that the
            // index serves it.
            let mut create = Index::create();
            create
                .name(index)
                .table(Complaints::Table)
                .col(due)
                .and_where(Expr::col(done).is_null())
                .and_where(Expr::cust(format!("{} = FALSE", told.to_string())));
            manager.create_index(create).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (_, _, told, index) in DEADLINES {
            manager.drop_index(Index::drop().name(index).table(Complaints::Table).if_exists().to_owned()).await?;
            manager.alter_table(Table::alter().table(Complaints::Table).drop_column(told).to_owned()).await?;
        }
        Ok(())
    }
}
