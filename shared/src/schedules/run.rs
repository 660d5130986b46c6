use std::collections::HashMap;

use async_trait::async_trait;
use futures::StreamExt;

use crate::AppState;
use crate::domain::ids::{OrgId, PlatformId};
use crate::domain::schedule::ScheduleAction;
use crate::monitor::dispatch::ScheduleRun;
use crate::notify::{ClusterRef, NotificationEvent};
use crate::operations::{self, Initiator, OpError, Precondition, Target, connect_record};
use crate::platforms::Platform;
use crate::store::repos::clusters::{self as managed, ClusterRecord};
use crate::store::repos::executions::{
    self, ClusterOutcome, ExecutionRecord, ExecutionStatus, OutcomeStatus, Trigger,
};
use crate::store::repos::monitors;
use crate::store::repos::platforms::{self as platforms_repo, PlatformRecord};
use crate::store::repos::schedules::{self, ScheduleCluster, ScheduleRecord};

/// Clusters acted on at once in one run.
const ACTIONS_AT_ONCE: usize = 4;

/// What an automated run checks right before acting on a cluster, read fresh from the store:
/// the org's automation is not paused and the cluster is not excluded from it.
pub struct ScheduleAllowed<'a> {
    pub state: &'a AppState,
    pub org: &'a OrgId,
    pub cluster_id: &'a str,
}

#[async_trait]
impl Precondition for ScheduleAllowed<'_> {
    async fn holds(&self) -> Result<(), String> {
        let monitor = monitors::load(self.state.store.as_ref(), self.org, self.state.clock.now())
            .await
            .map_err(|err| format!("could not re-read the monitoring config: {err}"))?;
        if !monitor.automation_allowed() {
            return Err("monitoring is paused".to_owned());
        }
        if monitor.config.excludes(self.cluster_id) {
            return Err("the cluster is excluded from automation".to_owned());
        }
        Ok(())
    }
}

/// Both checks, in order.
pub(super) struct Both<'a>(pub &'a dyn Precondition, pub &'a dyn Precondition);

#[async_trait]
impl Precondition for Both<'_> {
    async fn holds(&self) -> Result<(), String> {
        self.0.holds().await?;
        self.1.holds().await
    }
}

/// Carries out a run the ticker (or `POST /run`) recorded `running`: takes it (a second delivery
/// of the same run does nothing), acts on each cluster of the schedule, and records the outcome.
/// `None` when there was nothing to do.
pub async fn run_execution(
    state: &AppState,
    run: &ScheduleRun,
) -> anyhow::Result<Option<ExecutionRecord>> {
    let store = state.store.as_ref();
    let Some(mut execution) =
        executions::get(store, &run.org_id, &run.schedule_id, &run.execution_id).await?
    else {
        tracing::warn!(org_id = %run.org_id, schedule_id = %run.schedule_id, execution_id = %run.execution_id, "no such execution");
        return Ok(None);
    };
    if execution.claimed || execution.status != ExecutionStatus::Running {
        return Ok(None);
    }
    if !executions::claim(store, &execution).await? {
        return Ok(None);
    }
    execution.claimed = true;
    match schedules::get(store, &run.org_id, &run.schedule_id).await? {
        None => {
            execution.reason = Some("the schedule was deleted before it ran".to_owned());
            execution.settle(state.clock.now());
        }
        Some(schedule) => {
            let reason = match execution.trigger {
                Trigger::Manual => format!("Schedule \"{}\" run now", schedule.spec.name),
                _ => time_reason(&schedule),
            };
            let connectors = connect_all(state, &schedule.org_id, &schedule.clusters).await?;
            let ours = managed_by_id(state, &schedule.org_id).await?;
            let mut attempts = Vec::with_capacity(schedule.clusters.len());
            for cluster in &schedule.clusters {
                let managed = ours
                    .get(&(cluster.platform_id.clone(), cluster.cluster_id.clone()))
                    .cloned();
                let connector = connectors.get(&cluster.platform_id);
                let reason = reason.clone();
                let schedule = &schedule;
                let trigger = execution.trigger;
                attempts.push(async move {
                    match connector {
                        Some(Ok((record, platform))) => {
                            act(
                                state,
                                schedule,
                                trigger,
                                Acting {
                                    record,
                                    platform: platform.as_ref(),
                                    cluster_id: &cluster.cluster_id,
                                    managed,
                                },
                                reason,
                                None,
                            )
                            .await
                        }
                        Some(Err(why)) => {
                            outcome(cluster, OutcomeStatus::Failed, Some(why.clone()))
                        }
                        None => outcome(
                            cluster,
                            OutcomeStatus::Failed,
                            Some("the platform is not connected".to_owned()),
                        ),
                    }
                });
            }
            execution.clusters = futures::stream::iter(attempts)
                .buffered(ACTIONS_AT_ONCE)
                .collect()
                .await;
            execution.settle(state.clock.now());
        }
    }
    executions::replace(store, &execution).await?;
    tracing::info!(org_id = %execution.org_id, schedule_id = %execution.schedule_id, execution_id = %execution.id, status = ?execution.status, "schedule run finished");
    let name = schedules::get(store, &run.org_id, &run.schedule_id)
        .await?
        .map_or_else(
            || run.schedule_id.to_string(),
            |schedule| schedule.spec.name,
        );
    crate::notify::publish(
        state,
        &execution.org_id,
        NotificationEvent::schedule_executed(
            execution.schedule_id.as_str(),
            &name,
            &execution_summary(&execution),
        ),
    )
    .await;
    Ok(Some(execution))
}

fn time_reason(schedule: &ScheduleRecord) -> String {
    match &schedule.spec.when {
        Some(when) => format!(
            "Schedule \"{}\" ({} {})",
            schedule.spec.name,
            when.cron(),
            when.timezone()
        ),
        None => format!("Schedule \"{}\"", schedule.spec.name),
    }
}

type Connected = Result<(PlatformRecord, Box<dyn Platform>), String>;

/// A connector for each platform the clusters are on, or why there is none.
async fn connect_all(
    state: &AppState,
    org: &OrgId,
    clusters: &[ScheduleCluster],
) -> anyhow::Result<HashMap<PlatformId, Connected>> {
    let mut connected = HashMap::new();
    for cluster in clusters {
        if connected.contains_key(&cluster.platform_id) {
            continue;
        }
        let outcome =
            match platforms_repo::get(state.store.as_ref(), org, &cluster.platform_id).await? {
                None => Err("the platform is no longer connected".to_owned()),
                Some(record) => match connect_record(state, &record).await {
                    Ok(platform) => Ok((record, platform)),
                    Err(why) => Err(why),
                },
            };
        connected.insert(cluster.platform_id.clone(), outcome);
    }
    Ok(connected)
}

/// The org's managed clusters by platform and by both their first and current ids.
async fn managed_by_id(
    state: &AppState,
    org: &OrgId,
) -> anyhow::Result<HashMap<(PlatformId, String), ClusterRecord>> {
    let mut found = HashMap::new();
    for record in managed::list(state.store.as_ref(), org).await? {
        found.insert(
            (
                record.platform_id.clone(),
                record.current_cluster_id.clone(),
            ),
            record.clone(),
        );
        found.insert(
            (record.platform_id.clone(), record.cluster_id.clone()),
            record,
        );
    }
    Ok(found)
}

fn outcome(
    cluster: &ScheduleCluster,
    status: OutcomeStatus,
    error: Option<String>,
) -> ClusterOutcome {
    ClusterOutcome {
        cluster_id: cluster.cluster_id.clone(),
        platform_id: Some(cluster.platform_id.to_string()),
        action_id: None,
        status,
        error,
    }
}

/// One cluster to act on.
pub(super) struct Acting<'a> {
    pub record: &'a PlatformRecord,
    pub platform: &'a dyn Platform,
    pub cluster_id: &'a str,
    pub managed: Option<ClusterRecord>,
}

/// Acts on one cluster through the shared action path. An automated run checks pause and
/// exclusions (and `extra`, e.g. that an idle cluster is still quiet) right before the platform
/// is asked; a manual run checks nothing beyond the action path's own guards.
pub(super) async fn act(
    state: &AppState,
    schedule: &ScheduleRecord,
    trigger: Trigger,
    acting: Acting<'_>,
    reason: String,
    extra: Option<&dyn Precondition>,
) -> ClusterOutcome {
    let org = &schedule.org_id;
    let cluster_id = acting.cluster_id;
    let allowed = ScheduleAllowed {
        state,
        org,
        cluster_id,
    };
    let both;
    let precondition: Option<&dyn Precondition> = match (trigger.automated(), extra) {
        (false, _) => None,
        (true, None) => Some(&allowed),
        (true, Some(extra)) => {
            both = Both(&allowed, extra);
            Some(&both)
        }
    };
    let cluster = ClusterRef {
        platform_id: acting.record.id.clone(),
        platform: acting.record.kind,
        cluster_id: cluster_id.to_owned(),
        name: acting
            .managed
            .as_ref()
            .map_or_else(|| cluster_id.to_owned(), |managed| managed.name.clone()),
    };
    let target = Target {
        org,
        record: acting.record,
        platform: acting.platform,
        cluster_id,
        managed: acting.managed,
    };
    let initiator = Initiator::Schedule(schedule.id.to_string());
    let done = match schedule.spec.action {
        ScheduleAction::Hibernate => {
            operations::hibernate(state, target, initiator, reason, precondition)
                .await
                .map(|done| done.action.id)
        }
        ScheduleAction::Resume => {
            // Resume takes no claim-time check; pause and exclusions are read just before.
            let check = match precondition {
                Some(precondition) => precondition.holds().await.map_err(OpError::Skipped),
                None => Ok(()),
            };
            match check {
                Ok(()) => operations::resume(state, target, initiator, reason)
                    .await
                    .map(|done| done.action.id),
                Err(skipped) => Err(skipped),
            }
        }
        ScheduleAction::Resize => {
            let workers = schedule.spec.target_nodes.unwrap_or_default();
            operations::resize(state, target, initiator, reason, workers, precondition)
                .await
                .map(|done| done.action.id)
        }
    };
    let by = format!("Schedule \"{}\"", schedule.spec.name);
    let notice = match (&done, schedule.spec.action) {
        (Ok(_), ScheduleAction::Hibernate) => {
            Some(NotificationEvent::cluster_hibernated(cluster.clone(), &by))
        }
        (Ok(_), ScheduleAction::Resume) => {
            Some(NotificationEvent::cluster_resumed(cluster.clone()))
        }
        (Err(OpError::Platform(err)), action) => Some(NotificationEvent::action_failed(
            cluster.clone(),
            action_word(action),
            &err.to_string(),
            None,
        )),
        _ => None,
    };
    if let Some(notice) = notice {
        crate::notify::publish(state, org, notice).await;
    }
    let (status, action_id, error) = match done {
        Ok(action) => (OutcomeStatus::Completed, Some(action), None),
        Err(OpError::Platform(err)) => (OutcomeStatus::Failed, None, Some(err.to_string())),
        Err(OpError::Store(err)) => {
            tracing::error!(org_id = %org, cluster_id, error = format!("{err:#}"), "a schedule could not record an action");
            (
                OutcomeStatus::Failed,
                None,
                Some("the action could not be recorded".to_owned()),
            )
        }
        Err(other) => (OutcomeStatus::Skipped, None, Some(other.to_string())),
    };
    ClusterOutcome {
        cluster_id: cluster_id.to_owned(),
        platform_id: Some(acting.record.id.to_string()),
        action_id,
        status,
        error,
    }
}

fn action_word(action: ScheduleAction) -> &'static str {
    match action {
        ScheduleAction::Hibernate => "hibernate",
        ScheduleAction::Resume => "resume",
        ScheduleAction::Resize => "resize",
    }
}

/// `completed: 3 done, 1 skipped` — what a run did, for its notification.
fn execution_summary(execution: &ExecutionRecord) -> String {
    let count = |wanted: OutcomeStatus| {
        execution
            .clusters
            .iter()
            .filter(|outcome| outcome.status == wanted)
            .count()
    };
    let status = serde_json::to_value(execution.status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{status}: {} done, {} failed, {} skipped",
        count(OutcomeStatus::Completed),
        count(OutcomeStatus::Failed),
        count(OutcomeStatus::Skipped)
    )
}
