use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope, query};
use dtap_shared::domain::ids::{OrgId, ScheduleId};
use dtap_shared::domain::schedule::{ScheduleBody, ScheduleSpec};
use dtap_shared::monitor::dispatch::ScheduleRun;
use dtap_shared::schedules::{ResolveError, resolve_clusters, run_execution};
use dtap_shared::store::StoreError;
use dtap_shared::store::repos::executions::{self, ExecutionRecord, ExecutionStatus, Trigger};
use dtap_shared::store::repos::schedules::{self, ScheduleCluster, ScheduleRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::RunHandoff;
use crate::views::{ExecutionView, ScheduleView};

/// Attempts of an update that keeps losing to concurrent writers (the ticker) before a 409.
const UPDATE_ATTEMPTS: usize = 5;

fn not_found() -> ApiError {
    ApiError::not_found("schedule")
}

/// The org's schedule; a malformed id, or another org's, is 404.
async fn find(state: &AppState, org: &OrgId, raw: &str) -> ApiResult<ScheduleRecord> {
    let id = ScheduleId::parse(raw).ok_or_else(not_found)?;
    schedules::get(state.store.as_ref(), org, &id)
        .await?
        .ok_or_else(not_found)
}

async fn resolve(
    state: &AppState,
    org: &OrgId,
    spec: &ScheduleSpec,
) -> ApiResult<Vec<ScheduleCluster>> {
    resolve_clusters(state, org, &spec.cluster_ids)
        .await
        .map_err(|err| match err {
            ResolveError::Unknown { .. } => ApiError::Validation(err.to_string()),
            ResolveError::Unreachable { .. } => ApiError::Upstream(err.to_string()),
            ResolveError::Store(err) => err.into(),
        })
}

/// The next run of an enabled time schedule, strictly after `now`.
fn next_run(spec: &ScheduleSpec, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    spec.when
        .as_ref()
        .filter(|_| spec.enabled)
        .and_then(|when| when.next_run_after(now))
}

/// More schedules than this in one org is a sign of a script gone wrong; each costs the ticker and
/// the scanner work.
const MAX_SCHEDULES_PER_ORG: usize = 500;

/// Create a schedule (admins and owners). `time` schedules need `cron` (and take `timezone`,
/// default UTC, and `exclude_dates`); `idle` and `cost` schedules need `threshold`; `resize`
/// needs `target_nodes`. Every cluster id must be a cluster of the organization.
#[utoipa::path(
    post,
    path = "/schedules",
    tag = "schedules",
    request_body = ScheduleBody,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 201, description = "Created", body = ScheduleView),
        (status = 400, description = "A field is missing, invalid, or names an unknown cluster"),
        (status = 403, description = "The caller is not an admin"),
        (status = 409, description = "The organization has 500 schedules already"),
        (status = 502, description = "A platform could not be asked whether a cluster exists"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_schedule(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Created<ScheduleView>> {
    let spec = ScheduleSpec::parse(&body)?;
    if schedules::list(state.store.as_ref(), &auth.org.id)
        .await?
        .len()
        >= MAX_SCHEDULES_PER_ORG
    {
        return Err(ApiError::Conflict(format!(
            "an organization may have at most {MAX_SCHEDULES_PER_ORG} schedules; delete one first"
        )));
    }
    let clusters = resolve(&state, &auth.org.id, &spec).await?;
    let now = state.clock.now();
    let record = ScheduleRecord {
        id: ScheduleId::generate(),
        org_id: auth.org.id.clone(),
        next_run_at: next_run(&spec, now),
        spec,
        clusters,
        last_run_at: None,
        created_by: Some(auth.user.id.to_string()),
        created_at: now,
        updated_at: now,
        version: 1,
    };
    schedules::create(state.store.as_ref(), &record).await?;
    tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, schedule_id = %record.id, "schedule created");
    Ok(Created(ScheduleView::from(&record)))
}

/// The organization's schedules, oldest first.
#[utoipa::path(
    get,
    path = "/schedules",
    tag = "schedules",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses((status = 200, description = "The schedules", body = [ScheduleView])),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_schedules(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<ScheduleView>>> {
    let records = schedules::list(state.store.as_ref(), &auth.org.id).await?;
    Ok(Envelope(records.iter().map(ScheduleView::from).collect()))
}

/// One schedule (an addition to the documented API).
#[utoipa::path(
    get,
    path = "/schedules/{id}",
    tag = "schedules",
    params(
        ("id" = String, Path, description = "The schedule's id (`sch_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "The schedule", body = ScheduleView),
        (status = 404, description = "No such schedule in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_schedule(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<ScheduleView>> {
    let record = find(&state, &auth.org.id, &id).await?;
    Ok(Envelope(ScheduleView::from(&record)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Updated {
    id: String,
    updated: bool,
}

/// Update a schedule (admins and owners): the fields given replace the stored ones and the
/// result is validated as a whole, as on create. Changing the cron, time zone, holidays, type or
/// `enabled` computes the next run again from now.
#[utoipa::path(
    put,
    path = "/schedules/{id}",
    tag = "schedules",
    request_body = ScheduleBody,
    params(
        ("id" = String, Path, description = "The schedule's id (`sch_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Updated", body = Updated),
        (status = 400, description = "A field is invalid, or names an unknown cluster"),
        (status = 403, description = "The caller is not an admin"),
        (status = 404, description = "No such schedule in this organization"),
        (status = 409, description = "The schedule kept changing under the update"),
        (status = 502, description = "A platform could not be asked whether a cluster exists"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_schedule(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ScheduleBody>,
) -> ApiResult<Envelope<Updated>> {
    for _ in 0..UPDATE_ATTEMPTS {
        let stored = find(&state, &auth.org.id, &id).await?;
        let spec = ScheduleSpec::parse(&stored.spec.merge(&patch))?;
        let clusters = if spec.cluster_ids == stored.spec.cluster_ids {
            stored.clusters.clone()
        } else {
            resolve(&state, &auth.org.id, &spec).await?
        };
        let now = state.clock.now();
        let next_run_at = if spec.timing_differs(&stored.spec) {
            next_run(&spec, now)
        } else {
            stored.next_run_at
        };
        let next = ScheduleRecord {
            spec,
            clusters,
            next_run_at,
            updated_at: now,
            version: stored.version + 1,
            ..stored
        };
        match schedules::replace(state.store.as_ref(), &next).await {
            Ok(()) => {
                tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, schedule_id = %next.id, "schedule updated");
                return Ok(Envelope(Updated {
                    id: next.id.to_string(),
                    updated: true,
                }));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the schedule kept changing; try again".to_owned(),
    ))
}

/// Delete a schedule (admins and owners). It never runs again; a run already under way finishes.
#[utoipa::path(
    delete,
    path = "/schedules/{id}",
    tag = "schedules",
    params(
        ("id" = String, Path, description = "The schedule's id (`sch_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 403, description = "The caller is not an admin"),
        (status = 404, description = "No such schedule in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_schedule(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Message>> {
    let record = find(&state, &auth.org.id, &id).await?;
    match schedules::delete(state.store.as_ref(), &auth.org.id, &record.id).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, schedule_id = %record.id, "schedule deleted");
    Ok(Message::new("Schedule deleted"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    #[schema(example = "exec_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    execution_id: String,
    #[schema(example = "running")]
    status: &'static str,
}

/// Run a schedule now (members and above): its action on each of its clusters, whatever its
/// type, whether it is enabled, and whether monitoring is paused — a person's call. The answer
/// comes at once; the execution's outcome is in `GET /v1/schedules/{id}/executions`.
#[utoipa::path(
    post,
    path = "/schedules/{id}/run",
    tag = "schedules",
    params(
        ("id" = String, Path, description = "The schedule's id (`sch_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Started", body = Started),
        (status = 403, description = "The caller is a viewer"),
        (status = 404, description = "No such schedule in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn run_schedule(
    State(state): State<AppState>,
    auth: Auth<roles::Member>,
    handoff: Option<Extension<RunHandoff>>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Started>> {
    let record = find(&state, &auth.org.id, &id).await?;
    let mut execution = ExecutionRecord::new(
        &auth.org.id,
        &record.id,
        Trigger::Manual,
        ExecutionStatus::Running,
        state.clock.now(),
    );
    execution.requested_by = Some(auth.user.id.to_string());
    executions::create(state.store.as_ref(), &execution).await?;
    let run = ScheduleRun {
        org_id: auth.org.id.clone(),
        schedule_id: record.id.clone(),
        execution_id: execution.id.clone(),
        due_at: None,
    };
    match handoff {
        Some(Extension(RunHandoff(dispatcher))) => {
            dispatcher
                .dispatch_runs(vec![run])
                .await
                .map_err(ApiError::Internal)?;
        }
        None => {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(err) = run_execution(&state, &run).await {
                    tracing::error!(execution_id = %run.execution_id, error = format!("{err:#}"), "manual schedule run failed");
                }
            });
        }
    }
    tracing::info!(org_id = %auth.org.id, user_id = %auth.user.id, schedule_id = %record.id, execution_id = %execution.id, "schedule run requested");
    Ok(Envelope(Started {
        execution_id: execution.id.to_string(),
        status: "running",
    }))
}

/// A schedule's runs, newest first (an addition to the documented API). Kept 90 days.
#[utoipa::path(
    get,
    path = "/schedules/{id}/executions",
    tag = "schedules",
    params(
        ("id" = String, Path, description = "The schedule's id (`sch_…`)"),
        ("limit" = Option<u32>, Query, description = "At most this many, 1-200 (default 50)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "The runs", body = [ExecutionView]),
        (status = 400, description = "limit out of range"),
        (status = 404, description = "No such schedule in this organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_executions(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Envelope<Vec<ExecutionView>>> {
    let limit = query::bounded(raw.as_deref(), "limit", 1, 200, 50)?;
    let record = find(&state, &auth.org.id, &id).await?;
    let runs = executions::recent(
        state.store.as_ref(),
        &auth.org.id,
        &record.id,
        limit as usize,
    )
    .await?;
    Ok(Envelope(runs.iter().map(ExecutionView::from).collect()))
}
