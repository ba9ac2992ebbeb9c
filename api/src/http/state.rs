//! What every request shares: built once by `app`, read by each handler.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::feed::Feed;
use crate::domain::identity::IdentityCache;
use crate::domain::plugins::Plugins;
use crate::graphql::SchemaCache;
use crate::rate::{InFlight, RateLimiter};

/// Everything requests share.
pub struct AppState {
    pub db: DatabaseConnection,
    pub auth: Authenticator,
    pub identities: IdentityCache,
    /// Persisted documents this server has read (automatic persisted queries, trusted ones).
    pub documents: crate::domain::documents::Documents,
    pub schemas: Arc<SchemaCache>,
    pub plugins: Arc<Plugins>,
    pub rates: RateLimiter,
    /// Each tenant's operations in flight.
    pub turns: InFlight,
    pub config: Config,
    pub metrics: PrometheusHandle,
    /// The change events subscriptions hear of.
    pub feed: Arc<Feed>,
    /// Subscriptions held per tenant.
    pub subscribers: super::ws::Subscribers,
    /// Runs of subscriptions' documents, shared by those that would make the same one.
    pub runs: super::ws::SharedRuns,
    /// How webhooks are registered and sent; rings the sender.
    pub webhooks: Arc<crate::domain::webhooks::Rules>,
    /// Cancelled at SIGTERM or SIGINT: sockets close (1001) so their clients go elsewhere
    /// while requests drain.
    pub closing: tokio_util::sync::CancellationToken,
}
