//! Talking to the platform on behalf of a request: whether credentials work, and how a failure
//! is answered.

use std::time::Instant;

use dtap_shared::AppState;
use dtap_shared::api::ApiError;
use dtap_shared::platforms::connect::{ConnectError, connect};
use dtap_shared::platforms::credentials::Credentials;
use dtap_shared::platforms::{Access, PlatformError};

/// What a successful check found.
pub struct Verified {
    pub clusters_discovered: u32,
}

/// Connects with `credentials`, checks them and counts the clusters they can see. Any failure is
/// the client's to fix (400 naming the field) except throttling, which is the platform's (502).
pub async fn verify(state: &AppState, credentials: &Credentials) -> Result<Verified, ApiError> {
    let platform = connect(credentials, &state.http)
        .await
        .map_err(|err| connect_failure(credentials, err))?;
    platform
        .check()
        .await
        .map_err(|err| rejection(credentials, err))?;
    let clusters = platform
        .list_clusters()
        .await
        .map_err(|err| rejection(credentials, err))?;
    Ok(Verified {
        clusters_discovered: u32::try_from(clusters.len()).unwrap_or(u32::MAX),
    })
}

/// The outcome of a connectivity test, which is an answer, not an error.
pub struct Probe {
    pub latency_ms: u64,
    pub outcome: Result<Access, ProbeFailure>,
}

pub struct ProbeFailure {
    /// Whether the platform answered at all (it may have refused the credentials).
    pub reachable: bool,
    pub reason: String,
}

pub async fn probe(state: &AppState, credentials: &Credentials) -> Probe {
    let started = Instant::now();
    let outcome = match connect(credentials, &state.http).await {
        Ok(platform) => platform.check().await.map_err(|err| ProbeFailure {
            reachable: !matches!(err, PlatformError::Unavailable(_)),
            reason: err.to_string(),
        }),
        Err(ConnectError::Platform(err)) => Err(ProbeFailure {
            reachable: !matches!(err, PlatformError::Unavailable(_)),
            reason: err.to_string(),
        }),
        Err(err @ ConnectError::NotAvailable(_)) => Err(ProbeFailure {
            reachable: false,
            reason: err.to_string(),
        }),
    };
    Probe {
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome,
    }
}

fn connect_failure(credentials: &Credentials, err: ConnectError) -> ApiError {
    match err {
        ConnectError::NotAvailable(kind) => {
            ApiError::Validation(format!("type: {kind} connectors are not available yet"))
        }
        ConnectError::Platform(err) => rejection(credentials, err),
    }
}

fn rejection(credentials: &Credentials, err: PlatformError) -> ApiError {
    let kind = credentials.kind();
    let endpoint = credentials.endpoint_field();
    match err {
        PlatformError::Unauthorized(reason) => {
            ApiError::Validation(format!("credentials: {kind} rejected them: {reason}"))
        }
        PlatformError::Unavailable(reason) => {
            ApiError::Validation(format!("{endpoint}: {kind} could not be reached: {reason}"))
        }
        PlatformError::Throttled(reason) => ApiError::Upstream(format!(
            "{kind} is throttling requests; try again later: {reason}"
        )),
        PlatformError::NotFound(reason)
        | PlatformError::InvalidState(reason)
        | PlatformError::Protocol(reason) => ApiError::Validation(format!(
            "{endpoint}: did not answer as a {kind} endpoint: {reason}"
        )),
    }
}
