//! The account endpoint group: `GET /v1/account`, its usage, billing, savings and alerts, and the
//! caller's API keys under `/v1/account/api-keys`.

mod alerts;
mod api_keys;
mod billing;
mod details;
mod savings;
mod usage;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(details::account))
        .routes(routes!(usage::usage))
        .routes(routes!(billing::billing))
        .routes(routes!(savings::savings))
        .routes(routes!(alerts::alerts))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(api_keys::rotate))
}
