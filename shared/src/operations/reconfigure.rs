use std::future::Future;

use super::{Initiator, OpError, Precondition, Target, finish, hibernated_by_us, pending_action};
use crate::AppState;
use crate::platforms::PlatformResult;
use crate::store::repos::actions::{self, ActionRecord, ActionStatus, ActionType};

/// Changes a cluster's configuration (right-sizing its node type, spot fallback): checks
/// `precondition`, records the action `pending` with `action_type`, runs `apply` (the platform
/// call), then records the outcome. Like resize, it takes no claim; a cluster hibernated by
/// Digital Tap is left alone (its snapshot is what resume brings back).
pub async fn reconfigure(
    state: &AppState,
    target: Target<'_>,
    initiator: Initiator,
    action_type: ActionType,
    reason: String,
    precondition: Option<&dyn Precondition>,
    apply: impl Future<Output = PlatformResult<()>> + Send,
) -> Result<ActionRecord, OpError> {
    if hibernated_by_us(target.managed.as_ref()) {
        return Err(OpError::AlreadyHibernated);
    }
    if let Some(precondition) = precondition
        && let Err(why) = precondition.holds().await
    {
        return Err(OpError::Skipped(why));
    }
    let now = state.clock.now();
    let mut action = pending_action(&target, &initiator, action_type, None, reason, now);
    actions::create(state.store.as_ref(), &action).await?;
    if let Err(err) = apply.await {
        tracing::warn!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, error = %err, "reconfiguring a cluster failed");
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
    tracing::info!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, action = ?action_type, initiator = ?initiator, "cluster reconfigured");
    Ok(action)
}
