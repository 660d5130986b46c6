use super::{Initiator, OpError, Target, finish, pending_action, release};
use crate::AppState;
use crate::store::StoreError;
use crate::store::repos::actions::{self, ActionRecord, ActionStatus, ActionType};
use crate::store::repos::clusters::{self as managed, ClusterRecord, ManagedState};

/// A completed resume.
#[derive(Debug)]
pub struct Resumption {
    pub action: ActionRecord,
    /// The cluster's id now (a recreated EMR cluster has a new one).
    pub cluster_id: String,
    pub estimated_ready_seconds: u32,
}

/// Brings back a cluster Digital Tap hibernated, from its snapshot, and stops its savings
/// accruing. A platform failure leaves a `failed` action and the cluster hibernated.
pub async fn resume(
    state: &AppState,
    target: Target<'_>,
    initiator: Initiator,
    reason: String,
) -> Result<Resumption, OpError> {
    let store = state.store.as_ref();
    let Some(hibernated) = target
        .managed
        .clone()
        .filter(|stored| stored.state == ManagedState::Hibernated)
    else {
        return Err(OpError::NotHibernatedByUs);
    };
    let Some(snapshot) = hibernated.snapshot.clone() else {
        return Err(OpError::Store(StoreError::Backend(anyhow::anyhow!(
            "hibernated cluster {} has no snapshot",
            target.cluster_id
        ))));
    };
    let now = state.clock.now();
    let claim = ClusterRecord {
        state: ManagedState::Resuming,
        updated_at: now,
        ..hibernated.clone()
    };
    match managed::transition(store, &claim, Some(ManagedState::Hibernated)).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(OpError::Lost("resumed")),
        Err(other) => return Err(other.into()),
    }
    let mut action = pending_action(&target, &initiator, ActionType::Resume, None, reason, now);
    if let Err(err) = actions::create(store, &action).await {
        release(state, &claim, Some(&hibernated), ManagedState::Resuming).await;
        return Err(err.into());
    }
    let resumed = match target.platform.resume(&snapshot).await {
        Ok(resumed) => resumed,
        Err(err) => {
            tracing::warn!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, error = %err, "resume failed");
            finish(
                state,
                &mut action,
                ActionStatus::Failed,
                Some(err.to_string()),
            )
            .await;
            release(state, &claim, Some(&hibernated), ManagedState::Resuming).await;
            return Err(err.into());
        }
    };
    let done_at = state.clock.now();
    let back = ClusterRecord {
        state: ManagedState::Resumed,
        current_cluster_id: resumed.cluster_id.clone(),
        resumed_at: Some(done_at),
        updated_at: done_at,
        ..claim
    };
    managed::transition(store, &back, Some(ManagedState::Resuming)).await?;
    finish(state, &mut action, ActionStatus::Completed, None).await;
    // The hibernation's savings stop accruing now.
    if let Some(id) = &hibernated.hibernation_action
        && let Some(mut hibernation) = actions::get(store, target.org, id).await?
    {
        hibernation.resumed_at = Some(done_at);
        actions::replace(store, &hibernation).await?;
    }
    tracing::info!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, new_cluster_id = %resumed.cluster_id, initiator = ?initiator, "cluster resumed");
    Ok(Resumption {
        action,
        cluster_id: resumed.cluster_id,
        estimated_ready_seconds: resumed.estimated_ready_seconds,
    })
}
