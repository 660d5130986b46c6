use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiError, ApiJson, ApiResult};
use dtap_shared::domain::monitoring::{ConfigPatch, ConfigPatchBody};
use dtap_shared::operations::connect_record;
use dtap_shared::store::repos::clusters as managed;
use dtap_shared::store::repos::platforms;
use dtap_shared::store::repos::watches;

use crate::status::{MonitoringStatus, status_of};

/// Update monitoring preferences (admins and owners). Only the fields given change; each is
/// validated, and `exclude_clusters` must name clusters of the organization. Nothing is changed
/// when any field is invalid.
#[utoipa::path(
    put,
    path = "/monitoring/config",
    tag = "monitoring",
    request_body = ConfigPatchBody,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "The monitoring status with the new config (a bare object)", body = MonitoringStatus),
        (status = 400, description = "A field is out of range, unknown, or names an unknown cluster"),
        (status = 403, description = "The caller is not an admin"),
        (status = 502, description = "A platform could not be asked whether an excluded cluster exists"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_config(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<ConfigPatchBody>,
) -> ApiResult<Json<MonitoringStatus>> {
    let patch = ConfigPatch::parse(body)?;
    if let Some(ids) = &patch.exclude_clusters {
        check_clusters_exist(&state, &auth.org.id, ids).await?;
    }
    let now = state.clock.now();
    let interval_changed = patch.scan_interval_minutes.is_some();
    let monitor = dtap_shared::store::repos::monitors::modify(
        state.store.as_ref(),
        &auth.org.id,
        now,
        |record| {
            record.config = patch.apply(&record.config);
            if interval_changed {
                // The new interval starts now rather than after the old one runs out.
                let next =
                    now + chrono::Duration::minutes(i64::from(record.config.scan_interval_minutes));
                record.next_scan_at = record.next_scan_at.min(next);
            }
        },
    )
    .await?;
    tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, "monitoring config updated");
    Ok(Json(status_of(&state, &auth.org.id, monitor).await?))
}

/// Every id must be a cluster of the org: one the scanner watches, one we manage, or one a
/// platform lists now.
async fn check_clusters_exist(
    state: &AppState,
    org: &dtap_shared::domain::ids::OrgId,
    ids: &[String],
) -> ApiResult<()> {
    let store = state.store.as_ref();
    let mut known: HashSet<String> = watches::list(store, org)
        .await?
        .into_iter()
        .map(|record| record.cluster_id)
        .collect();
    known.extend(
        managed::list(store, org)
            .await?
            .into_iter()
            .flat_map(|record| [record.cluster_id, record.current_cluster_id]),
    );
    if ids.iter().all(|id| known.contains(id)) {
        return Ok(());
    }
    let mut unreachable = Vec::new();
    for record in platforms::list(store, org).await? {
        let listed = match connect_record(state, &record).await {
            Ok(platform) => platform
                .list_clusters()
                .await
                .map_err(|err| err.to_string()),
            Err(why) => Err(why),
        };
        match listed {
            Ok(clusters) => known.extend(clusters.into_iter().map(|cluster| cluster.id)),
            Err(why) => unreachable.push(format!("{} ({}): {why}", record.id, record.kind)),
        }
    }
    for (index, id) in ids.iter().enumerate() {
        if !known.contains(id) {
            if !unreachable.is_empty() {
                return Err(ApiError::Upstream(format!(
                    "could not check exclude_clusters[{index}] against every platform: {}",
                    unreachable.join("; ")
                )));
            }
            return Err(ApiError::Validation(format!(
                "exclude_clusters[{index}]: no cluster {id} in this organization"
            )));
        }
    }
    Ok(())
}
