use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::query;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope};
use dtap_shared::domain::FieldError;
use dtap_shared::domain::ids::{NotificationChannelId, OrgId};
use dtap_shared::domain::notification::{self, ChannelConfig, ChannelKind, EventKind};
use dtap_shared::notify;
use dtap_shared::platforms::parse::EndpointPolicy;
use dtap_shared::store::StoreError;
use dtap_shared::store::repos::notifications::{
    self as repo, Attempt, ChannelRecord, ChannelStatus, DeliveryRecord, DeliveryStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Channels one org may have.
pub const MAX_CHANNELS: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// slack | teams | pagerduty | email
    #[serde(rename = "type")]
    #[schema(example = "slack")]
    kind: Option<String>,
    /// Per type: Slack and Teams `webhook_url` (the incoming webhook); PagerDuty `routing_key`
    /// (Events API v2 integration key, 32 characters); email `addresses` (1-20) or `email`.
    #[schema(value_type = Object, example = json!({"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"}))]
    config: Option<Value>,
    /// Events to subscribe to (default: all; for PagerDuty idle_cluster and action_failed):
    /// idle_cluster | cluster_hibernated | cluster_resumed | action_failed | schedule_executed |
    /// savings_digest.
    #[schema(value_type = Option<Vec<String>>, example = json!(["idle_cluster", "cluster_hibernated"]))]
    events: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    /// A new config of the channel's type (the type never changes); replaces the old one.
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// A new list of events, replacing the old one.
    #[schema(value_type = Option<Vec<String>>)]
    events: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The channel to test (`nch_…`).
    #[schema(example = "nch_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    channel_id: Option<String>,
}

/// A channel as the API shows it: its config masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    #[schema(example = "nch_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    #[serde(rename = "type")]
    kind: ChannelKind,
    /// `active`, or `failing` after 5 failed deliveries in a row.
    status: ChannelStatus,
    events: Vec<EventKind>,
    /// Webhook URLs and routing keys masked; email addresses in full.
    #[schema(value_type = Object, example = json!({"webhook_url": "https://hooks.slack.com/services/T000…/****"}))]
    config: Value,
    consecutive_failures: u32,
    last_delivery_at: Option<DateTime<Utc>>,
    /// Why the last delivery failed, while it is failing.
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&ChannelRecord> for ChannelView {
    fn from(record: &ChannelRecord) -> Self {
        Self {
            id: record.id.to_string(),
            kind: record.kind,
            status: record.status,
            events: record.events.clone(),
            config: record.config.clone(),
            consecutive_failures: record.consecutive_failures,
            last_delivery_at: record.last_delivery_at,
            last_error: record.last_error.clone(),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(example = "dlv_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    /// The event delivered, or `test`.
    #[schema(example = "idle_cluster")]
    event: String,
    /// PagerDuty's `trigger` or `resolve`.
    action: Option<String>,
    status: DeliveryStatus,
    attempts: Vec<Attempt>,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(record: DeliveryRecord) -> Self {
        Self {
            id: record.id.to_string(),
            event: record.event,
            action: record.action,
            status: record.status,
            attempts: record.attempts,
            error: record.error,
            created_at: record.created_at,
        }
    }
}

/// The outcome of a test: 200 whether or not the channel works.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    delivered: bool,
    /// Why it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Each attempt made (5xx, 429 and timeouts are retried, up to 3 attempts).
    attempts: Vec<Attempt>,
}

fn channel_not_found() -> ApiError {
    ApiError::not_found("notification channel")
}

/// The org's channel with this id; a malformed id or another org's channel is 404.
async fn find(state: &AppState, org: &OrgId, raw_id: &str) -> ApiResult<ChannelRecord> {
    let id = NotificationChannelId::parse(raw_id.trim()).ok_or_else(channel_not_found)?;
    repo::get(state.store.as_ref(), org, &id)
        .await?
        .ok_or_else(channel_not_found)
}

fn parse_kind(raw: Option<String>) -> Result<ChannelKind, FieldError> {
    let raw = dtap_shared::domain::required("type", raw)?;
    ChannelKind::parse(raw.trim())
        .ok_or_else(|| FieldError::new("type", "must be one of slack, teams, pagerduty, email"))
}

fn parse_config(
    state: &AppState,
    kind: ChannelKind,
    raw: Option<&Value>,
) -> Result<ChannelConfig, FieldError> {
    let policy = EndpointPolicy::from_allow_local(state.settings.allow_local_endpoints);
    ChannelConfig::parse(kind, raw, policy)
}

fn addresses_of(config: &ChannelConfig) -> Vec<String> {
    match config {
        ChannelConfig::Email { addresses } => {
            addresses.iter().map(|email| email.to_string()).collect()
        }
        _ => Vec::new(),
    }
}

/// Removes a secret no record points to; a failure only strands an unreachable secret.
async fn discard_secret(state: &AppState, name: &str) {
    if let Err(err) = state.secrets.delete(name).await {
        tracing::error!(
            secret = name,
            error = format!("{err:#}"),
            "could not remove an orphaned channel secret"
        );
    }
}

/// Add a notification channel (admins and owners). The webhook URL or routing key is kept in the
/// secret store and shown masked from then on.
#[utoipa::path(
    post,
    path = "/notifications/channels",
    tag = "notifications",
    request_body = CreateChannel,
    responses(
        (status = 201, description = "Added", body = ChannelView),
        (status = 400, description = "Unknown type, missing or malformed config, a refused URL, unknown events"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 409, description = "The organization already has 50 channels"),
    )
)]
pub async fn create_channel(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<CreateChannel>,
) -> ApiResult<Created<ChannelView>> {
    let kind = parse_kind(body.kind)?;
    let config = parse_config(&state, kind, body.config.as_ref())?;
    let events = notification::parse_events(kind, body.events.as_ref())?;
    let store = state.store.as_ref();
    if repo::list(store, &auth.org.id).await?.len() >= MAX_CHANNELS {
        return Err(ApiError::Conflict(format!(
            "an organization has at most {MAX_CHANNELS} notification channels"
        )));
    }
    let now = state.clock.now();
    let record = ChannelRecord {
        id: NotificationChannelId::generate(),
        org_id: auth.org.id.clone(),
        kind,
        events,
        status: ChannelStatus::Active,
        config: config.masked(),
        addresses: addresses_of(&config),
        consecutive_failures: 0,
        last_delivery_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let secret = config.to_secret();
    if let Some(secret) = &secret {
        state.secrets.put(&record.secret_name(), secret).await?;
    }
    if let Err(err) = repo::create(store, &record).await {
        if secret.is_some() {
            discard_secret(&state, &record.secret_name()).await;
        }
        return Err(err.into());
    }
    tracing::info!(org_id = %record.org_id, channel_id = %record.id, channel = %kind, "notification channel added");
    Ok(Created(ChannelView::from(&record)))
}

/// List the organization's notification channels, oldest first.
#[utoipa::path(
    get,
    path = "/notifications/channels",
    tag = "notifications",
    responses((status = 200, description = "Channels", body = [ChannelView]))
)]
pub async fn list_channels(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<ChannelView>>> {
    let channels = repo::list(state.store.as_ref(), &auth.org.id).await?;
    Ok(Envelope(channels.iter().map(ChannelView::from).collect()))
}

/// One notification channel (an addition to the documented API).
#[utoipa::path(
    get,
    path = "/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id (`nch_…`)")),
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 404, description = "No such channel in this organization"),
    )
)]
pub async fn get_channel(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<ChannelView>> {
    let record = find(&state, &auth.org.id, &id).await?;
    Ok(Envelope(ChannelView::from(&record)))
}

/// Replace a channel's config or events (admins and owners; an addition). New config makes the
/// channel `active` again.
#[utoipa::path(
    put,
    path = "/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id (`nch_…`)")),
    request_body = UpdateChannel,
    responses(
        (status = 200, description = "Updated", body = ChannelView),
        (status = 400, description = "Neither config nor events, or an invalid one"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such channel in this organization"),
    )
)]
pub async fn update_channel(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> ApiResult<Envelope<ChannelView>> {
    let mut record = find(&state, &auth.org.id, &id).await?;
    if body.config.is_none() && body.events.is_none() {
        return Err(FieldError::new("config", "is required when events are not given").into());
    }
    let config = body
        .config
        .as_ref()
        .map(|raw| parse_config(&state, record.kind, Some(raw)))
        .transpose()?;
    if let Some(raw) = &body.events {
        record.events = notification::parse_events(record.kind, Some(raw))?;
    }
    if let Some(config) = &config {
        if let Some(secret) = config.to_secret() {
            state.secrets.put(&record.secret_name(), &secret).await?;
        }
        record.config = config.masked();
        record.addresses = addresses_of(config);
        record.status = ChannelStatus::Active;
        record.consecutive_failures = 0;
        record.last_error = None;
    }
    record.updated_at = state.clock.now();
    match repo::replace(state.store.as_ref(), &record).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            // Removed meanwhile: the secret just written belongs to nothing.
            if config.is_some() {
                discard_secret(&state, &record.secret_name()).await;
            }
            return Err(channel_not_found());
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %record.org_id, channel_id = %record.id, config_replaced = config.is_some(), "notification channel updated");
    Ok(Envelope(ChannelView::from(&record)))
}

/// Remove a channel and its stored secret (admins and owners; an addition).
#[utoipa::path(
    delete,
    path = "/notifications/channels/{id}",
    tag = "notifications",
    params(("id" = String, Path, description = "The channel's id (`nch_…`)")),
    responses(
        (status = 200, description = "Removed", body = Message),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such channel in this organization"),
    )
)]
pub async fn remove_channel(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Message>> {
    let record = find(&state, &auth.org.id, &id).await?;
    // The secret first: if removing the record then fails, a retry finishes the job.
    if record.kind != ChannelKind::Email {
        state.secrets.delete(&record.secret_name()).await?;
    }
    match repo::delete(state.store.as_ref(), &record.org_id, &record.id).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(channel_not_found()),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %record.org_id, channel_id = %record.id, "notification channel removed");
    Ok(Message::new("Notification channel removed"))
}

/// A channel's recent deliveries, newest first (an addition); kept 30 days. `limit` 1-200,
/// default 50.
#[utoipa::path(
    get,
    path = "/notifications/channels/{id}/deliveries",
    tag = "notifications",
    params(
        ("id" = String, Path, description = "The channel's id (`nch_…`)"),
        ("limit" = Option<u32>, Query, description = "1-200, default 50"),
    ),
    responses(
        (status = 200, description = "Deliveries", body = [DeliveryView]),
        (status = 400, description = "limit out of range"),
        (status = 404, description = "No such channel in this organization"),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: Auth<roles::Viewer>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Envelope<Vec<DeliveryView>>> {
    let limit = query::bounded(raw.as_deref(), "limit", 1, 200, 50)?;
    let record = find(&state, &auth.org.id, &id).await?;
    let deliveries = repo::latest_deliveries(
        state.store.as_ref(),
        &record.org_id,
        &record.id,
        limit as usize,
    )
    .await?;
    Ok(Envelope(
        deliveries.into_iter().map(DeliveryView::from).collect(),
    ))
}

/// Send a test message to a channel (admins and owners). Always 200: `delivered` says whether
/// the service accepted it, and `error` why not. The attempt is recorded like any delivery.
#[utoipa::path(
    post,
    path = "/notifications/test",
    tag = "notifications",
    request_body = TestRequest,
    responses(
        (status = 200, description = "The test's outcome", body = TestResult),
        (status = 400, description = "channel_id missing"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such channel in this organization"),
    )
)]
pub async fn test_channel(
    State(state): State<AppState>,
    auth: Auth<roles::Admin>,
    ApiJson(body): ApiJson<TestRequest>,
) -> ApiResult<Envelope<TestResult>> {
    let raw = dtap_shared::domain::required("channel_id", body.channel_id)?;
    let record = find(&state, &auth.org.id, &raw).await?;
    let outcome = notify::test_channel(&state, &record).await;
    Ok(Envelope(TestResult {
        delivered: outcome.delivered,
        error: outcome.error,
        attempts: outcome.attempts,
    }))
}
