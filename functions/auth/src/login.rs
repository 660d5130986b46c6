use axum::extract::State;
use axum::http::HeaderMap;
use dtap_shared::AppState;
use dtap_shared::api::auth::{acting_membership, requested_org};
use dtap_shared::api::rate_limit::{IpThrottle, throttle_email};
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Envelope};
use dtap_shared::auth::tokens::TOKEN_TTL_SECONDS;
use dtap_shared::auth::{api_keys, passwords};
use dtap_shared::domain::email::Email;
use dtap_shared::domain::ids::ApiKeyId;
use dtap_shared::domain::required;
use dtap_shared::store::repos::api_keys::{
    self as key_repo, ApiKeyRecord, KeyOrigin, LOGIN_KEYS_KEPT,
};
use dtap_shared::store::repos::users;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "jane@acme.com")]
    email: Option<String>,
    #[schema(example = "securepass123")]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginTokens {
    /// A JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    token: String,
    /// A long-lived key for `X-API-Key`, bound to the organization the login acted for.
    api_key: String,
    expires_in: i64,
}

const BAD_CREDENTIALS: &str = "Invalid email or password";

/// Sign in: a JWT and a long-lived API key.
///
/// Each login issues a new API key named `login` for the organization it acts for (the first the
/// user joined, or the one named by `X-Org`). A user keeps at most five login keys per
/// organization: the sixth login revokes the oldest, so keys do not pile up while logins from a
/// few machines coexist. Keys created under `/v1/account/api-keys` are never touched by login.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization the API key is for")),
    responses(
        (status = 200, description = "Signed in", body = LoginTokens),
        (status = 400, description = "Missing or malformed field"),
        (status = 401, description = "Wrong email or password (the same answer for both)"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    _throttle: IpThrottle,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Envelope<LoginTokens>> {
    let email = Email::parse("email", &required("email", body.email)?)?;
    let password = required("password", body.password)?;
    throttle_email(&state, "login", &email).await?;
    let store = state.store.as_ref();
    let user = users::find_by_email(store, &email).await?;
    let verified =
        passwords::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            tracing::info!("login refused");
            return Err(ApiError::Unauthorized(BAD_CREDENTIALS.into()));
        }
    };
    let membership = acting_membership(&state, &user.id, requested_org(&headers)?.as_ref()).await?;
    let now = state.clock.now();
    let token = state.tokens.issue(&user.id, user.credential_version, now)?;
    let key = api_keys::generate();
    let record = ApiKeyRecord {
        id: ApiKeyId::generate(),
        user_id: user.id.clone(),
        org_id: membership.org_id.clone(),
        name: "login".into(),
        prefix: key.display_prefix.clone(),
        fingerprint: key.hash.clone(),
        origin: KeyOrigin::Login,
        created_at: now,
        last_used_at: None,
    };
    key_repo::create(store, &record).await?;
    key_repo::prune_login_keys(store, &user.id, &membership.org_id, LOGIN_KEYS_KEPT).await?;
    tracing::info!(user_id = %user.id, key_id = %record.id, "logged in");
    Ok(Envelope(LoginTokens {
        token,
        api_key: api_keys::expose(&key.secret).to_owned(),
        expires_in: TOKEN_TTL_SECONDS,
    }))
}
