use chrono::{DateTime, Utc};

use super::dispatch::ScanDispatcher;
use crate::domain::ids::OrgId;
use crate::store::Table;
use crate::store::repos::monitors;

/// Due orgs read per page of the index.
const PAGE: usize = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Orgs found due.
    pub due: usize,
    /// Orgs handed to a scanner (a concurrent ticker may have taken the others).
    pub dispatched: usize,
}

/// One tick: every org whose scan is due has its next scan moved one interval on (a conditional
/// write, so two tickers never start the same scan) and is handed to the dispatcher.
pub async fn tick(
    store: &dyn Table,
    now: DateTime<Utc>,
    dispatcher: &dyn ScanDispatcher,
) -> anyhow::Result<TickReport> {
    let mut report = TickReport::default();
    let mut cursor = None;
    loop {
        let (records, next) = monitors::due(store, now, PAGE, cursor).await?;
        report.due += records.len();
        let mut claimed: Vec<OrgId> = Vec::with_capacity(records.len());
        for record in &records {
            if monitors::claim_due_scan(store, record, now).await? {
                claimed.push(record.org_id.clone());
            }
        }
        report.dispatched += claimed.len();
        if !claimed.is_empty() {
            dispatcher.dispatch(claimed).await?;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if report.due > 0 {
        tracing::info!(due = report.due, dispatched = report.dispatched, "tick");
    }
    Ok(report)
}
