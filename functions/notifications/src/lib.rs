//! The notifications endpoint group: channels (Slack, Teams, PagerDuty, email) an org's events
//! are delivered to — create, list, read, update, remove, their recent deliveries — and a test
//! message. Webhook URLs and routing keys live only in the secret store
//! (`notification/<nch_…>`) and are shown masked. Delivery itself is `dtap_shared::notify`.

mod handlers;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(handlers::create_channel, handlers::list_channels))
        .routes(routes!(
            handlers::get_channel,
            handlers::update_channel,
            handlers::remove_channel
        ))
        .routes(routes!(handlers::list_deliveries))
        .routes(routes!(handlers::test_channel))
}
