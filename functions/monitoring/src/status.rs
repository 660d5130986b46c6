use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use dtap_shared::AppState;
use dtap_shared::api::ApiResult;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::domain::ids::OrgId;
use dtap_shared::domain::monitoring::MonitoringConfig;
use dtap_shared::store::repos::actions;
use dtap_shared::store::repos::monitors::{self, MonitorRecord};
use dtap_shared::store::repos::platforms;
use dtap_shared::store::repos::watches;
use serde::Serialize;
use utoipa::ToSchema;

/// The organization's monitoring, as `GET /v1/monitoring/status` and `PUT /v1/monitoring/config`
/// answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitoringStatus {
    /// False while paused.
    enabled: bool,
    platforms_connected: usize,
    /// Clusters the last scan saw.
    clusters_monitored: usize,
    /// Actions on the organization's clusters in the last 24 hours, by anyone.
    actions_last_24h: usize,
    config: MonitoringConfig,
    last_scan_at: Option<DateTime<Utc>>,
    next_scan_at: Option<DateTime<Utc>>,
    paused_at: Option<DateTime<Utc>>,
}

pub async fn status_of(
    state: &AppState,
    org: &OrgId,
    monitor: MonitorRecord,
) -> ApiResult<MonitoringStatus> {
    let store = state.store.as_ref();
    let since = state.clock.now() - Duration::hours(24);
    let recent = actions::count_since(store, org, since).await?;
    let platforms_connected = platforms::list(store, org).await?.len();
    Ok(MonitoringStatus {
        enabled: monitor.enabled,
        platforms_connected,
        clusters_monitored: watches::list(store, org).await?.len(),
        actions_last_24h: recent,
        // An org that never stored a record has no scan scheduled until a platform is connected.
        next_scan_at: (monitor.version > 0 && platforms_connected > 0)
            .then_some(monitor.next_scan_at),
        config: monitor.config,
        last_scan_at: monitor.last_scan_at,
        paused_at: monitor.paused_at,
    })
}

/// Monitoring status: whether automation is on, what is watched, recent actions, and the config.
#[utoipa::path(
    get,
    path = "/monitoring/status",
    tag = "monitoring",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Monitoring status (a bare object, no envelope)", body = MonitoringStatus),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Json<MonitoringStatus>> {
    let monitor = monitors::load(state.store.as_ref(), &auth.org.id, state.clock.now()).await?;
    Ok(Json(status_of(&state, &auth.org.id, monitor).await?))
}
