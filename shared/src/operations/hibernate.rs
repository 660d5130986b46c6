use super::{
    Initiator, OpError, Precondition, Target, finish, hibernated_by_us, pending_action, release,
    status_word,
};
use crate::AppState;
use crate::domain::cluster_cost;
use crate::domain::platform::ClusterState;
use crate::store::StoreError;
use crate::store::repos::actions::{
    self, ActionRecord, ActionStatus, ActionType, HibernationRates,
};
use crate::store::repos::clusters::{self as managed, ClusterRecord, ManagedState};
use crate::store::repos::usage::{self, Counter};

/// A completed hibernation.
#[derive(Debug)]
pub struct Hibernation {
    pub action: ActionRecord,
    /// The status word before (`running`).
    pub previous_state: &'static str,
    /// What an hour down saves; `None` when the node types are not in the catalog.
    pub hourly_cost: Option<f64>,
}

/// Hibernates the target: reads it fresh from the platform (it must be running), claims it,
/// checks `precondition`, records the action `pending`, asks the platform, then records the
/// outcome. A platform failure leaves a `failed` action and the claim released, so the next
/// attempt starts clean.
pub async fn hibernate(
    state: &AppState,
    target: Target<'_>,
    initiator: Initiator,
    reason: String,
    precondition: Option<&dyn Precondition>,
) -> Result<Hibernation, OpError> {
    let store = state.store.as_ref();
    let previous = target.managed.clone();
    if hibernated_by_us(previous.as_ref()) {
        return Err(OpError::AlreadyHibernated);
    }
    let info = target.platform.cluster(target.cluster_id).await?;
    if !matches!(info.state, ClusterState::Running | ClusterState::Resizing) {
        return Err(OpError::NotRunning(status_word(info.state, false)));
    }
    let platform_region = target.record.region.as_deref();
    let rates = cluster_cost::saving_rates(&info, platform_region).map(HibernationRates::from);
    let now = state.clock.now();
    let claim = ClusterRecord {
        org_id: target.org.clone(),
        platform_id: target.record.id.clone(),
        kind: target.record.kind,
        cluster_id: target.cluster_id.to_owned(),
        current_cluster_id: target.cluster_id.to_owned(),
        name: info.name.clone(),
        state: ManagedState::Hibernating,
        snapshot: None,
        hibernation_action: None,
        rates,
        hibernated_at: None,
        resumed_at: None,
        updated_at: now,
    };
    let from = previous.as_ref().map(|record| record.state);
    match managed::transition(store, &claim, from).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(OpError::Lost("hibernated")),
        Err(other) => return Err(other.into()),
    }
    if let Some(precondition) = precondition
        && let Err(why) = precondition.holds().await
    {
        release(state, &claim, previous.as_ref(), ManagedState::Hibernating).await;
        return Err(OpError::Skipped(why));
    }
    let mut action = pending_action(
        &target,
        &initiator,
        ActionType::Hibernate,
        rates,
        reason,
        now,
    );
    if let Err(err) = actions::create(store, &action).await {
        release(state, &claim, previous.as_ref(), ManagedState::Hibernating).await;
        return Err(err.into());
    }
    let snapshot = match target.platform.hibernate(target.cluster_id).await {
        Ok(snapshot) => snapshot,
        Err(err) => {
            tracing::warn!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, error = %err, "hibernate failed");
            finish(
                state,
                &mut action,
                ActionStatus::Failed,
                Some(err.to_string()),
            )
            .await;
            release(state, &claim, previous.as_ref(), ManagedState::Hibernating).await;
            return Err(err.into());
        }
    };
    let done_at = state.clock.now();
    let hibernated = ClusterRecord {
        state: ManagedState::Hibernated,
        snapshot: Some(snapshot),
        hibernation_action: Some(action.id.clone()),
        hibernated_at: Some(done_at),
        updated_at: done_at,
        ..claim
    };
    managed::transition(store, &hibernated, Some(ManagedState::Hibernating)).await?;
    finish(state, &mut action, ActionStatus::Completed, None).await;
    usage::record(
        store,
        target.org,
        Counter::HibernationsTriggered,
        done_at,
        1,
    )
    .await?;
    usage::record_optimized_cluster(
        store,
        target.org,
        &target.record.id,
        target.cluster_id,
        done_at,
    )
    .await?;
    tracing::info!(org_id = %target.org, platform_id = %target.record.id, cluster_id = target.cluster_id, action_id = %action.id, initiator = ?initiator, "cluster hibernated");
    Ok(Hibernation {
        action,
        previous_state: status_word(info.state, false),
        hourly_cost: rates.map(|rates| rates.hourly_cost_usd),
    })
}
