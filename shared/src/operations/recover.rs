//! Actions whose actor died before recording an outcome (a Lambda timeout, a killed process):
//! a claim left `hibernating`/`resuming` would answer 409 forever, and a `pending` action would
//! stay pending. The scanner gives such leftovers back once they are older than any action can
//! take.

use chrono::{DateTime, Duration, Utc};

use crate::domain::ids::OrgId;
use crate::store::repos::actions::{self, ActionStatus};
use crate::store::repos::clusters::{self as managed, ManagedState};
use crate::store::{StoreError, StoreResult, Table};

/// Longer than any action takes (the platform calls time out well before).
pub const ABANDONED_AFTER_MINUTES: i64 = 15;

/// What was given back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub claims: usize,
    pub actions: usize,
}

/// A `hibernating` claim is removed (the next scan reads the cluster as the platform has it); a
/// `resuming` claim goes back to `hibernated` (the snapshot is still there, so resume can be
/// asked again); a `pending` action becomes `failed`.
pub async fn recover_abandoned(
    table: &dyn Table,
    org: &OrgId,
    now: DateTime<Utc>,
) -> StoreResult<Recovered> {
    let cutoff = now - Duration::minutes(ABANDONED_AFTER_MINUTES);
    let mut recovered = Recovered::default();
    for record in managed::list(table, org).await? {
        if record.updated_at >= cutoff {
            continue;
        }
        let outcome = match record.state {
            ManagedState::Hibernating => {
                managed::remove(table, &record, ManagedState::Hibernating).await
            }
            ManagedState::Resuming => {
                let back = managed::ClusterRecord {
                    state: ManagedState::Hibernated,
                    updated_at: now,
                    ..record.clone()
                };
                managed::transition(table, &back, Some(ManagedState::Resuming)).await
            }
            ManagedState::Hibernated | ManagedState::Resumed => continue,
        };
        match outcome {
            Ok(()) => {
                tracing::warn!(org_id = %org, cluster_id = %record.cluster_id, state = record.state.as_str(), "gave back an abandoned cluster claim");
                recovered.claims += 1;
            }
            // Its actor finished after all.
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let mut stale = Vec::new();
    actions::for_each(table, org, |action| {
        if action.status == ActionStatus::Pending && action.created_at < cutoff {
            stale.push(action);
        }
    })
    .await?;
    for mut action in stale {
        action.status = ActionStatus::Failed;
        action.completed_at = Some(now);
        action.error = Some("interrupted: no outcome was recorded".to_owned());
        actions::replace(table, &action).await?;
        tracing::warn!(org_id = %org, action_id = %action.id, "marked an abandoned action failed");
        recovered.actions += 1;
    }
    Ok(recovered)
}
