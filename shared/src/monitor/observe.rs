use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use crate::AppState;
use crate::domain::cluster_cost;
use crate::domain::idle::{IdleRule, Reading, Watch};
use crate::domain::ids::{OrgId, PlatformId};
use crate::domain::platform::{ClusterInfo, ClusterState, UsageSignals};
use crate::operations::{connect_record, hibernated_by_us, status_word};
use crate::platforms::Platform;
use crate::store::StoreResult;
use crate::store::repos::clusters::{self as managed, ClusterRecord};
use crate::store::repos::platforms::{self as platforms_repo, PlatformRecord};
use crate::store::repos::watches::{self, WatchRecord};

/// One cluster as a scan found it.
pub struct Observed {
    pub platform: PlatformRecord,
    pub info: ClusterInfo,
    /// The activity read; `None` when the cluster is not running or the read failed.
    pub signals: Option<UsageSignals>,
    pub reading: Reading,
    /// The idle bookkeeping after this reading.
    pub watch: Watch,
    pub previous: Option<WatchRecord>,
    /// Our record, when Digital Tap manages the cluster.
    pub managed: Option<ClusterRecord>,
    pub hourly_cost: Option<f64>,
}

impl Observed {
    pub fn ours(&self) -> bool {
        hibernated_by_us(self.managed.as_ref())
    }

    pub fn is_idle(&self, now: DateTime<Utc>, rule: &IdleRule) -> bool {
        !self.ours() && self.reading.is_quiet(rule) && self.watch.is_idle(now, rule)
    }

    /// The status word of metrics and listings: `idle` once idle by the rule.
    pub fn status(&self, now: DateTime<Utc>, rule: &IdleRule) -> &'static str {
        if self.is_idle(now, rule) {
            "idle"
        } else {
            status_word(self.info.state, self.ours())
        }
    }
}

/// Every cluster of the org, read now.
pub struct Observation {
    pub at: DateTime<Utc>,
    pub clusters: Vec<Observed>,
    /// Platforms that could not be listed, with why; their clusters are absent.
    pub failed_platforms: Vec<(PlatformRecord, String)>,
    /// The connectors, for acting on what was observed.
    pub connectors: HashMap<PlatformId, Box<dyn Platform>>,
}

/// Reads every cluster of every platform of the org (platforms concurrently) and applies the
/// idle rule to what the scanner remembered. Writes nothing.
pub async fn observe_org(
    state: &AppState,
    org: &OrgId,
    rule: &IdleRule,
) -> StoreResult<Observation> {
    let store = state.store.as_ref();
    let now = state.clock.now();
    let records = platforms_repo::list(store, org).await?;
    let remembered: HashMap<(PlatformId, String), WatchRecord> = watches::list(store, org)
        .await?
        .into_iter()
        .map(|record| {
            (
                (record.platform_id.clone(), record.cluster_id.clone()),
                record,
            )
        })
        .collect();
    // Keyed by the id the cluster has now: an EMR cluster comes back from a resume with a new one.
    let ours: HashMap<(PlatformId, String), ClusterRecord> = managed::list(store, org)
        .await?
        .into_iter()
        .filter(|record| hibernated_by_us(Some(record)))
        .map(|record| {
            (
                (
                    record.platform_id.clone(),
                    record.current_cluster_id.clone(),
                ),
                record,
            )
        })
        .collect();

    let readings = futures::future::join_all(records.into_iter().map(|record| {
        async move {
        let platform = match connect_record(state, &record).await {
            Ok(platform) => platform,
            Err(why) => return Err((record, why)),
        };
        let clusters = match platform.list_clusters().await {
            Ok(clusters) => clusters,
            Err(err) => return Err((record, err.to_string())),
        };
        let running: Vec<String> = clusters
            .iter()
            .filter(|info| info.state == ClusterState::Running)
            .map(|info| info.id.clone())
            .collect();
        let mut read = platform.usage_of_many(&running).await.into_iter();
        let signals: Vec<(ClusterInfo, Option<UsageSignals>)> = clusters
            .into_iter()
            .map(|info| {
                if info.state != ClusterState::Running {
                    return (info, None);
                }
                match read.next() {
                    Some(Ok(signals)) => (info, Some(signals)),
                    Some(Err(err)) => {
                        tracing::warn!(cluster_id = %info.id, error = %err, "reading cluster activity failed");
                        (info, None)
                    }
                    None => (info, None),
                }
            })
            .collect();
        Ok((record, platform, signals))
        }
        .boxed()
    }))
    .await;

    let mut observation = Observation {
        at: now,
        clusters: Vec::new(),
        failed_platforms: Vec::new(),
        connectors: HashMap::new(),
    };
    for outcome in readings {
        let (record, platform, signals) = match outcome {
            Ok(found) => found,
            Err((record, why)) => {
                tracing::warn!(org_id = %org, platform_id = %record.id, error = %why, "scanning a platform failed");
                observation.failed_platforms.push((record, why));
                continue;
            }
        };
        for (info, signals) in signals {
            let key = (record.id.clone(), info.id.clone());
            let previous = remembered.get(&key).cloned();
            let reading = reading_of(&info, signals.as_ref(), now);
            let watch = previous
                .as_ref()
                .map(|record| record.watch.clone())
                .unwrap_or_default()
                .observe(&reading, rule);
            let hourly_cost = cluster_cost::hourly_cost(&info, record.region.as_deref());
            observation.clusters.push(Observed {
                platform: record.clone(),
                managed: ours.get(&key).cloned(),
                info,
                signals,
                reading,
                watch,
                previous,
                hourly_cost,
            });
        }
        observation.connectors.insert(record.id.clone(), platform);
    }
    Ok(observation)
}

/// A running cluster whose activity could not be read is treated as busy: no signal is no
/// evidence of idleness.
fn reading_of(info: &ClusterInfo, signals: Option<&UsageSignals>, now: DateTime<Utc>) -> Reading {
    match signals {
        Some(signals) => Reading {
            at: now,
            state: info.state,
            active_work: signals.active_work,
            cpu_percent: signals.cpu_percent,
            platform_idle_since: signals.idle_since,
        },
        None => Reading {
            at: now,
            state: info.state,
            active_work: u32::from(info.state == ClusterState::Running),
            cpu_percent: None,
            platform_idle_since: None,
        },
    }
}
