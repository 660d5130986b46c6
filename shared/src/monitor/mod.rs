//! Monitoring: the ticker finds the orgs whose scan is due and hands each to a scanner; a scan
//! reads every cluster of the org, records its metrics, follows its idle spells, raises alerts,
//! and — with `auto_hibernate` on and the org not paused — hibernates idle clusters through the
//! shared action path. `analyze` and `optimize` use the same observation and the same rule.

pub mod checks;
pub mod dispatch;
pub mod local;
mod observe;
mod scan;
mod tick;

pub use observe::{Observation, Observed, observe_org};
pub use scan::{ScanReport, rule_of, scan_org};
pub use tick::{TickReport, tick};
