//! The account endpoint group: `GET /v1/account` (usage, billing, savings, alerts and API keys
//! arrive with the organizations issue).

mod details;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new().routes(routes!(details::account))
}
