//! The actix application: routes, limits, request ids, metrics.

pub mod auth;
pub mod demo_page;
mod documents;
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod metrics;
mod state;
pub mod ws;

use actix_web::middleware::Compress;
use actix_web::web;

pub use state::AppState;

/// Registers every route on an actix app.
pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    let body_limit = state.config.max_body_bytes;
    let demo = state.config.demo_page;
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(body_limit))
        .service(
            web::resource("/graphql")
                .route(web::post().to(graphql::post))
                .route(web::get().to(graphql::get))
                .route(web::route().to(graphql::method_not_allowed)),
        )
        .route("/graphiql", web::get().to(graphiql::page))
        // Compressed on the way out (1.5 MB become 0.6 MB); browsers then
        // keep the files, so each is sent about once per browser and version.
        .service(
            web::resource("/graphiql/assets/{dir}/{file}")
                .wrap(Compress::default())
                .route(web::get().to(graphiql::asset)),
        )
        .route("/schema.graphql", web::get().to(graphql::sdl))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::render));
    if demo {
        cfg.route("/demo", web::get().to(demo_page::page)).route("/demo/{file}", web::get().to(demo_page::file));
    }
}
