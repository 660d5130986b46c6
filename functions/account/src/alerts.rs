use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiResult, Envelope};
use dtap_shared::store::repos::alerts::{self, Severity};
use serde::Serialize;
use utoipa::ToSchema;

use dtap_shared::api::query as params;

#[derive(Debug, Serialize, ToSchema)]
pub struct Alert {
    #[schema(example = "alt_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    /// What happened, e.g. `idle_cluster`.
    #[serde(rename = "type")]
    #[schema(example = "idle_cluster")]
    kind: String,
    message: String,
    severity: Severity,
    created_at: DateTime<Utc>,
}

/// The organization's alert feed, newest first.
#[utoipa::path(
    get,
    path = "/account/alerts",
    tag = "account",
    params(
        ("limit" = Option<u32>, Query, description = "How many alerts, 1-200 (default 50)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Alerts, newest first", body = Vec<Alert>),
        (status = 400, description = "`limit` out of range"),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn alerts(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
    RawQuery(query): RawQuery,
) -> ApiResult<Envelope<Vec<Alert>>> {
    let limit = params::bounded(query.as_deref(), "limit", 1, 200, 50)?;
    let found = alerts::latest(state.store.as_ref(), &caller.org.id, limit as usize).await?;
    Ok(Envelope(
        found
            .into_iter()
            .map(|alert| Alert {
                id: alert.id.to_string(),
                kind: alert.kind,
                message: alert.message,
                severity: alert.severity,
                created_at: alert.created_at,
            })
            .collect(),
    ))
}
