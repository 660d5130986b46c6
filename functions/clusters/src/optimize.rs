//! `POST /v1/clusters/analyze` and `POST /v1/clusters/optimize`: the scanner's observation and
//! idle rule, on demand. `analyze` only reads; `optimize` hibernates what is idle past the
//! threshold (or, with `dry_run`, says what it would hibernate and changes nothing anywhere).

use axum::extract::State;
use chrono::Duration;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Envelope};
use dtap_shared::domain::FieldError;
use dtap_shared::domain::cluster_cost::round;
use dtap_shared::domain::idle::IdleRule;
use dtap_shared::domain::monitoring::MAX_IDLE_THRESHOLD_MINUTES;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::monitor::checks::StillQuiet;
use dtap_shared::monitor::{Observed, observe_org, rule_of};
use dtap_shared::operations::{self, Initiator, OpError, Target};
use dtap_shared::store::repos::metrics;
use dtap_shared::store::repos::monitors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Hours in an average month (8,760 / 12), for monthly projections.
const HOURS_PER_MONTH: f64 = 730.0;
/// The history an idle share is measured over.
const HISTORY_DAYS: i64 = 7;

#[derive(Debug, Serialize, ToSchema)]
pub struct IdleCluster {
    platform: PlatformKind,
    platform_id: String,
    cluster_id: String,
    name: String,
    idle_minutes: u32,
    /// Null when the node types are not in the catalog.
    hourly_cost: Option<f64>,
    /// Share of the last 7 days' scans that found the cluster idle (this reading included).
    idle_share: f64,
    /// hourly_cost × 730 h × idle_share; null when the cost is unknown.
    savings_monthly: Option<f64>,
    #[schema(example = "hibernate")]
    recommendation: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Analysis {
    total_clusters: usize,
    idle_clusters: usize,
    /// What hibernating the idle clusters whenever they idle would save a month, at the idle
    /// share measured over the last 7 days (USD, cloud VMs only).
    #[schema(example = 3420.0)]
    potential_savings_monthly: f64,
    /// Recommendations made (one hibernation per idle cluster).
    recommendations: usize,
    idle: Vec<IdleCluster>,
    /// Platforms that could not be read; their clusters are not counted.
    failed_platforms: Vec<String>,
}

/// The idle share of a cluster over the last week of scans, the current reading counted in.
async fn idle_share(
    state: &AppState,
    observed: &Observed,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<f64> {
    let history = metrics::between(
        state.store.as_ref(),
        &observed.platform.org_id,
        &observed.info.id,
        now - Duration::days(HISTORY_DAYS),
        now,
    )
    .await?;
    let running = history
        .iter()
        .filter(|point| matches!(point.status.as_str(), "running" | "idle"))
        .count()
        + 1;
    let idle = history
        .iter()
        .filter(|point| point.status == "idle")
        .count()
        + 1;
    Ok(idle as f64 / running as f64)
}

/// Analyze every connected cluster by the organization's idle rule (members and above). Reads
/// the platforms; changes nothing.
#[utoipa::path(
    post,
    path = "/clusters/analyze",
    tag = "clusters",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Idle clusters and what they cost", body = Analysis),
        (status = 403, description = "The caller is a viewer"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn analyze(
    State(state): State<AppState>,
    auth: Auth<roles::Member>,
) -> ApiResult<Envelope<Analysis>> {
    let monitor = monitors::load(state.store.as_ref(), &auth.org.id, state.clock.now()).await?;
    let rule = rule_of(&monitor.config);
    let observation = observe_org(&state, &auth.org.id, &rule).await?;
    let now = observation.at;
    let mut idle = Vec::new();
    let mut potential = 0.0;
    for observed in observation
        .clusters
        .iter()
        .filter(|o| o.is_idle(now, &rule))
    {
        let share = idle_share(&state, observed, now).await?;
        let savings = observed
            .hourly_cost
            .map(|hourly| hourly * HOURS_PER_MONTH * share);
        potential += savings.unwrap_or(0.0);
        idle.push(IdleCluster {
            platform: observed.platform.kind,
            platform_id: observed.platform.id.to_string(),
            cluster_id: observed.info.id.clone(),
            name: observed.info.name.clone(),
            idle_minutes: observed.watch.idle_minutes(now),
            hourly_cost: observed.hourly_cost.map(|cost| round(cost, 4)),
            idle_share: round(share, 3),
            savings_monthly: savings.map(|value| round(value, 2)),
            recommendation: "hibernate",
        });
    }
    Ok(Envelope(Analysis {
        total_clusters: observation.clusters.len(),
        idle_clusters: idle.len(),
        potential_savings_monthly: round(potential, 2),
        recommendations: idle.len(),
        idle,
        failed_platforms: observation
            .failed_platforms
            .iter()
            .map(|(record, why)| format!("{} ({}): {why}", record.id, record.kind))
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeBody {
    /// Minutes idle before action (default 30), 1-10080.
    #[schema(value_type = Option<i64>, example = 20)]
    idle_threshold_minutes: Option<serde_json::Number>,
    /// Preview only, no changes (default false).
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedAction {
    #[schema(example = "j-2ABC3DEF")]
    cluster: String,
    platform: PlatformKind,
    platform_id: String,
    #[schema(example = "hibernate")]
    action: &'static str,
    #[schema(example = "Idle 47 min")]
    reason: String,
    /// Null when the node types are not in the catalog.
    #[schema(example = 8.2)]
    savings_per_hour: Option<f64>,
    /// Without dry_run: completed | failed | skipped (busy again, or someone else acted first).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Optimization {
    dry_run: bool,
    actions: Vec<PlannedAction>,
    /// Hourly cost of the clusters hibernated (or, in a dry run, that would be).
    total_hourly_savings: f64,
}

fn threshold(body: &OptimizeBody) -> Result<u32, FieldError> {
    let rule = || {
        FieldError::new(
            "idle_threshold_minutes",
            format!("must be a whole number from 1 to {MAX_IDLE_THRESHOLD_MINUTES}"),
        )
    };
    match &body.idle_threshold_minutes {
        None => Ok(30),
        Some(value) => value
            .as_u64()
            .and_then(|minutes| u32::try_from(minutes).ok())
            .filter(|minutes| (1..=MAX_IDLE_THRESHOLD_MINUTES).contains(minutes))
            .ok_or_else(rule),
    }
}

/// Hibernate every cluster idle for at least `idle_threshold_minutes` (members and above).
/// Excluded clusters are left alone; a pause does not apply (this is a person's call). Each
/// cluster is read again right before it is hibernated. `dry_run` changes nothing, anywhere.
#[utoipa::path(
    post,
    path = "/clusters/optimize",
    tag = "clusters",
    request_body = OptimizeBody,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "What was (or would be) hibernated", body = Optimization),
        (status = 400, description = "idle_threshold_minutes out of range"),
        (status = 403, description = "The caller is a viewer"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn optimize(
    State(state): State<AppState>,
    auth: Auth<roles::Member>,
    ApiJson(body): ApiJson<OptimizeBody>,
) -> ApiResult<Envelope<Optimization>> {
    let minutes = threshold(&body)?;
    let dry_run = body.dry_run.unwrap_or(false);
    let monitor = monitors::load(state.store.as_ref(), &auth.org.id, state.clock.now()).await?;
    let rule = IdleRule {
        threshold_minutes: minutes,
        ..rule_of(&monitor.config)
    };
    let observation = observe_org(&state, &auth.org.id, &rule).await?;
    let now = observation.at;
    let mut actions = Vec::new();
    let mut total = 0.0;
    for observed in &observation.clusters {
        if !observed.is_idle(now, &rule) || monitor.config.excludes(&observed.info.id) {
            continue;
        }
        let mut planned = PlannedAction {
            cluster: observed.info.id.clone(),
            platform: observed.platform.kind,
            platform_id: observed.platform.id.to_string(),
            action: "hibernate",
            reason: format!("Idle {} min", observed.watch.idle_minutes(now)),
            savings_per_hour: observed.hourly_cost.map(|cost| round(cost, 4)),
            status: None,
            action_id: None,
            error: None,
        };
        if dry_run {
            total += observed.hourly_cost.unwrap_or(0.0);
            actions.push(planned);
            continue;
        }
        let Some(platform) = observation.connectors.get(&observed.platform.id) else {
            continue;
        };
        let check = StillQuiet {
            state: &state,
            platform: platform.as_ref(),
            cluster_id: &observed.info.id,
            rule: &rule,
        };
        let target = Target {
            org: &auth.org.id,
            record: &observed.platform,
            platform: platform.as_ref(),
            cluster_id: &observed.info.id,
            managed: observed.managed.clone(),
        };
        let initiator = Initiator::User(auth.user.id.clone());
        match operations::hibernate(
            &state,
            target,
            initiator,
            planned.reason.clone(),
            Some(&check),
        )
        .await
        {
            Ok(done) => {
                total += done.hourly_cost.unwrap_or(0.0);
                planned.status = Some("completed");
                planned.action_id = Some(done.action.id.to_string());
            }
            Err(OpError::Platform(err)) => {
                planned.status = Some("failed");
                planned.error = Some(format!("{}: {err}", observed.platform.kind));
            }
            Err(OpError::Store(err)) => return Err(ApiError::from(err)),
            Err(other) => {
                planned.status = Some("skipped");
                planned.error = Some(other.to_string());
            }
        }
        actions.push(planned);
    }
    Ok(Envelope(Optimization {
        dry_run,
        actions,
        total_hourly_savings: round(total, 4),
    }))
}
