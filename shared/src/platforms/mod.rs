//! Connectors to the data platforms, behind one [`Platform`] trait: Databricks (REST), EMR
//! (aws-sdk-emr), Dataproc (REST) and Synapse (ARM REST). Handlers, the scanner and schedules
//! only ever see the trait.

pub mod connect;
pub mod credentials;
pub mod databricks;
pub mod databricks_pools;
pub mod dataproc;
pub mod emr;
pub mod http;
pub mod parse;
pub mod synapse;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::platform::{ClusterInfo, PlatformKind, UsageSignals};

/// What is kept when a cluster is hibernated, to bring the same cluster back on resume: the
/// platform's own description of it (EMR: the whole job-flow definition; Databricks: the cluster
/// spec, in case Databricks purges the cluster after 30 days).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub kind: PlatformKind,
    pub cluster_id: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub definition: serde_json::Value,
}

/// What a resume did: on platforms that recreate (EMR), the cluster has a new id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    pub cluster_id: String,
    /// How long until the cluster should be ready, from the platform's typical start time.
    pub estimated_ready_seconds: u32,
}

/// What a connectivity check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `read`, `write`, `admin`: what the credentials were seen to allow.
    pub permissions: Vec<String>,
}

/// A failure talking to a platform, classified the way the API answers it.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The platform refused the credentials (401/403, a failed token grant).
    #[error("the platform rejected the credentials: {0}")]
    Unauthorized(String),
    /// No such cluster (or other resource) on the platform.
    #[error("not found on the platform: {0}")]
    NotFound(String),
    /// The platform refused the action in the cluster's current state.
    #[error("the platform refused the action: {0}")]
    InvalidState(String),
    /// Still throttled after the retries.
    #[error("the platform is throttling requests: {0}")]
    Throttled(String),
    /// 5xx, timeouts, unreachable hosts: after the retries.
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
    /// Anything else the platform answered that we cannot use.
    #[error("unexpected answer from the platform: {0}")]
    Protocol(String),
}

pub type PlatformResult<T> = Result<T, PlatformError>;

/// Activity reads in flight at once when a scan reads many clusters of one platform: enough to
/// scan a large workspace quickly, few enough to stay clear of the platforms' rate limits.
pub const USAGE_READS_AT_ONCE: usize = 8;

/// One connected platform account (a Databricks workspace, an AWS account and region, a GCP
/// project and region, a Synapse workspace). Implementations retry 429/5xx with backoff (honouring
/// `Retry-After`), time out every call, cache tokens until they expire, and never put credentials
/// in errors or logs.
#[async_trait]
pub trait Platform: Send + Sync {
    fn kind(&self) -> PlatformKind;

    /// Checks that the platform answers and the credentials work.
    async fn check(&self) -> PlatformResult<Access>;

    /// Every cluster, following the platform's pagination to the end.
    async fn list_clusters(&self) -> PlatformResult<Vec<ClusterInfo>>;

    async fn cluster(&self, id: &str) -> PlatformResult<ClusterInfo>;

    /// Stops paying for the cluster, keeping what resume needs. Returns the snapshot to keep.
    async fn hibernate(&self, id: &str) -> PlatformResult<Snapshot>;

    /// Brings the cluster of the snapshot back.
    async fn resume(&self, snapshot: &Snapshot) -> PlatformResult<Resumed>;

    /// Sets the number of workers.
    async fn resize(&self, id: &str, workers: u32) -> PlatformResult<()>;

    /// Activity signals for idle detection.
    async fn usage(&self, id: &str) -> PlatformResult<UsageSignals>;

    /// The signals of many clusters, in the order of `ids`, for a scan. Connectors whose API can
    /// answer for many clusters at once (Databricks lists a workspace's active runs with no
    /// cluster filter) override it; a single cluster's fresh read stays [`Platform::usage`].
    async fn usage_of_many(&self, ids: &[String]) -> Vec<PlatformResult<UsageSignals>> {
        use futures::StreamExt;
        let mut reads = Vec::with_capacity(ids.len());
        for id in ids {
            reads.push(self.usage(id));
        }
        futures::stream::iter(reads)
            .buffered(USAGE_READS_AT_ONCE)
            .collect()
            .await
    }
}
