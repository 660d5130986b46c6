use axum::Json;
use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::ApiResult;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::store::repos::monitors;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Switched {
    #[schema(example = "Monitoring paused")]
    message: &'static str,
    enabled: bool,
}

/// Emergency stop (admins and owners): no automated action touches a cluster until resumed.
/// Scans keep reading metrics; manual calls by members still work.
#[utoipa::path(
    post,
    path = "/monitoring/pause",
    tag = "monitoring",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Paused (a bare object)", body = Switched),
        (status = 403, description = "The caller is not an admin"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn pause(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
) -> ApiResult<Json<Switched>> {
    let now = state.clock.now();
    monitors::modify(state.store.as_ref(), &auth.org.id, now, |record| {
        if record.enabled {
            record.paused_at = Some(now);
        }
        record.enabled = false;
    })
    .await?;
    tracing::warn!(org_id = %auth.org.id, user_id = %auth.user.id, "monitoring paused");
    Ok(Json(Switched {
        message: "Monitoring paused",
        enabled: false,
    }))
}

/// Re-enable automated monitoring and optimization after a pause (admins and owners).
#[utoipa::path(
    post,
    path = "/monitoring/resume",
    tag = "monitoring",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Resumed (a bare object)", body = Switched),
        (status = 403, description = "The caller is not an admin"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn resume(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
) -> ApiResult<Json<Switched>> {
    monitors::modify(
        state.store.as_ref(),
        &auth.org.id,
        state.clock.now(),
        |record| {
            record.enabled = true;
            record.paused_at = None;
        },
    )
    .await?;
    tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, "monitoring resumed");
    Ok(Json(Switched {
        message: "Monitoring resumed",
        enabled: true,
    }))
}
