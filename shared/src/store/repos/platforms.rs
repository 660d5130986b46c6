//! Connected platforms: `ORG#o / PLATFORM#<plat_…>`. The item holds what the API shows; the
//! credentials live only in the secret store, under [`keys::platform_secret`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{OrgId, PlatformId};
use crate::domain::platform::PlatformKind;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

/// Whether the platform answered with the stored credentials the last time they were tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformStatus {
    /// Checked and working.
    Connected,
    /// The last test could not reach the platform or was refused.
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlatformRecord {
    pub id: PlatformId,
    pub org_id: OrgId,
    #[serde(rename = "type")]
    pub kind: PlatformKind,
    pub name: String,
    pub region: Option<String>,
    pub status: PlatformStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Clusters seen when the credentials were last checked.
    pub clusters_discovered: u32,
}

impl PlatformRecord {
    fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::platform(&self.org_id, &self.id), self)
    }

    pub fn secret_name(&self) -> String {
        keys::platform_secret(&self.id)
    }
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &PlatformId,
) -> StoreResult<Option<PlatformRecord>> {
    table
        .get(&keys::platform(org, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// An org's platforms, oldest first (ids are ULIDs).
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<PlatformRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::platforms_prefix())
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

/// Stores a new platform; fails with `ConditionFailed` if the id is taken.
pub async fn create(table: &dyn Table, record: &PlatformRecord) -> StoreResult<()> {
    table
        .put(
            record.item().map_err(StoreError::Backend)?,
            Condition::NotExists,
        )
        .await
}

/// Replaces a platform's record; fails with `ConditionFailed` if it was removed meanwhile.
pub async fn replace(table: &dyn Table, record: &PlatformRecord) -> StoreResult<()> {
    table
        .put(
            record.item().map_err(StoreError::Backend)?,
            Condition::Exists,
        )
        .await
}

/// Removes a platform's record; fails with `ConditionFailed` if it is already gone.
pub async fn delete(table: &dyn Table, org: &OrgId, id: &PlatformId) -> StoreResult<()> {
    table
        .delete(&keys::platform(org, id), Condition::Exists)
        .await
}
