use chrono::{DateTime, Utc};
use dtap_shared::store::repos::executions::ExecutionRecord;
use dtap_shared::store::repos::schedules::ScheduleRecord;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A schedule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    #[schema(example = "sch_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    #[schema(example = "Night Hibernate")]
    name: String,
    /// time | idle | cost
    #[serde(rename = "type")]
    #[schema(example = "time")]
    kind: String,
    /// Time schedules: the five-field cron expression.
    #[schema(example = "0 22 * * 1-5")]
    cron: Option<String>,
    /// Time schedules: the IANA time zone the cron is read in.
    #[schema(example = "America/New_York")]
    timezone: Option<String>,
    /// Time schedules: local dates on which it does not fire.
    exclude_dates: Vec<String>,
    /// Idle and cost schedules.
    #[schema(value_type = Option<Object>)]
    threshold: Option<Value>,
    /// hibernate | resume | resize
    #[schema(example = "hibernate")]
    action: String,
    /// Resize: worker nodes to resize to.
    target_nodes: Option<u32>,
    cluster_ids: Vec<String>,
    enabled: bool,
    /// Enabled time schedules: the next run.
    next_run_at: Option<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&ScheduleRecord> for ScheduleView {
    fn from(record: &ScheduleRecord) -> Self {
        let when = record.spec.when.as_ref();
        Self {
            id: record.id.to_string(),
            name: record.spec.name.clone(),
            kind: record.spec.kind.as_str().to_owned(),
            cron: when.map(|when| when.cron().to_string()),
            timezone: when.map(|when| when.timezone().name().to_owned()),
            exclude_dates: when
                .map(|when| {
                    when.exclude_dates()
                        .iter()
                        .map(|date| date.format("%Y-%m-%d").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            threshold: record
                .spec
                .threshold
                .as_ref()
                .and_then(|threshold| serde_json::to_value(threshold).ok()),
            action: record.spec.action.as_str().to_owned(),
            target_nodes: record.spec.target_nodes,
            cluster_ids: record.spec.cluster_ids.clone(),
            enabled: record.spec.enabled,
            next_run_at: record.due_at(),
            last_run_at: record.last_run_at,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// What a run did to one cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterOutcomeView {
    cluster_id: String,
    platform_id: Option<String>,
    /// The action recorded (see `GET /v1/monitoring/actions`), when one was.
    action_id: Option<String>,
    /// completed | failed | skipped
    #[schema(example = "completed")]
    status: String,
    /// Why it failed or was skipped.
    error: Option<String>,
}

/// One run of a schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    #[schema(example = "exec_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    schedule_id: String,
    /// time | manual | idle | cost
    #[schema(example = "time")]
    trigger: String,
    /// running | completed | partial | failed | skipped
    #[schema(example = "completed")]
    status: String,
    /// Time runs: the cron time the run was for.
    due_at: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// Manual runs: who asked.
    requested_by: Option<String>,
    reason: Option<String>,
    clusters: Vec<ClusterOutcomeView>,
}

impl From<&ExecutionRecord> for ExecutionView {
    fn from(record: &ExecutionRecord) -> Self {
        Self {
            id: record.id.to_string(),
            schedule_id: record.schedule_id.to_string(),
            trigger: word(&record.trigger),
            status: word(&record.status),
            due_at: record.due_at,
            started_at: record.created_at,
            finished_at: record.finished_at,
            requested_by: record.requested_by.clone(),
            reason: record.reason.clone(),
            clusters: record
                .clusters
                .iter()
                .map(|outcome| ClusterOutcomeView {
                    cluster_id: outcome.cluster_id.clone(),
                    platform_id: outcome.platform_id.clone(),
                    action_id: outcome.action_id.as_ref().map(ToString::to_string),
                    status: word(&outcome.status),
                    error: outcome.error.clone(),
                })
                .collect(),
        }
    }
}
