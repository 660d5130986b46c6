//! Clusters the org manages (`ORG#o / CLUSTER#<plat_…>#<cluster id>`): written when we hibernate
//! a cluster, holding the snapshot resume needs. The `state` attribute is the guard of every
//! transition (a conditional write), so two callers cannot both hibernate or resume a cluster.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::HibernationRates;
use crate::domain::ids::{ActionId, OrgId, PlatformId};
use crate::domain::platform::PlatformKind;
use crate::platforms::Snapshot;
use crate::store::{Condition, Index, Item, Key, Query, StoreError, StoreResult, Table, keys};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedState {
    /// Claimed by a hibernate that has not finished.
    Hibernating,
    /// Down by our hand; `snapshot` brings it back.
    Hibernated,
    /// Claimed by a resume that has not finished.
    Resuming,
    /// Brought back; may be hibernated again.
    Resumed,
}

impl ManagedState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hibernating => "hibernating",
            Self::Hibernated => "hibernated",
            Self::Resuming => "resuming",
            Self::Resumed => "resumed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub org_id: OrgId,
    pub platform_id: PlatformId,
    pub kind: PlatformKind,
    /// The platform's id of the cluster when we first acted on it (part of the key).
    pub cluster_id: String,
    /// The id it has now: a resume that recreates (EMR) gives it a new one.
    pub current_cluster_id: String,
    pub name: String,
    pub state: ManagedState,
    #[serde(default)]
    pub snapshot: Option<Snapshot>,
    /// The hibernation whose savings accrue while the cluster is down.
    #[serde(default)]
    pub hibernation_action: Option<ActionId>,
    #[serde(default)]
    pub rates: Option<HibernationRates>,
    #[serde(default)]
    pub hibernated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resumed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ClusterRecord {
    pub fn key(&self) -> Key {
        keys::cluster(&self.org_id, &self.platform_id, &self.cluster_id)
    }

    fn item(&self) -> StoreResult<Item> {
        Item::from_record(self.key(), self).map_err(StoreError::Backend)
    }
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
) -> StoreResult<Option<ClusterRecord>> {
    table
        .get(&keys::cluster(org, platform, cluster_id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// Every managed cluster of the org.
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<ClusterRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::clusters_prefix())
            .limit(1000)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            found.push(item.record().map_err(StoreError::Backend)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(found),
        }
    }
}

fn state_is(state: ManagedState) -> Condition {
    Condition::AttrEquals("state".to_owned(), Value::from(state.as_str()))
}

/// Writes `record` if the stored one is still in state `from` (`None`: if there is none yet).
/// `ConditionFailed` means someone else moved the cluster first.
pub async fn transition(
    table: &dyn Table,
    record: &ClusterRecord,
    from: Option<ManagedState>,
) -> StoreResult<()> {
    let condition = from.map_or(Condition::NotExists, state_is);
    table.put(record.item()?, condition).await
}

/// Removes a record still in state `from` (undoing a claim that came to nothing).
pub async fn remove(
    table: &dyn Table,
    record: &ClusterRecord,
    from: ManagedState,
) -> StoreResult<()> {
    table.delete(&record.key(), state_is(from)).await
}
