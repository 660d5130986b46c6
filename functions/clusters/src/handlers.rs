use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::meta;
use dtap_shared::api::{ApiResult, Envelope};
use dtap_shared::domain::cluster_cost::{self, round};
use dtap_shared::domain::ids::OrgId;
use dtap_shared::domain::platform::{ClusterInfo, ClusterState, PlatformKind};
use dtap_shared::notify::{self, ClusterRef, NotificationEvent};
use dtap_shared::operations::{
    self, Initiator, OpError, connect_record, hibernated_by_us, status_word,
};
use dtap_shared::store::repos::clusters::{self as managed, ClusterRecord};
use dtap_shared::store::repos::platforms::{self as repo, PlatformRecord};
use dtap_shared::store::repos::watches::{self, WatchRecord};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::resolve::{self, Resolved, op_failure, platform_failure};

/// One cluster as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    #[schema(example = "databricks")]
    platform: PlatformKind,
    #[schema(example = "plat_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    platform_id: String,
    #[schema(example = "0301-prod-etl")]
    cluster_id: String,
    name: String,
    /// running | idle (running, and idle past the threshold at the last scan) | starting |
    /// stopping | stopped | hibernated (stopped by Digital Tap) | error | unknown.
    #[schema(example = "running")]
    state: &'static str,
    /// Minutes of the current quiet spell, as of now, from the scanner's readings (0 while busy,
    /// down, or not scanned yet).
    idle_minutes: u32,
    /// Cloud VM USD per hour of running (no Databricks DBUs); null when a node type is unknown.
    #[schema(example = 2.808)]
    hourly_cost: Option<f64>,
    /// All nodes, the driver/master included.
    nodes: u32,
    #[schema(example = "i3.xlarge")]
    instance_type: Option<String>,
}

/// A platform whose clusters could not be listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedPlatform {
    id: String,
    #[serde(rename = "type")]
    kind: PlatformKind,
    error: String,
}

/// The list, with the platforms that failed in `meta.failed_platforms`, so `data` stays the
/// documented array.
pub struct ClusterList {
    clusters: Vec<ClusterView>,
    failed: Vec<FailedPlatform>,
}

impl IntoResponse for ClusterList {
    fn into_response(self) -> Response {
        let mut meta = meta();
        meta["failed_platforms"] = json!(self.failed);
        Json(json!({"success": true, "data": self.clusters, "meta": meta})).into_response()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterDetails {
    platform: PlatformKind,
    platform_id: String,
    cluster_id: String,
    name: String,
    state: &'static str,
    instance_type: Option<String>,
    nodes: u32,
    /// Hours since the cluster last started, while it runs.
    #[schema(example = 6.5)]
    uptime_hours: f64,
    /// Hourly cost × hours running since UTC midnight; null when a node type is unknown.
    #[schema(example = 18.25)]
    cost_today: Option<f64>,
    /// Water for the same hours, from the sustainability model; null when unknown.
    #[schema(example = 0.04)]
    water_usage_gallons: Option<f64>,
    hourly_cost: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Hibernated {
    cluster_id: String,
    #[schema(example = "running")]
    previous_state: &'static str,
    #[schema(example = "hibernating")]
    new_state: &'static str,
    /// Null when the cluster's node types are not in the catalog.
    estimated_savings_per_hour: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Resuming {
    /// The cluster's id now (a recreated EMR cluster has a new one).
    cluster_id: String,
    #[schema(example = "resuming")]
    new_state: &'static str,
    estimated_ready_seconds: u32,
}

fn hourly_cost(info: &ClusterInfo, record: &PlatformRecord) -> Option<f64> {
    cluster_cost::hourly_cost(info, record.region.as_deref())
}

fn view(
    record: &PlatformRecord,
    info: ClusterInfo,
    ours: bool,
    watch: Option<&WatchRecord>,
    now: DateTime<Utc>,
) -> ClusterView {
    // The scanner's last word counts only while the platform still says the cluster runs.
    let watched = watch.filter(|_| info.state == ClusterState::Running && !ours);
    let idle_minutes = watched.map_or(0, |watch| watch.watch.idle_minutes(now));
    let state = match watched {
        Some(watch) if watch.status == "idle" => "idle",
        _ => status_word(info.state, ours),
    };
    ClusterView {
        platform: record.kind,
        platform_id: record.id.to_string(),
        hourly_cost: hourly_cost(&info, record).map(|cost| round(cost, 4)),
        nodes: info.nodes(),
        state,
        idle_minutes,
        cluster_id: info.id,
        name: info.name,
        instance_type: info.instance_type,
    }
}

/// List every cluster of every connected platform. A platform that fails does not hide the
/// others: its id, type and error are in `meta.failed_platforms`.
#[utoipa::path(
    get,
    path = "/clusters",
    tag = "clusters",
    responses((status = 200, description = "Clusters of every platform that answered; `meta.failed_platforms` lists the others", body = [ClusterView]))
)]
pub async fn list_clusters(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<ClusterList> {
    let store = state.store.as_ref();
    let platforms = repo::list(store, &auth.org.id).await?;
    // Only clusters down by our hand: after an EMR resume the old record and a new one may both
    // name the same current id, and the resumed one must not hide the other.
    let ours: HashMap<(String, String), ClusterRecord> = managed::list(store, &auth.org.id)
        .await?
        .into_iter()
        .filter(|record| hibernated_by_us(Some(record)))
        .map(|record| {
            (
                (
                    record.platform_id.to_string(),
                    record.current_cluster_id.clone(),
                ),
                record,
            )
        })
        .collect();
    let watched: HashMap<(String, String), WatchRecord> = watches::list(store, &auth.org.id)
        .await?
        .into_iter()
        .map(|record| {
            (
                (record.platform_id.to_string(), record.cluster_id.clone()),
                record,
            )
        })
        .collect();
    let now = state.clock.now();
    let listings = futures::future::join_all(platforms.iter().map(|record| {
        let state = &state;
        async move {
            let platform = connect_record(state, record).await?;
            platform
                .list_clusters()
                .await
                .map_err(|err| err.to_string())
        }
    }))
    .await;
    let mut list = ClusterList {
        clusters: Vec::new(),
        failed: Vec::new(),
    };
    for (record, listing) in platforms.iter().zip(listings) {
        match listing {
            Ok(clusters) => {
                for info in clusters {
                    let key = (record.id.to_string(), info.id.clone());
                    let mine = hibernated_by_us(ours.get(&key));
                    let watch = watched.get(&key);
                    list.clusters.push(view(record, info, mine, watch, now));
                }
            }
            Err(error) => {
                tracing::warn!(org_id = %auth.org.id, platform_id = %record.id, error, "listing clusters failed");
                list.failed.push(FailedPlatform {
                    id: record.id.to_string(),
                    kind: record.kind,
                    error,
                });
            }
        }
    }
    Ok(list)
}

/// Hours the cluster has been running today (UTC), given when it started.
fn hours_today(started_at: Option<DateTime<Utc>>, running: bool, now: DateTime<Utc>) -> f64 {
    let (true, Some(started_at)) = (running, started_at) else {
        return 0.0;
    };
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    hours_between(started_at.max(midnight), now)
}

fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 3_600_000.0
}

/// One cluster: state, size, uptime, today's cost and water.
#[utoipa::path(
    get,
    path = "/clusters/{platform}/{cluster_id}",
    tag = "clusters",
    params(
        ("platform" = String, Path, description = "A platform type (`databricks`, `emr`, …) or a platform id (`plat_…`)"),
        ("cluster_id" = String, Path, description = "The platform's cluster id"),
    ),
    responses(
        (status = 200, description = "The cluster", body = ClusterDetails),
        (status = 404, description = "No such platform or cluster in this organization"),
        (status = 409, description = "The type names several platforms holding this cluster id"),
        (status = 502, description = "The platform failed"),
    )
)]
pub async fn get_cluster(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path((platform, cluster_id)): Path<(String, String)>,
) -> ApiResult<Envelope<ClusterDetails>> {
    let cluster_id = resolve::cluster_id(&cluster_id)?;
    let Resolved {
        record,
        platform,
        managed,
    } = resolve::resolve(&state, &auth.org.id, &platform, cluster_id).await?;
    let info = platform
        .cluster(cluster_id)
        .await
        .map_err(|err| platform_failure(record.kind, err))?;
    let now = state.clock.now();
    let running = info.state.is_billing();
    let uptime_hours = match (running, info.started_at) {
        (true, Some(started_at)) => hours_between(started_at, now),
        _ => 0.0,
    };
    let today = hours_today(info.started_at, running, now);
    let hourly = hourly_cost(&info, &record);
    let water = cluster_cost::footprint(&info, record.region.as_deref())
        .and_then(|hour| hour.water_gallons);
    Ok(Envelope(ClusterDetails {
        platform: record.kind,
        platform_id: record.id.to_string(),
        state: status_word(info.state, hibernated_by_us(managed.as_ref())),
        instance_type: info.instance_type.clone(),
        nodes: info.nodes(),
        uptime_hours: round(uptime_hours, 2),
        cost_today: hourly.map(|cost| round(cost * today, 2)),
        water_usage_gallons: water.map(|gallons| round(gallons * today, 4)),
        hourly_cost: hourly.map(|cost| round(cost, 4)),
        cluster_id: info.id,
        name: info.name,
    }))
}

/// Hibernate a running cluster (members and above): on Databricks terminate (the configuration
/// is kept), on EMR snapshot the definition and terminate. Savings accrue until resume.
#[utoipa::path(
    post,
    path = "/clusters/{platform}/{cluster_id}/hibernate",
    tag = "clusters",
    params(
        ("platform" = String, Path, description = "A platform type or a platform id (`plat_…`)"),
        ("cluster_id" = String, Path, description = "The platform's cluster id"),
    ),
    responses(
        (status = 200, description = "Hibernating", body = Hibernated),
        (status = 403, description = "The caller is a viewer"),
        (status = 404, description = "No such platform or cluster in this organization"),
        (status = 409, description = "Already hibernated, not running, or an ambiguous platform type"),
        (status = 502, description = "The platform failed; nothing was hibernated"),
    )
)]
pub async fn hibernate_cluster(
    State(state): State<AppState>,
    auth: Auth<roles::Member>,
    Path((platform, cluster_id)): Path<(String, String)>,
) -> ApiResult<Envelope<Hibernated>> {
    let cluster_id = resolve::cluster_id(&cluster_id)?;
    let resolved = resolve::resolve(&state, &auth.org.id, &platform, cluster_id).await?;
    let record = &resolved.record;
    let (cluster, target) = resolved.act_on(&auth.org.id, cluster_id);
    let initiator = Initiator::User(auth.user.id.clone());
    let outcome = operations::hibernate(&state, target, initiator, "manual".to_owned(), None).await;
    notify_outcome(&state, &auth.org.id, cluster, "hibernate", &outcome).await;
    let done = outcome.map_err(|err| op_failure(record.kind, err))?;
    Ok(Envelope(Hibernated {
        cluster_id: cluster_id.to_owned(),
        previous_state: done.previous_state,
        new_state: "hibernating",
        estimated_savings_per_hour: done.hourly_cost.map(|cost| round(cost, 4)),
    }))
}

/// Resume a cluster Digital Tap hibernated (members and above), from its snapshot.
#[utoipa::path(
    post,
    path = "/clusters/{platform}/{cluster_id}/resume",
    tag = "clusters",
    params(
        ("platform" = String, Path, description = "A platform type or a platform id (`plat_…`)"),
        ("cluster_id" = String, Path, description = "The cluster id it was hibernated under"),
    ),
    responses(
        (status = 200, description = "Resuming", body = Resuming),
        (status = 403, description = "The caller is a viewer"),
        (status = 404, description = "No such platform or cluster in this organization"),
        (status = 409, description = "Not hibernated by Digital Tap, or an ambiguous platform type"),
        (status = 502, description = "The platform failed; the cluster stays hibernated"),
    )
)]
pub async fn resume_cluster(
    State(state): State<AppState>,
    auth: Auth<roles::Member>,
    Path((platform, cluster_id)): Path<(String, String)>,
) -> ApiResult<Envelope<Resuming>> {
    let cluster_id = resolve::cluster_id(&cluster_id)?;
    let resolved = resolve::resolve(&state, &auth.org.id, &platform, cluster_id).await?;
    let record = &resolved.record;
    let (cluster, target) = resolved.act_on(&auth.org.id, cluster_id);
    let initiator = Initiator::User(auth.user.id.clone());
    let outcome = operations::resume(&state, target, initiator, "manual".to_owned()).await;
    notify_outcome(&state, &auth.org.id, cluster, "resume", &outcome).await;
    let done = outcome.map_err(|err| op_failure(record.kind, err))?;
    Ok(Envelope(Resuming {
        cluster_id: done.cluster_id,
        new_state: "resuming",
        estimated_ready_seconds: done.estimated_ready_seconds,
    }))
}

/// Tells the org's channels what a person's action did: done, or refused by the platform.
/// Conflicts and bad requests are the caller's to see, not news for the channels.
async fn notify_outcome<T>(
    state: &AppState,
    org: &OrgId,
    cluster: ClusterRef,
    action: &str,
    outcome: &Result<T, OpError>,
) {
    let event = match (outcome, action) {
        (Ok(_), "hibernate") => NotificationEvent::cluster_hibernated(cluster, "manual"),
        (Ok(_), _) => NotificationEvent::cluster_resumed(cluster),
        (Err(OpError::Platform(err)), _) => {
            NotificationEvent::action_failed(cluster, action, &err.to_string(), None)
        }
        (Err(_), _) => return,
    };
    notify::publish(state, org, event).await;
}
