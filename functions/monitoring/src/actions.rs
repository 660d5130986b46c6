use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::query;
use dtap_shared::api::{ApiError, ApiResult};
use dtap_shared::domain::cluster_cost::round;
use dtap_shared::store::repos::actions::{self, ActionRecord, ActionStatus, ActionType};
use dtap_shared::store::repos::platforms;
use serde::Serialize;
use utoipa::ToSchema;

/// Largest `offset` accepted: paging further than this is a sign of a missing filter.
const MAX_OFFSET: u32 = 1_000_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    #[schema(example = "act_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    /// The platform type; null when the platform has since been removed.
    #[schema(example = "databricks")]
    platform_type: Option<String>,
    platform_id: String,
    cluster_id: String,
    /// hibernate | resume | resize | rightsize | spot_failover
    #[schema(example = "hibernate")]
    action_type: String,
    /// pending | completed | failed
    #[schema(example = "completed")]
    status: String,
    #[schema(example = "Idle for 45 minutes (CPU < 5%)")]
    reason: Option<String>,
    /// For failed actions: what the platform said.
    error: Option<String>,
    /// `user`, `monitor` or `schedule:<id>`.
    initiator: Option<String>,
    /// What a hibernation has saved so far (until its resume, or now); 0 for other actions.
    #[schema(example = 3.2)]
    savings_usd: f64,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionPage {
    actions: Vec<ActionView>,
    limit: u32,
    offset: u32,
    /// Actions matching the filter, in all pages.
    total: usize,
}

fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn savings_of(action: &ActionRecord, now: DateTime<Utc>) -> f64 {
    match (
        action.action_type,
        action.status,
        action.completed_at,
        action.rates,
    ) {
        (ActionType::Hibernate, ActionStatus::Completed, Some(from), Some(rates)) => {
            let until = action.resumed_at.unwrap_or(now);
            let hours = (until - from).num_seconds().max(0) as f64 / 3600.0;
            round(rates.hourly_cost_usd * hours, 2)
        }
        _ => 0.0,
    }
}

/// The history of actions on the organization's clusters, newest first: automated ones and
/// those taken through the API.
#[utoipa::path(
    get,
    path = "/monitoring/actions",
    tag = "monitoring",
    params(
        ("limit" = Option<u32>, Query, description = "Results per page, 1-200 (default 50)"),
        ("offset" = Option<u32>, Query, description = "Pagination offset (default 0)"),
        ("action_type" = Option<String>, Query, description = "hibernate | rightsize | spot_failover | resume | resize"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "A page of actions (a bare object)", body = ActionPage),
        (status = 400, description = "limit, offset or action_type out of range"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_actions(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ActionPage>> {
    let raw = raw.as_deref();
    let limit = query::bounded(raw, "limit", 1, 200, 50)?;
    let offset = query::bounded(raw, "offset", 0, MAX_OFFSET, 0)?;
    let filter = match query::get(raw, "action_type") {
        None => None,
        Some(value) => Some(
            serde_json::from_value::<ActionType>(serde_json::Value::String(value.clone()))
                .map_err(|_| {
                    ApiError::Validation(
                        "action_type: must be one of hibernate, rightsize, spot_failover, resume, resize"
                            .to_owned(),
                    )
                })?,
        ),
    };
    let store = state.store.as_ref();
    let mut matching = Vec::new();
    actions::for_each(store, &auth.org.id, |action| {
        if filter.is_none_or(|wanted| wanted == action.action_type) {
            matching.push(action);
        }
    })
    .await?;
    // Stored oldest first (ULIDs); the feed is newest first.
    matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let kinds: std::collections::HashMap<String, String> = platforms::list(store, &auth.org.id)
        .await?
        .into_iter()
        .map(|record| (record.id.to_string(), record.kind.to_string()))
        .collect();
    let now = state.clock.now();
    let total = matching.len();
    let actions = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|action| ActionView {
            id: action.id.to_string(),
            platform_type: kinds.get(&action.platform_id).cloned(),
            savings_usd: savings_of(&action, now),
            action_type: word(&action.action_type),
            status: word(&action.status),
            platform_id: action.platform_id,
            cluster_id: action.cluster_id,
            reason: action.reason,
            error: action.error,
            initiator: action.initiator,
            created_at: action.created_at,
            completed_at: action.completed_at,
        })
        .collect();
    Ok(Json(ActionPage {
        actions,
        limit,
        offset,
        total,
    }))
}
