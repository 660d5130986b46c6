//! Warm pool configurations: `ORG#o / WARMPOOL#<wp_…>`. On Databricks each is an instance pool
//! (`pool_id`) that the record is kept in step with: the pool is created before the record is
//! stored, edited before the record is replaced, and deleted before the record is removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OrgId, PlatformId, WarmPoolId};
use crate::domain::platform::PlatformKind;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmPoolRecord {
    pub id: WarmPoolId,
    pub org_id: OrgId,
    pub platform_id: PlatformId,
    pub kind: PlatformKind,
    pub instance_type: String,
    pub min_nodes: u32,
    pub max_nodes: u32,
    /// The platform's own pool (a Databricks `instance_pool_id`).
    pub pool_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WarmPoolRecord {
    fn item(&self) -> StoreResult<Item> {
        Item::from_record(keys::warm_pool(&self.org_id, &self.id), self)
            .map_err(StoreError::Backend)
    }

    /// The platform pool's name: unique in the workspace, and it names the warm pool.
    pub fn pool_name(id: &WarmPoolId) -> String {
        format!("digitaltap-{id}")
    }
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &WarmPoolId,
) -> StoreResult<Option<WarmPoolRecord>> {
    table
        .get(&keys::warm_pool(org, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// An org's warm pools, oldest first (ids are ULIDs).
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<WarmPoolRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::warm_pools_prefix())
            .limit(100)
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

/// Stores a new warm pool; `ConditionFailed` if the id is taken.
pub async fn create(table: &dyn Table, record: &WarmPoolRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::NotExists).await
}

/// Replaces a warm pool; `ConditionFailed` if it was removed meanwhile.
pub async fn replace(table: &dyn Table, record: &WarmPoolRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::Exists).await
}

/// Removes a warm pool; `ConditionFailed` if it is already gone.
pub async fn delete(table: &dyn Table, org: &OrgId, id: &WarmPoolId) -> StoreResult<()> {
    table
        .delete(&keys::warm_pool(org, id), Condition::Exists)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;

    #[tokio::test]
    async fn pools_round_trip_per_org() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let now = Utc::now();
        let record = WarmPoolRecord {
            id: WarmPoolId::generate(),
            org_id: org.clone(),
            platform_id: PlatformId::generate(),
            kind: PlatformKind::Databricks,
            instance_type: "i3.xlarge".into(),
            min_nodes: 2,
            max_nodes: 10,
            pool_id: "0101-pool".into(),
            created_at: now,
            updated_at: now,
        };
        create(&table, &record).await.unwrap();
        assert!(matches!(
            create(&table, &record).await,
            Err(StoreError::ConditionFailed { .. })
        ));
        assert_eq!(
            get(&table, &org, &record.id).await.unwrap(),
            Some(record.clone())
        );
        assert_eq!(list(&table, &org).await.unwrap(), vec![record.clone()]);
        assert!(list(&table, &OrgId::generate()).await.unwrap().is_empty());
        delete(&table, &org, &record.id).await.unwrap();
        assert_eq!(get(&table, &org, &record.id).await.unwrap(), None);
    }
}
