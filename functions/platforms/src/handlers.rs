use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope};
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::names::DisplayName;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::domain::{FieldError, required};
use dtap_shared::platforms::credentials::Credentials;
use dtap_shared::platforms::parse::{self, EndpointPolicy};
use dtap_shared::store::StoreError;
use dtap_shared::store::repos::monitors;
use dtap_shared::store::repos::platforms::{self as repo, PlatformRecord, PlatformStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::verify::{self, Verified};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConnectPlatform {
    /// databricks | emr | synapse | dataproc
    #[serde(rename = "type")]
    #[schema(example = "databricks")]
    kind: Option<String>,
    /// Display name, 1-100 characters.
    #[schema(example = "Production Databricks")]
    name: Option<String>,
    /// Per type: Databricks `workspace_url` + `token` (or `client_id` + `client_secret`); EMR
    /// `role_arn` (+ `external_id`) or `access_key_id` + `secret_access_key`, and `region`;
    /// Dataproc `service_account_key`, `project_id`, `region`; Synapse `tenant_id`, `client_id`,
    /// `client_secret`, `subscription_id`, `resource_group`, `workspace_name`.
    #[schema(value_type = Object, example = json!({"workspace_url": "https://dbc-abc123.cloud.databricks.com", "token": "dapi_xyz789..."}))]
    credentials: Option<Value>,
    /// Cloud region; EMR and Dataproc take it when `credentials.region` is absent.
    #[schema(example = "us-east-1")]
    region: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdatePlatform {
    #[schema(example = "Prod DB Updated")]
    name: Option<String>,
    /// New credentials of the platform's type; checked against the platform before they replace
    /// the old ones.
    #[schema(value_type = Object)]
    credentials: Option<Value>,
    /// With new credentials: the region EMR and Dataproc take when `credentials.region` is absent.
    region: Option<String>,
}

/// A newly connected platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectedPlatform {
    #[schema(example = "plat_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    #[serde(rename = "type")]
    kind: PlatformKind,
    name: String,
    status: PlatformStatus,
    /// Clusters the credentials can see.
    #[schema(example = 7)]
    clusters_discovered: u32,
}

/// A connected platform as listed; never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformView {
    #[schema(example = "plat_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    #[serde(rename = "type")]
    kind: PlatformKind,
    name: String,
    status: PlatformStatus,
    #[schema(example = "us-east-1")]
    region: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<&PlatformRecord> for PlatformView {
    fn from(record: &PlatformRecord) -> Self {
        Self {
            id: record.id.to_string(),
            kind: record.kind,
            name: record.name.clone(),
            status: record.status,
            region: record.region.clone(),
            created_at: record.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedPlatform {
    id: String,
    name: String,
    status: PlatformStatus,
}

/// The answer of a connectivity test. A platform that cannot be reached or refuses the
/// credentials is a result (`reachable: false` or an `error`), not a failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    /// Whether the platform answered at all.
    reachable: bool,
    #[schema(example = 142)]
    latency_ms: u64,
    /// What the credentials were seen to allow (`read`, `write`, `admin`); empty on failure.
    #[schema(example = json!(["read", "write", "admin"]))]
    permissions: Vec<String>,
    /// Why the test failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn parse_kind(raw: Option<String>) -> Result<PlatformKind, FieldError> {
    let raw = required("type", raw)?;
    PlatformKind::parse(raw.trim())
        .ok_or_else(|| FieldError::new("type", "must be one of databricks, emr, synapse, dataproc"))
}

/// A cloud region as the clouds spell them (`us-east-1`, `us-central1`, `eastus`).
fn parse_region(raw: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    let value = raw.trim();
    let valid = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-');
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(FieldError::new(
            "region",
            "must be a cloud region such as us-east-1 (lower-case letters, digits and hyphens)",
        ))
    }
}

fn parse_credentials(
    state: &AppState,
    kind: PlatformKind,
    raw: Option<&Value>,
    region: Option<&str>,
) -> Result<Credentials, FieldError> {
    let policy = EndpointPolicy::from_allow_local(state.settings.allow_local_endpoints);
    parse::parse(kind, raw, region, policy)
}

fn platform_not_found() -> ApiError {
    ApiError::not_found("platform")
}

/// The org's platform named by the path; a malformed id or another org's platform is 404.
async fn find(state: &AppState, org: &OrgId, raw_id: &str) -> ApiResult<PlatformRecord> {
    let id = PlatformId::parse(raw_id).ok_or_else(platform_not_found)?;
    repo::get(state.store.as_ref(), org, &id)
        .await?
        .ok_or_else(platform_not_found)
}

/// Removes a secret that no record points to; a failure only leaves an unreachable secret, so
/// it is logged rather than turned into the request's error.
async fn discard_secret(state: &AppState, name: &str) {
    if let Err(err) = state.secrets.delete(name).await {
        tracing::error!(
            secret = name,
            error = format!("{err:#}"),
            "could not remove an orphaned platform secret"
        );
    }
}

/// Connect a platform (admins and owners). The credentials are checked against the platform
/// first; nothing is stored unless they work.
#[utoipa::path(
    post,
    path = "/platforms",
    tag = "platforms",
    request_body = ConnectPlatform,
    responses(
        (status = 201, description = "Connected", body = ConnectedPlatform),
        (status = 400, description = "Invalid input, credentials the platform rejects, an unreachable endpoint, or a type without a connector yet"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 502, description = "The platform is throttling requests"),
    )
)]
pub async fn connect_platform(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<ConnectPlatform>,
) -> ApiResult<Created<ConnectedPlatform>> {
    let kind = parse_kind(body.kind)?;
    let name = DisplayName::parse("name", &required("name", body.name)?)?;
    let region = parse_region(body.region)?;
    let credentials =
        parse_credentials(&state, kind, body.credentials.as_ref(), region.as_deref())?;
    let Verified {
        clusters_discovered,
    } = verify::verify(&state, &credentials).await?;

    let now = state.clock.now();
    let record = PlatformRecord {
        id: PlatformId::generate(),
        org_id: auth.org.id.clone(),
        kind,
        name: name.into_string(),
        region: credentials.region().map(str::to_owned).or(region),
        status: PlatformStatus::Connected,
        created_at: now,
        updated_at: now,
        clusters_discovered,
    };
    let secret_name = record.secret_name();
    state
        .secrets
        .put(&secret_name, &parse::to_secret(&credentials))
        .await?;
    if let Err(err) = repo::create(state.store.as_ref(), &record).await {
        discard_secret(&state, &secret_name).await;
        return Err(err.into());
    }
    // From now on the org's clusters are scanned (its first scan is due at once).
    monitors::ensure(state.store.as_ref(), &record.org_id, state.clock.now()).await?;
    tracing::info!(org_id = %record.org_id, platform_id = %record.id, platform = %kind, clusters_discovered, "platform connected");
    Ok(Created(ConnectedPlatform {
        id: record.id.to_string(),
        kind,
        name: record.name,
        status: record.status,
        clusters_discovered,
    }))
}

/// List the organization's connected platforms, oldest first.
#[utoipa::path(
    get,
    path = "/platforms",
    tag = "platforms",
    responses((status = 200, description = "Connected platforms", body = [PlatformView]))
)]
pub async fn list_platforms(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<PlatformView>>> {
    let platforms = repo::list(state.store.as_ref(), &auth.org.id).await?;
    Ok(Envelope(platforms.iter().map(PlatformView::from).collect()))
}

/// One connected platform (an addition to the documented API).
#[utoipa::path(
    get,
    path = "/platforms/{id}",
    tag = "platforms",
    params(("id" = String, Path, description = "The platform's id (`plat_…`)")),
    responses(
        (status = 200, description = "The platform", body = PlatformView),
        (status = 404, description = "No such platform in this organization"),
    )
)]
pub async fn get_platform(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<PlatformView>> {
    let record = find(&state, &auth.org.id, &id).await?;
    Ok(Envelope(PlatformView::from(&record)))
}

/// Rename a platform or replace its credentials (admins and owners). New credentials are checked
/// against the platform before they replace the old ones.
#[utoipa::path(
    put,
    path = "/platforms/{id}",
    tag = "platforms",
    params(("id" = String, Path, description = "The platform's id (`plat_…`)")),
    request_body = UpdatePlatform,
    responses(
        (status = 200, description = "Updated", body = UpdatedPlatform),
        (status = 400, description = "Invalid input, or new credentials the platform does not accept"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such platform in this organization"),
        (status = 502, description = "The platform is throttling requests"),
    )
)]
pub async fn update_platform(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePlatform>,
) -> ApiResult<Envelope<UpdatedPlatform>> {
    let mut record = find(&state, &auth.org.id, &id).await?;
    let name = body
        .name
        .map(|raw| DisplayName::parse("name", &raw))
        .transpose()?;
    let region = parse_region(body.region)?;
    if name.is_none() && body.credentials.is_none() {
        return Err(FieldError::new("name", "is required when credentials are not given").into());
    }
    let credentials = match &body.credentials {
        None => None,
        Some(raw) => {
            let fallback = region.as_deref().or(record.region.as_deref());
            Some(parse_credentials(&state, record.kind, Some(raw), fallback)?)
        }
    };
    if let Some(name) = name {
        record.name = name.into_string();
    }
    if let Some(credentials) = &credentials {
        let verified = verify::verify(&state, credentials).await?;
        record.clusters_discovered = verified.clusters_discovered;
        record.status = PlatformStatus::Connected;
        record.region = credentials
            .region()
            .map(str::to_owned)
            .or(region)
            .or(record.region);
        state
            .secrets
            .put(&record.secret_name(), &parse::to_secret(credentials))
            .await?;
    }
    record.updated_at = state.clock.now();
    match repo::replace(state.store.as_ref(), &record).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            // Removed while we checked: the secret just written belongs to nothing.
            if credentials.is_some() {
                discard_secret(&state, &record.secret_name()).await;
            }
            return Err(platform_not_found());
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %record.org_id, platform_id = %record.id, credentials_replaced = credentials.is_some(), "platform updated");
    Ok(Envelope(UpdatedPlatform {
        id: record.id.to_string(),
        name: record.name,
        status: record.status,
    }))
}

/// Remove a platform and its stored credentials (admins and owners).
#[utoipa::path(
    delete,
    path = "/platforms/{id}",
    tag = "platforms",
    params(("id" = String, Path, description = "The platform's id (`plat_…`)")),
    responses(
        (status = 200, description = "Removed", body = Message),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such platform in this organization"),
    )
)]
pub async fn remove_platform(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Message>> {
    let record = find(&state, &auth.org.id, &id).await?;
    // The secret goes first: if the record's removal then fails, a retry finds the record and
    // finishes the job, whereas the other order could strand a secret no record names.
    state.secrets.delete(&record.secret_name()).await?;
    match repo::delete(state.store.as_ref(), &record.org_id, &record.id).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(platform_not_found()),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %record.org_id, platform_id = %record.id, "platform removed");
    Ok(Message::new("Platform removed"))
}

/// Test a platform's connectivity with its stored credentials (admins and owners). The answer is
/// 200 whether or not the platform works; the platform's `status` records the outcome.
#[utoipa::path(
    post,
    path = "/platforms/{id}/test",
    tag = "platforms",
    params(("id" = String, Path, description = "The platform's id (`plat_…`)")),
    responses(
        (status = 200, description = "The test's outcome", body = TestResult),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such platform in this organization"),
    )
)]
pub async fn test_platform(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<TestResult>> {
    let mut record = find(&state, &auth.org.id, &id).await?;
    let secret = state
        .secrets
        .get(&record.secret_name())
        .await?
        .ok_or_else(|| anyhow::anyhow!("platform {} has no stored credentials", record.id))?;
    let credentials = parse::from_secret(&secret)?;
    let probe = verify::probe(&state, &credentials).await;
    let (result, status) = match probe.outcome {
        Ok(access) => (
            TestResult {
                reachable: true,
                latency_ms: probe.latency_ms,
                permissions: access.permissions,
                error: None,
            },
            PlatformStatus::Connected,
        ),
        Err(failure) => (
            TestResult {
                reachable: failure.reachable,
                latency_ms: probe.latency_ms,
                permissions: Vec::new(),
                error: Some(failure.reason),
            },
            PlatformStatus::Error,
        ),
    };
    if record.status != status {
        record.status = status;
        record.updated_at = state.clock.now();
        match repo::replace(state.store.as_ref(), &record).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Err(platform_not_found()),
            Err(other) => return Err(other.into()),
        }
    }
    tracing::info!(org_id = %record.org_id, platform_id = %record.id, reachable = result.reachable, ok = result.error.is_none(), "platform tested");
    Ok(Envelope(result))
}
