//! How the ticker hands an org to a scanner: EventBridge events in AWS (one scanner Lambda
//! invocation per org, so a slow org never delays another), a channel to in-process scan tasks
//! locally. Schedule runs travel the same way: the ticker hands each due run to the scanner
//! function as a `ScheduleDue` event (to an in-process runner locally).

use async_trait::async_trait;
use tokio::sync::mpsc;

use chrono::{DateTime, Utc};

use crate::domain::ids::{ExecutionId, OrgId, ScheduleId};

/// The `source` and `detail-type` of scan requests; the scanner's EventBridge rule matches them.
pub const EVENT_SOURCE: &str = "digitaltap.monitoring";
pub const SCAN_REQUESTED: &str = "ScanRequested";
/// The `detail-type` of a schedule run handed to the scanner function.
pub const SCHEDULE_DUE: &str = "ScheduleDue";
/// PutEvents takes at most 10 entries per call.
const ENTRIES_PER_CALL: usize = 10;

#[async_trait]
pub trait ScanDispatcher: Send + Sync {
    async fn dispatch(&self, orgs: Vec<OrgId>) -> anyhow::Result<()>;
}

/// The detail of a scan request event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanRequest {
    pub org_id: OrgId,
}

impl ScanRequest {
    /// The request an EventBridge event carries (`detail-type` `ScanRequested`, `detail`
    /// `{"org_id": …}`); `None` for anything else.
    pub fn from_event(event: &serde_json::Value) -> Option<Self> {
        if event.get("detail-type").and_then(serde_json::Value::as_str) != Some(SCAN_REQUESTED) {
            return None;
        }
        let org = event.pointer("/detail/org_id")?.as_str()?;
        Some(Self {
            org_id: OrgId::parse(org)?,
        })
    }
}

/// One schedule run to carry out: the execution (already recorded `running`) of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleRun {
    pub org_id: OrgId,
    pub schedule_id: ScheduleId,
    pub execution_id: ExecutionId,
    /// The cron time the run is for; `None` for a manual run.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
}

impl ScheduleRun {
    /// The run an EventBridge event carries (`detail-type` `ScheduleDue`); `None` for anything else.
    pub fn from_event(event: &serde_json::Value) -> Option<Self> {
        if event.get("detail-type").and_then(serde_json::Value::as_str) != Some(SCHEDULE_DUE) {
            return None;
        }
        let detail = event.get("detail")?;
        Some(Self {
            org_id: OrgId::parse(detail.get("org_id")?.as_str()?)?,
            schedule_id: ScheduleId::parse(detail.get("schedule_id")?.as_str()?)?,
            execution_id: ExecutionId::parse(detail.get("execution_id")?.as_str()?)?,
            due_at: detail
                .get("due_at")
                .and_then(serde_json::Value::as_str)
                .and_then(|at| at.parse().ok()),
        })
    }
}

/// Hands schedule runs to whoever carries them out.
#[async_trait]
pub trait ScheduleDispatcher: Send + Sync {
    async fn dispatch_runs(&self, runs: Vec<ScheduleRun>) -> anyhow::Result<()>;
}

/// Publishes one `ScanRequested` event per org on an EventBridge bus, ten per call.
pub struct EventBridgeDispatcher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeDispatcher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl ScanDispatcher for EventBridgeDispatcher {
    async fn dispatch(&self, orgs: Vec<OrgId>) -> anyhow::Result<()> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        for batch in orgs.chunks(ENTRIES_PER_CALL) {
            let entries = batch
                .iter()
                .map(|org| {
                    let detail = serde_json::to_string(&ScanRequest {
                        org_id: org.clone(),
                    })?;
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(EVENT_SOURCE)
                        .detail_type(SCAN_REQUESTED)
                        .detail(detail)
                        .build())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let answer = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| {
                    anyhow::anyhow!(
                        "PutEvents failed: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(err)
                    )
                })?;
            let failed = answer.failed_entry_count();
            if failed > 0 {
                // Those orgs' next scan time has already moved on; they are scanned at the next
                // interval rather than twice.
                tracing::error!(
                    failed,
                    "some scan requests were not accepted by EventBridge"
                );
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ScheduleDispatcher for EventBridgeDispatcher {
    async fn dispatch_runs(&self, runs: Vec<ScheduleRun>) -> anyhow::Result<()> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        for batch in runs.chunks(ENTRIES_PER_CALL) {
            let entries = batch
                .iter()
                .map(|run| {
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(EVENT_SOURCE)
                        .detail_type(SCHEDULE_DUE)
                        .detail(serde_json::to_string(run)?)
                        .build())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let answer = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| {
                    anyhow::anyhow!(
                        "PutEvents failed: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(err)
                    )
                })?;
            for (run, entry) in batch.iter().zip(answer.entries()) {
                if let Some(code) = entry.error_code() {
                    // The run stays `running` in its execution record, for the record.
                    tracing::error!(org_id = %run.org_id, schedule_id = %run.schedule_id, execution_id = %run.execution_id, code, "a schedule run was not accepted by EventBridge");
                }
            }
        }
        Ok(())
    }
}

/// Hands schedule runs to the in-process runner (`monitor::local`).
#[derive(Clone)]
pub struct ScheduleChannelDispatcher(pub mpsc::UnboundedSender<ScheduleRun>);

#[async_trait]
impl ScheduleDispatcher for ScheduleChannelDispatcher {
    async fn dispatch_runs(&self, runs: Vec<ScheduleRun>) -> anyhow::Result<()> {
        for run in runs {
            self.0
                .send(run)
                .map_err(|_| anyhow::anyhow!("the schedule runner has stopped"))?;
        }
        Ok(())
    }
}

/// Hands orgs to the in-process scan runner (`monitor::local`).
#[derive(Clone)]
pub struct ChannelDispatcher(pub mpsc::UnboundedSender<OrgId>);

#[async_trait]
impl ScanDispatcher for ChannelDispatcher {
    async fn dispatch(&self, orgs: Vec<OrgId>) -> anyhow::Result<()> {
        for org in orgs {
            self.0
                .send(org)
                .map_err(|_| anyhow::anyhow!("the scan runner has stopped"))?;
        }
        Ok(())
    }
}
