//! Insights from an org's own measured history (the scanner's metric points, kept a week) and the
//! instance catalog: usage predictions, right-sizing, per-cluster recommendations, the org's
//! waste and optimization score, and the automation (`auto_rightsize`, `auto_spot_failover`) the
//! scanner runs after its pass. Nothing is projected from less than
//! [`history::MIN_HISTORY_HOURS`] of readings, and nothing that needs CPU is claimed without it.

mod automate;
pub mod history;
pub mod predict;
pub mod recommend;
pub mod rightsize;
pub mod summary;

pub use automate::{AutomationReport, Planned, automate, plan};

use std::collections::HashMap;

use chrono::Duration;
use futures::StreamExt;

use crate::AppState;
use crate::domain::ids::{OrgId, PlatformId};
use crate::domain::monitoring::MonitoringConfig;
use crate::domain::platform::ClusterInfo;
use crate::operations::connect_record;
use crate::store::StoreResult;
use crate::store::repos::metrics;
use crate::store::repos::monitors;
use crate::store::repos::platforms::{self as platforms_repo, PlatformRecord};
use crate::store::repos::watches::{self, WatchRecord};
use history::{History, WINDOW_HOURS};

/// Histories read at once.
const READS_AT_ONCE: usize = 16;

/// A cluster the scanner watches, with its measured week.
pub struct Tracked {
    pub watch: WatchRecord,
    pub history: History,
}

/// The org's monitoring settings (their defaults when it never set any): the idle threshold
/// decides which readings count as busy.
pub async fn config_of(state: &AppState, org: &OrgId) -> StoreResult<MonitoringConfig> {
    Ok(monitors::get(state.store.as_ref(), org)
        .await?
        .map(|record| record.config)
        .unwrap_or_default())
}

/// The last week of one cluster's readings on one platform.
pub async fn history_of(
    state: &AppState,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
    config: &MonitoringConfig,
) -> StoreResult<History> {
    let now = state.clock.now();
    let points = metrics::between(
        state.store.as_ref(),
        org,
        cluster_id,
        now - Duration::hours(WINDOW_HOURS),
        now,
    )
    .await?;
    let mine: Vec<_> = points
        .into_iter()
        .filter(|point| point.platform_id.as_ref().is_none_or(|id| id == platform))
        .collect();
    Ok(History::from_points(&mine, config.idle_threshold_pct))
}

/// Every watched cluster of the org with its week of history.
pub async fn tracked(
    state: &AppState,
    org: &OrgId,
    config: &MonitoringConfig,
) -> StoreResult<Vec<Tracked>> {
    let watched = watches::list(state.store.as_ref(), org).await?;
    let loaded: Vec<StoreResult<Tracked>> = futures::stream::iter(watched)
        .map(|watch| async move {
            let history =
                history_of(state, org, &watch.platform_id, &watch.cluster_id, config).await?;
            Ok(Tracked { watch, history })
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await;
    loaded.into_iter().collect()
}

/// The org's clusters as their platforms describe them now, with the platform's region; the
/// platforms that could not be listed are in `failed`.
#[derive(Default)]
pub struct Live {
    pub clusters: HashMap<(PlatformId, String), ClusterInfo>,
    pub regions: HashMap<PlatformId, Option<String>>,
    pub failed: Vec<(PlatformRecord, String)>,
}

impl Live {
    pub fn get(&self, platform: &PlatformId, cluster_id: &str) -> Option<&ClusterInfo> {
        self.clusters
            .get(&(platform.clone(), cluster_id.to_owned()))
    }

    /// The cluster's region, else its platform's (prices are regional).
    pub fn region<'a>(&'a self, platform: &PlatformId, info: &'a ClusterInfo) -> Option<&'a str> {
        info.region.as_deref().or_else(|| {
            self.regions
                .get(platform)
                .and_then(|region| region.as_deref())
        })
    }
}

pub async fn live(state: &AppState, org: &OrgId) -> StoreResult<Live> {
    let records = platforms_repo::list(state.store.as_ref(), org).await?;
    let listed = futures::future::join_all(records.into_iter().map(|record| async move {
        let listed = match connect_record(state, &record).await {
            Ok(platform) => platform
                .list_clusters()
                .await
                .map_err(|err| err.to_string()),
            Err(why) => Err(why),
        };
        (record, listed)
    }))
    .await;
    let mut live = Live::default();
    for (record, listed) in listed {
        live.regions
            .insert(record.id.clone(), record.region.clone());
        match listed {
            Ok(clusters) => {
                for info in clusters {
                    live.clusters
                        .insert((record.id.clone(), info.id.clone()), info);
                }
            }
            Err(why) => {
                tracing::warn!(org_id = %org, platform_id = %record.id, error = %why, "listing a platform for insights failed");
                live.failed.push((record, why));
            }
        }
    }
    Ok(live)
}
