//! Assembles the routers of one or more endpoint groups into the served application: the `/v1`
//! routes and their `/api` alias, the envelope 404/405, the body limit, tracing and request ids.
//! Every function (and the local server) serves through [`app`], so they behave alike.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::error::ApiError;
use super::json::BODY_LIMIT;
use super::{rate_limit, request_id};
use crate::AppState;

/// The routes of an endpoint group, written relative to the version prefix (`/auth/login`).
pub type Routes = OpenApiRouter<AppState>;

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The OpenAPI description of the given groups, with paths under `/v1`.
pub fn openapi(routes: Routes) -> OpenApi {
    let (_, relative) = routes.split_for_parts();
    let mut doc = super::openapi::base();
    doc.merge(relative);
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (format!("/v1{path}"), item))
        .collect();
    doc
}

/// The application serving `routes` under `/v1` and `/api`.
pub fn app(routes: Routes, state: AppState) -> Router {
    let (relative, _) = routes.split_for_parts();
    let relative = relative
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Router::new()
        .nest("/v1", relative.clone())
        .nest("/api", relative)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(rate_limit::report))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(request_id::assign))
}
