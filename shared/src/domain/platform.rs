//! The platforms Digital Tap connects to, and the vocabulary every connector translates into.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A platform type, as the API names it (`databricks | emr | synapse | dataproc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Databricks,
    Emr,
    Synapse,
    Dataproc,
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 4] = [Self::Databricks, Self::Emr, Self::Synapse, Self::Dataproc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Databricks => "databricks",
            Self::Emr => "emr",
            Self::Synapse => "synapse",
            Self::Dataproc => "dataproc",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cluster's state as the platform reports it, in one vocabulary for all platforms. Whether a
/// running cluster is idle is for monitoring to judge, not the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterState {
    /// Being created or started.
    Starting,
    Running,
    /// Running and changing size.
    Resizing,
    /// Being stopped, paused or terminated.
    Stopping,
    /// Stopped, paused or terminated: no compute is billed.
    Stopped,
    Error,
    Unknown,
}

impl ClusterState {
    /// Whether the cluster is billing compute now.
    pub fn is_billing(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Resizing)
    }
}

/// What a platform says about one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The platform's own id (Databricks cluster id, EMR `j-…`, Dataproc cluster name,
    /// Synapse `sql/<pool>` or `spark/<pool>`).
    pub id: String,
    pub name: String,
    pub state: ClusterState,
    /// The worker instance type (`i3.xlarge`, `n2-standard-4`, `Standard_E8ds_v5`), when known.
    pub instance_type: Option<String>,
    /// The driver/master instance type, when it differs from the workers'.
    pub driver_instance_type: Option<String>,
    /// Worker nodes (not counting the driver/master).
    pub workers: u32,
    /// The cloud region the cluster runs in, when the platform says.
    pub region: Option<String>,
    /// When the cluster last started running (for uptime), if it is running.
    pub started_at: Option<DateTime<Utc>>,
}

impl ClusterInfo {
    /// All nodes, the driver/master included.
    pub fn nodes(&self) -> u32 {
        self.workers + 1
    }
}

/// Signals of activity that monitoring uses to decide whether a cluster is idle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSignals {
    /// Jobs, steps, queries or notebooks running now.
    pub active_work: u32,
    /// CPU utilisation in percent, when the platform exposes it.
    pub cpu_percent: Option<f64>,
    /// Memory utilisation in percent, when the platform exposes it.
    pub memory_percent: Option<f64>,
    /// Since when the platform considers the cluster idle, if it does.
    pub idle_since: Option<DateTime<Utc>>,
    /// The last moment work was seen on the cluster, if known.
    pub last_activity: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_what_they_print() {
        for kind in PlatformKind::ALL {
            assert_eq!(PlatformKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PlatformKind::parse("kubernetes"), None);
        assert_eq!(PlatformKind::parse("Databricks"), None);
    }

    #[test]
    fn only_live_states_bill() {
        assert!(ClusterState::Running.is_billing());
        assert!(ClusterState::Resizing.is_billing());
        assert!(!ClusterState::Stopped.is_billing());
        assert!(!ClusterState::Stopping.is_billing());
    }
}
