//! Idle and cost rules, evaluated by the scanner on the observation it has just made: no extra
//! platform reads to decide, and the same action path to act.
//!
//! - **Idle**: a cluster of the rule's set that is quiet by the rule's CPU threshold now and has
//!   been quiet (by the scanner's idle bookkeeping) for `idle_minutes` is acted on once per idle
//!   episode: a marker keyed by the episode's start is written before acting (and removed again
//!   when the platform fails, so the next scan retries).
//! - **Cost**: a running cluster whose run rate (`hourly_cost`, or 24 × it against `daily_usd`)
//!   is over the limit (`scope: cluster`), or every running cluster of the set when their sum is
//!   (`scope: set`). It acts on every scan while over the limit; the action path's guards make a
//!   repeat a no-op (a hibernated cluster is not running, a resized one is at its size).
//!
//! Each evaluation that acts on at least one cluster is recorded as an execution.

use std::collections::HashSet;

use chrono::Duration;

use super::run::{Acting, act};
use crate::AppState;
use crate::domain::cluster_cost::round;
use crate::domain::idle::IdleRule;
use crate::domain::ids::{ExecutionId, OrgId};
use crate::domain::platform::ClusterState;
use crate::domain::schedule::{CostScope, ScheduleAction, ScheduleKind, Threshold};
use crate::monitor::checks::StillQuiet;
use crate::monitor::{Observation, Observed};
use crate::operations::Precondition;
use crate::store::repos::executions::{
    self, ExecutionRecord, ExecutionStatus, OutcomeStatus, Trigger,
};
use crate::store::repos::schedules::{self, ScheduleRecord};
use crate::store::{Condition, Item, StoreError, keys};

/// How long an idle-episode marker is kept: longer than any metric history.
const FIRED_MARKER_DAYS: i64 = 8;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RuleReport {
    /// Idle and cost rules evaluated.
    pub rules: usize,
    /// Executions recorded (rules that acted).
    pub executions: Vec<ExecutionId>,
}

/// Evaluates the org's enabled idle and cost schedules against `observation`.
pub async fn evaluate_rules(
    state: &AppState,
    org: &OrgId,
    observation: &Observation,
) -> anyhow::Result<RuleReport> {
    let mut report = RuleReport::default();
    let rules: Vec<ScheduleRecord> = schedules::list(state.store.as_ref(), org)
        .await?
        .into_iter()
        .filter(|schedule| schedule.spec.enabled && schedule.spec.kind != ScheduleKind::Time)
        .collect();
    for schedule in &rules {
        report.rules += 1;
        if let Some(execution) = evaluate(state, schedule, observation).await? {
            report.executions.push(execution);
        }
    }
    Ok(report)
}

struct Candidate<'a> {
    observed: &'a Observed,
    reason: String,
    /// Idle rules: the marker of the episode, written before acting.
    marker: Option<Item>,
}

async fn evaluate(
    state: &AppState,
    schedule: &ScheduleRecord,
    observation: &Observation,
) -> anyhow::Result<Option<ExecutionId>> {
    let store = state.store.as_ref();
    let now = observation.at;
    let set: HashSet<(&str, &str)> = schedule
        .clusters
        .iter()
        .map(|cluster| (cluster.platform_id.as_str(), cluster.cluster_id.as_str()))
        .collect();
    let in_set: Vec<&Observed> = observation
        .clusters
        .iter()
        .filter(|observed| {
            set.contains(&(observed.platform.id.as_str(), observed.info.id.as_str()))
                && !observed.ours()
                && observed.info.state == ClusterState::Running
                && !already_sized(schedule, observed)
        })
        .collect();
    let name = &schedule.spec.name;
    let mut candidates = Vec::new();
    let (trigger, idle_rule) = match schedule.spec.threshold {
        Some(Threshold::Idle(threshold)) => {
            let rule = IdleRule {
                threshold_pct: threshold.cpu_pct,
                threshold_minutes: threshold.idle_minutes,
            };
            for observed in in_set {
                let Some(episode) = observed.watch.idle_since else {
                    continue;
                };
                if !(observed.reading.is_quiet(&rule) && observed.watch.is_idle(now, &rule)) {
                    continue;
                }
                let marker = Item::new(keys::rule_fired(
                    &schedule.org_id,
                    &schedule.id,
                    &observed.platform.id,
                    &observed.info.id,
                    episode,
                ))
                .with_attr("at", keys::timestamp(now))
                .expiring_at((now + Duration::days(FIRED_MARKER_DAYS)).timestamp());
                candidates.push(Candidate {
                    observed,
                    reason: format!(
                        "Schedule \"{name}\": idle for {} minutes (CPU < {}%)",
                        observed.watch.idle_minutes(now),
                        threshold.cpu_pct
                    ),
                    marker: Some(marker),
                });
            }
            (Trigger::Idle, Some(rule))
        }
        Some(Threshold::Cost(threshold)) => {
            let limit = match (threshold.hourly_usd, threshold.daily_usd) {
                (Some(hourly), _) => format!("${hourly}/hour"),
                (None, Some(daily)) => format!("${daily}/day"),
                (None, None) => String::new(),
            };
            match threshold.scope {
                CostScope::Cluster => {
                    for observed in in_set {
                        if let Some(cost) = observed.hourly_cost
                            && threshold.exceeded_by(cost)
                        {
                            candidates.push(Candidate {
                                observed,
                                reason: format!(
                                    "Schedule \"{name}\": ${}/hour is over {limit}",
                                    round(cost, 2)
                                ),
                                marker: None,
                            });
                        }
                    }
                }
                CostScope::Set => {
                    let total: f64 = in_set.iter().filter_map(|o| o.hourly_cost).sum();
                    if threshold.exceeded_by(total) {
                        for observed in in_set {
                            candidates.push(Candidate {
                                observed,
                                reason: format!(
                                    "Schedule \"{name}\": the set's ${}/hour is over {limit}",
                                    round(total, 2)
                                ),
                                marker: None,
                            });
                        }
                    }
                }
            }
            (Trigger::Cost, None)
        }
        None => return Ok(None),
    };
    // Only clusters whose episode has not been acted on yet.
    let mut acting = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if let Some(marker) = &candidate.marker {
            match store.put(marker.clone(), Condition::NotExists).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        acting.push(candidate);
    }
    if acting.is_empty() {
        return Ok(None);
    }
    let mut execution = ExecutionRecord::new(
        &schedule.org_id,
        &schedule.id,
        trigger,
        ExecutionStatus::Running,
        now,
    );
    execution.claimed = true;
    execution.reason = acting.first().map(|candidate| candidate.reason.clone());
    executions::create(store, &execution).await?;
    for candidate in acting {
        let Some(platform) = observation.connectors.get(&candidate.observed.platform.id) else {
            continue;
        };
        let quiet;
        let extra: Option<&dyn Precondition> = match &idle_rule {
            Some(rule) => {
                quiet = StillQuiet {
                    state,
                    platform: platform.as_ref(),
                    cluster_id: &candidate.observed.info.id,
                    rule,
                };
                Some(&quiet)
            }
            None => None,
        };
        let outcome = act(
            state,
            schedule,
            trigger,
            Acting {
                record: &candidate.observed.platform,
                platform: platform.as_ref(),
                cluster_id: &candidate.observed.info.id,
                managed: candidate.observed.managed.clone(),
            },
            candidate.reason,
            extra,
        )
        .await;
        if outcome.status == OutcomeStatus::Failed
            && let Some(marker) = &candidate.marker
            && let Err(err) = store.delete(&marker.key, Condition::Always).await
        {
            tracing::error!(
                error = format!("{err:#}"),
                "could not clear an idle-rule marker"
            );
        }
        execution.clusters.push(outcome);
    }
    execution.settle(state.clock.now());
    executions::replace(store, &execution).await?;
    tracing::info!(org_id = %schedule.org_id, schedule_id = %schedule.id, execution_id = %execution.id, status = ?execution.status, "schedule rule acted");
    Ok(Some(execution.id))
}

/// A resize rule has nothing to do on a cluster already at its size.
fn already_sized(schedule: &ScheduleRecord, observed: &Observed) -> bool {
    schedule.spec.action == ScheduleAction::Resize
        && schedule.spec.target_nodes == Some(observed.info.workers)
}
