//! Amazon EMR through aws-sdk-emr.
//!
//! EMR has no stop: a terminated cluster can never run again. Hibernating therefore snapshots
//! everything `RunJobFlow` needs to build the same cluster, then terminates it; resuming runs a
//! clone, which has a new `j-…` id. Steps are never copied: they are work that already ran (or
//! was cancelled), and re-running them on resume would repeat it.
//!
//! API calls, with pages of at most 50 clusters and usually one page of groups, steps and
//! bootstrap actions per cluster:
//! - `list_clusters`: one `ListClusters` per 50 clusters, then one `ListInstanceGroups` per
//!   cluster (four at a time), plus one `ListInstanceFleets` for each fleet cluster.
//! - `cluster`: `DescribeCluster` + `ListInstanceGroups` (or `ListInstanceFleets`).
//! - `hibernate`: `DescribeCluster`, `ListSteps` (active only), `ListInstanceGroups`,
//!   `ListBootstrapActions`, `GetAutoTerminationPolicy`, `TerminateJobFlows`: six calls.
//! - `resume`: one `RunJobFlow`.
//! - `resize`: `ListInstanceGroups` + `ModifyInstanceGroups`.
//! - `usage`: `DescribeCluster`, `ListSteps` (active), and one more `ListSteps` page when the
//!   cluster waits with nothing running, for the end of its last step; then one CloudWatch
//!   `GetMetricData` (three hours of `IsIdle` and `YARNMemoryAvailablePercentage`, five-minute
//!   periods).
//!
//! CloudWatch (`AWS/ElasticMapReduce`, dimension `JobFlowId`) gives what the EMR API cannot:
//! whether YARN runs anything (`IsIdle`, which also sees work that is not a step, such as
//! notebooks and interactive Spark) and how much of YARN's memory is taken (100 minus
//! `YARNMemoryAvailablePercentage`). EMR publishes no host CPU metric, so CPU stays unknown.
//! Metrics are best effort: a role without `cloudwatch:GetMetricData`, or CloudWatch failing,
//! leaves usage with what the EMR API said.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_emr::Client;
use aws_sdk_emr::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_emr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_emr::types::{
    self as emr, ClusterState as EmrState, InstanceCollectionType, InstanceFleetType,
    InstanceGroupState, InstanceGroupType, StepState,
};
use futures::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::credentials::{AwsAuth, EmrCredentials};
use super::{Access, Platform, PlatformError, PlatformResult, Resumed, Snapshot};
use crate::domain::platform::{ClusterInfo, ClusterState, PlatformKind, UsageSignals};

/// EMR usually takes 7–10 minutes from `RunJobFlow` to `WAITING`; eight is the middle of that.
pub const ESTIMATED_READY_SECONDS: u32 = 480;

/// The STS session name, so CloudTrail in the customer's account shows who acted.
const SESSION_NAME: &str = "digital-tap";

/// How many per-cluster calls a listing makes at once: EMR's describe/list quotas are low
/// (around 10 per second per account), and the SDK retries what is throttled anyway.
const LISTING_CONCURRENCY: usize = 4;

/// The states of a cluster that still exists, i.e. what bills or is about to.
const ACTIVE_STATES: [EmrState; 5] = [
    EmrState::Starting,
    EmrState::Bootstrapping,
    EmrState::Running,
    EmrState::Waiting,
    EmrState::Terminating,
];

/// Steps that are work in progress: terminating the cluster would kill them.
const ACTIVE_STEP_STATES: [StepState; 3] = [
    StepState::Pending,
    StepState::Running,
    StepState::CancelPending,
];

/// EMR's CloudWatch namespace; every cluster's metrics carry the dimension `JobFlowId`.
const METRICS_NAMESPACE: &str = "AWS/ElasticMapReduce";
/// EMR pushes its metrics every five minutes.
const METRIC_PERIOD_SECS: i64 = 300;
/// How far back usage looks, to find where the current run of `IsIdle` = 1 began.
const METRICS_WINDOW_SECS: i64 = 3 * 3600;
/// Metrics whose newest datapoint is older than this say nothing about now (a cluster that
/// stopped publishing, or CloudWatch lagging).
const METRICS_STALE_SECS: i64 = 15 * 60;
/// `IsIdle` must be 1 this many periods in a row before it counts: one sample between two jobs is
/// not idleness (AWS suggests alarming only after several). How long is long enough to hibernate
/// is still the idle detector's call.
const IDLE_SAMPLES: usize = 3;
/// Bounds the pages of one `GetMetricData` (three hours of two metrics is one page).
const MAX_METRIC_PAGES: usize = 10;

/// One AWS account and region's EMR, through one SDK client built at connect time, and its
/// CloudWatch through a second client from the same configuration.
pub struct Emr {
    client: Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    region: String,
}

/// CloudWatch's datapoints for one cluster, newest first.
#[derive(Debug, Default)]
struct ClusterMetrics {
    is_idle: Vec<(chrono::DateTime<chrono::Utc>, f64)>,
    memory_available: Vec<(chrono::DateTime<chrono::Utc>, f64)>,
}

/// What `IsIdle` says about YARN now.
#[derive(Debug, PartialEq)]
enum YarnIdleness {
    /// Idle for [`IDLE_SAMPLES`] periods or more, since `since`; `last_busy` ends the last
    /// period that was not idle, if the window holds one.
    Idle {
        since: chrono::DateTime<chrono::Utc>,
        last_busy: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Running something now, or idle too briefly to count.
    Busy {
        last_busy: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl ClusterMetrics {
    /// `IsIdle`, when its newest datapoint is recent enough to speak for now.
    fn idleness(&self, now: chrono::DateTime<chrono::Utc>) -> Option<YarnIdleness> {
        let (newest, _) = self.is_idle.first()?;
        if now - *newest > chrono::Duration::seconds(METRICS_STALE_SECS) {
            return None;
        }
        let run = self
            .is_idle
            .iter()
            .take_while(|(_, value)| *value >= 0.5)
            .count();
        let last_busy = self
            .is_idle
            .get(run)
            .map(|(at, _)| (*at + chrono::Duration::seconds(METRIC_PERIOD_SECS)).min(now));
        if run >= IDLE_SAMPLES {
            Some(YarnIdleness::Idle {
                since: self.is_idle[run - 1].0,
                last_busy,
            })
        } else {
            Some(YarnIdleness::Busy { last_busy })
        }
    }

    /// YARN memory in use, in percent, from the newest recent datapoint.
    fn memory_percent(&self, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
        let (at, available) = self.memory_available.first()?;
        (now - *at <= chrono::Duration::seconds(METRICS_STALE_SECS) && available.is_finite())
            .then(|| (100.0 - available).clamp(0.0, 100.0))
    }
}

impl Emr {
    /// Builds the client once: static keys, or STS AssumeRole credentials that the SDK caches
    /// until shortly before they expire. Nothing is called yet; [`Platform::check`] does that.
    pub async fn connect(credentials: &EmrCredentials) -> PlatformResult<Self> {
        let loader = base_loader(credentials);
        let config = match &credentials.auth {
            AwsAuth::AccessKeys {
                access_key_id,
                secret_access_key,
            } => {
                loader
                    .credentials_provider(Credentials::new(
                        access_key_id,
                        secret_access_key.expose_secret(),
                        None,
                        None,
                        "digital-tap-access-keys",
                    ))
                    .load()
                    .await
            }
            AwsAuth::AssumeRole {
                role_arn,
                external_id,
            } => {
                // The base credentials are ours (the Lambda role, or the environment locally);
                // STS is reached through the same endpoint override, so moto serves both.
                let base = loader.load().await;
                let mut builder = AssumeRoleProvider::builder(role_arn)
                    .session_name(SESSION_NAME)
                    .configure(&base);
                if let Some(external_id) = external_id {
                    builder = builder.external_id(external_id);
                }
                base.into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(builder.build().await))
                    .build()
            }
        };
        Ok(Self {
            client: Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            region: credentials.region.clone(),
        })
    }

    /// Reads metrics through this CloudWatch client instead of the one built from the EMR
    /// credentials (another endpoint, or a client that fails, in tests).
    pub fn with_cloudwatch(mut self, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        self.cloudwatch = cloudwatch;
        self
    }

    /// The cluster's `IsIdle` and `YARNMemoryAvailablePercentage` over the last three hours.
    async fn cluster_metrics(&self, id: &str) -> PlatformResult<ClusterMetrics> {
        // Whole periods, the current one included, as CloudWatch answers fastest.
        let end = (chrono::Utc::now().timestamp() / METRIC_PERIOD_SECS + 1) * METRIC_PERIOD_SECS;
        let start = end - METRICS_WINDOW_SECS;
        let query = |query_id: &str, metric: &str, stat: &str| {
            MetricDataQuery::builder()
                .id(query_id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(METRICS_NAMESPACE)
                                .metric_name(metric)
                                .dimensions(
                                    Dimension::builder().name("JobFlowId").value(id).build(),
                                )
                                .build(),
                        )
                        .period(METRIC_PERIOD_SECS as i32)
                        .stat(stat)
                        .build(),
                )
                .return_data(true)
                .build()
        };
        let mut metrics = ClusterMetrics::default();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_METRIC_PAGES {
            let page = self
                .cloudwatch
                .get_metric_data()
                // Minimum: a period with any sample of work in it is not idle.
                .metric_data_queries(query("is_idle", "IsIdle", "Minimum"))
                .metric_data_queries(query(
                    "memory_available",
                    "YARNMemoryAvailablePercentage",
                    "Average",
                ))
                .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(start))
                .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(next_token.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("GetMetricData", err))?;
            for result in page.metric_data_results() {
                let points = result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .filter_map(|(at, value)| Some((to_chrono(at)?, *value)));
                match result.id() {
                    Some("is_idle") => metrics.is_idle.extend(points),
                    Some("memory_available") => metrics.memory_available.extend(points),
                    _ => {}
                }
            }
            match next_marker(next_token.as_deref(), page.next_token) {
                Some(next) => next_token = Some(next),
                None => break,
            }
        }
        metrics
            .is_idle
            .sort_by_key(|point| std::cmp::Reverse(point.0));
        metrics
            .memory_available
            .sort_by_key(|point| std::cmp::Reverse(point.0));
        Ok(metrics)
    }

    async fn describe(&self, id: &str) -> PlatformResult<emr::Cluster> {
        self.client
            .describe_cluster()
            .cluster_id(id)
            .send()
            .await
            .map_err(|err| map_sdk_error("DescribeCluster", err))?
            .cluster
            .ok_or_else(|| PlatformError::Protocol("DescribeCluster returned no cluster".into()))
    }

    async fn instance_groups(&self, id: &str) -> PlatformResult<Vec<emr::InstanceGroup>> {
        let mut groups = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_instance_groups()
                .cluster_id(id)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("ListInstanceGroups", err))?;
            groups.extend(page.instance_groups.unwrap_or_default());
            match next_marker(marker.as_deref(), page.marker) {
                Some(next) => marker = Some(next),
                None => return Ok(groups),
            }
        }
    }

    async fn instance_fleets(&self, id: &str) -> PlatformResult<Vec<emr::InstanceFleet>> {
        let mut fleets = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_instance_fleets()
                .cluster_id(id)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("ListInstanceFleets", err))?;
            fleets.extend(page.instance_fleets.unwrap_or_default());
            match next_marker(marker.as_deref(), page.marker) {
                Some(next) => marker = Some(next),
                None => return Ok(fleets),
            }
        }
    }

    /// Instance types and worker count. Groups first, since most clusters use them; a fleet
    /// cluster has no groups (or EMR refuses to list them), and then its fleets say.
    async fn shape(&self, id: &str, fleets_known: Option<bool>) -> PlatformResult<Shape> {
        if fleets_known != Some(true) {
            match self.instance_groups(id).await {
                Ok(groups) if !groups.is_empty() || fleets_known == Some(false) => {
                    return Ok(Shape::of_groups(&groups));
                }
                Ok(_) | Err(PlatformError::InvalidState(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(Shape::of_fleets(&self.instance_fleets(id).await?))
    }

    async fn active_steps(&self, id: &str) -> PlatformResult<u32> {
        let mut count = 0u32;
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_steps()
                .cluster_id(id)
                .set_step_states(Some(ACTIVE_STEP_STATES.to_vec()))
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("ListSteps", err))?;
            count = count.saturating_add(page.steps().len() as u32);
            match next_marker(marker.as_deref(), page.marker) {
                Some(next) => marker = Some(next),
                None => return Ok(count),
            }
        }
    }

    async fn bootstrap_actions(&self, id: &str) -> PlatformResult<Vec<BootstrapDef>> {
        let mut actions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_bootstrap_actions()
                .cluster_id(id)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("ListBootstrapActions", err))?;
            actions.extend(page.bootstrap_actions().iter().map(|action| BootstrapDef {
                name: action.name().unwrap_or("bootstrap").to_owned(),
                path: action.script_path().unwrap_or_default().to_owned(),
                args: action.args().to_vec(),
            }));
            match next_marker(marker.as_deref(), page.marker) {
                Some(next) => marker = Some(next),
                None => return Ok(actions),
            }
        }
    }

    /// The idle timeout of the cluster's auto-termination policy. Best effort: older releases
    /// and some regions do not support the API, and a clone without the policy is still the
    /// cluster the customer had.
    async fn auto_termination_seconds(&self, id: &str) -> PlatformResult<Option<i64>> {
        match self
            .client
            .get_auto_termination_policy()
            .cluster_id(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.auto_termination_policy.and_then(|p| p.idle_timeout)),
            Err(err) => match map_sdk_error("GetAutoTerminationPolicy", err) {
                err @ (PlatformError::Unauthorized(_)
                | PlatformError::Throttled(_)
                | PlatformError::Unavailable(_)) => Err(err),
                other => {
                    tracing::warn!(cluster_id = %id, error = %other, "auto-termination policy not readable; the clone will have none");
                    Ok(None)
                }
            },
        }
    }

    fn info(
        &self,
        id: String,
        name: String,
        status: Option<&emr::ClusterStatus>,
        shape: Shape,
    ) -> ClusterInfo {
        let state = map_state(status.and_then(|s| s.state()));
        let timeline = status.and_then(|s| s.timeline());
        let started_at = if state.is_billing() {
            timeline
                .and_then(|t| t.ready_date_time().or(t.creation_date_time()))
                .and_then(to_chrono)
        } else {
            None
        };
        ClusterInfo {
            id,
            name,
            state,
            instance_type: shape.worker_type,
            driver_instance_type: shape.master_type,
            workers: shape.workers,
            region: Some(self.region.clone()),
            started_at,
        }
    }
}

#[async_trait]
impl Platform for Emr {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Emr
    }

    /// One page of `ListClusters`. EMR has no dry run, so whether the credentials may also
    /// terminate or run clusters cannot be seen without doing it: only `read` is reported.
    async fn check(&self) -> PlatformResult<Access> {
        self.client
            .list_clusters()
            .set_cluster_states(Some(ACTIVE_STATES.to_vec()))
            .send()
            .await
            .map_err(|err| map_sdk_error("ListClusters", err))?;
        Ok(Access {
            permissions: vec!["read".into()],
        })
    }

    async fn list_clusters(&self) -> PlatformResult<Vec<ClusterInfo>> {
        let mut summaries = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_clusters()
                .set_cluster_states(Some(ACTIVE_STATES.to_vec()))
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|err| map_sdk_error("ListClusters", err))?;
            summaries.extend(page.clusters.unwrap_or_default());
            match next_marker(marker.as_deref(), page.marker) {
                Some(next) => marker = Some(next),
                None => break,
            }
        }

        futures::stream::iter(summaries)
            .map(|summary| async move {
                let id = summary.id().unwrap_or_default().to_owned();
                let shape = match self.shape(&id, None).await {
                    Ok(shape) => shape,
                    // Terminated between the listing and now: report it without a shape.
                    Err(PlatformError::NotFound(_)) => Shape::default(),
                    Err(err) => return Err(err),
                };
                let name = summary.name().unwrap_or_default().to_owned();
                Ok(self.info(id, name, summary.status(), shape))
            })
            .buffered(LISTING_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn cluster(&self, id: &str) -> PlatformResult<ClusterInfo> {
        let cluster = self.describe(id).await?;
        let fleets = cluster
            .instance_collection_type()
            .map(|t| *t == InstanceCollectionType::InstanceFleet);
        let shape = self.shape(id, Some(fleets.unwrap_or(false))).await?;
        Ok(self.info(
            cluster.id().unwrap_or(id).to_owned(),
            cluster.name().unwrap_or_default().to_owned(),
            cluster.status(),
            shape,
        ))
    }

    async fn hibernate(&self, id: &str) -> PlatformResult<Snapshot> {
        let cluster = self.describe(id).await?;
        let state = cluster.status().and_then(|s| s.state());
        if !matches!(state, Some(EmrState::Running | EmrState::Waiting)) {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} is {}, only a running or waiting cluster can be hibernated",
                state.map_or("in an unknown state", |s| s.as_str())
            )));
        }
        if cluster.termination_protected() == Some(true) {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} has termination protection on; turn it off in EMR to hibernate it"
            )));
        }
        if cluster.instance_collection_type() == Some(&InstanceCollectionType::InstanceFleet) {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} uses instance fleets, which hibernation does not support yet"
            )));
        }
        if cluster
            .kerberos_attributes()
            .is_some_and(|k| k.realm().is_some_and(|realm| !realm.is_empty()))
        {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} uses Kerberos, whose passwords EMR does not return, so it could \
                 not be recreated"
            )));
        }
        let active = self.active_steps(id).await?;
        if active > 0 {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} has {active} running or pending step(s); hibernating would kill them"
            )));
        }
        let groups = self.instance_groups(id).await?;
        let bootstrap_actions = self.bootstrap_actions(id).await?;
        let auto_termination_idle_seconds = self.auto_termination_seconds(id).await?;

        let definition = JobFlowDefinition::capture(
            &cluster,
            &groups,
            bootstrap_actions,
            auto_termination_idle_seconds,
        )?;
        let definition = serde_json::to_value(&definition)
            .map_err(|err| PlatformError::Protocol(format!("snapshot not serializable: {err}")))?;

        // A step submitted since ListSteps would die here; EMR offers no way to close that gap.
        self.client
            .terminate_job_flows()
            .job_flow_ids(id)
            .send()
            .await
            .map_err(|err| map_sdk_error("TerminateJobFlows", err))?;

        Ok(Snapshot {
            kind: PlatformKind::Emr,
            cluster_id: id.to_owned(),
            taken_at: chrono::Utc::now(),
            definition,
        })
    }

    async fn resume(&self, snapshot: &Snapshot) -> PlatformResult<Resumed> {
        if snapshot.kind != PlatformKind::Emr {
            return Err(PlatformError::Protocol(format!(
                "a {} snapshot cannot be resumed on EMR",
                snapshot.kind
            )));
        }
        let definition: JobFlowDefinition = serde_json::from_value(snapshot.definition.clone())
            .map_err(|err| PlatformError::Protocol(format!("unreadable EMR snapshot: {err}")))?;
        let out = definition
            .run_job_flow(self.client.run_job_flow())
            .send()
            .await
            .map_err(|err| map_sdk_error("RunJobFlow", err))?;
        let cluster_id = out
            .job_flow_id
            .ok_or_else(|| PlatformError::Protocol("RunJobFlow returned no cluster id".into()))?;
        Ok(Resumed {
            cluster_id,
            estimated_ready_seconds: ESTIMATED_READY_SECONDS,
        })
    }

    /// Changes the core group so that core plus task instances make `workers`. Task groups are
    /// left alone: they may be spot capacity someone sized on purpose, while the core group is
    /// what every instance-group cluster has.
    async fn resize(&self, id: &str, workers: u32) -> PlatformResult<()> {
        let groups = self.instance_groups(id).await?;
        let live = groups.iter().filter(|g| is_live_group(g));
        let core = live
            .clone()
            .find(|g| g.instance_group_type() == Some(&InstanceGroupType::Core))
            .ok_or_else(|| {
                PlatformError::InvalidState(format!(
                    "cluster {id} has no core instance group to resize (instance fleets are not \
                     supported yet)"
                ))
            })?;
        let task: u32 = live
            .filter(|g| g.instance_group_type() == Some(&InstanceGroupType::Task))
            .map(|g| count(g.requested_instance_count()))
            .sum();
        let core_count = workers
            .checked_sub(task)
            .filter(|c| *c >= 1)
            .ok_or_else(|| {
                PlatformError::InvalidState(format!(
                    "cluster {id} has {task} task instance(s); {workers} worker(s) would leave the \
                 core group empty"
                ))
            })?;
        let group_id = core
            .id()
            .ok_or_else(|| PlatformError::Protocol("instance group without an id".into()))?;
        self.client
            .modify_instance_groups()
            .cluster_id(id)
            .instance_groups(
                emr::InstanceGroupModifyConfig::builder()
                    .instance_group_id(group_id)
                    .instance_count(i32::try_from(core_count).unwrap_or(i32::MAX))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| map_sdk_error("ModifyInstanceGroups", err))?;
        Ok(())
    }

    async fn usage(&self, id: &str) -> PlatformResult<UsageSignals> {
        let cluster = self.describe(id).await?;
        let active_work = self.active_steps(id).await?;
        let status = cluster.status();
        let waiting = status.and_then(|s| s.state()) == Some(&EmrState::Waiting);
        let ready = status
            .and_then(|s| s.timeline())
            .and_then(|t| t.ready_date_time())
            .and_then(to_chrono);

        let mut signals = UsageSignals {
            active_work,
            ..UsageSignals::default()
        };
        if waiting && active_work == 0 {
            // Newest first: the first page holds the step that finished last.
            let page = self
                .client
                .list_steps()
                .cluster_id(id)
                .send()
                .await
                .map_err(|err| map_sdk_error("ListSteps", err))?;
            let last_step_end = page
                .steps()
                .iter()
                .filter_map(|s| s.status()?.timeline()?.end_date_time())
                .filter_map(to_chrono)
                .max();
            signals.last_activity = last_step_end;
            signals.idle_since = match (ready, last_step_end) {
                (Some(ready), Some(end)) => Some(ready.max(end)),
                (ready, end) => ready.or(end),
            };
        }

        let metrics = match self.cluster_metrics(id).await {
            Ok(metrics) => metrics,
            Err(err) => {
                tracing::debug!(cluster_id = %id, error = %err, "no CloudWatch metrics; usage from the EMR API alone");
                ClusterMetrics::default()
            }
        };
        let now = chrono::Utc::now();
        signals.memory_percent = metrics.memory_percent(now);
        if waiting && active_work == 0 {
            // No steps, but YARN may still run notebooks or interactive jobs: IsIdle has the
            // last word on idleness, and dates the last work it saw.
            match metrics.idleness(now) {
                None => {}
                Some(YarnIdleness::Busy { last_busy }) => {
                    signals.idle_since = None;
                    signals.last_activity = signals.last_activity.max(last_busy);
                }
                Some(YarnIdleness::Idle { since, last_busy }) => {
                    signals.idle_since = Some(signals.idle_since.map_or(since, |s| s.max(since)));
                    signals.last_activity = signals.last_activity.max(last_busy);
                }
            }
        }
        Ok(signals)
    }
}

fn base_loader(credentials: &EmrCredentials) -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(credentials.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    match &credentials.endpoint_url {
        Some(endpoint) => loader.endpoint_url(endpoint),
        None => loader,
    }
}

/// The next page's marker, or None at the end. A repeated marker also ends the listing, so a
/// misbehaving endpoint cannot loop us forever.
fn next_marker(current: Option<&str>, next: Option<String>) -> Option<String> {
    next.filter(|next| !next.is_empty() && Some(next.as_str()) != current)
}

fn map_state(state: Option<&EmrState>) -> ClusterState {
    match state {
        Some(EmrState::Starting | EmrState::Bootstrapping) => ClusterState::Starting,
        Some(EmrState::Running | EmrState::Waiting) => ClusterState::Running,
        Some(EmrState::Terminating) => ClusterState::Stopping,
        Some(EmrState::Terminated) => ClusterState::Stopped,
        Some(EmrState::TerminatedWithErrors) => ClusterState::Error,
        _ => ClusterState::Unknown,
    }
}

fn to_chrono(time: &aws_sdk_emr::primitives::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Groups that still have (or will have) instances: a removed task group stays listed as ended.
fn is_live_group(group: &emr::InstanceGroup) -> bool {
    !matches!(
        group.status().and_then(|s| s.state()),
        Some(
            InstanceGroupState::Terminated
                | InstanceGroupState::Ended
                | InstanceGroupState::ShuttingDown
        )
    )
}

/// What `ClusterInfo` says about a cluster's machines.
#[derive(Default)]
struct Shape {
    master_type: Option<String>,
    worker_type: Option<String>,
    workers: u32,
}

impl Shape {
    fn of_groups(groups: &[emr::InstanceGroup]) -> Self {
        let mut shape = Shape::default();
        let mut core_type = None;
        let mut task_type = None;
        for group in groups.iter().filter(|g| is_live_group(g)) {
            let instance_type = group.instance_type().map(str::to_owned);
            match group.instance_group_type() {
                Some(InstanceGroupType::Master) => shape.master_type = instance_type,
                Some(InstanceGroupType::Core) => {
                    core_type = core_type.or(instance_type);
                    shape.workers += count(group.requested_instance_count());
                }
                Some(InstanceGroupType::Task) => {
                    task_type = task_type.or(instance_type);
                    shape.workers += count(group.requested_instance_count());
                }
                _ => {}
            }
        }
        shape.worker_type = core_type.or(task_type);
        shape
    }

    /// Fleet capacity is in units, which are instances unless weighted capacities are set.
    fn of_fleets(fleets: &[emr::InstanceFleet]) -> Self {
        let mut shape = Shape::default();
        for fleet in fleets {
            let instance_type = fleet
                .instance_type_specifications()
                .first()
                .and_then(|s| s.instance_type())
                .map(str::to_owned);
            let capacity = count(fleet.provisioned_on_demand_capacity())
                + count(fleet.provisioned_spot_capacity());
            match fleet.instance_fleet_type() {
                Some(InstanceFleetType::Master) => shape.master_type = instance_type,
                Some(InstanceFleetType::Core | InstanceFleetType::Task) => {
                    shape.worker_type = shape.worker_type.take().or(instance_type);
                    shape.workers += capacity;
                }
                _ => {}
            }
        }
        shape
    }
}

/// Maps an SDK failure to the API's vocabulary. The text is the operation and the inner error's
/// own context (code and message); requests, and so credentials, never appear in it.
fn map_sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> PlatformError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(context) => {
            let inner = context.err();
            let text = format!("{operation}: {}", DisplayErrorContext(inner));
            let code = inner.code().unwrap_or_default();
            let message = inner.message().unwrap_or_default();
            classify(code, message, text)
        }
        SdkError::TimeoutError(_) => {
            PlatformError::Unavailable(format!("{operation}: EMR did not answer in time"))
        }
        SdkError::DispatchFailure(failure) => {
            if let Some(credentials) = find_in_chain::<CredentialsError>(&err) {
                credentials_failure(operation, credentials)
            } else if failure.is_timeout() {
                PlatformError::Unavailable(format!("{operation}: EMR did not answer in time"))
            } else {
                let inner = failure
                    .as_connector_error()
                    .map(|e| e as &dyn std::error::Error);
                PlatformError::Unavailable(format!(
                    "{operation}: EMR could not be reached: {}",
                    describe_inner(inner)
                ))
            }
        }
        _ => match find_in_chain::<CredentialsError>(&err) {
            Some(credentials) => credentials_failure(operation, credentials),
            None => PlatformError::Protocol(format!(
                "{operation}: no usable answer: {}",
                describe_inner(std::error::Error::source(&err))
            )),
        },
    }
}

/// The credentials could not be had: refused by STS (a wrong role, external id or trust
/// policy) is Unauthorized; STS out of reach is Unavailable, since the credentials may be fine.
fn credentials_failure(operation: &str, err: &CredentialsError) -> PlatformError {
    let unreachable = matches!(err, CredentialsError::ProviderTimedOut(_))
        || std::error::Error::source(err).is_some_and(|source| {
            find_in_chain::<aws_sdk_emr::error::ConnectorError>(source).is_some()
        });
    let text = format!(
        "{operation}: could not obtain AWS credentials: {}",
        DisplayErrorContext(err)
    );
    if unreachable {
        PlatformError::Unavailable(text)
    } else {
        PlatformError::Unauthorized(text)
    }
}

fn describe_inner(inner: Option<&(dyn std::error::Error + 'static)>) -> String {
    inner.map_or_else(
        || "no details".to_owned(),
        |e| DisplayErrorContext(e).to_string(),
    )
}

fn classify(code: &str, message: &str, text: String) -> PlatformError {
    match code {
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "NotAuthorized" => PlatformError::Unauthorized(text),
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => PlatformError::Throttled(text),
        "InternalServerException"
        | "InternalServerError"
        | "InternalFailure"
        | "ServiceUnavailable" => PlatformError::Unavailable(text),
        "InvalidRequestException" | "ValidationException" if is_unknown_cluster(message) => {
            PlatformError::NotFound(text)
        }
        "ResourceNotFoundException" | "ResourceNotFound" => PlatformError::NotFound(text),
        "InvalidRequestException" | "ValidationException" => PlatformError::InvalidState(text),
        _ => PlatformError::Protocol(text),
    }
}

/// EMR answers an unknown cluster with `InvalidRequestException` ("Cluster id 'j-…' is not
/// valid.") rather than a not-found code.
fn is_unknown_cluster(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    (message.contains("cluster id") || message.contains("job flow id"))
        && (message.contains("not valid") || message.contains("does not exist"))
}

fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

/// Everything `RunJobFlow` needs to build the cluster again, in EMR's own field names. Kept as
/// our own type, not the SDK's, because the snapshot outlives SDK versions in the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobFlowDefinition {
    pub name: String,
    #[serde(default)]
    pub release_label: Option<String>,
    #[serde(default)]
    pub os_release_label: Option<String>,
    #[serde(default)]
    pub custom_ami_id: Option<String>,
    #[serde(default)]
    pub log_uri: Option<String>,
    #[serde(default)]
    pub log_encryption_kms_key_id: Option<String>,
    #[serde(default)]
    pub applications: Vec<ApplicationDef>,
    #[serde(default)]
    pub configurations: Vec<ConfigurationDef>,
    #[serde(default)]
    pub service_role: Option<String>,
    /// The EC2 instance profile (`Ec2InstanceAttributes.IamInstanceProfile`).
    #[serde(default)]
    pub job_flow_role: Option<String>,
    #[serde(default)]
    pub auto_scaling_role: Option<String>,
    #[serde(default)]
    pub security_configuration: Option<String>,
    #[serde(default)]
    pub scale_down_behavior: Option<String>,
    #[serde(default)]
    pub ebs_root_volume_size: Option<i32>,
    #[serde(default)]
    pub ebs_root_volume_iops: Option<i32>,
    #[serde(default)]
    pub ebs_root_volume_throughput: Option<i32>,
    #[serde(default)]
    pub step_concurrency_level: Option<i32>,
    #[serde(default)]
    pub visible_to_all_users: Option<bool>,
    #[serde(default)]
    pub unhealthy_node_replacement: Option<bool>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub instances: InstancesDef,
    #[serde(default)]
    pub bootstrap_actions: Vec<BootstrapDef>,
    #[serde(default)]
    pub auto_termination_idle_seconds: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationDef {
    pub name: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub additional_info: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigurationDef {
    #[serde(default)]
    pub classification: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub configurations: Vec<ConfigurationDef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstancesDef {
    #[serde(default)]
    pub ec2_key_name: Option<String>,
    #[serde(default)]
    pub ec2_subnet_id: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub emr_managed_master_security_group: Option<String>,
    #[serde(default)]
    pub emr_managed_slave_security_group: Option<String>,
    #[serde(default)]
    pub service_access_security_group: Option<String>,
    #[serde(default)]
    pub additional_master_security_groups: Vec<String>,
    #[serde(default)]
    pub additional_slave_security_groups: Vec<String>,
    pub instance_groups: Vec<InstanceGroupDef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceGroupDef {
    #[serde(default)]
    pub name: Option<String>,
    /// `MASTER`, `CORE` or `TASK`.
    pub instance_role: String,
    pub instance_type: String,
    pub instance_count: i32,
    /// `ON_DEMAND` or `SPOT`.
    #[serde(default)]
    pub market: Option<String>,
    #[serde(default)]
    pub bid_price: Option<String>,
    #[serde(default)]
    pub custom_ami_id: Option<String>,
    #[serde(default)]
    pub configurations: Vec<ConfigurationDef>,
    #[serde(default)]
    pub ebs_optimized: Option<bool>,
    /// One entry per volume attached to each instance.
    #[serde(default)]
    pub ebs_volumes: Vec<VolumeDef>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeDef {
    pub volume_type: String,
    pub size_in_gb: i32,
    #[serde(default)]
    pub iops: Option<i32>,
    #[serde(default)]
    pub throughput: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BootstrapDef {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
}

impl JobFlowDefinition {
    /// What the cluster is, from DescribeCluster, its instance groups and bootstrap actions.
    /// Not captured: steps (work, not configuration), the legacy per-group auto-scaling
    /// policies, managed scaling and placement groups.
    fn capture(
        cluster: &emr::Cluster,
        groups: &[emr::InstanceGroup],
        bootstrap_actions: Vec<BootstrapDef>,
        auto_termination_idle_seconds: Option<i64>,
    ) -> PlatformResult<Self> {
        let ec2 = cluster.ec2_instance_attributes();
        let owned = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        let instance_groups = groups
            .iter()
            .filter(|g| is_live_group(g))
            .filter_map(|g| {
                let role = g.instance_group_type()?.as_str().to_owned();
                let instance_count = g.requested_instance_count().unwrap_or(0);
                if role == "TASK" && instance_count == 0 {
                    return None;
                }
                Some(InstanceGroupDef {
                    name: owned(g.name()),
                    instance_role: role,
                    instance_type: g.instance_type()?.to_owned(),
                    instance_count,
                    market: g.market().map(|m| m.as_str().to_owned()),
                    bid_price: owned(g.bid_price()),
                    custom_ami_id: owned(g.custom_ami_id()),
                    configurations: g
                        .configurations()
                        .iter()
                        .map(ConfigurationDef::from)
                        .collect(),
                    ebs_optimized: g.ebs_optimized(),
                    ebs_volumes: g
                        .ebs_block_devices()
                        .iter()
                        .filter_map(|d| d.volume_specification())
                        .filter_map(|v| {
                            Some(VolumeDef {
                                volume_type: v.volume_type()?.to_owned(),
                                size_in_gb: v.size_in_gb()?,
                                iops: v.iops(),
                                throughput: v.throughput(),
                            })
                        })
                        .collect(),
                })
            })
            .collect::<Vec<_>>();
        if !instance_groups.iter().any(|g| g.instance_role == "MASTER") {
            return Err(PlatformError::Protocol(
                "the cluster's instance groups include no master group".into(),
            ));
        }

        Ok(Self {
            name: cluster.name().unwrap_or_default().to_owned(),
            release_label: owned(cluster.release_label()),
            os_release_label: owned(cluster.os_release_label()),
            custom_ami_id: owned(cluster.custom_ami_id()),
            log_uri: owned(cluster.log_uri()),
            log_encryption_kms_key_id: owned(cluster.log_encryption_kms_key_id()),
            applications: cluster
                .applications()
                .iter()
                .filter_map(|app| {
                    Some(ApplicationDef {
                        name: app.name()?.to_owned(),
                        args: app.args().to_vec(),
                        additional_info: app
                            .additional_info()
                            .map(|info| info.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default(),
                    })
                })
                .collect(),
            configurations: cluster
                .configurations()
                .iter()
                .map(ConfigurationDef::from)
                .collect(),
            service_role: owned(cluster.service_role()),
            job_flow_role: owned(ec2.and_then(|e| e.iam_instance_profile())),
            auto_scaling_role: owned(cluster.auto_scaling_role()),
            security_configuration: owned(cluster.security_configuration()),
            scale_down_behavior: cluster.scale_down_behavior().map(|b| b.as_str().to_owned()),
            ebs_root_volume_size: cluster.ebs_root_volume_size(),
            ebs_root_volume_iops: cluster.ebs_root_volume_iops(),
            ebs_root_volume_throughput: cluster.ebs_root_volume_throughput(),
            step_concurrency_level: cluster.step_concurrency_level(),
            visible_to_all_users: cluster.visible_to_all_users(),
            unhealthy_node_replacement: cluster.unhealthy_node_replacement(),
            // `aws:` tags are AWS's own; RunJobFlow refuses them.
            tags: cluster
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .filter(|(k, _)| !k.starts_with("aws:"))
                .collect(),
            instances: InstancesDef {
                ec2_key_name: owned(ec2.and_then(|e| e.ec2_key_name())),
                ec2_subnet_id: owned(ec2.and_then(|e| e.ec2_subnet_id())),
                availability_zone: owned(ec2.and_then(|e| e.ec2_availability_zone())),
                emr_managed_master_security_group: owned(
                    ec2.and_then(|e| e.emr_managed_master_security_group()),
                ),
                emr_managed_slave_security_group: owned(
                    ec2.and_then(|e| e.emr_managed_slave_security_group()),
                ),
                service_access_security_group: owned(
                    ec2.and_then(|e| e.service_access_security_group()),
                ),
                additional_master_security_groups: ec2
                    .map(|e| e.additional_master_security_groups().to_vec())
                    .unwrap_or_default(),
                additional_slave_security_groups: ec2
                    .map(|e| e.additional_slave_security_groups().to_vec())
                    .unwrap_or_default(),
                instance_groups,
            },
            bootstrap_actions,
            auto_termination_idle_seconds,
        })
    }

    /// The `RunJobFlow` request for this definition. The clone always stays alive without
    /// steps (it is a long-running cluster by definition) and without termination protection
    /// (hibernation refuses protected clusters, so the original had none).
    fn run_job_flow(
        &self,
        request: aws_sdk_emr::operation::run_job_flow::builders::RunJobFlowFluentBuilder,
    ) -> aws_sdk_emr::operation::run_job_flow::builders::RunJobFlowFluentBuilder {
        let i = &self.instances;
        let placement = if i.ec2_subnet_id.is_none() {
            // With a subnet, EMR derives the zone from it.
            i.availability_zone.as_ref().map(|zone| {
                emr::PlacementType::builder()
                    .availability_zone(zone)
                    .build()
            })
        } else {
            None
        };
        let instances = emr::JobFlowInstancesConfig::builder()
            .set_ec2_key_name(i.ec2_key_name.clone())
            .set_ec2_subnet_id(i.ec2_subnet_id.clone())
            .set_placement(placement)
            .set_emr_managed_master_security_group(i.emr_managed_master_security_group.clone())
            .set_emr_managed_slave_security_group(i.emr_managed_slave_security_group.clone())
            .set_service_access_security_group(i.service_access_security_group.clone())
            .set_additional_master_security_groups(non_empty(&i.additional_master_security_groups))
            .set_additional_slave_security_groups(non_empty(&i.additional_slave_security_groups))
            .set_unhealthy_node_replacement(self.unhealthy_node_replacement)
            .keep_job_flow_alive_when_no_steps(true)
            .termination_protected(false)
            .set_instance_groups(Some(
                i.instance_groups
                    .iter()
                    .map(InstanceGroupDef::config)
                    .collect(),
            ))
            .build();

        request
            .name(&self.name)
            .set_release_label(self.release_label.clone())
            .set_os_release_label(self.os_release_label.clone())
            .set_custom_ami_id(self.custom_ami_id.clone())
            .set_log_uri(self.log_uri.clone())
            .set_log_encryption_kms_key_id(self.log_encryption_kms_key_id.clone())
            .set_applications(Some(
                self.applications
                    .iter()
                    .map(|app| {
                        emr::Application::builder()
                            .name(&app.name)
                            .set_args(non_empty(&app.args))
                            .set_additional_info((!app.additional_info.is_empty()).then(|| {
                                app.additional_info
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect::<HashMap<_, _>>()
                            }))
                            .build()
                    })
                    .collect(),
            ))
            .set_configurations(configurations(&self.configurations))
            .set_service_role(self.service_role.clone())
            .set_job_flow_role(self.job_flow_role.clone())
            .set_auto_scaling_role(self.auto_scaling_role.clone())
            .set_security_configuration(self.security_configuration.clone())
            .set_scale_down_behavior(
                self.scale_down_behavior
                    .as_deref()
                    .map(emr::ScaleDownBehavior::from),
            )
            .set_ebs_root_volume_size(self.ebs_root_volume_size)
            .set_ebs_root_volume_iops(self.ebs_root_volume_iops)
            .set_ebs_root_volume_throughput(self.ebs_root_volume_throughput)
            .set_step_concurrency_level(self.step_concurrency_level)
            .set_visible_to_all_users(self.visible_to_all_users)
            .set_tags((!self.tags.is_empty()).then(|| {
                self.tags
                    .iter()
                    .map(|(k, v)| emr::Tag::builder().key(k).value(v).build())
                    .collect()
            }))
            .set_bootstrap_actions((!self.bootstrap_actions.is_empty()).then(|| {
                self.bootstrap_actions
                    .iter()
                    .map(|action| {
                        emr::BootstrapActionConfig::builder()
                            .name(&action.name)
                            .script_bootstrap_action(
                                emr::ScriptBootstrapActionConfig::builder()
                                    .path(&action.path)
                                    .set_args(non_empty(&action.args))
                                    .build(),
                            )
                            .build()
                    })
                    .collect()
            }))
            .set_auto_termination_policy(self.auto_termination_idle_seconds.map(|seconds| {
                emr::AutoTerminationPolicy::builder()
                    .idle_timeout(seconds)
                    .build()
            }))
            .instances(instances)
    }
}

impl InstanceGroupDef {
    fn config(&self) -> emr::InstanceGroupConfig {
        let ebs = (!self.ebs_volumes.is_empty() || self.ebs_optimized.is_some()).then(|| {
            emr::EbsConfiguration::builder()
                .set_ebs_optimized(self.ebs_optimized)
                .set_ebs_block_device_configs(non_empty_vec(
                    self.ebs_volumes
                        .iter()
                        .map(|v| {
                            emr::EbsBlockDeviceConfig::builder()
                                .volume_specification(
                                    emr::VolumeSpecification::builder()
                                        .volume_type(&v.volume_type)
                                        .size_in_gb(v.size_in_gb)
                                        .set_iops(v.iops)
                                        .set_throughput(v.throughput)
                                        .build(),
                                )
                                .volumes_per_instance(1)
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
        emr::InstanceGroupConfig::builder()
            .set_name(self.name.clone())
            .instance_role(emr::InstanceRoleType::from(self.instance_role.as_str()))
            .instance_type(&self.instance_type)
            .instance_count(self.instance_count)
            .set_market(self.market.as_deref().map(emr::MarketType::from))
            .set_bid_price(self.bid_price.clone())
            .set_custom_ami_id(self.custom_ami_id.clone())
            .set_configurations(configurations(&self.configurations))
            .set_ebs_configuration(ebs)
            .build()
    }
}

impl From<&emr::Configuration> for ConfigurationDef {
    fn from(config: &emr::Configuration) -> Self {
        Self {
            classification: config.classification().map(str::to_owned),
            properties: config
                .properties()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            configurations: config.configurations().iter().map(Self::from).collect(),
        }
    }
}

fn configurations(defs: &[ConfigurationDef]) -> Option<Vec<emr::Configuration>> {
    non_empty_vec(
        defs.iter()
            .map(|def| {
                emr::Configuration::builder()
                    .set_classification(def.classification.clone())
                    .set_properties((!def.properties.is_empty()).then(|| {
                        def.properties
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<HashMap<_, _>>()
                    }))
                    .set_configurations(configurations(&def.configurations))
                    .build()
            })
            .collect(),
    )
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    non_empty_vec(items.to_vec())
}

fn non_empty_vec<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_shared_vocabulary() {
        assert_eq!(
            map_state(Some(&EmrState::Bootstrapping)),
            ClusterState::Starting
        );
        assert_eq!(map_state(Some(&EmrState::Waiting)), ClusterState::Running);
        assert_eq!(
            map_state(Some(&EmrState::Terminating)),
            ClusterState::Stopping
        );
        assert_eq!(
            map_state(Some(&EmrState::Terminated)),
            ClusterState::Stopped
        );
        assert_eq!(
            map_state(Some(&EmrState::TerminatedWithErrors)),
            ClusterState::Error
        );
        assert_eq!(map_state(None), ClusterState::Unknown);
    }

    fn points(
        now: chrono::DateTime<chrono::Utc>,
        values: &[f64],
    ) -> Vec<(chrono::DateTime<chrono::Utc>, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(n, v)| (now - chrono::Duration::minutes(5 * n as i64 + 2), *v))
            .collect()
    }

    #[test]
    fn is_idle_counts_only_after_enough_idle_periods_in_a_row() {
        let now = chrono::Utc::now();
        let metrics = |values: &[f64]| ClusterMetrics {
            is_idle: points(now, values),
            ..ClusterMetrics::default()
        };
        assert_eq!(metrics(&[]).idleness(now), None);
        assert_eq!(
            metrics(&[1.0, 1.0, 1.0, 0.0, 1.0]).idleness(now),
            Some(YarnIdleness::Idle {
                since: now - chrono::Duration::minutes(12),
                last_busy: Some(now - chrono::Duration::minutes(12)),
            })
        );
        assert_eq!(
            metrics(&[1.0, 1.0, 1.0, 1.0]).idleness(now),
            Some(YarnIdleness::Idle {
                since: now - chrono::Duration::minutes(17),
                last_busy: None,
            })
        );
        assert_eq!(
            metrics(&[1.0, 1.0, 0.0]).idleness(now),
            Some(YarnIdleness::Busy {
                last_busy: Some(now - chrono::Duration::minutes(7)),
            })
        );
        assert_eq!(
            metrics(&[0.0, 1.0, 1.0, 1.0]).idleness(now),
            Some(YarnIdleness::Busy {
                last_busy: Some(now)
            })
        );
        let stale = ClusterMetrics {
            is_idle: points(now - chrono::Duration::hours(1), &[1.0, 1.0, 1.0]),
            ..ClusterMetrics::default()
        };
        assert_eq!(stale.idleness(now), None);
    }

    #[test]
    fn memory_in_use_is_what_yarn_has_not_available() {
        let now = chrono::Utc::now();
        let metrics = |at, value| ClusterMetrics {
            memory_available: vec![(at, value)],
            ..ClusterMetrics::default()
        };
        assert_eq!(metrics(now, 72.5).memory_percent(now), Some(27.5));
        assert_eq!(metrics(now, 130.0).memory_percent(now), Some(0.0));
        assert_eq!(
            metrics(now - chrono::Duration::hours(1), 50.0).memory_percent(now),
            None
        );
        assert_eq!(ClusterMetrics::default().memory_percent(now), None);
    }

    #[test]
    fn a_repeated_or_empty_marker_ends_the_listing() {
        assert_eq!(next_marker(None, Some("a".into())), Some("a".into()));
        assert_eq!(next_marker(Some("a"), Some("a".into())), None);
        assert_eq!(next_marker(Some("a"), Some(String::new())), None);
        assert_eq!(next_marker(Some("a"), None), None);
    }

    #[test]
    fn unknown_clusters_are_not_found_and_other_bad_requests_are_refusals() {
        let not_found = classify(
            "InvalidRequestException",
            "Cluster id 'j-NOPE' is not valid.",
            "x".into(),
        );
        assert!(matches!(not_found, PlatformError::NotFound(_)));
        let refused = classify(
            "ValidationException",
            "Could not shut down one or more job flows since they are termination protected.",
            "x".into(),
        );
        assert!(matches!(refused, PlatformError::InvalidState(_)));
        assert!(matches!(
            classify("ThrottlingException", "Rate exceeded", "x".into()),
            PlatformError::Throttled(_)
        ));
        assert!(matches!(
            classify("UnrecognizedClientException", "bad token", "x".into()),
            PlatformError::Unauthorized(_)
        ));
    }
}
