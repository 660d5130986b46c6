//! The ticker Lambda: invoked every minute by an EventBridge rate rule. It finds the orgs whose
//! scan is due (one index query) and publishes a `ScanRequested` event for each on the bus, where
//! the scanner function's rule picks them up — one scanner invocation per org.

use dtap_shared::api::telemetry;
use dtap_shared::monitor::dispatch::EventBridgeDispatcher;
use dtap_shared::monitor::tick;
use dtap_shared::runtime::{Adapters, Mode};
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
        let report = tick(adapters.store.as_ref(), adapters.clock.now(), dispatcher)
            .await
            .map_err(lambda_runtime::Error::from)?;
        Ok::<_, lambda_runtime::Error>(json!({"due": report.due, "dispatched": report.dispatched}))
    }))
    .await
}
