//! `GET /v1/health`, `GET /v1/openapi.json`, and [`all_routes`]: the one list of every endpoint
//! group, from which the local server is built and the OpenAPI document generated.

use std::sync::OnceLock;

use axum::Json;
use dtap_shared::api::Envelope;
use dtap_shared::api::edge::{self, Routes};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;
use utoipa_axum::routes;

/// This function's own routes.
pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(health))
        .routes(routes!(openapi))
}

/// Every endpoint group of the product. A new function is added here once.
pub fn all_routes() -> Routes {
    routes()
        .merge(dtap_auth::routes())
        .merge(dtap_account::routes())
        .merge(dtap_orgs::routes())
        .merge(dtap_platforms::routes())
        .merge(dtap_clusters::routes())
        .merge(dtap_insights::routes())
        .merge(dtap_warm_pools::routes())
        .merge(dtap_monitoring::routes())
        .merge(dtap_notifications::routes())
        .merge(dtap_schedules::routes())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

/// Liveness; needs no credentials.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
pub async fn health() -> Envelope<Health> {
    Envelope(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The OpenAPI 3.1 description of every endpoint, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<&'static OpenApi> {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    Json(DOC.get_or_init(|| edge::openapi(all_routes())))
}
