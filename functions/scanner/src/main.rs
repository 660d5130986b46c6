//! The scanner Lambda: one invocation per `ScanRequested` event (published by the ticker), which
//! scans that one org. Orgs never wait on one another: each has its own invocation. It also
//! carries out schedule runs (`ScheduleDue` events, from the ticker or `POST /schedules/{id}/run`).

use dtap_shared::AppState;
use dtap_shared::api::telemetry;
use dtap_shared::monitor::dispatch::{ScanRequest, ScheduleRun};
use dtap_shared::monitor::scan_org;
use dtap_shared::runtime::Mode;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init(telemetry::Format::Json);
    let mode = Mode::from_env(std::env::temp_dir().join("dtap"), true)?;
    let state = AppState::for_mode(&mode).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if let Some(run) = ScheduleRun::from_event(&event.payload) {
            let done = dtap_shared::schedules::run_execution(state, &run)
                .await
                .map_err(lambda_runtime::Error::from)?;
            return Ok(json!({
                "execution_id": run.execution_id,
                "status": done.map(|execution| execution.status),
            }));
        }
        // A malformed event would fail the same way on every retry: log it and drop it.
        let Some(request) = ScanRequest::from_event(&event.payload) else {
            tracing::error!("ignoring an event that is not a scan request");
            return Ok::<_, lambda_runtime::Error>(json!({"scanned": false}));
        };
        let report = scan_org(state, &request.org_id)
            .await
            .map_err(lambda_runtime::Error::from)?;
        Ok(json!({
            "scanned": report.skipped.is_none(),
            "clusters": report.clusters_seen,
            "idle": report.idle,
            "hibernated": report.hibernated.len(),
            "failed": report.failed,
            "schedule_runs": report.schedule_runs.len(),
        }))
    }))
    .await
}
