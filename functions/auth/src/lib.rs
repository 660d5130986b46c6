//! The auth endpoint group: `POST /v1/auth/register`, `/login`, `/reset-password` and
//! `/reset-password/confirm`.

mod login;
mod register;
mod reset;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(register::register))
        .routes(routes!(login::login))
        .routes(routes!(reset::request_reset))
        .routes(routes!(reset::confirm_reset))
}
