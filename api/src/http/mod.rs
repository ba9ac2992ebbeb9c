//! The actix application: routes, limits, request ids, metrics.

pub mod auth;
pub mod graphql;
pub mod health;
pub mod metrics;

use actix_web::web;

use crate::app::AppState;

/// Registers every route on an actix app.
pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    let body_limit = state.config.max_body_bytes;
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(body_limit))
        .service(
            web::resource("/graphql")
                .route(web::post().to(graphql::post))
                .route(web::get().to(graphql::get))
                .route(web::route().to(graphql::method_not_allowed)),
        )
        .route("/graphiql", web::get().to(graphql::graphiql))
        .route("/schema.graphql", web::get().to(graphql::sdl))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::render));
}
