//! Runs of a schedule (`ORG#o / EXEC#<sch_…>#<exec_…>`): created `running` (or `skipped`, for a
//! run missed beyond the grace period), then finished with each cluster's outcome. Kept 90 days.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ids::{ActionId, ExecutionId, OrgId, ScheduleId};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

/// How long an execution is kept.
pub const RETENTION_DAYS: i64 = 90;

/// What started the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The cron time came (the ticker).
    Time,
    /// `POST /v1/schedules/{id}/run`.
    Manual,
    /// An idle rule, from a scan.
    Idle,
    /// A cost rule, from a scan.
    Cost,
}

impl Trigger {
    /// Runs made by the system, which respect pause and exclusions; a manual run is a person's call.
    pub fn automated(self) -> bool {
        self != Self::Manual
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Running,
    /// Every cluster acted on (or already as asked), none failed.
    Completed,
    /// Some clusters acted on, some failed.
    Partial,
    /// Clusters failed and none was acted on.
    Failed,
    /// Nothing was attempted: a run missed beyond the grace period, or every cluster skipped
    /// (paused, excluded, already in the state asked).
    Skipped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeStatus {
    Completed,
    Failed,
    Skipped,
}

/// What a run did to one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterOutcome {
    pub cluster_id: String,
    #[serde(default)]
    pub platform_id: Option<String>,
    /// The action recorded through the shared action path, when one was.
    #[serde(default)]
    pub action_id: Option<ActionId>,
    pub status: OutcomeStatus,
    /// Why it failed or was skipped.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub org_id: OrgId,
    pub schedule_id: ScheduleId,
    pub trigger: Trigger,
    pub status: ExecutionStatus,
    /// The cron time the run was for (time runs).
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Who asked (`usr_…`), for a manual run.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// Why the run was skipped, or what the rule saw.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub clusters: Vec<ClusterOutcome>,
    /// Set by the runner that takes the run, so a second delivery of the same run does nothing.
    #[serde(default)]
    pub claimed: bool,
}

impl ExecutionRecord {
    pub fn new(
        org: &OrgId,
        schedule: &ScheduleId,
        trigger: Trigger,
        status: ExecutionStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: ExecutionId::generate(),
            org_id: org.clone(),
            schedule_id: schedule.clone(),
            trigger,
            status,
            due_at: None,
            created_at: now,
            finished_at: (status != ExecutionStatus::Running).then_some(now),
            requested_by: None,
            reason: None,
            clusters: Vec::new(),
            claimed: false,
        }
    }

    pub fn item(&self) -> StoreResult<Item> {
        Ok(Item::from_record(
            keys::execution(&self.org_id, &self.schedule_id, &self.id),
            self,
        )
        .map_err(StoreError::Backend)?
        .expiring_at((self.created_at + Duration::days(RETENTION_DAYS)).timestamp()))
    }

    /// The status of a finished run from its clusters' outcomes.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        let count = |wanted| {
            self.clusters
                .iter()
                .filter(|outcome| outcome.status == wanted)
                .count()
        };
        let (done, failed) = (
            count(OutcomeStatus::Completed),
            count(OutcomeStatus::Failed),
        );
        self.status = match (done, failed) {
            (0, 0) => ExecutionStatus::Skipped,
            (_, 0) => ExecutionStatus::Completed,
            (0, _) => ExecutionStatus::Failed,
            _ => ExecutionStatus::Partial,
        };
        self.finished_at = Some(now);
    }
}

pub async fn create(table: &dyn Table, record: &ExecutionRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::NotExists).await
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    schedule: &ScheduleId,
    id: &ExecutionId,
) -> StoreResult<Option<ExecutionRecord>> {
    table
        .get(&keys::execution(org, schedule, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// Takes a `running` run for this runner; `false` when another runner already took it (the
/// event was delivered twice) or it is no longer running.
pub async fn claim(table: &dyn Table, record: &ExecutionRecord) -> StoreResult<bool> {
    let mut taken = record.clone();
    taken.claimed = true;
    let condition = Condition::AttrEquals("claimed".to_owned(), Value::Bool(false));
    match table.put(taken.item()?, condition).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Rewrites a recorded run (its outcome).
pub async fn replace(table: &dyn Table, record: &ExecutionRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::Exists).await
}

/// A schedule's runs, newest first, at most `limit`.
pub async fn recent(
    table: &dyn Table,
    org: &OrgId,
    schedule: &ScheduleId,
    limit: usize,
) -> StoreResult<Vec<ExecutionRecord>> {
    let query = Query::partition(Index::Primary, keys::org_partition(org))
        .begins_with(keys::executions_prefix(schedule))
        .limit(limit.clamp(1, 1000))
        .descending();
    let page = table.query(&query).await?;
    page.items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect()
}
