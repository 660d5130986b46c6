//! JSON over HTTP for the REST connectors (Databricks, later Dataproc and Synapse): one
//! `reqwest::Client` per connector, bearer or basic auth, retries that never repeat an action the
//! platform may already have applied, and failures classified as [`PlatformError`] with the
//! platform's own message and never a credential.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{PlatformError, PlatformResult};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The platform's message is kept for the user, but a page of HTML or a stack trace is not.
const MAX_MESSAGE_CHARS: usize = 300;

/// Messages Databricks sends with a 400 for conditions that clear by themselves (the SDK's
/// `_is_retryable` list).
const TRANSIENT_MESSAGES: [&str; 4] = [
    "ClusterNotReadyException",
    "RPC token bucket limit has been exceeded",
    "Please try again later or try a faster operation.",
    "does not have any associated worker environments",
];

/// The client every connector should share: built once, with the timeouts every call needs.
/// Redirects are not followed, so a platform cannot bounce a call and its token elsewhere.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// What one second of backoff or of `Retry-After` lasts: a second in production, a few
    /// milliseconds in tests so that retries are exercised without slowing the suite.
    pub unit: Duration,
    /// The most seconds of `Retry-After` honoured before trying again.
    pub max_retry_after: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            unit: Duration::from_secs(1),
            max_retry_after: 30,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        self.unit * attempt.min(10)
    }

    fn retry_after(&self, seconds: Option<u64>) -> Duration {
        let seconds = seconds.unwrap_or(1).min(self.max_retry_after);
        self.unit * u32::try_from(seconds).unwrap_or(u32::MAX)
    }
}

/// Whether a request may be sent again after a failure that leaves open whether it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Reads, and writes of absolute values: sending twice changes nothing.
    Safe,
    /// Actions: sent again only when the failure proves the platform did not apply it (the
    /// connection was refused, or 429/503 which the platform answers before acting).
    OnlyIfNotApplied,
}

pub enum Auth<'a> {
    None,
    Bearer(&'a SecretString),
    Basic {
        user: &'a str,
        password: &'a SecretString,
    },
}

impl Auth<'_> {
    fn secrets(&self) -> Vec<&str> {
        match self {
            Self::None => Vec::new(),
            Self::Bearer(token) => vec![token.expose_secret()],
            Self::Basic { user, password } => vec![user, password.expose_secret()],
        }
    }
}

#[derive(Clone, Debug)]
pub enum Body {
    None,
    Json(Value),
    /// An `application/x-www-form-urlencoded` body, already encoded.
    Form(String),
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub replay: Replay,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            query: Vec::new(),
            body: Body::None,
            replay: Replay::Safe,
        }
    }

    /// A POST that acts: replayed only when it provably was not applied.
    pub fn action(url: impl Into<String>, body: Value) -> Self {
        Self {
            method: Method::POST,
            url: url.into(),
            query: Vec::new(),
            body: Body::Json(body),
            replay: Replay::OnlyIfNotApplied,
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    fn what(&self) -> String {
        let path = reqwest::Url::parse(&self.url)
            .map(|url| url.path().to_owned())
            .unwrap_or_default();
        format!("{} {path}", self.method)
    }
}

/// A successful answer, with its status and headers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `Retry-After` in whole seconds, when the platform gave one.
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after")
            .and_then(|value| value.trim().parse().ok())
    }
}

/// One failed attempt, before it is known whether it will be retried.
enum Failure {
    /// The request never reached the platform.
    NotSent(String),
    /// Sent, with no usable answer: it may or may not have been applied.
    Lost(String),
    Answered {
        status: StatusCode,
        retry_after: Option<u64>,
        message: String,
    },
}

#[derive(Clone, Debug)]
pub struct Rest {
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl Rest {
    pub fn new(http: reqwest::Client, policy: RetryPolicy) -> Self {
        Self { http, policy }
    }

    pub fn with_policy(self, policy: RetryPolicy) -> Self {
        Self { policy, ..self }
    }

    /// Sends the request, retrying what may be retried, and decodes the JSON answer (an empty
    /// body reads as `{}`).
    pub async fn json<T: DeserializeOwned>(
        &self,
        request: &Request,
        auth: Auth<'_>,
    ) -> PlatformResult<T> {
        let secrets = auth.secrets();
        let (_, _, body) = self.send(request, &auth).await?;
        decode(request, &body, &secrets)
    }

    /// Like [`Self::json`], keeping the status and headers: ARM's long-running operations answer
    /// 202 and say where to poll in `Azure-AsyncOperation`, `Location` and `Retry-After`.
    pub async fn answer(&self, request: &Request, auth: Auth<'_>) -> PlatformResult<Answer> {
        let secrets = auth.secrets();
        let (status, headers, body) = self.send(request, &auth).await?;
        Ok(Answer {
            status,
            headers,
            body: decode(request, &body, &secrets)?,
        })
    }

    async fn send(
        &self,
        request: &Request,
        auth: &Auth<'_>,
    ) -> PlatformResult<(StatusCode, HeaderMap, bytes::Bytes)> {
        let secrets = auth.secrets();
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(request, auth).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let delay = self.retry_delay(request, &failure, attempt);
            match delay {
                Some(delay) if attempt < self.policy.attempts => {
                    tracing::debug!(request = %request.what(), attempt, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                _ => return Err(classify(failure, &secrets)),
            }
        }
    }

    async fn attempt(
        &self,
        request: &Request,
        auth: &Auth<'_>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), Failure> {
        let mut builder = self
            .http
            .request(request.method.clone(), &request.url)
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        builder = match auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token.expose_secret()),
            Auth::Basic { user, password } => {
                builder.basic_auth(user, Some(password.expose_secret()))
            }
        };
        builder = match &request.body {
            Body::None => builder,
            Body::Json(value) => builder.json(value),
            Body::Form(form) => builder
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.clone()),
        };
        let response = builder
            .send()
            .await
            .map_err(|err| transport_failure(request, &err))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| transport_failure(request, &err))?;
        if status.is_success() {
            return Ok((status, headers, body));
        }
        Err(Failure::Answered {
            status,
            retry_after,
            message: platform_message(status, &body),
        })
    }

    fn retry_delay(&self, request: &Request, failure: &Failure, attempt: u32) -> Option<Duration> {
        let replayable = request.replay == Replay::Safe;
        match failure {
            Failure::NotSent(_) => Some(self.policy.backoff(attempt)),
            Failure::Lost(_) if replayable => Some(self.policy.backoff(attempt)),
            Failure::Lost(_) => None,
            Failure::Answered {
                status,
                retry_after,
                ..
            } if *status == StatusCode::TOO_MANY_REQUESTS
                || *status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                Some(self.policy.retry_after(*retry_after))
            }
            Failure::Answered { status, .. } if status.is_server_error() && replayable => {
                Some(self.policy.backoff(attempt))
            }
            Failure::Answered {
                status, message, ..
            } if *status == StatusCode::BAD_REQUEST
                && replayable
                && TRANSIENT_MESSAGES.iter().any(|m| message.contains(m)) =>
            {
                Some(self.policy.backoff(attempt))
            }
            Failure::Answered { .. } => None,
        }
    }
}

fn transport_failure(request: &Request, err: &reqwest::Error) -> Failure {
    // reqwest's own text names the full URL; the request's method and path say enough.
    if err.is_connect() {
        Failure::NotSent(format!("{} could not connect", request.what()))
    } else if err.is_timeout() {
        Failure::Lost(format!("{} timed out", request.what()))
    } else {
        Failure::Lost(format!("{} failed in transit", request.what()))
    }
}

fn decode<T: DeserializeOwned>(
    request: &Request,
    body: &[u8],
    secrets: &[&str],
) -> PlatformResult<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        PlatformError::Protocol(redact(
            &format!(
                "{}: unexpected answer at {}: {}",
                request.what(),
                err.path(),
                err.inner()
            ),
            secrets,
        ))
    })
}

fn classify(failure: Failure, secrets: &[&str]) -> PlatformError {
    match failure {
        Failure::NotSent(message) | Failure::Lost(message) => {
            PlatformError::Unavailable(redact(&message, secrets))
        }
        Failure::Answered {
            status, message, ..
        } => {
            let message = redact(&message, secrets);
            match status.as_u16() {
                401 | 403 => PlatformError::Unauthorized(message),
                404 => PlatformError::NotFound(message),
                409 => PlatformError::InvalidState(message),
                400 if message.starts_with("INVALID_STATE") => PlatformError::InvalidState(message),
                400 if message.starts_with("RESOURCE_DOES_NOT_EXIST") => {
                    PlatformError::NotFound(message)
                }
                429 => PlatformError::Throttled(message),
                500..=599 => PlatformError::Unavailable(message),
                _ => PlatformError::Protocol(message),
            }
        }
    }
}

/// `ERROR_CODE: message (HTTP status)` from whichever error shape the platform used:
/// `{error_code, message}`, OAuth's `{error, error_description}`, `{errorCode, errorSummary}`,
/// SCIM's `{detail}`, or plain text.
fn platform_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let (code, message) = match serde_json::from_str::<Value>(text) {
        // Google: `{"error": {"code": 400, "message", "status": "FAILED_PRECONDITION"}}`.
        Ok(Value::Object(outer))
            if outer
                .get("error")
                .and_then(|error| error.get("status"))
                .is_some_and(Value::is_string) =>
        {
            let error = &outer["error"];
            let text = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
            (text("status"), text("message").unwrap_or_default())
        }
        // ARM: `{"error": {"code", "message", "target", "details"}}`.
        Ok(Value::Object(outer)) if outer.get("error").is_some_and(Value::is_object) => {
            let error = &outer["error"];
            let text = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
            (text("code"), text("message").unwrap_or_default())
        }
        Ok(Value::Object(fields)) => {
            let field = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|name| fields.get(*name).and_then(Value::as_str))
                    .map(str::to_owned)
            };
            let code = field(&["error_code", "errorCode"]);
            let message = field(&["message", "error_description", "errorSummary", "detail"]);
            match (code, message) {
                (code, Some(message)) => (code, message),
                (Some(code), None) => (Some(code), String::new()),
                (None, None) => (field(&["error"]), String::new()),
            }
        }
        _ if text.starts_with('<') || text.is_empty() => (None, String::new()),
        _ => (None, text.lines().next().unwrap_or_default().to_owned()),
    };
    let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    match (code, message.is_empty()) {
        (Some(code), false) => format!("{code}: {message} (HTTP {})", status.as_u16()),
        (Some(code), true) => format!("{code} (HTTP {})", status.as_u16()),
        (None, false) => format!("{message} (HTTP {})", status.as_u16()),
        (None, true) => format!("HTTP {}", status),
    }
}

/// Platforms sometimes echo what they were sent; a credential must not reach an error.
fn redact(message: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| secret.len() >= 4)
        .fold(message.to_owned(), |message, secret| {
            message.replace(secret, "[redacted]")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databricks_error_bodies_keep_code_and_message() {
        let body = br#"{"error_code":"INVALID_STATE","message":"Cluster is terminating"}"#;
        assert_eq!(
            platform_message(StatusCode::BAD_REQUEST, body),
            "INVALID_STATE: Cluster is terminating (HTTP 400)"
        );
        let oauth = br#"{"error":"invalid_client","error_description":"bad secret"}"#;
        assert_eq!(
            platform_message(StatusCode::UNAUTHORIZED, oauth),
            "bad secret (HTTP 401)"
        );
        assert_eq!(
            platform_message(StatusCode::BAD_GATEWAY, b"<html><pre>x</pre></html>"),
            "HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn arm_error_bodies_keep_code_and_message() {
        let body = br#"{"error":{"code":"ResourceNotFound","message":"The pool was not found.","details":[]}}"#;
        assert_eq!(
            platform_message(StatusCode::NOT_FOUND, body),
            "ResourceNotFound: The pool was not found. (HTTP 404)"
        );
    }

    #[test]
    fn bad_request_codes_refine_the_class() {
        let answered = |status: u16, message: &str| Failure::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            message: message.to_owned(),
        };
        assert!(matches!(
            classify(answered(400, "INVALID_STATE: x"), &[]),
            PlatformError::InvalidState(_)
        ));
        assert!(matches!(
            classify(answered(400, "INVALID_PARAMETER_VALUE: x"), &[]),
            PlatformError::Protocol(_)
        ));
        assert!(matches!(
            classify(answered(409, "ALREADY_EXISTS: x"), &[]),
            PlatformError::InvalidState(_)
        ));
        assert!(matches!(
            classify(answered(403, "x"), &[]),
            PlatformError::Unauthorized(_)
        ));
    }

    #[test]
    fn echoed_credentials_are_redacted() {
        let err = classify(
            Failure::Answered {
                status: StatusCode::UNAUTHORIZED,
                retry_after: None,
                message: "token dapi-secret-123 is invalid".to_owned(),
            },
            &["dapi-secret-123"],
        );
        assert!(!err.to_string().contains("dapi-secret-123"));
    }

    #[test]
    fn retry_after_is_capped_and_defaults_to_one_second() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retry_after(None), Duration::from_secs(1));
        assert_eq!(policy.retry_after(Some(3600)), Duration::from_secs(30));
        assert_eq!(policy.backoff(25), Duration::from_secs(10));
    }
}
