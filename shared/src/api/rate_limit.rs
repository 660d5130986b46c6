//! Rate limiting at the edge: [`enforce`] counts a request in a bucket and refuses it past the
//! limit (429 `RATE_LIMITED` with `Retry-After`) before any work is done; [`report`] is the layer
//! that writes the `X-RateLimit-*` headers of the tightest bucket the request was counted in.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::request::Parts;

use super::error::ApiError;
use crate::AppState;
use crate::domain::email::Email;
use crate::domain::rate_limit::{AUTH_PER_EMAIL_PER_MINUTE, AUTH_PER_IP_PER_MINUTE, Quota, Window};

tokio::task_local! {
    static REPORTED: Arc<Mutex<Option<Quota>>>;
}

/// Counts this request in `bucket` against `limit` per minute.
pub async fn enforce(state: &AppState, bucket: &str, limit: u32) -> Result<Quota, ApiError> {
    let now = state.clock.now();
    let window = Window::containing(now);
    let count = state.rate_counter.hit(bucket, window).await?;
    let quota = Quota::after(limit, count, window, now);
    let _ = REPORTED.try_with(|slot| {
        let mut slot = slot.lock().expect("quota slot poisoned");
        *slot = Some(match *slot {
            Some(earlier) => earlier.tighter(quota),
            None => quota,
        });
    });
    match quota.retry_after {
        Some(retry_after_seconds) => Err(ApiError::RateLimited {
            retry_after_seconds,
        }),
        None => Ok(quota),
    }
}

/// Middleware: the `X-RateLimit-*` headers, on every response whose request was counted.
pub async fn report(request: Request, next: Next) -> Response {
    let slot = Arc::new(Mutex::new(None));
    let mut response = REPORTED.scope(slot.clone(), next.run(request)).await;
    let quota = *slot.lock().expect("quota slot poisoned");
    if let Some(quota) = quota {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(quota.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(quota.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(quota.reset));
    }
    response
}

/// The caller's IP address as far as it can be told: API Gateway's source IP on Lambda, the
/// socket's peer locally, or the first `X-Forwarded-For` entry when configured to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings.trust_forwarded_for
            && let Some(first) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return Ok(Self(first.to_owned()));
        }
        if let Some(context) = parts
            .extensions
            .get::<lambda_http::request::RequestContext>()
            && let lambda_http::request::RequestContext::ApiGatewayV2(v2) = context
            && let Some(ip) = &v2.http.source_ip
        {
            return Ok(Self(ip.clone()));
        }
        if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return Ok(Self(peer.ip().to_string()));
        }
        Ok(Self("unknown".into()))
    }
}

/// Extractor for the unauthenticated auth endpoints: counts the request against the caller's IP
/// before the handler runs (and before its body is read).
pub struct IpThrottle;

impl FromRequestParts<AppState> for IpThrottle {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        enforce(state, &format!("auth-ip:{ip}"), AUTH_PER_IP_PER_MINUTE).await?;
        Ok(Self)
    }
}

/// Counts an attempt on one email address (login, reset), whichever IPs it comes from.
pub async fn throttle_email(
    state: &AppState,
    purpose: &str,
    email: &Email,
) -> Result<(), ApiError> {
    enforce(
        state,
        &format!("{purpose}-email:{email}"),
        AUTH_PER_EMAIL_PER_MINUTE,
    )
    .await
    .map(drop)
}
