use chrono::{DateTime, Duration, Utc};
use futures::{FutureExt, StreamExt};

use crate::domain::cron::ScheduleWhen;
use crate::monitor::dispatch::{ScheduleDispatcher, ScheduleRun};
use crate::store::repos::executions::{ExecutionRecord, ExecutionStatus, Trigger};
use crate::store::repos::schedules::{self, ScheduleRecord};
use crate::store::{Condition, StoreError, Table, WriteOp, keys};

/// A run found due at most this long after its time still runs; later, it is skipped.
pub const GRACE_MINUTES: i64 = 15;
/// Due schedules read per page of an index shard.
const PAGE: usize = 1000;
/// Claims written at once per shard.
const CLAIMS_AT_ONCE: usize = 16;
/// How many cron times a long outage is walked through to find the latest one (a every-minute
/// schedule down for a week); beyond it, the run is skipped.
const MAX_MISSED_WALK: u32 = 10_080;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScheduleTickReport {
    /// Schedules found due.
    pub due: usize,
    /// Runs started (recorded `running` and handed to a runner).
    pub started: usize,
    /// Runs recorded `skipped`: missed by more than the grace period.
    pub skipped: usize,
    /// Schedules another ticker (or an update) moved first.
    pub lost: usize,
}

enum Claimed {
    Started(ScheduleRun, bool),
    Skipped,
    Lost,
}

/// One tick for schedules: each enabled time schedule whose next run is due has, in one
/// transaction, its next run moved to the next future time (conditioned on the version read, so
/// two tickers never start the same run) and its execution recorded; the runs are then handed to
/// the dispatcher. A run missed by more than the grace period is recorded `skipped` instead.
pub async fn tick_schedules(
    store: &dyn Table,
    now: DateTime<Utc>,
    dispatcher: &dyn ScheduleDispatcher,
) -> anyhow::Result<ScheduleTickReport> {
    let shards = futures::future::join_all(
        (0..keys::SCHEDULE_DUE_SHARDS).map(|shard| tick_shard(store, shard, now, dispatcher)),
    )
    .await;
    let mut report = ScheduleTickReport::default();
    for shard in shards {
        let shard = shard?;
        report.due += shard.due;
        report.started += shard.started;
        report.skipped += shard.skipped;
        report.lost += shard.lost;
    }
    if report.due > 0 {
        tracing::info!(
            due = report.due,
            started = report.started,
            skipped = report.skipped,
            lost = report.lost,
            "schedule tick"
        );
    }
    Ok(report)
}

async fn tick_shard(
    store: &dyn Table,
    shard: u32,
    now: DateTime<Utc>,
    dispatcher: &dyn ScheduleDispatcher,
) -> anyhow::Result<ScheduleTickReport> {
    let mut report = ScheduleTickReport::default();
    let mut cursor = None;
    loop {
        let (records, next) = schedules::due(store, shard, now, PAGE, cursor).await?;
        report.due += records.len();
        // Built in a loop, not a closure: a closure over borrowed items defeats the `Send` proof
        // that spawning the tick needs.
        let mut attempts = Vec::with_capacity(records.len());
        for record in &records {
            attempts.push(claim(store, record, now).boxed());
        }
        let claims: Vec<_> = futures::stream::iter(attempts)
            .buffer_unordered(CLAIMS_AT_ONCE)
            .collect()
            .await;
        let mut runs = Vec::new();
        for claimed in claims {
            match claimed? {
                Claimed::Started(run, also_skipped) => {
                    report.started += 1;
                    report.skipped += usize::from(also_skipped);
                    runs.push(run);
                }
                Claimed::Skipped => report.skipped += 1,
                Claimed::Lost => report.lost += 1,
            }
        }
        if !runs.is_empty() {
            dispatcher.dispatch_runs(runs).await?;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(report),
        }
    }
}

/// The latest cron time at or before `now`, starting from the stored `due`, and how many
/// earlier times were passed over.
fn latest_time(
    when: &ScheduleWhen,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, u32) {
    let (mut latest, mut passed) = (due, 0);
    while passed < MAX_MISSED_WALK {
        match when.next_run_after(latest) {
            Some(next) if next <= now => {
                latest = next;
                passed += 1;
            }
            _ => break,
        }
    }
    (latest, passed)
}

async fn claim(
    store: &dyn Table,
    record: &ScheduleRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<Claimed> {
    let (Some(due), Some(when)) = (record.due_at(), record.spec.when.as_ref()) else {
        return Ok(Claimed::Lost);
    };
    let (latest, passed) = latest_time(when, due, now);
    let runs = now - latest <= Duration::minutes(GRACE_MINUTES);
    let mut next = record.clone();
    next.next_run_at = when.next_run_after(now);
    next.version = record.version + 1;
    if runs {
        next.last_run_at = Some(now);
    }
    let mut ops = vec![WriteOp::Put {
        item: next.item()?,
        condition: ScheduleRecord::written_over(record.version),
    }];
    let missed = !runs || passed > 0;
    if missed {
        let mut skipped = ExecutionRecord::new(
            &record.org_id,
            &record.id,
            Trigger::Time,
            ExecutionStatus::Skipped,
            now,
        );
        skipped.due_at = Some(due);
        skipped.claimed = true;
        let missed_runs = if runs { passed } else { passed + 1 };
        skipped.reason = Some(format!(
            "{missed_runs} run(s) from {} missed by more than the {GRACE_MINUTES}-minute grace period",
            keys::timestamp(due)
        ));
        ops.push(WriteOp::Put {
            item: skipped.item()?,
            condition: Condition::NotExists,
        });
    }
    let mut run = None;
    if runs {
        let mut execution = ExecutionRecord::new(
            &record.org_id,
            &record.id,
            Trigger::Time,
            ExecutionStatus::Running,
            now,
        );
        execution.due_at = Some(latest);
        ops.push(WriteOp::Put {
            item: execution.item()?,
            condition: Condition::NotExists,
        });
        run = Some(ScheduleRun {
            org_id: record.org_id.clone(),
            schedule_id: record.id.clone(),
            execution_id: execution.id,
            due_at: Some(latest),
        });
    }
    match store.transact(ops).await {
        Ok(()) => Ok(match run {
            Some(run) => Claimed::Started(run, missed),
            None => Claimed::Skipped,
        }),
        Err(StoreError::ConditionFailed { .. }) => Ok(Claimed::Lost),
        Err(other) => Err(other.into()),
    }
}
