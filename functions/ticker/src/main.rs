//! The ticker Lambda: invoked every minute by an EventBridge rate rule. It finds the orgs whose
//! scan is due (one index query) and publishes a `ScanRequested` event for each on the bus, where
//! the scanner function's rule picks them up — one scanner invocation per org. It does the same
//! for the schedules that are due (`ScheduleDue` events): one rule for every schedule, not one
//! EventBridge rule per schedule.

use dtap_shared::api::telemetry;
use dtap_shared::monitor::dispatch::EventBridgeDispatcher;
use dtap_shared::monitor::tick;
use dtap_shared::runtime::{Adapters, Mode};
use dtap_shared::schedules::tick_schedules;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(telemetry::Format::Json);
    let mode = Mode::from_env(std::env::temp_dir().join("dtap"), true)?;
    let adapters = Adapters::for_mode(&mode).await?;
    let config = aws_config::load_from_env().await;
    let bus = std::env::var("DTAP_EVENT_BUS").unwrap_or_else(|_| "default".to_owned());
    let dispatcher = EventBridgeDispatcher::new(aws_sdk_eventbridge::Client::new(&config), bus);
    let (adapters, dispatcher) = (&adapters, &dispatcher);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let now = adapters.clock.now();
        let report = tick(adapters.store.as_ref(), now, dispatcher)
            .await
            .map_err(lambda_runtime::Error::from)?;
        let runs = tick_schedules(adapters.store.as_ref(), now, dispatcher)
            .await
            .map_err(lambda_runtime::Error::from)?;
        Ok::<_, lambda_runtime::Error>(json!({
            "due": report.due,
            "dispatched": report.dispatched,
            "schedules_due": runs.due,
            "schedule_runs": runs.started,
            "schedule_runs_skipped": runs.skipped,
        }))
    }))
    .await
}
