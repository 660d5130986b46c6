use std::collections::HashMap;

use axum::extract::{Path, State};
use chrono::{DateTime, Duration, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope};
use dtap_shared::domain::ids::{OrgId, PlatformId, WarmPoolId};
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::operations::connect_databricks;
use dtap_shared::platforms::PlatformError;
use dtap_shared::platforms::databricks::Databricks;
use dtap_shared::platforms::databricks_pools::{PoolInfo, PoolSpec, PoolStats};
use dtap_shared::store::repos::platforms::{self as platforms_repo, PlatformRecord};
use dtap_shared::store::repos::warm_pools::{self as repo, WarmPoolRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most nodes one warm pool may keep.
const MAX_NODES: u32 = 1000;
/// Claims older than this are not averaged (the week insights look at).
const CLAIM_WINDOW_DAYS: i64 = 7;
const SUPPORTED: &str = "warm pools are supported on databricks platforms only";

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateBody {
    #[schema(example = "plat_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    platform_id: String,
    #[schema(example = 2)]
    min_nodes: u32,
    #[schema(example = 10)]
    max_nodes: u32,
    #[schema(example = "i3.xlarge")]
    instance_type: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateBody {
    min_nodes: Option<u32>,
    max_nodes: Option<u32>,
    /// Must equal the pool's type: an instance pool's node type cannot change.
    instance_type: Option<String>,
}

/// A warm pool as listed and created.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarmPoolView {
    #[schema(example = "wp_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    #[schema(example = 2)]
    min_nodes: u32,
    #[schema(example = 10)]
    max_nodes: u32,
    /// provisioning (fewer idle nodes than `min_nodes` yet) | ready | stopped | deleted (on the
    /// platform, outside Digital Tap) | unknown (the platform did not answer)
    #[schema(example = "provisioning")]
    status: &'static str,
    platform_id: String,
    instance_type: String,
    /// The platform's pool (a Databricks `instance_pool_id`).
    pool_id: String,
    /// used / idle / pending counts from the platform; null when it did not answer.
    stats: Option<StatsView>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    used_count: u32,
    idle_count: u32,
    pending_used_count: u32,
    pending_idle_count: u32,
}

impl From<PoolStats> for StatsView {
    fn from(stats: PoolStats) -> Self {
        Self {
            used_count: stats.used_count,
            idle_count: stats.idle_count,
            pending_used_count: stats.pending_used_count,
            pending_idle_count: stats.pending_idle_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PoolsStatus {
    /// Nodes the pools hold now: idle plus in use.
    #[schema(example = 6)]
    total_warm_nodes: u32,
    /// Idle nodes waiting to be claimed.
    #[schema(example = 4)]
    available: u32,
    /// Nodes claimed by clusters.
    #[schema(example = 2)]
    in_use: u32,
    /// Nodes still being provisioned (for the pool or for a cluster).
    pending: u32,
    /// Mean seconds a cluster drawing on a pool waited for its nodes over the last 7 days, from
    /// its events (start → RUNNING, RESIZING → UPSIZE_COMPLETED), rounded to whole seconds as
    /// documented; null when none was seen.
    #[schema(example = 12)]
    avg_claim_time_seconds: Option<u64>,
    claims_measured: usize,
    pools: usize,
    /// Pools whose platform did not answer; they are not in the counts.
    pools_unreachable: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Updated {
    id: String,
    updated: bool,
    min_nodes: u32,
    max_nodes: u32,
    status: &'static str,
}

fn status_of(pool: Option<&PoolInfo>, min_nodes: u32) -> &'static str {
    let Some(pool) = pool else {
        return "unknown";
    };
    match pool.state.as_deref() {
        Some("STOPPED") => "stopped",
        Some("DELETED") => "deleted",
        _ if pool.stats.idle_count >= min_nodes => "ready",
        _ => "provisioning",
    }
}

fn view(record: &WarmPoolRecord, pool: Option<&PoolInfo>) -> WarmPoolView {
    WarmPoolView {
        id: record.id.to_string(),
        min_nodes: record.min_nodes,
        max_nodes: record.max_nodes,
        status: status_of(pool, record.min_nodes),
        platform_id: record.platform_id.to_string(),
        instance_type: record.instance_type.clone(),
        pool_id: record.pool_id.clone(),
        stats: pool.map(|pool| pool.stats.into()),
        created_at: record.created_at,
    }
}

fn check_sizes(min_nodes: u32, max_nodes: u32) -> ApiResult<()> {
    if max_nodes == 0 || max_nodes > MAX_NODES {
        return Err(ApiError::Validation(format!(
            "max_nodes: must be from 1 to {MAX_NODES}"
        )));
    }
    if min_nodes > max_nodes {
        return Err(ApiError::Validation(format!(
            "min_nodes: must not exceed max_nodes ({min_nodes} > {max_nodes})"
        )));
    }
    Ok(())
}

fn check_instance_type(raw: &str) -> ApiResult<String> {
    let trimmed = raw.trim();
    let valid = (1..=100).contains(&trimmed.len())
        && trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(ApiError::Validation(
            "instance_type: must be 1-100 letters, digits, '.', '_' or '-'".to_owned(),
        ))
    }
}

/// How a platform's refusal is answered: a request it rejects is the caller's 400, anything else
/// the platform's failure (502).
fn platform_failure(err: PlatformError) -> ApiError {
    match err {
        PlatformError::Protocol(message) | PlatformError::InvalidState(message) => {
            ApiError::Validation(format!(
                "instance_type: the platform refused the pool: {message}"
            ))
        }
        other => ApiError::Upstream(format!("databricks: {other}")),
    }
}

async fn databricks_for(state: &AppState, record: &PlatformRecord) -> ApiResult<Databricks> {
    match connect_databricks(state, record).await {
        Ok(Some(databricks)) => Ok(databricks),
        Ok(None) => Err(ApiError::Validation(format!(
            "platform_id: {SUPPORTED} (this platform is {})",
            record.kind
        ))),
        Err(why) => Err(ApiError::Upstream(format!("{}: {why}", record.kind))),
    }
}

async fn platform_of(state: &AppState, org: &OrgId, id: &PlatformId) -> ApiResult<PlatformRecord> {
    platforms_repo::get(state.store.as_ref(), org, id)
        .await?
        .ok_or_else(|| ApiError::internal(std::io::Error::other("a warm pool's platform is gone")))
}

async fn find(state: &AppState, org: &OrgId, raw: &str) -> ApiResult<WarmPoolRecord> {
    let id = WarmPoolId::parse(raw).ok_or_else(|| ApiError::not_found("warm pool"))?;
    repo::get(state.store.as_ref(), org, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("warm pool"))
}

fn spec(record: &WarmPoolRecord) -> PoolSpec {
    PoolSpec {
        name: WarmPoolRecord::pool_name(&record.id),
        node_type_id: record.instance_type.clone(),
        min_idle_instances: record.min_nodes,
        max_capacity: record.max_nodes,
        custom_tags: HashMap::from([("DigitalTapWarmPool".to_owned(), record.id.to_string())]),
    }
}

/// Configure a warm pool (admins and owners). On a Databricks platform this creates an instance
/// pool keeping `min_nodes` idle, at most `max_nodes` in all, of `instance_type`; other platform
/// types are 400.
#[utoipa::path(
    post,
    path = "/warm-pools",
    tag = "warm-pools",
    request_body = CreateBody,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 201, description = "Created", body = WarmPoolView),
        (status = 400, description = "min_nodes > max_nodes, unknown platform, a platform type without pools, or a type the platform refuses"),
        (status = 403, description = "The caller is not an admin"),
        (status = 502, description = "The platform failed"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_pool(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<Created<WarmPoolView>> {
    check_sizes(body.min_nodes, body.max_nodes)?;
    let instance_type = check_instance_type(&body.instance_type)?;
    let org = &auth.org.id;
    let unknown =
        || ApiError::Validation("platform_id: no such platform in this organization".to_owned());
    let platform_id = PlatformId::parse(body.platform_id.trim()).ok_or_else(unknown)?;
    let platform = platforms_repo::get(state.store.as_ref(), org, &platform_id)
        .await?
        .ok_or_else(unknown)?;
    if platform.kind != PlatformKind::Databricks {
        return Err(ApiError::Validation(format!(
            "platform_id: {SUPPORTED} (this platform is {})",
            platform.kind
        )));
    }
    let databricks = databricks_for(&state, &platform).await?;
    let now = state.clock.now();
    let mut record = WarmPoolRecord {
        id: WarmPoolId::generate(),
        org_id: org.clone(),
        platform_id: platform.id.clone(),
        kind: platform.kind,
        instance_type,
        min_nodes: body.min_nodes,
        max_nodes: body.max_nodes,
        pool_id: String::new(),
        created_at: now,
        updated_at: now,
    };
    record.pool_id = databricks
        .create_pool(&spec(&record))
        .await
        .map_err(platform_failure)?;
    if let Err(err) = repo::create(state.store.as_ref(), &record).await {
        // Keep the platform in step: no pool without a record.
        if let Err(undo) = databricks.delete_pool(&record.pool_id).await {
            tracing::error!(pool_id = %record.pool_id, error = %undo, "could not delete an unrecorded instance pool");
        }
        return Err(err.into());
    }
    let pool = databricks.pool(&record.pool_id).await.ok();
    tracing::info!(org_id = %org, warm_pool_id = %record.id, pool_id = %record.pool_id, "warm pool created");
    Ok(Created(view(&record, pool.as_ref())))
}

/// Pools read at once.
const READS_AT_ONCE: usize = 8;

/// The org's pools with what their platforms say of them now (`None` where it did not answer).
async fn with_platform_state(
    state: &AppState,
    org: &OrgId,
) -> ApiResult<Vec<(WarmPoolRecord, Option<PoolInfo>, Option<Databricks>)>> {
    use futures::StreamExt;
    let records = repo::list(state.store.as_ref(), org).await?;
    let platforms: HashMap<PlatformId, PlatformRecord> =
        platforms_repo::list(state.store.as_ref(), org)
            .await?
            .into_iter()
            .map(|record| (record.id.clone(), record))
            .collect();
    let platforms = &platforms;
    Ok(futures::stream::iter(records)
        .map(|record| async move {
            let Some(platform) = platforms.get(&record.platform_id) else {
                return (record, None, None);
            };
            let Ok(Some(databricks)) = connect_databricks(state, platform).await else {
                return (record, None, None);
            };
            match databricks.pool(&record.pool_id).await {
                Ok(pool) => (record, Some(pool), Some(databricks)),
                Err(err) => {
                    tracing::warn!(warm_pool_id = %record.id, error = %err, "reading an instance pool failed");
                    (record, None, None)
                }
            }
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await)
}

/// The organization's warm pools, oldest first, with their status on the platform.
#[utoipa::path(
    get,
    path = "/warm-pools",
    tag = "warm-pools",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "The warm pools", body = [WarmPoolView])),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_pools(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<WarmPoolView>>> {
    let pools = with_platform_state(&state, &auth.org.id).await?;
    Ok(Envelope(
        pools
            .iter()
            .map(|(record, pool, _)| view(record, pool.as_ref()))
            .collect(),
    ))
}

/// Nodes across the organization's pools, from the platforms' pool stats, and how long clusters
/// waited for pool nodes over the last 7 days, from their events.
#[utoipa::path(
    get,
    path = "/warm-pools/status",
    tag = "warm-pools",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "Pool status", body = PoolsStatus)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn pools_status(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<PoolsStatus>> {
    let pools = with_platform_state(&state, &auth.org.id).await?;
    let since = (state.clock.now() - Duration::days(CLAIM_WINDOW_DAYS)).timestamp_millis();
    let mut status = PoolsStatus {
        total_warm_nodes: 0,
        available: 0,
        in_use: 0,
        pending: 0,
        avg_claim_time_seconds: None,
        claims_measured: 0,
        pools: pools.len(),
        pools_unreachable: 0,
    };
    let mut claims = Vec::new();
    for (record, pool, databricks) in &pools {
        let (Some(pool), Some(databricks)) = (pool, databricks) else {
            status.pools_unreachable += 1;
            continue;
        };
        let stats = pool.stats;
        status.available += stats.idle_count;
        status.in_use += stats.used_count;
        status.pending += stats.pending_idle_count + stats.pending_used_count;
        match databricks.pool_claim_seconds(&record.pool_id, since).await {
            Ok(found) => claims.extend(found),
            Err(err) => {
                tracing::warn!(warm_pool_id = %record.id, error = %err, "reading pool claims failed");
            }
        }
    }
    status.total_warm_nodes = status.available + status.in_use;
    status.claims_measured = claims.len();
    if !claims.is_empty() {
        let mean = claims.iter().sum::<f64>() / claims.len() as f64;
        status.avg_claim_time_seconds = Some(mean.round() as u64);
    }
    Ok(Envelope(status))
}

/// One warm pool with its platform status (an addition to the documented API).
#[utoipa::path(
    get,
    path = "/warm-pools/{id}",
    tag = "warm-pools",
    params(
        ("id" = String, Path, description = "The warm pool's id (wp_…)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "The warm pool", body = WarmPoolView),
        (status = 404, description = "No such warm pool in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_pool(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<WarmPoolView>> {
    let record = find(&state, &auth.org.id, &id).await?;
    let platform = platform_of(&state, &auth.org.id, &record.platform_id).await?;
    let pool = match connect_databricks(&state, &platform).await {
        Ok(Some(databricks)) => databricks.pool(&record.pool_id).await.ok(),
        _ => None,
    };
    Ok(Envelope(view(&record, pool.as_ref())))
}

/// Change a warm pool's sizes (admins and owners): the instance pool is edited first, then the
/// record. The instance type of a pool cannot change (create another pool).
#[utoipa::path(
    put,
    path = "/warm-pools/{id}",
    tag = "warm-pools",
    request_body = UpdateBody,
    params(
        ("id" = String, Path, description = "The warm pool's id (wp_…)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Updated", body = Updated),
        (status = 400, description = "min_nodes > max_nodes, a new instance_type, or nothing to change"),
        (status = 403, description = "The caller is not an admin"),
        (status = 404, description = "No such warm pool in this organization"),
        (status = 502, description = "The platform failed"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_pool(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> ApiResult<Envelope<Updated>> {
    let record = find(&state, &auth.org.id, &id).await?;
    if body.min_nodes.is_none() && body.max_nodes.is_none() && body.instance_type.is_none() {
        return Err(ApiError::Validation(
            "min_nodes: at least one of min_nodes and max_nodes is required".to_owned(),
        ));
    }
    if let Some(instance_type) = &body.instance_type
        && instance_type.trim() != record.instance_type
    {
        return Err(ApiError::Validation(format!(
            "instance_type: a pool's instance type cannot change (it is {}); create another warm pool",
            record.instance_type
        )));
    }
    let updated = WarmPoolRecord {
        min_nodes: body.min_nodes.unwrap_or(record.min_nodes),
        max_nodes: body.max_nodes.unwrap_or(record.max_nodes),
        updated_at: state.clock.now(),
        ..record
    };
    check_sizes(updated.min_nodes, updated.max_nodes)?;
    let platform = platform_of(&state, &auth.org.id, &updated.platform_id).await?;
    let databricks = databricks_for(&state, &platform).await?;
    databricks
        .edit_pool(&updated.pool_id, &spec(&updated))
        .await
        .map_err(|err| match err {
            PlatformError::NotFound(_) => ApiError::Conflict(
                "the instance pool no longer exists on the platform; delete this warm pool"
                    .to_owned(),
            ),
            other => platform_failure(other),
        })?;
    repo::replace(state.store.as_ref(), &updated)
        .await
        .map_err(|err| match err {
            dtap_shared::store::StoreError::ConditionFailed { .. } => {
                ApiError::not_found("warm pool")
            }
            other => other.into(),
        })?;
    let pool = databricks.pool(&updated.pool_id).await.ok();
    tracing::info!(org_id = %auth.org.id, warm_pool_id = %updated.id, "warm pool updated");
    Ok(Envelope(Updated {
        id: updated.id.to_string(),
        updated: true,
        min_nodes: updated.min_nodes,
        max_nodes: updated.max_nodes,
        status: status_of(pool.as_ref(), updated.min_nodes),
    }))
}

/// Delete a warm pool (admins and owners): the instance pool first (its idle nodes are
/// terminated by the platform), then the record, so a retry after a failure finishes the job.
#[utoipa::path(
    delete,
    path = "/warm-pools/{id}",
    tag = "warm-pools",
    params(
        ("id" = String, Path, description = "The warm pool's id (wp_…)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 403, description = "The caller is not an admin"),
        (status = 404, description = "No such warm pool in this organization"),
        (status = 502, description = "The platform failed"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_pool(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Message>> {
    let record = find(&state, &auth.org.id, &id).await?;
    if let Some(platform) =
        platforms_repo::get(state.store.as_ref(), &auth.org.id, &record.platform_id).await?
    {
        let databricks = databricks_for(&state, &platform).await?;
        databricks
            .delete_pool(&record.pool_id)
            .await
            .map_err(|err| ApiError::Upstream(format!("databricks: {err}")))?;
    }
    match repo::delete(state.store.as_ref(), &auth.org.id, &record.id).await {
        Ok(()) | Err(dtap_shared::store::StoreError::ConditionFailed { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %auth.org.id, warm_pool_id = %record.id, "warm pool deleted");
    Ok(Message::new("Warm pool deleted"))
}
