//! An org's schedule rules (`ORG#o / SCHEDULE#<sch_…>`). An enabled time schedule also carries
//! its next run as its index key (`SCHEDDUE#<shard> / <time>#<org>#<sch>`), so the ticker reads
//! only what is due; disabled, idle and cost schedules carry none and are never read by it.
//!
//! Writes are guarded by a `version` attribute: an update and the ticker moving the next run on
//! never overwrite one another.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ids::{OrgId, PlatformId, ScheduleId};
use crate::domain::schedule::{ScheduleKind, ScheduleSpec};
use crate::store::{Condition, Cursor, Index, Item, Query, StoreError, StoreResult, Table, keys};

/// A cluster a schedule acts on, with the platform it was found on when the schedule was saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleCluster {
    pub cluster_id: String,
    pub platform_id: PlatformId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub id: ScheduleId,
    pub org_id: OrgId,
    pub spec: ScheduleSpec,
    /// `spec.cluster_ids`, each with its platform.
    pub clusters: Vec<ScheduleCluster>,
    /// Enabled time schedules only: the next time the ticker runs it.
    #[serde(default)]
    pub next_run_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl ScheduleRecord {
    /// Whether the ticker must find it: an enabled time schedule with a next run.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        (self.spec.kind == ScheduleKind::Time && self.spec.enabled)
            .then_some(self.next_run_at)
            .flatten()
    }

    pub fn item(&self) -> StoreResult<Item> {
        let item = Item::from_record(keys::schedule(&self.org_id, &self.id), self)
            .map_err(StoreError::Backend)?;
        Ok(match self.due_at() {
            Some(due) => item.with_gsi1(keys::schedule_due(&self.org_id, &self.id, due)),
            None => item,
        })
    }

    /// The condition of a write that replaces the version `read_version` of this record.
    pub fn written_over(read_version: u64) -> Condition {
        Condition::AttrEquals("version".to_owned(), Value::from(read_version))
    }
}

pub async fn create(table: &dyn Table, record: &ScheduleRecord) -> StoreResult<()> {
    table.put(record.item()?, Condition::NotExists).await
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &ScheduleId,
) -> StoreResult<Option<ScheduleRecord>> {
    table
        .get(&keys::schedule(org, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// Every schedule of the org, oldest first (ids are ULIDs).
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<ScheduleRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::schedules_prefix())
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

/// Writes `next` (whose `version` is one more than the version read) if the stored record is
/// still the one read. `ConditionFailed` when another writer got there first, or it was deleted.
pub async fn replace(table: &dyn Table, next: &ScheduleRecord) -> StoreResult<()> {
    table
        .put(
            next.item()?,
            ScheduleRecord::written_over(next.version.saturating_sub(1)),
        )
        .await
}

/// Removes a schedule; `ConditionFailed` when there is none.
pub async fn delete(table: &dyn Table, org: &OrgId, id: &ScheduleId) -> StoreResult<()> {
    table
        .delete(&keys::schedule(org, id), Condition::Exists)
        .await
}

/// Schedules of one index shard whose next run is at or before `now`, earliest first, at most
/// `limit` (1..=1000) per page.
pub async fn due(
    table: &dyn Table,
    shard: u32,
    now: DateTime<Utc>,
    limit: usize,
    cursor: Option<Cursor>,
) -> StoreResult<(Vec<ScheduleRecord>, Option<Cursor>)> {
    // `~` sorts after every id character, so everything due at `now` is included.
    let query = Query::partition(Index::Gsi1, keys::schedules_due_partition(shard))
        .between("0", format!("{}#~", keys::timestamp(now)))
        .limit(limit)
        .after(cursor);
    let page = table.query(&query).await?;
    let records = page
        .items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect::<StoreResult<Vec<ScheduleRecord>>>()?;
    Ok((records, page.next))
}
