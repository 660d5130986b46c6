use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::meta;
use dtap_shared::api::{ApiError, ApiResult, Envelope};
use dtap_shared::domain::ids::PlatformId;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::insights::predict::{Usage, predict};
use dtap_shared::insights::recommend::{Recommendation, recommend};
use dtap_shared::insights::rightsize::{Rightsizing, rightsize};
use dtap_shared::insights::summary::{Analyzed, summarize};
use dtap_shared::insights::{self, Live, config_of, history_of, live, tracked};
use dtap_shared::operations::connect_record;
use dtap_shared::platforms::PlatformError;
use dtap_shared::store::repos::platforms as platforms_repo;
use dtap_shared::store::repos::watches;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Insights {
    /// Projected monthly cost of running time spent idle past the org's idle threshold.
    #[schema(example = 4200.0)]
    total_waste_monthly: f64,
    /// 0-100: 100 × (1 − (idle waste + right-sizing savings) / running cost), over the clusters
    /// with 48 hours of history; null when none has that much yet.
    #[schema(example = 72)]
    optimization_score: Option<u32>,
    #[schema(example = "Hibernate 3 idle EMR clusters to save $1,800/mo")]
    top_opportunity: String,
    /// Projected monthly cost of all running time measured.
    spend_monthly: f64,
    clusters_analyzed: usize,
    /// Clusters left out of the figures: less than 48 hours of readings.
    clusters_without_enough_history: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RightsizingView {
    #[schema(example = "0301-prod-etl")]
    cluster_id: String,
    platform: PlatformKind,
    platform_id: String,
    #[schema(example = "i3.2xlarge")]
    current_type: Option<String>,
    /// The cheapest type of the same family that keeps 30% headroom over p95 CPU and memory;
    /// null when there is none, or too little data (see `reason`).
    #[schema(example = "i3.xlarge")]
    recommended_type: Option<String>,
    /// Mean CPU while running, as a fraction; null when the platform reports no CPU.
    #[schema(example = 0.23)]
    avg_cpu_utilization: Option<f64>,
    p95_cpu_pct: Option<f64>,
    p95_memory_pct: Option<f64>,
    #[schema(example = 620.0)]
    savings_monthly: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PredictionView {
    #[schema(example = "0301-prod-etl")]
    cluster_id: String,
    platform: PlatformKind,
    platform_id: String,
    /// high | medium | low: the mean predicted busy share of the next 24 hours (≥ 0.5, ≥ 0.2,
    /// below); null with too little history.
    predicted_usage: Option<Usage>,
    /// 0-1: coverage of the week × day-to-day regularity.
    #[schema(example = 0.92)]
    confidence: f64,
    /// UTC hour of the busiest predicted hour; null when no work is expected.
    #[schema(example = 14)]
    peak_hour: Option<u32>,
    /// Predicted busy hours in the next 24.
    expected_busy_hours: Option<f64>,
    history_hours: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Predictions {
    #[schema(example = "24h")]
    horizon: &'static str,
    predictions: Vec<PredictionView>,
}

fn round(value: f64, places: i32) -> f64 {
    dtap_shared::domain::cluster_cost::round(value, places)
}

fn sizing_of(
    live: &Live,
    platform: &PlatformId,
    cluster_id: &str,
    history: &insights::history::History,
) -> Option<Rightsizing> {
    let info = live.get(platform, cluster_id)?;
    Some(rightsize(history, info, live.region(platform, info)))
}

/// Waste, the optimization score and the largest single opportunity across every platform of
/// the organization, from the last 7 days of readings.
#[utoipa::path(
    get,
    path = "/insights",
    tag = "insights",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "Insights", body = Insights)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn insights(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Insights>> {
    let org = &auth.org.id;
    let config = config_of(&state, org).await?;
    let (clusters, live) = tokio::try_join!(tracked(&state, org, &config), live(&state, org))?;
    let sizings: Vec<Option<Rightsizing>> = clusters
        .iter()
        .map(|c| sizing_of(&live, &c.watch.platform_id, &c.watch.cluster_id, &c.history))
        .collect();
    let analyzed: Vec<Analyzed<'_>> = clusters
        .iter()
        .zip(&sizings)
        .map(|(cluster, sizing)| Analyzed {
            kind: cluster.watch.kind,
            name: &cluster.watch.name,
            history: &cluster.history,
            rightsizing: sizing.as_ref(),
        })
        .collect();
    let summary = summarize(&analyzed);
    Ok(Envelope(Insights {
        total_waste_monthly: summary.total_waste_monthly,
        optimization_score: summary.optimization_score,
        top_opportunity: summary.top_opportunity,
        spend_monthly: summary.spend_monthly,
        clusters_analyzed: summary.clusters_analyzed,
        clusters_without_enough_history: summary.clusters_without_enough_history,
    }))
}

/// Right-sizing for every monitored cluster: p95 CPU and memory against the catalog's types of
/// the same family with 30% headroom. Clusters without the data say why, with no
/// recommendation; the ones with a recommendation come first, largest saving first.
#[utoipa::path(
    get,
    path = "/insights/rightsizing",
    tag = "insights",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "Right-sizing per cluster", body = [RightsizingView])),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn rightsizing(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<RightsizingView>>> {
    let org = &auth.org.id;
    let config = config_of(&state, org).await?;
    let (clusters, live) = tokio::try_join!(tracked(&state, org, &config), live(&state, org))?;
    let mut views: Vec<RightsizingView> = clusters
        .iter()
        .map(|cluster| {
            let watch = &cluster.watch;
            let sizing = sizing_of(
                &live,
                &watch.platform_id,
                &watch.cluster_id,
                &cluster.history,
            );
            let (current_type, recommended_type, avg, p95_cpu, p95_memory, savings, reason) =
                match sizing {
                    Some(s) => (
                        s.current_type,
                        s.recommended_type,
                        s.avg_cpu_utilization,
                        s.p95_cpu_pct,
                        s.p95_memory_pct,
                        s.savings_monthly,
                        s.reason,
                    ),
                    None => (
                        None,
                        None,
                        None,
                        None,
                        None,
                        0.0,
                        Some(
                            "the platform did not list the cluster just now; its type is unknown"
                                .to_owned(),
                        ),
                    ),
                };
            RightsizingView {
                cluster_id: watch.cluster_id.clone(),
                platform: watch.kind,
                platform_id: watch.platform_id.to_string(),
                current_type,
                recommended_type,
                avg_cpu_utilization: avg,
                p95_cpu_pct: p95_cpu.map(|v| round(v, 2)),
                p95_memory_pct: p95_memory.map(|v| round(v, 2)),
                savings_monthly: savings,
                reason,
            }
        })
        .collect();
    views.sort_by(|a, b| b.savings_monthly.total_cmp(&a.savings_monthly));
    Ok(Envelope(views))
}

/// Predicted usage of every monitored cluster over the next 24 hours (from the next whole UTC
/// hour), from its hour-of-week profile over the last 7 days.
#[utoipa::path(
    get,
    path = "/clusters/predictions",
    tag = "insights",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "Predictions", body = Predictions)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn predictions(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Predictions>> {
    let org = &auth.org.id;
    let config = config_of(&state, org).await?;
    let now = state.clock.now();
    let clusters = tracked(&state, org, &config).await?;
    let predictions = clusters
        .iter()
        .map(|cluster| {
            let prediction = predict(&cluster.history, now);
            PredictionView {
                cluster_id: cluster.watch.cluster_id.clone(),
                platform: cluster.watch.kind,
                platform_id: cluster.watch.platform_id.to_string(),
                predicted_usage: prediction.usage,
                confidence: prediction.confidence,
                peak_hour: prediction.peak_hour,
                expected_busy_hours: prediction
                    .usage
                    .map(|_| round(prediction.hourly.iter().sum(), 1)),
                history_hours: round(prediction.history_hours, 1),
                reason: prediction.reason,
            }
        })
        .collect();
    Ok(Envelope(Predictions {
        horizon: "24h",
        predictions,
    }))
}

/// The list, with `meta.history_hours` and, when there is too little history to recommend
/// anything, `meta.reason`.
pub struct RecommendationList {
    recommendations: Vec<Recommendation>,
    history_hours: f64,
    reason: Option<String>,
}

impl IntoResponse for RecommendationList {
    fn into_response(self) -> Response {
        let mut meta = meta();
        meta["history_hours"] = json!(round(self.history_hours, 1));
        if let Some(reason) = self.reason {
            meta["reason"] = json!(reason);
        }
        Json(json!({"success": true, "data": self.recommendations, "meta": meta})).into_response()
    }
}

fn cluster_id(raw: &str) -> ApiResult<&str> {
    let valid = (1..=128).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(raw)
    } else {
        Err(ApiError::Validation(
            "cluster_id: must be 1-128 letters, digits, '-', '_' or '.'".to_owned(),
        ))
    }
}

/// Recommendations for one monitored cluster from its last 7 days: downsize, spot_mix,
/// auto_termination and schedule, each with its monthly saving from the catalog (null for spot,
/// which the price sheet does not price). `{platform}` is a type or a `plat_…` id. With less
/// than 48 hours of readings the list is empty and `meta.reason` says so.
#[utoipa::path(
    get,
    path = "/clusters/{platform}/{cluster_id}/recommendations",
    tag = "insights",
    params(
        ("platform" = String, Path, description = "Platform type (databricks, emr, dataproc, synapse) or id (plat_…)"),
        ("cluster_id" = String, Path, description = "The platform's cluster id"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Recommendations", body = [Recommendation]),
        (status = 400, description = "Malformed cluster id"),
        (status = 404, description = "No such monitored cluster in this organization"),
        (status = 409, description = "The type names several platforms holding the cluster"),
        (status = 502, description = "The platform failed"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn recommendations(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path((platform, raw_cluster)): Path<(String, String)>,
) -> ApiResult<RecommendationList> {
    let org = &auth.org.id;
    let cluster = cluster_id(&raw_cluster)?;
    let kind = PlatformKind::parse(&platform);
    let id = if kind.is_none() {
        Some(PlatformId::parse(&platform).ok_or_else(|| ApiError::not_found("platform"))?)
    } else {
        None
    };
    let mut matching: Vec<_> = watches::list(state.store.as_ref(), org)
        .await?
        .into_iter()
        .filter(|watch| watch.cluster_id == cluster)
        .filter(|watch| Some(watch.kind) == kind || Some(&watch.platform_id) == id.as_ref())
        .collect();
    let watch = match matching.len() {
        0 => return Err(ApiError::not_found("cluster")),
        1 => matching.remove(0),
        _ => {
            return Err(ApiError::Conflict(format!(
                "cluster {cluster} exists on more than one connected {platform} platform; name the platform by its id (plat_…) instead"
            )));
        }
    };
    let config = config_of(&state, org).await?;
    let history = history_of(&state, org, &watch.platform_id, cluster, &config).await?;
    let record = platforms_repo::get(state.store.as_ref(), org, &watch.platform_id)
        .await?
        .ok_or_else(|| ApiError::not_found("cluster"))?;
    let connector = connect_record(&state, &record)
        .await
        .map_err(|why| ApiError::Upstream(format!("{}: {why}", record.kind)))?;
    let info = match connector.cluster(cluster).await {
        Ok(info) => info,
        Err(PlatformError::NotFound(_)) => return Err(ApiError::not_found("cluster")),
        Err(err) => return Err(ApiError::Upstream(format!("{}: {err}", record.kind))),
    };
    let region = info.region.as_deref().or(record.region.as_deref());
    let history_hours = history.observed_hours();
    Ok(
        match recommend(&history, Some(&info), region, config.idle_threshold_minutes) {
            Ok(recommendations) => RecommendationList {
                recommendations,
                history_hours,
                reason: None,
            },
            Err(reason) => RecommendationList {
                recommendations: Vec::new(),
                history_hours,
                reason: Some(reason),
            },
        },
    )
}
