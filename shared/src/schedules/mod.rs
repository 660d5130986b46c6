//! Schedules at work: the ticker finds the time schedules that are due (one range query per
//! index shard, never a read of every schedule), records each run as an execution and hands it
//! to a runner; the runner acts on each cluster through the shared action path; the scanner
//! evaluates idle and cost rules on the observation it has just made.
//!
//! - **Grace period.** A run found due less than [`GRACE_MINUTES`] after its time runs once; a
//!   run missed by more is recorded as a `skipped` execution and the schedule moves to its next
//!   future time — never a burst of catch-up runs.
//! - **Automated runs** (time, idle, cost) check the org's pause and exclusions right before each
//!   cluster is acted on. A manual run (`POST /v1/schedules/{id}/run`) is a person's call: it
//!   ignores pause, exclusions and `enabled`, and is recorded like any other run.

mod clusters;
mod recover;
mod rules;
mod run;
mod tick;

pub use clusters::{ResolveError, resolve_clusters};
pub use recover::{ABANDONED_RUN_MINUTES, recover_abandoned_runs};
pub use rules::{RuleReport, evaluate_rules};
pub use run::{ScheduleAllowed, run_execution};
pub use tick::{GRACE_MINUTES, ScheduleTickReport, tick_schedules};
