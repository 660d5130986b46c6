//! An org's monitoring record (`ORG#o / MONITOR`): its settings, whether automation is paused,
//! and when its next scan is due. The due time is also the record's index key
//! (`SCANDUE / <time>#<org>`), so the ticker reads only the orgs that are due.
//!
//! Writes are read-modify-write guarded by a `version` attribute: a config change, a pause and
//! the ticker advancing the due time never overwrite one another.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ids::OrgId;
use crate::domain::monitoring::MonitoringConfig;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorRecord {
    pub org_id: OrgId,
    pub config: MonitoringConfig,
    /// False while paused: nothing automated touches a cluster.
    pub enabled: bool,
    pub next_scan_at: DateTime<Utc>,
    #[serde(default)]
    pub last_scan_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub paused_at: Option<DateTime<Utc>>,
    /// The UTC day the last savings digest went out for.
    #[serde(default)]
    pub last_digest_on: Option<chrono::NaiveDate>,
    pub updated_at: DateTime<Utc>,
    /// 0 for a record not stored yet.
    #[serde(default)]
    pub version: u64,
}

impl MonitorRecord {
    /// The settings of an org that never changed them: defaults, enabled, due now.
    pub fn new(org: &OrgId, now: DateTime<Utc>) -> Self {
        Self {
            org_id: org.clone(),
            config: MonitoringConfig::default(),
            enabled: true,
            next_scan_at: now,
            last_scan_at: None,
            paused_at: None,
            last_digest_on: None,
            updated_at: now,
            version: 0,
        }
    }

    /// Whether the scanner may act on its own now.
    pub fn automation_allowed(&self) -> bool {
        self.enabled
    }

    fn item(&self) -> StoreResult<Item> {
        Ok(Item::from_record(keys::monitor(&self.org_id), self)
            .map_err(StoreError::Backend)?
            .with_gsi1(keys::scan_due(&self.org_id, self.next_scan_at)))
    }
}

pub async fn get(table: &dyn Table, org: &OrgId) -> StoreResult<Option<MonitorRecord>> {
    table
        .get(&keys::monitor(org))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// The org's record, or the defaults when it has none yet.
pub async fn load(
    table: &dyn Table,
    org: &OrgId,
    now: DateTime<Utc>,
) -> StoreResult<MonitorRecord> {
    Ok(get(table, org)
        .await?
        .unwrap_or_else(|| MonitorRecord::new(org, now)))
}

/// Writes `next` if the stored record is still the version it was read at.
async fn save(table: &dyn Table, next: &MonitorRecord, read_version: u64) -> StoreResult<()> {
    let condition = if read_version == 0 {
        Condition::NotExists
    } else {
        Condition::AttrEquals("version".to_owned(), Value::from(read_version))
    };
    table.put(next.item()?, condition).await
}

/// Applies `change` to the org's record (created with defaults if missing), retrying when a
/// concurrent writer got there first. Returns the record as written.
pub async fn modify(
    table: &dyn Table,
    org: &OrgId,
    now: DateTime<Utc>,
    change: impl Fn(&mut MonitorRecord),
) -> StoreResult<MonitorRecord> {
    let mut attempts = 0;
    loop {
        let current = load(table, org, now).await?;
        let mut next = current.clone();
        change(&mut next);
        next.version = current.version + 1;
        next.updated_at = now;
        match save(table, &next, current.version).await {
            Ok(()) => return Ok(next),
            Err(StoreError::ConditionFailed { .. }) if attempts < 8 => attempts += 1,
            Err(other) => return Err(other),
        }
    }
}

/// Makes sure the org is scanned from now on (a platform was connected). Keeps what is stored.
pub async fn ensure(table: &dyn Table, org: &OrgId, now: DateTime<Utc>) -> StoreResult<()> {
    let mut fresh = MonitorRecord::new(org, now);
    fresh.version = 1;
    match table.put(fresh.item()?, Condition::NotExists).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Orgs whose scan is due at `now`, earliest first, at most `limit` (1..=1000) per page.
pub async fn due(
    table: &dyn Table,
    now: DateTime<Utc>,
    limit: usize,
    cursor: Option<crate::store::Cursor>,
) -> StoreResult<(Vec<MonitorRecord>, Option<crate::store::Cursor>)> {
    // `~` sorts after every id character, so every org due at `now` is included.
    let query = Query::partition(Index::Gsi1, keys::scans_due_partition())
        .between("0", format!("{}#~", keys::timestamp(now)))
        .limit(limit)
        .after(cursor);
    let page = table.query(&query).await?;
    let records = page
        .items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect::<StoreResult<Vec<MonitorRecord>>>()?;
    Ok((records, page.next))
}

/// Moves a due org's next scan one interval on, if no other ticker did first. `true` when this
/// caller won and must start the scan.
pub async fn claim_due_scan(
    table: &dyn Table,
    record: &MonitorRecord,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut next = record.clone();
    next.next_scan_at = now + Duration::minutes(i64::from(record.config.scan_interval_minutes));
    next.version = record.version + 1;
    match save(table, &next, record.version).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// How long a scan may hold its org before another may start (a crashed scanner's lease lapses).
pub const SCAN_LEASE_SECONDS: i64 = 900;

/// Takes the org's scan lease; `false` when another scan holds it. The lease expires on the wall
/// clock, like the store's TTL, whatever clock the scan itself runs on.
pub async fn acquire_scan_lease(table: &dyn Table, org: &OrgId) -> StoreResult<bool> {
    let lease = Item::new(keys::scan_lease(org))
        .with_attr("held_since", crate::store::unix_now())
        .expiring_at(crate::store::unix_now() + SCAN_LEASE_SECONDS);
    match table.put(lease, Condition::NotExists).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

pub async fn release_scan_lease(table: &dyn Table, org: &OrgId) -> StoreResult<()> {
    table
        .delete(&keys::scan_lease(org), Condition::Always)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;

    fn table() -> (tempfile::TempDir, EmbeddedTable) {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        (dir, table)
    }

    #[tokio::test]
    async fn only_due_orgs_are_found_and_each_is_claimed_once() {
        let (_dir, table) = table();
        let now = Utc::now();
        let (due_org, later_org) = (OrgId::generate(), OrgId::generate());
        ensure(&table, &due_org, now - Duration::minutes(1))
            .await
            .unwrap();
        ensure(&table, &later_org, now + Duration::minutes(5))
            .await
            .unwrap();
        let (found, _) = due(&table, now, 100, None).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].org_id, due_org);
        assert!(claim_due_scan(&table, &found[0], now).await.unwrap());
        assert!(
            !claim_due_scan(&table, &found[0], now).await.unwrap(),
            "a second ticker loses"
        );
        let (found, _) = due(&table, now, 100, None).await.unwrap();
        assert!(found.is_empty());
        let (found, _) = due(&table, now + Duration::minutes(10), 100, None)
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
    }

    #[tokio::test]
    async fn modify_keeps_concurrent_changes() {
        let (_dir, table) = table();
        let org = OrgId::generate();
        let now = Utc::now();
        let (paused, configured) = tokio::join!(
            modify(&table, &org, now, |record| record.enabled = false),
            modify(&table, &org, now, |record| record.config.auto_hibernate =
                true),
        );
        paused.unwrap();
        configured.unwrap();
        let stored = get(&table, &org).await.unwrap().unwrap();
        assert!(!stored.enabled);
        assert!(stored.config.auto_hibernate);
        assert_eq!(stored.version, 2);
    }

    #[tokio::test]
    async fn one_scan_lease_at_a_time() {
        let (_dir, table) = table();
        let org = OrgId::generate();
        assert!(acquire_scan_lease(&table, &org).await.unwrap());
        assert!(!acquire_scan_lease(&table, &org).await.unwrap());
        release_scan_lease(&table, &org).await.unwrap();
        assert!(acquire_scan_lease(&table, &org).await.unwrap());
    }
}
