//! The warm pool endpoint group: configure, list and inspect warm pools, and their status. On
//! Databricks a warm pool is an instance pool (`min_idle_instances` = `min_nodes`,
//! `max_capacity` = `max_nodes`, `node_type_id` = `instance_type`) that the record is kept in
//! step with: the platform is changed first, then the record. Other platform types have no
//! pools to keep warm, and are refused with 400.

mod handlers;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(handlers::create_pool, handlers::list_pools))
        .routes(routes!(handlers::pools_status))
        .routes(routes!(
            handlers::get_pool,
            handlers::update_pool,
            handlers::delete_pool
        ))
}
