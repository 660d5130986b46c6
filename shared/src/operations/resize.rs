use super::{
    Initiator, OpError, Precondition, Target, finish, hibernated_by_us, pending_action, status_word,
};
use crate::AppState;
use crate::domain::platform::ClusterState;
use crate::store::repos::actions::{self, ActionRecord, ActionStatus, ActionType};

/// A completed resize.
#[derive(Debug)]
pub struct Resizing {
    pub action: ActionRecord,
    /// Workers before and after.
    pub from_workers: u32,
    pub to_workers: u32,
}

/// Resizes a running cluster to `workers` worker nodes: reads it fresh (it must be running, and
/// not hibernated by us — a cluster we brought down is brought back by resume, not by a resize),
/// checks `precondition`, records the action `pending`, asks the platform, then records the
/// outcome. No claim is taken: a resize does not change who may hibernate or resume the
/// cluster, and two resizes to the same size are harmless.
pub async fn resize(
    state: &AppState,
    target: Target<'_>,
    initiator: Initiator,
    reason: String,
    workers: u32,
    precondition: Option<&dyn Precondition>,
) -> Result<Resizing, OpError> {
    if hibernated_by_us(target.managed.as_ref()) {
        return Err(OpError::AlreadyHibernated);
    }
    let info = target.platform.cluster(target.cluster_id).await?;
    if !matches!(info.state, ClusterState::Running | ClusterState::Resizing) {
        return Err(OpError::NotRunning(status_word(info.state, false)));
    }
    if let Some(precondition) = precondition
        && let Err(why) = precondition.holds().await
    {
        return Err(OpError::Skipped(why));
    }
    let now = state.clock.now();
    let mut action = pending_action(&target, &initiator, ActionType::Resize, None, reason, now);
    actions::create(state.store.as_ref(), &action).await?;
    if let Err(err) = target.platform.resize(target.cluster_id, workers).await {
        tracing::warn!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, error = %err, "resize failed");
        finish(
            state,
            &mut action,
            ActionStatus::Failed,
            Some(err.to_string()),
        )
        .await;
        return Err(err.into());
    }
    finish(state, &mut action, ActionStatus::Completed, None).await;
    tracing::info!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, from = info.workers, to = workers, initiator = ?initiator, "cluster resized");
    Ok(Resizing {
        action,
        from_workers: info.workers,
        to_workers: workers,
    })
}
