use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::meta;
use dtap_shared::api::{ApiError, ApiResult, Envelope};
use dtap_shared::domain::catalog;
use dtap_shared::domain::ids::ActionId;
use dtap_shared::domain::platform::{ClusterInfo, ClusterState, PlatformKind};
use dtap_shared::domain::sustainability::{self, Footprint};
use dtap_shared::store::StoreError;
use dtap_shared::store::repos::actions::{
    self, ActionRecord, ActionStatus, ActionType, HibernationRates,
};
use dtap_shared::store::repos::clusters::{self as managed, ClusterRecord, ManagedState};
use dtap_shared::store::repos::platforms::{self as repo, PlatformRecord};
use dtap_shared::store::repos::usage::{self, Counter};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::resolve::{self, Resolved, hibernated_by_us, platform_failure};

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
    /// running | starting | stopping | stopped | hibernated (stopped by Digital Tap) | error |
    /// unknown. `idle` will come from monitoring.
    #[schema(example = "running")]
    state: &'static str,
    /// 0 until monitoring measures idleness.
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

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

fn state_word(state: ClusterState, ours: bool) -> &'static str {
    match state {
        ClusterState::Running | ClusterState::Resizing => "running",
        ClusterState::Starting => "starting",
        ClusterState::Stopping | ClusterState::Stopped if ours => "hibernated",
        ClusterState::Stopping => "stopping",
        ClusterState::Stopped => "stopped",
        ClusterState::Error => "error",
        ClusterState::Unknown => "unknown",
    }
}

/// The cluster's region, else the platform's: prices and grid factors are regional.
fn region<'a>(info: &'a ClusterInfo, record: &'a PlatformRecord) -> Option<&'a str> {
    info.region.as_deref().or(record.region.as_deref())
}

fn hourly_cost(info: &ClusterInfo, record: &PlatformRecord) -> Option<f64> {
    catalog::cluster_cost(info, region(info, record)).map(|cost| cost.usd_per_hour)
}

fn footprint(info: &ClusterInfo, record: &PlatformRecord) -> Option<Footprint> {
    let worker = catalog::instance(info.instance_type.as_deref()?)?;
    let driver = match info.driver_instance_type.as_deref() {
        Some(driver) => catalog::instance(driver)?,
        None => worker,
    };
    Some(sustainability::cluster_hour(
        &worker,
        &driver,
        info.workers,
        region(info, record),
    ))
}

fn view(record: &PlatformRecord, info: ClusterInfo, ours: bool) -> ClusterView {
    ClusterView {
        platform: record.kind,
        platform_id: record.id.to_string(),
        hourly_cost: hourly_cost(&info, record).map(|cost| round(cost, 4)),
        nodes: info.nodes(),
        state: state_word(info.state, ours),
        idle_minutes: 0,
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
    let listings = futures::future::join_all(platforms.iter().map(|record| {
        let state = &state;
        async move {
            let platform = resolve::connect_record(state, record).await?;
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
                    list.clusters.push(view(record, info, mine));
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
    let water = footprint(&info, &record).and_then(|hour| hour.water_gallons);
    Ok(Envelope(ClusterDetails {
        platform: record.kind,
        platform_id: record.id.to_string(),
        state: state_word(info.state, hibernated_by_us(managed.as_ref())),
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

/// A transition of the cluster's record lost to a concurrent one.
fn already(action: &str) -> ApiError {
    ApiError::Conflict(format!("the cluster is already being {action} or has been"))
}

/// Records a finished action; the answer the caller gets does not depend on it succeeding, so a
/// failure is logged, not returned (the platform has already acted).
async fn finish(state: &AppState, action: &mut ActionRecord, status: ActionStatus) {
    action.status = status;
    action.completed_at = Some(state.clock.now());
    if let Err(err) = actions::replace(state.store.as_ref(), action).await {
        tracing::error!(action_id = %action.id, error = format!("{err:#}"), "could not record the outcome of an action");
    }
}

fn pending(
    auth: &dtap_shared::api::Principal,
    record: &PlatformRecord,
    cluster_id: &str,
    action_type: ActionType,
    rates: Option<HibernationRates>,
    now: DateTime<Utc>,
) -> ActionRecord {
    ActionRecord {
        id: ActionId::generate(),
        org_id: auth.org.id.clone(),
        platform_id: record.id.to_string(),
        cluster_id: cluster_id.to_owned(),
        action_type,
        status: ActionStatus::Pending,
        created_at: now,
        completed_at: None,
        rates,
        resumed_at: None,
        requested_by: Some(auth.user.id.to_string()),
        reason: Some("manual".to_owned()),
    }
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
    let store = state.store.as_ref();
    let Resolved {
        record,
        platform,
        managed: previous,
    } = resolve::resolve(&state, &auth.org.id, &platform, cluster_id).await?;
    if hibernated_by_us(previous.as_ref()) {
        return Err(ApiError::Conflict(
            "the cluster is already hibernated".to_owned(),
        ));
    }
    let info = platform
        .cluster(cluster_id)
        .await
        .map_err(|err| platform_failure(record.kind, err))?;
    if !matches!(info.state, ClusterState::Running | ClusterState::Resizing) {
        return Err(ApiError::Conflict(format!(
            "the cluster is not running (state {})",
            state_word(info.state, false)
        )));
    }
    let hourly = hourly_cost(&info, &record);
    // Without a price there is nothing honest to count as saved.
    let rates = hourly.map(|hourly_cost_usd| {
        let hour = footprint(&info, &record).unwrap_or_default();
        HibernationRates {
            hourly_cost_usd,
            co2_kg_per_hour: hour.co2_kg,
            // Unknown water (GCP) adds no savings rather than an invented figure.
            water_gallons_per_hour: hour.water_gallons.unwrap_or(0.0),
        }
    });
    let now = state.clock.now();
    let claim = ClusterRecord {
        org_id: auth.org.id.clone(),
        platform_id: record.id.clone(),
        kind: record.kind,
        cluster_id: cluster_id.to_owned(),
        current_cluster_id: cluster_id.to_owned(),
        name: info.name.clone(),
        state: ManagedState::Hibernating,
        snapshot: None,
        hibernation_action: None,
        rates,
        hibernated_at: None,
        resumed_at: None,
        updated_at: now,
    };
    let from = previous.as_ref().map(|record| record.state);
    match managed::transition(store, &claim, from).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(already("hibernated")),
        Err(other) => return Err(other.into()),
    }
    let mut action = pending(
        &auth,
        &record,
        cluster_id,
        ActionType::Hibernate,
        rates,
        now,
    );
    if let Err(err) = actions::create(store, &action).await {
        release(&state, &claim, previous.as_ref(), ManagedState::Hibernating).await;
        return Err(err.into());
    }
    let snapshot = match platform.hibernate(cluster_id).await {
        Ok(snapshot) => snapshot,
        Err(err) => {
            tracing::warn!(org_id = %auth.org.id, platform_id = %record.id, cluster_id, error = %err, "hibernate failed");
            finish(&state, &mut action, ActionStatus::Failed).await;
            release(&state, &claim, previous.as_ref(), ManagedState::Hibernating).await;
            return Err(platform_failure(record.kind, err));
        }
    };
    let done_at = state.clock.now();
    let hibernated = ClusterRecord {
        state: ManagedState::Hibernated,
        snapshot: Some(snapshot),
        hibernation_action: Some(action.id.clone()),
        hibernated_at: Some(done_at),
        updated_at: done_at,
        ..claim
    };
    managed::transition(store, &hibernated, Some(ManagedState::Hibernating)).await?;
    finish(&state, &mut action, ActionStatus::Completed).await;
    usage::record(
        store,
        &auth.org.id,
        Counter::HibernationsTriggered,
        done_at,
        1,
    )
    .await?;
    tracing::info!(org_id = %auth.org.id, platform_id = %record.id, cluster_id, action_id = %action.id, "cluster hibernated");
    Ok(Envelope(Hibernated {
        cluster_id: cluster_id.to_owned(),
        previous_state: state_word(info.state, false),
        new_state: "hibernating",
        estimated_savings_per_hour: hourly.map(|cost| round(cost, 4)),
    }))
}

/// Gives a claim back after the action came to nothing: the record returns to what it was.
async fn release(
    state: &AppState,
    claim: &ClusterRecord,
    previous: Option<&ClusterRecord>,
    claimed: ManagedState,
) {
    let store = state.store.as_ref();
    let outcome = match previous {
        Some(previous) => managed::transition(store, previous, Some(claimed)).await,
        None => managed::remove(store, claim, claimed).await,
    };
    if let Err(err) = outcome {
        tracing::error!(cluster_id = %claim.cluster_id, error = format!("{err:#}"), "could not release a cluster claim");
    }
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
    let store = state.store.as_ref();
    let Resolved {
        record,
        platform,
        managed: stored,
    } = resolve::resolve(&state, &auth.org.id, &platform, cluster_id).await?;
    let Some(hibernated) = stored.filter(|stored| stored.state == ManagedState::Hibernated) else {
        return Err(ApiError::Conflict(
            "the cluster was not hibernated by Digital Tap".to_owned(),
        ));
    };
    let Some(snapshot) = hibernated.snapshot.clone() else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "hibernated cluster {cluster_id} has no snapshot"
        )));
    };
    let now = state.clock.now();
    let claim = ClusterRecord {
        state: ManagedState::Resuming,
        updated_at: now,
        ..hibernated.clone()
    };
    match managed::transition(store, &claim, Some(ManagedState::Hibernated)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(already("resumed")),
        Err(other) => return Err(other.into()),
    }
    let mut action = pending(&auth, &record, cluster_id, ActionType::Resume, None, now);
    if let Err(err) = actions::create(store, &action).await {
        release(&state, &claim, Some(&hibernated), ManagedState::Resuming).await;
        return Err(err.into());
    }
    let resumed = match platform.resume(&snapshot).await {
        Ok(resumed) => resumed,
        Err(err) => {
            tracing::warn!(org_id = %auth.org.id, platform_id = %record.id, cluster_id, error = %err, "resume failed");
            finish(&state, &mut action, ActionStatus::Failed).await;
            release(&state, &claim, Some(&hibernated), ManagedState::Resuming).await;
            return Err(platform_failure(record.kind, err));
        }
    };
    let done_at = state.clock.now();
    let back = ClusterRecord {
        state: ManagedState::Resumed,
        current_cluster_id: resumed.cluster_id.clone(),
        resumed_at: Some(done_at),
        updated_at: done_at,
        ..claim
    };
    managed::transition(store, &back, Some(ManagedState::Resuming)).await?;
    finish(&state, &mut action, ActionStatus::Completed).await;
    // Savings of the hibernation stop accruing now.
    if let Some(id) = &hibernated.hibernation_action
        && let Some(mut hibernation) = actions::get(store, &auth.org.id, id).await?
    {
        hibernation.resumed_at = Some(done_at);
        actions::replace(store, &hibernation).await?;
    }
    tracing::info!(org_id = %auth.org.id, platform_id = %record.id, cluster_id, new_cluster_id = %resumed.cluster_id, "cluster resumed");
    Ok(Envelope(Resuming {
        cluster_id: resumed.cluster_id,
        new_state: "resuming",
        estimated_ready_seconds: resumed.estimated_ready_seconds,
    }))
}
