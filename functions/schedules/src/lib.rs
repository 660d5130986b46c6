//! The schedules endpoint group: time rules (cron in a time zone, with holidays), idle rules and
//! cost rules that hibernate, resume or resize a set of the org's clusters; "run now"; and each
//! schedule's executions.
//!
//! Time schedules are run by the ticker (the monitoring tick, every minute), idle and cost rules
//! by the scanner (`dtap_shared::schedules`). `POST /schedules/{id}/run` records the execution
//! `running` and hands it off: in Lambda as a `ScheduleDue` event to the scanner function (so the
//! API answers at once and the work is not frozen with the HTTP function), in one process
//! (`dtap-local`, tests) to a task.

mod handlers;
mod views;

use std::sync::Arc;

use axum::Extension;
use dtap_shared::api::edge::Routes;
use dtap_shared::monitor::dispatch::{EventBridgeDispatcher, ScheduleDispatcher};
use utoipa_axum::routes;

/// Where manual runs go when the process cannot run them itself (Lambda): without it they run as
/// a task of this process.
#[derive(Clone)]
pub struct RunHandoff(pub Arc<dyn ScheduleDispatcher>);

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(handlers::create_schedule, handlers::list_schedules))
        .routes(routes!(
            handlers::get_schedule,
            handlers::update_schedule,
            handlers::delete_schedule
        ))
        .routes(routes!(handlers::run_schedule))
        .routes(routes!(handlers::list_executions))
}

/// The routes as the Lambda function serves them: manual runs are published on the event bus
/// (`DTAP_EVENT_BUS`, default `default`) for the scanner function.
pub async fn lambda_routes() -> Routes {
    let config = aws_config::load_from_env().await;
    let bus = std::env::var("DTAP_EVENT_BUS").unwrap_or_else(|_| "default".to_owned());
    let dispatcher = EventBridgeDispatcher::new(aws_sdk_eventbridge::Client::new(&config), bus);
    routes().layer(Extension(RunHandoff(Arc::new(dispatcher))))
}
