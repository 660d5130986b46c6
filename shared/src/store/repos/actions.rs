//! Actions taken on an org's clusters (`ORG#o / ACTION#<ulid>`), written by whoever acts
//! (manual calls, schedules, the scanner) and read by the actions feed and the savings summary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{ActionId, OrgId};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    Hibernate,
    Resume,
    Rightsize,
    Resize,
    SpotFailover,
}

/// Recorded `pending` before the platform is asked, then completed or failed from its answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    Pending,
    Completed,
    Failed,
}

/// What a completed hibernation saves per hour while the cluster stays down. The rates are fixed
/// when the cluster is hibernated (its cost and the sustainability coefficients of that moment),
/// so later coefficient changes do not rewrite past savings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct HibernationRates {
    pub hourly_cost_usd: f64,
    pub co2_kg_per_hour: f64,
    pub water_gallons_per_hour: f64,
}

impl From<crate::domain::cluster_cost::SavingRates> for HibernationRates {
    fn from(rates: crate::domain::cluster_cost::SavingRates) -> Self {
        Self {
            hourly_cost_usd: rates.hourly_cost_usd,
            co2_kg_per_hour: rates.co2_kg_per_hour,
            water_gallons_per_hour: rates.water_gallons_per_hour,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionRecord {
    pub id: ActionId,
    pub org_id: OrgId,
    /// The platform (`plat_…`) the cluster belongs to.
    pub platform_id: String,
    pub cluster_id: String,
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Set on hibernations.
    #[serde(default)]
    pub rates: Option<HibernationRates>,
    /// Set on a hibernation when its cluster is resumed: savings stop accruing then.
    #[serde(default)]
    pub resumed_at: Option<DateTime<Utc>>,
    /// Who asked (`usr_…`), when a person did.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// Why: `manual` for a call to the API, else the schedule or rule that acted.
    #[serde(default)]
    pub reason: Option<String>,
    /// Why a failed action failed (the platform's message; never credentials).
    #[serde(default)]
    pub error: Option<String>,
    /// `user`, `monitor` or `schedule:<sch_…>`.
    #[serde(default)]
    pub initiator: Option<String>,
}

impl ActionRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::action(&self.org_id, &self.id), self)
    }
}

pub async fn create(table: &dyn Table, action: &ActionRecord) -> StoreResult<()> {
    table
        .put(
            action.item().map_err(StoreError::Backend)?,
            Condition::NotExists,
        )
        .await
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &ActionId,
) -> StoreResult<Option<ActionRecord>> {
    table
        .get(&keys::action(org, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// Rewrites an action already recorded (completing it, failing it, marking its resume).
pub async fn replace(table: &dyn Table, action: &ActionRecord) -> StoreResult<()> {
    table
        .put(
            action.item().map_err(StoreError::Backend)?,
            Condition::Exists,
        )
        .await
}

/// How many of the org's actions were created at or after `since`: read newest first, stopping
/// at the first older one (ids are ULIDs, so the partition is in creation order), rather than
/// reading the org's whole history.
pub async fn count_since(
    table: &dyn Table,
    org: &OrgId,
    since: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::actions_prefix())
            .limit(100)
            .descending()
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            let action: ActionRecord = item.record().map_err(StoreError::Backend)?;
            if action.created_at < since {
                return Ok(count);
            }
            count += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// Calls `visit` with every action of the org, oldest first, a page at a time.
pub async fn for_each(
    table: &dyn Table,
    org: &OrgId,
    mut visit: impl FnMut(ActionRecord),
) -> StoreResult<()> {
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::actions_prefix())
            .limit(1000)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            visit(item.record().map_err(StoreError::Backend)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::store::embedded::EmbeddedTable;

    fn action(org: &OrgId, at: DateTime<Utc>) -> ActionRecord {
        ActionRecord {
            id: ActionId::generate(),
            org_id: org.clone(),
            platform_id: "plat_01hzy8k7m3q4w5e6r7t8y9u0ia".into(),
            cluster_id: "prod-etl".into(),
            action_type: ActionType::Hibernate,
            status: ActionStatus::Completed,
            created_at: at,
            completed_at: Some(at),
            rates: None,
            resumed_at: None,
            requested_by: None,
            reason: None,
            error: None,
            initiator: None,
        }
    }

    #[tokio::test]
    async fn counts_only_the_actions_since_a_moment() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let now = Utc::now();
        for hours_ago in [30, 26, 2, 1] {
            create(&table, &action(&org, now - Duration::hours(hours_ago)))
                .await
                .unwrap();
            // ULIDs order by millisecond; keep the actions apart.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        create(&table, &action(&OrgId::generate(), now))
            .await
            .unwrap();
        let day_ago = now - Duration::hours(24);
        assert_eq!(count_since(&table, &org, day_ago).await.unwrap(), 2);
        assert_eq!(
            count_since(&table, &org, now - Duration::hours(48))
                .await
                .unwrap(),
            4
        );
        assert_eq!(count_since(&table, &org, now).await.unwrap(), 0);
    }
}
