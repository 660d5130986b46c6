//! Per-cluster utilization history (`METRICS#<org>#<cluster id> / <time>#<plat_…>`): one point
//! per scan, kept 8 days (TTL) so a week of history is always there for the 168-hour window.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OrgId, PlatformId};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

/// How long points are kept.
pub const RETENTION_DAYS: i64 = 8;

/// One scan's reading of one cluster, as `GET /v1/monitoring/metrics/{cluster_id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricPoint {
    pub timestamp: DateTime<Utc>,
    /// CPU %, when the platform exposes it; null otherwise (never a guess).
    #[schema(example = 12.5)]
    pub cpu_util: Option<f64>,
    /// Memory %, when the platform exposes it.
    #[schema(example = 34.2)]
    pub memory_util: Option<f64>,
    #[schema(example = 4)]
    pub workers: u32,
    /// Minutes of the current quiet spell at this reading.
    pub idle_minutes: u32,
    /// USD per hour while running (0 while stopped); null when the node types are unknown.
    #[schema(example = 2.4)]
    pub cost_per_hour: Option<f64>,
    /// running | idle | starting | stopping | stopped | hibernated | error | unknown
    #[schema(example = "running")]
    pub status: String,
    /// Jobs, steps or queries running at the reading.
    #[serde(default)]
    pub active_work: u32,
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub platform_id: Option<PlatformId>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    point: MetricPoint,
    platform: PlatformId,
}

/// The stored item of one point, expiring after [`RETENTION_DAYS`].
pub fn item(
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
    point: &MetricPoint,
) -> StoreResult<Item> {
    let stored = Stored {
        point: point.clone(),
        platform: platform.clone(),
    };
    let expires = point.timestamp + Duration::days(RETENTION_DAYS);
    Ok(Item::from_record(
        keys::metric(org, cluster_id, point.timestamp, platform),
        &stored,
    )
    .map_err(StoreError::Backend)?
    .expiring_at(expires.timestamp()))
}

pub async fn record(
    table: &dyn Table,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
    point: &MetricPoint,
) -> StoreResult<()> {
    table
        .put(item(org, platform, cluster_id, point)?, Condition::Always)
        .await
}

/// Writes many points of one cluster (imports, benchmarks) in bulk.
pub async fn record_batch(
    table: &dyn Table,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
    points: &[MetricPoint],
) -> StoreResult<()> {
    let items = points
        .iter()
        .map(|point| item(org, platform, cluster_id, point))
        .collect::<StoreResult<Vec<_>>>()?;
    table.put_all(items).await
}

/// The cluster's points from `since` to `until`, oldest first.
pub async fn between(
    table: &dyn Table,
    org: &OrgId,
    cluster_id: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<Vec<MetricPoint>> {
    let mut points = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::metrics_partition(org, cluster_id))
            .between(
                keys::timestamp(since),
                format!("{}#~", keys::timestamp(until)),
            )
            .limit(1000)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            let stored: Stored = item.record().map_err(StoreError::Backend)?;
            points.push(MetricPoint {
                platform_id: Some(stored.platform),
                ..stored.point
            });
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(points),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;

    fn point(at: DateTime<Utc>, cpu: f64) -> MetricPoint {
        MetricPoint {
            timestamp: at,
            cpu_util: Some(cpu),
            memory_util: None,
            workers: 4,
            idle_minutes: 0,
            cost_per_hour: Some(2.4),
            status: "running".into(),
            active_work: 1,
            platform_id: None,
        }
    }

    #[tokio::test]
    async fn points_come_back_in_their_window_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let platform = PlatformId::generate();
        let now = Utc::now();
        for minutes in [300, 120, 60, 10] {
            let at = now - Duration::minutes(minutes);
            record(&table, &org, &platform, "c-1", &point(at, minutes as f64))
                .await
                .unwrap();
        }
        record(&table, &org, &platform, "c-2", &point(now, 1.0))
            .await
            .unwrap();
        let window = between(&table, &org, "c-1", now - Duration::hours(2), now)
            .await
            .unwrap();
        let cpus: Vec<_> = window.iter().map(|p| p.cpu_util.unwrap()).collect();
        assert_eq!(cpus, vec![120.0, 60.0, 10.0]);
        assert_eq!(window[0].platform_id.as_ref(), Some(&platform));
    }
}
