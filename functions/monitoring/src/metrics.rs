use axum::Json;
use axum::extract::{Path, RawQuery, State};
use chrono::Duration;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::query;
use dtap_shared::api::{ApiError, ApiResult};
use dtap_shared::domain::monitoring::is_cluster_id;
use dtap_shared::store::repos::metrics::{self, MetricPoint};
use dtap_shared::store::repos::{clusters as managed, watches};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterMetrics {
    cluster_id: String,
    hours: u32,
    data_points: usize,
    /// One point per scan, oldest first.
    metrics: Vec<MetricPoint>,
}

/// CPU, memory, workers, idle minutes and cost of a cluster, one point per scan, over the last
/// `hours` (1-168, default 24). A cluster of the organization with no scan yet has no points; a
/// cluster id the organization never had is 404.
#[utoipa::path(
    get,
    path = "/monitoring/metrics/{cluster_id}",
    tag = "monitoring",
    params(
        ("cluster_id" = String, Path, description = "The platform's cluster id"),
        ("hours" = Option<u32>, Query, description = "Lookback window, 1-168 (default 24)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "The cluster's history (a bare object)", body = ClusterMetrics),
        (status = 400, description = "hours out of range"),
        (status = 404, description = "No such cluster in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn cluster_metrics(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(cluster_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ClusterMetrics>> {
    let hours = query::bounded(raw.as_deref(), "hours", 1, 168, 24)?;
    if !is_cluster_id(&cluster_id) {
        return Err(ApiError::Validation(
            "cluster_id: must be 1-128 letters, digits, '-', '_', '.' or '/'".to_owned(),
        ));
    }
    let store = state.store.as_ref();
    let now = state.clock.now();
    let points = metrics::between(
        store,
        &auth.org.id,
        &cluster_id,
        now - Duration::hours(i64::from(hours)),
        now,
    )
    .await?;
    if points.is_empty() && !known(&state, &auth.org.id, &cluster_id).await? {
        return Err(ApiError::not_found("cluster"));
    }
    Ok(Json(ClusterMetrics {
        cluster_id,
        hours,
        data_points: points.len(),
        metrics: points,
    }))
}

/// Whether the org has (or had, within the history kept) this cluster.
async fn known(
    state: &AppState,
    org: &dtap_shared::domain::ids::OrgId,
    cluster_id: &str,
) -> ApiResult<bool> {
    let store = state.store.as_ref();
    if watches::list(store, org)
        .await?
        .iter()
        .any(|record| record.cluster_id == cluster_id)
    {
        return Ok(true);
    }
    if managed::list(store, org)
        .await?
        .iter()
        .any(|record| record.cluster_id == cluster_id || record.current_cluster_id == cluster_id)
    {
        return Ok(true);
    }
    let week = state.clock.now() - Duration::hours(168);
    Ok(
        !metrics::between(store, org, cluster_id, week, state.clock.now())
            .await?
            .is_empty(),
    )
}
