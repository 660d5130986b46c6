//! The clusters endpoint group: every cluster of the org's connected platforms with its hourly
//! cost (`GET /v1/clusters`), one cluster's details with today's cost and water
//! (`GET /v1/clusters/{platform}/{cluster_id}`), and hibernate/resume.
//!
//! Costs come from the catalog (`domain::catalog`, cloud VMs only, no DBUs) and water and CO2
//! from the sustainability model (`domain::sustainability`). An action on a cluster is recorded
//! `pending` before the platform is asked, and guarded by a conditional write on the cluster's
//! record, so two callers cannot both act.

mod handlers;
mod optimize;
mod resolve;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(handlers::list_clusters))
        .routes(routes!(handlers::get_cluster))
        .routes(routes!(handlers::hibernate_cluster))
        .routes(routes!(handlers::resume_cluster))
        .routes(routes!(optimize::analyze))
        .routes(routes!(optimize::optimize))
}
