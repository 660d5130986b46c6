//! Runs whose runner died (a Lambda timeout, a killed process) or whose hand-off was lost would
//! stay `running` forever. The scanner settles them once they are older than any run takes.

use chrono::{DateTime, Duration, Utc};

use crate::domain::ids::OrgId;
use crate::store::repos::executions::{self, ExecutionStatus};
use crate::store::repos::schedules;
use crate::store::{StoreResult, Table};

/// Longer than any run takes: each of its actions is bounded by the platforms' timeouts.
pub const ABANDONED_RUN_MINUTES: i64 = 60;
/// Runs looked at per schedule: abandoned runs are recent, and each scan looks.
const RECENT_RUNS: usize = 10;

/// Marks the org's abandoned runs `failed`; returns how many.
pub async fn recover_abandoned_runs(
    table: &dyn Table,
    org: &OrgId,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let cutoff = now - Duration::minutes(ABANDONED_RUN_MINUTES);
    let mut recovered = 0;
    for schedule in schedules::list(table, org).await? {
        for mut run in executions::recent(table, org, &schedule.id, RECENT_RUNS).await? {
            if run.status != ExecutionStatus::Running || run.created_at >= cutoff {
                continue;
            }
            run.status = ExecutionStatus::Failed;
            run.finished_at = Some(now);
            run.reason = Some("interrupted: the run did not finish".to_owned());
            executions::replace(table, &run).await?;
            tracing::warn!(org_id = %org, execution_id = %run.id, "marked an abandoned schedule run failed");
            recovered += 1;
        }
    }
    Ok(recovered)
}
