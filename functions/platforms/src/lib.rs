//! The platforms endpoint group: connect a Databricks, EMR, Dataproc or Synapse account
//! (`POST /v1/platforms`), list and read them, rename them or replace their credentials, remove
//! them, and test their connectivity.
//!
//! Credentials are checked against the platform before anything is stored, and are kept only in
//! the secret store (`platform/<plat_…>`): no response, log line or table item carries them.

mod handlers;
mod verify;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(
            handlers::connect_platform,
            handlers::list_platforms
        ))
        .routes(routes!(
            handlers::get_platform,
            handlers::update_platform,
            handlers::remove_platform
        ))
        .routes(routes!(handlers::test_platform))
}
