//! `/v1/account/api-keys`: the caller's own keys in the org the request acts for. Any member,
//! viewers included, manages their own keys: a key carries only its user's role, so it grants
//! nothing the user does not already have.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, Principal, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope};
use dtap_shared::auth::api_keys;
use dtap_shared::domain::ids::ApiKeyId;
use dtap_shared::domain::names::DisplayName;
use dtap_shared::domain::required;
use dtap_shared::store::StoreError;
use dtap_shared::store::repos::api_keys::{
    self as key_repo, ApiKeyRecord, KeyOrigin, USER_KEYS_MAX,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeySummary {
    #[schema(example = "key_01jq3w9x2k8m4n6p7r5s3t1v0y")]
    id: String,
    name: String,
    /// The first characters of the key, to tell keys apart; the key itself is never shown again.
    #[schema(example = "dtap_live_a1B2c3")]
    prefix: String,
    /// `login` for keys issued by login, `user` for keys created here.
    origin: KeyOrigin,
    created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeySummary {
    fn from(key: ApiKeyRecord) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name,
            prefix: key.prefix,
            origin: key.origin,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKey {
    /// 1-100 characters, e.g. what will use the key.
    #[schema(example = "nightly-etl")]
    name: Option<String>,
}

/// A new key: the only answer that ever contains it.
#[derive(Serialize, ToSchema)]
pub struct IssuedApiKey {
    id: String,
    name: String,
    prefix: String,
    /// Send as `X-API-Key`. Store it now: it cannot be shown again.
    #[schema(example = "dtap_live_a1B2c3…")]
    api_key: String,
    created_at: DateTime<Utc>,
}

fn issue(
    caller: &Principal,
    name: String,
    origin: KeyOrigin,
    now: DateTime<Utc>,
) -> (ApiKeyRecord, IssuedApiKey) {
    let key = api_keys::generate();
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        user_id: caller.user.id.clone(),
        org_id: caller.org.id.clone(),
        name,
        prefix: key.display_prefix.clone(),
        fingerprint: key.hash.clone(),
        origin,
        created_at: now,
        last_used_at: None,
    };
    let issued = IssuedApiKey {
        id: record.id.to_string(),
        name: record.name.clone(),
        prefix: record.prefix.clone(),
        api_key: api_keys::expose(&key.secret).to_owned(),
        created_at: now,
    };
    (record, issued)
}

const NOT_FOUND: &str = "API key";

/// The caller's key named by a path id. A malformed id, or another user's or org's key, is 404
/// like an unknown one.
async fn own_key(state: &AppState, caller: &Principal, raw_id: &str) -> ApiResult<ApiKeyRecord> {
    let id = ApiKeyId::parse(raw_id).ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    key_repo::find_for_user(state.store.as_ref(), &caller.user.id, &caller.org.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// The caller's API keys in the organization, oldest first (never the keys themselves).
#[utoipa::path(
    get,
    path = "/account/api-keys",
    tag = "account",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "The caller's keys", body = Vec<ApiKeySummary>),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<ApiKeySummary>>> {
    let keys =
        key_repo::list_for_user(state.store.as_ref(), &caller.user.id, &caller.org.id).await?;
    Ok(Envelope(
        keys.into_iter().map(ApiKeySummary::from).collect(),
    ))
}

/// Create a named API key for the caller in the organization. The answer is the only time the
/// key is shown.
#[utoipa::path(
    post,
    path = "/account/api-keys",
    tag = "account",
    request_body = CreateApiKey,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization the key is for")),
    responses(
        (status = 201, description = "Key created", body = IssuedApiKey),
        (status = 400, description = "Invalid input; the message names the field"),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 409, description = "The caller already has 50 named keys in the organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<Created<IssuedApiKey>> {
    let name = DisplayName::parse("name", &required("name", body.name)?)?;
    let store = state.store.as_ref();
    // Checked before writing: two concurrent creates may pass it together and end one over the
    // cap, which bounds growth all the same.
    let named = key_repo::list_for_user(store, &caller.user.id, &caller.org.id)
        .await?
        .into_iter()
        .filter(|key| key.origin == KeyOrigin::User)
        .count();
    if named >= USER_KEYS_MAX {
        return Err(ApiError::Conflict(format!(
            "you already have {USER_KEYS_MAX} API keys in this organization; delete one first"
        )));
    }
    let (record, issued) = issue(
        &caller,
        name.into_string(),
        KeyOrigin::User,
        state.clock.now(),
    );
    key_repo::create(store, &record).await?;
    tracing::info!(key_id = %record.id, "API key created");
    Ok(Created(issued))
}

/// Revoke one of the caller's keys; it stops working with the next request.
#[utoipa::path(
    delete,
    path = "/account/api-keys/{id}",
    tag = "account",
    params(
        ("id" = String, Path, description = "The key's id (`key_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Key revoked", body = Message),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 404, description = "No such key among the caller's keys in the organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Envelope<Message>> {
    let key = own_key(&state, &caller, &id).await?;
    key_repo::revoke(state.store.as_ref(), &key).await?;
    tracing::info!(key_id = %key.id, "API key revoked");
    Ok(Message::new("API key revoked"))
}

/// Replace one of the caller's keys by a new one with the same name: the old key stops working
/// at the moment the new one starts.
#[utoipa::path(
    post,
    path = "/account/api-keys/{id}/rotate",
    tag = "account",
    params(
        ("id" = String, Path, description = "The key's id (`key_…`)"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 201, description = "The new key; the old one is revoked", body = IssuedApiKey),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 404, description = "No such key among the caller's keys in the organization"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Created<IssuedApiKey>> {
    let old = own_key(&state, &caller, &id).await?;
    let (record, issued) = issue(&caller, old.name.clone(), old.origin, state.clock.now());
    match key_repo::rotate(state.store.as_ref(), &old, &record).await {
        Ok(()) => {}
        // Revoked between the lookup and the transaction.
        Err(StoreError::ConditionFailed { .. }) => return Err(ApiError::not_found(NOT_FOUND)),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(old_key_id = %old.id, key_id = %record.id, "API key rotated");
    Ok(Created(issued))
}
