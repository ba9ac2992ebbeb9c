//! An index of only the rows whose one column holds one value (migrations 9 and 10): small
//! enough that probing it per customer beats reading the table.

use sea_orm_migration::prelude::*;

pub struct PartialIndex {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
    /// The rows it holds: those whose column `.0` equals `.1`.
    pub only: (&'static str, &'static str),
}

impl PartialIndex {
    pub async fn create(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        let mut index = Index::create();
        index.name(self.name).table(Alias::new(self.table));
        for column in self.columns {
            index.col(Alias::new(*column));
        }
        index.and_where(Expr::col(Alias::new(self.only.0)).eq(self.only.1));
        manager.create_index(index).await
    }

    pub async fn drop(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(self.name).table(Alias::new(self.table)).to_owned()).await
    }
}
