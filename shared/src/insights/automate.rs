//! `auto_rightsize` and `auto_spot_failover`: what the scanner does after its own pass, on the
//! same observation, through the shared action path (`operations::reconfigure`, action types
//! `rightsize` and `spot_failover`). Pause (`enabled: false`) stops everything; excluded
//! clusters and clusters Digital Tap hibernated are never touched; [`plan`] alone is the dry run.
//!
//! Per platform: only Databricks changes a cluster's node type or spot settings in place
//! (`clusters/edit`), and it restarts a running cluster to do so, so automation edits only
//! terminated clusters: a running one is planned with the reason and edited once it is stopped.
//! EMR instance groups and Dataproc machine types cannot change on an existing cluster, and
//! Synapse pools are sized by node size, not catalog types: those are planned as refused, with
//! the reason, and never acted on.

use async_trait::async_trait;
use chrono::Duration;
use serde_json::{Value, json};

use super::history::WINDOW_HOURS;
use super::history_of;
use super::rightsize::rightsize;
use crate::AppState;
use crate::domain::cluster_cost;
use crate::domain::ids::{ActionId, OrgId, PlatformId};
use crate::domain::platform::{ClusterState, PlatformKind};
use crate::monitor::{Observation, Observed};
use crate::operations::{self, Initiator, OpError, Precondition, Target, connect_databricks};
use crate::platforms::databricks::Databricks;
use crate::platforms::databricks_pools::spot_without_fallback;
use crate::store::repos::actions::ActionType;
use crate::store::repos::monitors::{self, MonitorRecord};

/// One change automation would make (or refuses to make, with why).
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub platform_id: PlatformId,
    pub cluster_id: String,
    pub action: ActionType,
    /// What changes, for the action's reason (`i3.2xlarge → i3.xlarge`).
    pub detail: String,
    /// Set when it is not to be done now, and why.
    pub refused: Option<String>,
    change: Change,
}

#[derive(Clone, Debug, PartialEq)]
enum Change {
    NodeType {
        from: String,
        to: String,
    },
    SpotFallback {
        field: &'static str,
        to: &'static str,
    },
}

#[derive(Debug, Default)]
pub struct AutomationReport {
    pub planned: Vec<Planned>,
    pub acted: Vec<ActionId>,
    pub failed: usize,
}

fn edit_refusal(kind: PlatformKind, state: ClusterState) -> Option<String> {
    match kind {
        PlatformKind::Databricks if state == ClusterState::Stopped => None,
        PlatformKind::Databricks => Some(
            "clusters/edit restarts a running Databricks cluster; it is changed once the cluster is terminated"
                .to_owned(),
        ),
        PlatformKind::Emr => Some(
            "EMR cannot change the instance type of an existing cluster's instance groups".to_owned(),
        ),
        PlatformKind::Dataproc => {
            Some("Dataproc cannot change the machine type of an existing cluster".to_owned())
        }
        PlatformKind::Synapse => Some(
            "Synapse pools are sized by node size, not by catalog instance types".to_owned(),
        ),
    }
}

/// What automation would do now, changing nothing (the dry run). Empty when the org is paused
/// or neither automation is on.
pub async fn plan(
    state: &AppState,
    org: &OrgId,
    observation: &Observation,
    monitor: &MonitorRecord,
) -> anyhow::Result<Vec<Planned>> {
    let config = &monitor.config;
    if !monitor.automation_allowed() || !(config.auto_rightsize || config.auto_spot_failover) {
        return Ok(Vec::new());
    }
    let since_ms = (observation.at - Duration::hours(WINDOW_HOURS)).timestamp_millis();
    let mut planned = Vec::new();
    for observed in &observation.clusters {
        if config.excludes(&observed.info.id) || observed.ours() {
            continue;
        }
        let kind = observed.platform.kind;
        if config.auto_rightsize {
            let history =
                history_of(state, org, &observed.platform.id, &observed.info.id, config).await?;
            let region = cluster_cost::region(&observed.info, observed.platform.region.as_deref());
            let sizing = rightsize(&history, &observed.info, region);
            if let (Some(from), Some(to)) = (sizing.current_type, sizing.recommended_type) {
                planned.push(Planned {
                    platform_id: observed.platform.id.clone(),
                    cluster_id: observed.info.id.clone(),
                    action: ActionType::Rightsize,
                    detail: format!(
                        "{from} → {to} (p95 CPU {:.1}%, memory {:.1}%), saves ${:.2}/month",
                        sizing.p95_cpu_pct.unwrap_or_default(),
                        sizing.p95_memory_pct.unwrap_or_default(),
                        sizing.savings_monthly
                    ),
                    refused: edit_refusal(kind, observed.info.state),
                    change: Change::NodeType { from, to },
                });
            }
        }
        if config.auto_spot_failover
            && kind == PlatformKind::Databricks
            && let Some(spot) = spot_plan(state, observed, since_ms).await
        {
            planned.push(spot);
        }
    }
    Ok(planned)
}

/// A Databricks cluster on spot without fallback that lost nodes in the week: fall back to
/// on-demand when spot capacity is not there. Read failures plan nothing (logged).
async fn spot_plan(state: &AppState, observed: &Observed, since_ms: i64) -> Option<Planned> {
    let databricks = match connect_databricks(state, &observed.platform).await {
        Ok(Some(databricks)) => databricks,
        Ok(None) => return None,
        Err(why) => {
            tracing::warn!(platform_id = %observed.platform.id, error = %why, "spot failover: cannot connect");
            return None;
        }
    };
    let id = observed.info.id.as_str();
    let read = async {
        let (spec, _) = databricks.cluster_spec(id).await?;
        let Some((field, from, to)) = spot_without_fallback(&spec) else {
            return Ok(None);
        };
        let lost = databricks.lost_nodes_since(id, since_ms).await?;
        Ok::<_, crate::platforms::PlatformError>(lost.then_some((field, from, to)))
    };
    match read.await {
        Ok(Some((field, from, to))) => Some(Planned {
            platform_id: observed.platform.id.clone(),
            cluster_id: id.to_owned(),
            action: ActionType::SpotFailover,
            detail: format!(
                "{field}.availability {from} → {to}: the cluster lost spot nodes in the last 7 days"
            ),
            refused: edit_refusal(PlatformKind::Databricks, observed.info.state),
            change: Change::SpotFallback { field, to },
        }),
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(cluster_id = id, error = %err, "spot failover: reading the cluster failed");
            None
        }
    }
}

/// The last look before a change: automation still on for this action, not paused, the cluster
/// not excluded since the scan began.
struct StillAllowed<'a> {
    state: &'a AppState,
    org: &'a OrgId,
    cluster_id: &'a str,
    action: ActionType,
}

#[async_trait]
impl Precondition for StillAllowed<'_> {
    async fn holds(&self) -> Result<(), String> {
        let monitor = monitors::get(self.state.store.as_ref(), self.org)
            .await
            .map_err(|err| format!("could not re-read the monitoring settings: {err}"))?
            .ok_or_else(|| "the organization is no longer monitored".to_owned())?;
        let on = match self.action {
            ActionType::Rightsize => monitor.config.auto_rightsize,
            _ => monitor.config.auto_spot_failover,
        };
        if !monitor.automation_allowed() {
            Err("automation is paused".to_owned())
        } else if !on || monitor.config.excludes(self.cluster_id) {
            Err("automation no longer applies to this cluster".to_owned())
        } else {
            Ok(())
        }
    }
}

/// Applies a change to a terminated Databricks cluster's spec, read fresh: the cluster must still
/// be terminated and still have the value the plan saw.
async fn apply(
    databricks: &Databricks,
    cluster_id: &str,
    change: &Change,
) -> crate::platforms::PlatformResult<()> {
    use crate::platforms::PlatformError;
    let (mut spec, state) = databricks.cluster_spec(cluster_id).await?;
    if state != "TERMINATED" {
        return Err(PlatformError::InvalidState(format!(
            "cluster {cluster_id} is {state}; only terminated clusters are edited"
        )));
    }
    match change {
        Change::NodeType { from, to } => {
            if spec.get("node_type_id").and_then(Value::as_str) != Some(from) {
                return Err(PlatformError::InvalidState(format!(
                    "cluster {cluster_id} no longer uses {from}"
                )));
            }
            if spec.get("driver_node_type_id").and_then(Value::as_str) == Some(from.as_str()) {
                spec["driver_node_type_id"] = json!(to);
            }
            spec["node_type_id"] = json!(to);
        }
        Change::SpotFallback { field, to } => {
            if spot_without_fallback(&spec).map(|(f, _, _)| f) != Some(*field) {
                return Err(PlatformError::InvalidState(format!(
                    "cluster {cluster_id} is no longer on spot without fallback"
                )));
            }
            spec[*field]["availability"] = json!(to);
        }
    }
    databricks.edit_cluster(cluster_id, spec).await
}

/// Plans, then makes every change that is not refused, each through the action path with a last
/// check of pause and exclusions. The scanner calls this after its own pass.
pub async fn automate(
    state: &AppState,
    org: &OrgId,
    observation: &Observation,
    monitor: &MonitorRecord,
) -> anyhow::Result<AutomationReport> {
    let mut report = AutomationReport {
        planned: plan(state, org, observation, monitor).await?,
        ..AutomationReport::default()
    };
    for planned in report.planned.iter().filter(|p| p.refused.is_none()) {
        let Some(observed) = observation
            .clusters
            .iter()
            .find(|o| o.platform.id == planned.platform_id && o.info.id == planned.cluster_id)
        else {
            continue;
        };
        let Some(platform) = observation.connectors.get(&planned.platform_id) else {
            continue;
        };
        let databricks = match connect_databricks(state, &observed.platform).await {
            Ok(Some(databricks)) => databricks,
            Ok(None) => continue,
            Err(why) => {
                tracing::warn!(platform_id = %planned.platform_id, error = %why, "automation: cannot connect");
                report.failed += 1;
                continue;
            }
        };
        let check = StillAllowed {
            state,
            org,
            cluster_id: &planned.cluster_id,
            action: planned.action,
        };
        let target = Target {
            org,
            record: &observed.platform,
            platform: platform.as_ref(),
            cluster_id: &planned.cluster_id,
            managed: observed.managed.clone(),
        };
        let outcome = operations::reconfigure(
            state,
            target,
            Initiator::Monitor,
            planned.action,
            planned.detail.clone(),
            Some(&check),
            apply(&databricks, &planned.cluster_id, &planned.change),
        )
        .await;
        match outcome {
            Ok(action) => report.acted.push(action.id),
            Err(OpError::Platform(_)) => report.failed += 1,
            Err(OpError::Store(err)) => return Err(err.into()),
            Err(other) => {
                tracing::info!(org_id = %org, cluster_id = %planned.cluster_id, outcome = %other, "automatic change not made");
            }
        }
    }
    Ok(report)
}
