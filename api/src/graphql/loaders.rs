//! DataLoaders: one per relation, each a single `IN (…)` query per batch.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use guanxi_entity::user;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::Error;
use crate::store;

/// Users of one tenant by id (customer owners, audit actors).
pub struct UsersById {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Loader<Uuid> for UsersById {
    type Value = user::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = store::users::find_many(&self.db, self.tenant_id, keys).await.map_err(Arc::new)?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}
