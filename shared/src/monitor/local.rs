//! Monitoring inside one process (`dtap-local`): the same tick every minute, and the scans it
//! dispatches run as tasks, a few at a time, each bounded in time, so one slow org never holds
//! up another. Schedule runs the tick finds due are carried out the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::dispatch::{ChannelDispatcher, ScheduleChannelDispatcher};
use super::{scan_org, tick};
use crate::AppState;
use crate::schedules::{run_execution, tick_schedules};

/// Scans running at once.
const SCANS_AT_ONCE: usize = 8;
/// A scan that takes longer is abandoned (its lease lapses; the next tick tries again).
const SCAN_TIMEOUT: Duration = Duration::from_secs(600);

/// Starts the ticker and the scan runner; they stop when the returned handle is aborted or the
/// runtime shuts down.
pub fn spawn(state: AppState, every: Duration) -> JoinHandle<()> {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let dispatcher = ChannelDispatcher(sender);
    let schedules = spawn_schedule_runner(state.clone());
    let runner_state = state.clone();
    let runner = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(SCANS_AT_ONCE));
        while let Some(org) = receiver.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let state = runner_state.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match tokio::time::timeout(SCAN_TIMEOUT, scan_org(&state, &org)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::error!(org_id = %org, error = format!("{err:#}"), "scan failed");
                    }
                    Err(_) => tracing::error!(org_id = %org, "scan timed out"),
                }
            });
        }
    });
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(err) = tick(state.store.as_ref(), state.clock.now(), &dispatcher).await {
                tracing::error!(error = format!("{err:#}"), "tick failed");
            }
            if let Err(err) =
                tick_schedules(state.store.as_ref(), state.clock.now(), &schedules).await
            {
                tracing::error!(error = format!("{err:#}"), "schedule tick failed");
            }
            if runner.is_finished() {
                return;
            }
        }
    })
}

/// Carries out the schedule runs handed to the returned dispatcher, a few at a time, each bounded
/// in time.
fn spawn_schedule_runner(state: AppState) -> ScheduleChannelDispatcher {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(SCANS_AT_ONCE));
        while let Some(run) = receiver.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match tokio::time::timeout(SCAN_TIMEOUT, run_execution(&state, &run)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::error!(execution_id = %run.execution_id, error = format!("{err:#}"), "schedule run failed");
                    }
                    Err(_) => {
                        tracing::error!(execution_id = %run.execution_id, "schedule run timed out")
                    }
                }
            });
        }
    });
    ScheduleChannelDispatcher(sender)
}
