//! From a path's `{platform}` and `{cluster_id}` to a connected platform, and from platform
//! failures to the API's answers.

use dtap_shared::AppState;
use dtap_shared::api::ApiError;
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::platforms::connect::{ConnectError, connect};
use dtap_shared::platforms::{Platform, PlatformError, parse};
use dtap_shared::store::repos::clusters::{self as managed, ClusterRecord};
use dtap_shared::store::repos::platforms::{self as repo, PlatformRecord};

/// A connector for one of the org's platforms, with the stored credentials. The error is a
/// message fit for a client: it never carries the credentials.
pub async fn connect_record(
    state: &AppState,
    record: &PlatformRecord,
) -> Result<Box<dyn Platform>, String> {
    let secret = state
        .secrets
        .get(&record.secret_name())
        .await
        .map_err(|err| {
            tracing::error!(platform_id = %record.id, error = format!("{err:#}"), "reading platform credentials");
            "the stored credentials could not be read".to_owned()
        })?
        .ok_or_else(|| "the platform has no stored credentials".to_owned())?;
    let credentials = parse::from_secret(&secret).map_err(|err| err.to_string())?;
    connect(&credentials, &state.http)
        .await
        .map_err(|err| match err {
            ConnectError::NotAvailable(kind) => format!("{kind} connectors are not available yet"),
            ConnectError::Platform(err) => err.to_string(),
        })
}

/// Platform ids (Databricks `0301-164208-meows279`, EMR `j-2ABC3DEF`, Dataproc names): letters,
/// digits, `-`, `_`, `.`, at most 128 characters.
pub fn cluster_id(raw: &str) -> Result<&str, ApiError> {
    let valid = (1..=128).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(raw)
    } else {
        Err(ApiError::Validation(
            "cluster_id: must be 1-128 letters, digits, '-', '_' or '.'".to_owned(),
        ))
    }
}

pub fn cluster_not_found() -> ApiError {
    ApiError::not_found("cluster")
}

/// How a platform's refusal is answered: an unknown cluster is 404, a state that forbids the
/// action 409, anything else the platform's failure (502 with its message).
pub fn platform_failure(kind: PlatformKind, err: PlatformError) -> ApiError {
    match err {
        PlatformError::NotFound(_) => cluster_not_found(),
        PlatformError::InvalidState(message) => ApiError::Conflict(message),
        other => ApiError::Upstream(format!("{kind}: {other}")),
    }
}

/// The platform a path names, connected, with our record of the cluster if we manage it.
pub struct Resolved {
    pub record: PlatformRecord,
    pub platform: Box<dyn Platform>,
    pub managed: Option<ClusterRecord>,
}

/// `{platform}` is a type (`databricks`) or a platform id (`plat_…`). A type with several
/// connected platforms picks the one holding the cluster (ours on record, or the platform's
/// answer); more than one is 409 asking for the id. Anything not the org's is 404.
pub async fn resolve(
    state: &AppState,
    org: &OrgId,
    platform: &str,
    cluster: &str,
) -> Result<Resolved, ApiError> {
    let store = state.store.as_ref();
    let candidates = match PlatformKind::parse(platform) {
        Some(kind) => repo::list(store, org)
            .await?
            .into_iter()
            .filter(|record| record.kind == kind)
            .collect(),
        None => {
            let id = PlatformId::parse(platform).ok_or_else(|| ApiError::not_found("platform"))?;
            vec![
                repo::get(store, org, &id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("platform"))?,
            ]
        }
    };
    let single = candidates.len() == 1;
    let mut holders = Vec::new();
    for record in candidates {
        let managed = managed::get(store, org, &record.id, cluster).await?;
        let connected = connect_record(state, &record).await;
        if single {
            let platform = connected
                .map_err(|message| ApiError::Upstream(format!("{}: {message}", record.kind)))?;
            return Ok(Resolved {
                record,
                platform,
                managed,
            });
        }
        let Ok(platform) = connected else {
            // A platform that cannot be reached cannot be shown to hold the cluster.
            if managed.is_none() {
                continue;
            }
            return Err(ApiError::Upstream(format!(
                "{}: could not connect to platform {}",
                record.kind, record.id
            )));
        };
        let holds = managed.is_some() || platform.cluster(cluster).await.is_ok();
        if holds {
            holders.push(Resolved {
                record,
                platform,
                managed,
            });
        }
    }
    match holders.len() {
        0 => Err(cluster_not_found()),
        1 => Ok(holders.remove(0)),
        _ => Err(ApiError::Conflict(format!(
            "cluster {cluster} exists on more than one connected {platform} platform; name the platform by its id (plat_…) instead"
        ))),
    }
}

/// Our view of a stored cluster: whether we hibernated it.
pub fn hibernated_by_us(managed: Option<&ClusterRecord>) -> bool {
    use dtap_shared::store::repos::clusters::ManagedState;
    managed.is_some_and(|record| {
        matches!(
            record.state,
            ManagedState::Hibernated | ManagedState::Hibernating | ManagedState::Resuming
        )
    })
}
