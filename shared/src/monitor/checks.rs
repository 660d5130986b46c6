//! The last looks taken right before an automatic or bulk hibernation, after the cluster is
//! claimed: a reading a few minutes old must never hibernate a cluster a job has started on since.

use async_trait::async_trait;

use crate::AppState;
use crate::domain::idle::{IdleRule, Reading};
use crate::domain::ids::OrgId;
use crate::operations::Precondition;
use crate::platforms::Platform;
use crate::store::repos::monitors;

/// The cluster is still running and quiet by a fresh read of the platform.
pub struct StillQuiet<'a> {
    pub state: &'a AppState,
    pub platform: &'a dyn Platform,
    pub cluster_id: &'a str,
    pub rule: &'a IdleRule,
}

#[async_trait]
impl Precondition for StillQuiet<'_> {
    async fn holds(&self) -> Result<(), String> {
        let info = self
            .platform
            .cluster(self.cluster_id)
            .await
            .map_err(|err| format!("could not re-read the cluster: {err}"))?;
        let signals = self
            .platform
            .usage(self.cluster_id)
            .await
            .map_err(|err| format!("could not re-read the cluster's activity: {err}"))?;
        let fresh = Reading {
            at: self.state.clock.now(),
            state: info.state,
            active_work: signals.active_work,
            cpu_percent: signals.cpu_percent,
            platform_idle_since: signals.idle_since,
        };
        if fresh.is_quiet(self.rule) {
            Ok(())
        } else {
            Err("the cluster is busy again".to_owned())
        }
    }
}

/// What the scanner checks on top: automation still on, the org not paused, the cluster not
/// excluded meanwhile — read again from the store, not from the scan's start.
pub struct StillAutomated<'a> {
    pub org: &'a OrgId,
    pub quiet: StillQuiet<'a>,
}

#[async_trait]
impl Precondition for StillAutomated<'_> {
    async fn holds(&self) -> Result<(), String> {
        let state = self.quiet.state;
        let monitor = monitors::load(state.store.as_ref(), self.org, state.clock.now())
            .await
            .map_err(|err| format!("could not re-read the monitoring config: {err}"))?;
        if !monitor.automation_allowed() {
            return Err("monitoring is paused".to_owned());
        }
        if !monitor.config.auto_hibernate {
            return Err("auto_hibernate was turned off".to_owned());
        }
        if monitor.config.excludes(self.quiet.cluster_id) {
            return Err("the cluster was excluded".to_owned());
        }
        self.quiet.holds().await
    }
}
