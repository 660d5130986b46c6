//! The one action path every actor shares — a person calling the API, the scanner, a schedule:
//! hibernate and resume a cluster (and resize one, without a claim), recorded as an action that
//! is `pending` before the platform is asked and `completed` or `failed` after, guarded by a
//! conditional claim on the cluster's record so two actors can never both act on one cluster.

mod connect;
mod hibernate;
mod reconfigure;
mod recover;
mod resize;
mod resume;

pub use connect::{connect_databricks, connect_record};
pub use hibernate::{Hibernation, hibernate};
pub use reconfigure::reconfigure;
pub use recover::{ABANDONED_AFTER_MINUTES, Recovered, recover_abandoned};
pub use resize::{Resizing, resize};
pub use resume::{Resumption, resume};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::AppState;
use crate::domain::ids::{ActionId, OrgId, UserId};
use crate::domain::platform::ClusterState;
use crate::platforms::{Platform, PlatformError};
use crate::store::StoreError;
use crate::store::repos::actions::{
    self, ActionRecord, ActionStatus, ActionType, HibernationRates,
};
use crate::store::repos::clusters::{ClusterRecord, ManagedState};
use crate::store::repos::platforms::PlatformRecord;

/// Who acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// A person, through the API.
    User(UserId),
    /// The scanner, on the org's monitoring config.
    Monitor,
    /// A schedule (its `sch_…` id).
    Schedule(String),
}

impl Initiator {
    fn requested_by(&self) -> Option<String> {
        match self {
            Self::User(user) => Some(user.to_string()),
            Self::Monitor | Self::Schedule(_) => None,
        }
    }
}

/// The cluster to act on, on a connected platform, with our record of it if we manage it.
pub struct Target<'a> {
    pub org: &'a OrgId,
    pub record: &'a PlatformRecord,
    pub platform: &'a dyn Platform,
    pub cluster_id: &'a str,
    pub managed: Option<ClusterRecord>,
}

/// A last check made after the cluster is claimed and right before the platform is asked: the
/// scanner re-reads pause and the cluster's activity here, so neither a pause nor a job that
/// started since the scan's reading is overtaken.
#[async_trait]
pub trait Precondition: Send + Sync {
    /// `Err(reason)` calls the action off.
    async fn holds(&self) -> Result<(), String>;
}

/// Why an action did not happen (or did not succeed).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("the cluster is already hibernated")]
    AlreadyHibernated,
    #[error("the cluster is not running (state {0})")]
    NotRunning(&'static str),
    #[error("the cluster was not hibernated by Digital Tap")]
    NotHibernatedByUs,
    /// Another actor claimed the cluster first.
    #[error("the cluster is already being {0} or has been")]
    Lost(&'static str),
    /// The precondition called it off; nothing was recorded.
    #[error("skipped: {0}")]
    Skipped(String),
    /// The platform failed; a `failed` action is recorded when the platform was asked to act.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The status word the API shows for a platform state; `ours` when Digital Tap hibernated it.
pub fn status_word(state: ClusterState, ours: bool) -> &'static str {
    match state {
        ClusterState::Running | ClusterState::Resizing => "running",
        ClusterState::Starting => "starting",
        ClusterState::Stopping | ClusterState::Stopped if ours => "hibernated",
        ClusterState::Stopping => "stopping",
        ClusterState::Stopped => "stopped",
        ClusterState::Error => "error",
        ClusterState::Unknown => "unknown",
    }
}

/// Whether our record says the cluster is down (or going down) by our hand.
pub fn hibernated_by_us(managed: Option<&ClusterRecord>) -> bool {
    managed.is_some_and(|record| {
        matches!(
            record.state,
            ManagedState::Hibernated | ManagedState::Hibernating | ManagedState::Resuming
        )
    })
}

fn pending_action(
    target: &Target<'_>,
    initiator: &Initiator,
    action_type: ActionType,
    rates: Option<HibernationRates>,
    reason: String,
    now: DateTime<Utc>,
) -> ActionRecord {
    ActionRecord {
        id: ActionId::generate(),
        org_id: target.org.clone(),
        platform_id: target.record.id.to_string(),
        cluster_id: target.cluster_id.to_owned(),
        action_type,
        status: ActionStatus::Pending,
        created_at: now,
        completed_at: None,
        rates,
        resumed_at: None,
        requested_by: initiator.requested_by(),
        reason: Some(reason),
        error: None,
        initiator: Some(initiator_word(initiator)),
    }
}

fn initiator_word(initiator: &Initiator) -> String {
    match initiator {
        Initiator::User(_) => "user".to_owned(),
        Initiator::Monitor => "monitor".to_owned(),
        Initiator::Schedule(id) => format!("schedule:{id}"),
    }
}

/// Records a finished action. The platform has already acted, so a failure to record is logged
/// (with the action id, for repair) rather than reported as the action failing.
async fn finish(
    state: &AppState,
    action: &mut ActionRecord,
    status: ActionStatus,
    error: Option<String>,
) {
    action.status = status;
    action.completed_at = Some(state.clock.now());
    action.error = error;
    if let Err(err) = actions::replace(state.store.as_ref(), action).await {
        tracing::error!(action_id = %action.id, error = format!("{err:#}"), "could not record the outcome of an action");
    }
}

/// Gives a claim back after the action came to nothing: the record returns to what it was.
async fn release(
    state: &AppState,
    claim: &ClusterRecord,
    previous: Option<&ClusterRecord>,
    claimed: ManagedState,
) {
    use crate::store::repos::clusters as managed;
    let store = state.store.as_ref();
    let outcome = match previous {
        Some(previous) => managed::transition(store, previous, Some(claimed)).await,
        None => managed::remove(store, claim, claimed).await,
    };
    if let Err(err) = outcome {
        tracing::error!(cluster_id = %claim.cluster_id, error = format!("{err:#}"), "could not release a cluster claim");
    }
}
