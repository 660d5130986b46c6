use std::collections::HashMap;

use crate::AppState;
use crate::domain::ids::{OrgId, PlatformId};
use crate::operations::connect_record;
use crate::store::StoreError;
use crate::store::repos::clusters as managed;
use crate::store::repos::platforms;
use crate::store::repos::schedules::ScheduleCluster;
use crate::store::repos::watches;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No platform of the org has the cluster (every platform answered).
    #[error("cluster_ids[{index}]: no cluster {id} in this organization")]
    Unknown { index: usize, id: String },
    /// The cluster is not known and some platform could not be asked.
    #[error("could not check cluster_ids[{index}] against every platform: {detail}")]
    Unreachable { index: usize, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Finds the platform of each cluster id: one the scanner watches, one Digital Tap manages (by
/// its first or current id), else one a platform lists now (platforms are asked only when the
/// store does not know every id). The first platform found wins.
pub async fn resolve_clusters(
    state: &AppState,
    org: &OrgId,
    ids: &[String],
) -> Result<Vec<ScheduleCluster>, ResolveError> {
    let store = state.store.as_ref();
    let connected: Vec<_> = platforms::list(store, org).await?;
    let live = |platform: &PlatformId| connected.iter().any(|record| &record.id == platform);
    let mut known: HashMap<String, PlatformId> = HashMap::new();
    for record in watches::list(store, org).await? {
        if live(&record.platform_id) {
            known.entry(record.cluster_id).or_insert(record.platform_id);
        }
    }
    for record in managed::list(store, org).await? {
        if live(&record.platform_id) {
            known
                .entry(record.current_cluster_id.clone())
                .or_insert_with(|| record.platform_id.clone());
            known.entry(record.cluster_id).or_insert(record.platform_id);
        }
    }
    let mut unreachable = Vec::new();
    if !ids.iter().all(|id| known.contains_key(id)) {
        for record in &connected {
            let listed = match connect_record(state, record).await {
                Ok(platform) => platform
                    .list_clusters()
                    .await
                    .map_err(|err| err.to_string()),
                Err(why) => Err(why),
            };
            match listed {
                Ok(clusters) => {
                    for cluster in clusters {
                        known.entry(cluster.id).or_insert_with(|| record.id.clone());
                    }
                }
                Err(why) => unreachable.push(format!("{} ({}): {why}", record.id, record.kind)),
            }
        }
    }
    ids.iter()
        .enumerate()
        .map(|(index, id)| match known.get(id) {
            Some(platform) => Ok(ScheduleCluster {
                cluster_id: id.clone(),
                platform_id: platform.clone(),
            }),
            None if !unreachable.is_empty() => Err(ResolveError::Unreachable {
                index,
                detail: unreachable.join("; "),
            }),
            None => Err(ResolveError::Unknown {
                index,
                id: id.clone(),
            }),
        })
        .collect()
}
