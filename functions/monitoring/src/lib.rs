//! The monitoring endpoint group: status, config, the actions feed, per-cluster metrics, and the
//! emergency pause. As the documentation shows them, these answer bare objects, not the
//! `{success, data}` envelope (clients read `resp.json()["enabled"]`); errors keep the envelope.

mod actions;
mod config;
mod metrics;
mod pause;
mod status;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(status::status))
        .routes(routes!(config::update_config))
        .routes(routes!(actions::list_actions))
        .routes(routes!(metrics::cluster_metrics))
        .routes(routes!(pause::pause))
        .routes(routes!(pause::resume))
}
