use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::envelope::Message;
use dtap_shared::api::rate_limit::{IpThrottle, throttle_email};
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Envelope};
use dtap_shared::auth::{api_keys, passwords};
use dtap_shared::domain::email::Email;
use dtap_shared::domain::password::Password;
use dtap_shared::domain::required;
use dtap_shared::mail::Mail;
use dtap_shared::store::repos::api_keys as key_repo;
use dtap_shared::store::repos::reset_tokens::{RESET_TOKEN_TTL_SECONDS, ResetTokenRecord};
use dtap_shared::store::repos::users;
use dtap_shared::store::{Condition, StoreError, WriteOp, keys};
use serde::Deserialize;
use utoipa::ToSchema;

const RESET_ANSWER: &str = "Password reset email sent";

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    #[schema(example = "jane@acme.com")]
    email: Option<String>,
}

/// Request a password reset email.
///
/// The answer is the same whether or not the email has an account, so it reveals nothing. The
/// email carries a single-use token valid for one hour.
#[utoipa::path(
    post,
    path = "/auth/reset-password",
    tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 200, description = "Always, for any well-formed email", body = Message),
        (status = 400, description = "Missing or malformed email"),
    )
)]
pub async fn request_reset(
    State(state): State<AppState>,
    _throttle: IpThrottle,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<Envelope<Message>> {
    let email = Email::parse("email", &required("email", body.email)?)?;
    throttle_email(&state, "reset", &email).await?;
    let store = state.store.as_ref();
    if let Some(user) = users::find_by_email(store, &email).await? {
        let token = api_keys::random_token();
        let token_text = api_keys::expose(&token);
        let record = ResetTokenRecord {
            user_id: user.id.clone(),
            created_at: state.clock.now(),
        };
        store
            .put(
                record.item(&api_keys::fingerprint(token_text))?,
                Condition::NotExists,
            )
            .await?;
        let mail = Mail {
            to: user.email.clone(),
            subject: "Reset your Digital Tap password".into(),
            text: format!(
                "Hello {name},\n\nSomeone asked to reset the password of your Digital Tap account. \
                 If it was you, send this token with your new password to \
                 POST {base}/v1/auth/reset-password/confirm within {minutes} minutes:\n\n\
                 {token_text}\n\nThe token works once. If you did not ask, ignore this email: your \
                 password has not changed.\n",
                name = user.name,
                base = state.settings.public_url.trim_end_matches('/'),
                minutes = RESET_TOKEN_TTL_SECONDS / 60,
            ),
        };
        state.mailer.send(&mail).await?;
        tracing::info!(user_id = %user.id, "password reset requested");
    }
    Ok(Message::new(RESET_ANSWER))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmReset {
    /// The token from the reset email.
    token: Option<String>,
    /// The new password, at least 8 characters.
    password: Option<String>,
}

/// Set a new password with a reset token. Every JWT issued before it stops working, and so do
/// the API keys that logins issued (keys created by name under `/v1/account/api-keys` stay).
#[utoipa::path(
    post,
    path = "/auth/reset-password/confirm",
    tag = "auth",
    request_body = ConfirmReset,
    responses(
        (status = 200, description = "Password changed", body = Message),
        (status = 400, description = "Invalid, used or expired token, or a weak password"),
    )
)]
pub async fn confirm_reset(
    State(state): State<AppState>,
    _throttle: IpThrottle,
    ApiJson(body): ApiJson<ConfirmReset>,
) -> ApiResult<Envelope<Message>> {
    let token = required("token", body.token)?;
    let password = Password::parse("password", required("password", body.password)?)?;
    let invalid = || ApiError::Validation("token: is invalid, used or expired".into());
    let store = state.store.as_ref();
    let token_key = keys::reset_token(&api_keys::fingerprint(token.trim()));
    let record: ResetTokenRecord = store.get(&token_key).await?.ok_or_else(invalid)?.record()?;
    if !record.is_valid_at(state.clock.now()) {
        return Err(invalid());
    }
    let user = users::get(store, &record.user_id)
        .await?
        .ok_or_else(invalid)?;
    let (user_key, set, condition) =
        users::password_change(&user, passwords::hash(password).await?);
    // Consuming the token and changing the password are one write: the token works once.
    let ops = vec![
        WriteOp::Delete {
            key: token_key,
            condition: Condition::Exists,
        },
        WriteOp::Update {
            key: user_key,
            set,
            condition,
        },
    ];
    match store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    }
    key_repo::revoke_login_keys(store, &user.id).await?;
    tracing::info!(user_id = %user.id, "password reset");
    Ok(Message::new("Password has been reset"))
}
