//! The insight endpoint group, computed from the organization's own measured week (the scanner's
//! metric points) and the instance catalog (`dtap_shared::insights`): cross-platform insights,
//! right-sizing, 24-hour usage predictions and per-cluster recommendations. Two of its routes sit
//! under `/clusters`; in AWS the API Gateway sends those two paths here (more specific routes
//! than the clusters function's `/v1/clusters/{proxy+}`).

mod handlers;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(handlers::insights))
        .routes(routes!(handlers::rightsizing))
        .routes(routes!(handlers::predictions))
        .routes(routes!(handlers::recommendations))
}
