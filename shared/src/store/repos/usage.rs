//! Per-org, per-month usage counters (`ORG#o / USAGE#yyyy-mm`), counted as things happen with
//! atomic adds, so concurrent Lambda instances never lose a count.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::OrgId;
use crate::store::{StoreResult, Table, keys};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    ApiCalls,
    ClustersOptimized,
    HibernationsTriggered,
}

impl Counter {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::ApiCalls => "api_calls",
            Self::ClustersOptimized => "clusters_optimized",
            Self::HibernationsTriggered => "hibernations_triggered",
        }
    }
}

/// The month a moment falls in, as the counters are keyed (`2026-03`).
pub fn month_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyUsage {
    #[serde(default)]
    pub api_calls: u64,
    #[serde(default)]
    pub clusters_optimized: u64,
    #[serde(default)]
    pub hibernations_triggered: u64,
}

pub async fn record(
    table: &dyn Table,
    org: &OrgId,
    counter: Counter,
    at: DateTime<Utc>,
    by: i64,
) -> StoreResult<()> {
    table
        .add(
            &keys::usage(org, &month_of(at)),
            counter.attribute(),
            by,
            None,
        )
        .await
        .map(drop)
}

/// Counts a cluster in the month's `clusters_optimized` the first time it is optimized that month.
pub async fn record_optimized_cluster(
    table: &dyn Table,
    org: &OrgId,
    platform: &crate::domain::ids::PlatformId,
    cluster_id: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let month = month_of(at);
    let marker =
        crate::store::Item::new(keys::optimized_cluster(org, &month, platform, cluster_id));
    match table.put(marker, crate::store::Condition::NotExists).await {
        Ok(()) => record(table, org, Counter::ClustersOptimized, at, 1).await,
        Err(crate::store::StoreError::ConditionFailed { .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

pub async fn for_month(table: &dyn Table, org: &OrgId, month: &str) -> StoreResult<MonthlyUsage> {
    match table.get(&keys::usage(org, month)).await? {
        Some(item) => item.record().map_err(crate::store::StoreError::Backend),
        None => Ok(MonthlyUsage::default()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let at = Utc.with_ymd_and_hms(2026, 3, 31, 23, 59, 59).unwrap();
        assert_eq!(month_of(at), "2026-03");
        assert_eq!(month_of(at + chrono::Duration::seconds(1)), "2026-04");
    }
}
