//! From a path's `{platform}` and `{cluster_id}` to a connected platform, and from platform
//! failures to the API's answers.

use dtap_shared::AppState;
use dtap_shared::api::ApiError;
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::notify::ClusterRef;
use dtap_shared::operations::{OpError, Target, connect_record};
use dtap_shared::platforms::{Platform, PlatformError};
use dtap_shared::store::repos::clusters::{self as managed, ClusterRecord};
use dtap_shared::store::repos::platforms::{self as repo, PlatformRecord};

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

impl Resolved {
    /// The cluster as notifications name it, and the action path's target.
    pub fn act_on<'a>(&'a self, org: &'a OrgId, cluster_id: &'a str) -> (ClusterRef, Target<'a>) {
        let cluster = ClusterRef {
            platform_id: self.record.id.clone(),
            platform: self.record.kind,
            cluster_id: cluster_id.to_owned(),
            name: self
                .managed
                .as_ref()
                .map_or_else(|| cluster_id.to_owned(), |managed| managed.name.clone()),
        };
        let target = Target {
            org,
            record: &self.record,
            platform: self.platform.as_ref(),
            cluster_id,
            managed: self.managed.clone(),
        };
        (cluster, target)
    }
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

/// How a failed action is answered.
pub fn op_failure(kind: PlatformKind, err: OpError) -> ApiError {
    match err {
        OpError::Platform(err) => platform_failure(kind, err),
        OpError::Store(err) => err.into(),
        OpError::Skipped(why) => ApiError::Conflict(why),
        conflict @ (OpError::AlreadyHibernated
        | OpError::NotRunning(_)
        | OpError::NotHibernatedByUs
        | OpError::Lost(_)) => ApiError::Conflict(conflict.to_string()),
    }
}
