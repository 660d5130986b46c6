//! What the scanner remembers of each cluster it saw (`ORG#o / WATCH#<plat_…>#<cluster id>`):
//! the idle bookkeeping of [`Watch`] plus the last reading. The set of watch records is the set
//! of clusters monitored; a cluster that disappears from its platform loses its record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::idle::Watch;
use crate::domain::ids::{OrgId, PlatformId};
use crate::domain::platform::PlatformKind;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchRecord {
    pub org_id: OrgId,
    pub platform_id: PlatformId,
    pub kind: PlatformKind,
    pub cluster_id: String,
    pub name: String,
    #[serde(flatten)]
    pub watch: Watch,
    pub last_seen_at: DateTime<Utc>,
    /// The status word of the last reading (`running`, `idle`, `stopped`, …).
    pub status: String,
}

impl WatchRecord {
    pub fn item(&self) -> StoreResult<Item> {
        Item::from_record(
            keys::watch(&self.org_id, &self.platform_id, &self.cluster_id),
            self,
        )
        .map_err(StoreError::Backend)
    }
}

pub async fn put(table: &dyn Table, record: &WatchRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::Always).await
}

pub async fn remove(
    table: &dyn Table,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
) -> StoreResult<()> {
    table
        .delete(&keys::watch(org, platform, cluster_id), Condition::Always)
        .await
}

/// Every cluster the scanner watches for the org.
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<WatchRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::watches_prefix())
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
