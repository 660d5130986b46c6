//! An org's plan history (`ORG#o / PLAN#<since>`): the first entry is written with the org, one
//! more with every plan change. Invoices are derived from it (`domain::billing`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::billing::PlanPeriod;
use crate::domain::ids::OrgId;
use crate::domain::plan::Plan;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, WriteOp, keys};

use super::orgs::OrgRecord;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanChangeRecord {
    pub org_id: OrgId,
    pub plan: Plan,
    pub since: DateTime<Utc>,
}

impl PlanChangeRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::plan_change(&self.org_id, self.since), self)
    }
}

/// The history entry a new org starts with; put it in the transaction that creates the org.
pub fn initial_item(org: &OrgRecord) -> anyhow::Result<Item> {
    PlanChangeRecord {
        org_id: org.id.clone(),
        plan: org.plan,
        since: org.created_at,
    }
    .item()
}

/// The org's plan history, oldest first. An org created before plan history was recorded has
/// none; its current plan is then taken as in force since its creation.
pub async fn history(table: &dyn Table, org: &OrgRecord) -> StoreResult<Vec<PlanPeriod>> {
    let mut periods = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(&org.id))
            .begins_with(keys::plan_changes_prefix())
            .limit(1000)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            let record: PlanChangeRecord = item.record().map_err(StoreError::Backend)?;
            periods.push(PlanPeriod {
                since: record.since,
                plan: record.plan,
            });
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if periods.is_empty() {
        periods.push(PlanPeriod {
            since: org.created_at,
            plan: org.plan,
        });
    }
    Ok(periods)
}

/// Moves the org to `plan` from `at` on: the org's plan and its history change together or not
/// at all.
pub async fn change(
    table: &dyn Table,
    org: &OrgId,
    plan: Plan,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let record = PlanChangeRecord {
        org_id: org.clone(),
        plan,
        since: at,
    };
    let mut set = serde_json::Map::new();
    set.insert(
        "plan".into(),
        serde_json::to_value(plan).map_err(StoreError::backend)?,
    );
    table
        .transact(vec![
            WriteOp::Update {
                key: keys::org(org),
                set,
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: record.item().map_err(StoreError::Backend)?,
                condition: Condition::NotExists,
            },
        ])
        .await
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::store::embedded::EmbeddedTable;
    use crate::store::repos::orgs;

    #[tokio::test]
    async fn a_plan_change_updates_the_org_and_extends_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let created = Utc.with_ymd_and_hms(2026, 1, 10, 8, 0, 0).unwrap();
        let org: OrgRecord = serde_json::from_value(serde_json::json!({
            "id": OrgId::generate(),
            "slug": "acme",
            "name": "Acme",
            "plan": "starter",
            "created_at": created,
        }))
        .unwrap();
        table
            .put(org.item().unwrap(), Condition::NotExists)
            .await
            .unwrap();
        assert_eq!(
            history(&table, &org).await.unwrap(),
            vec![PlanPeriod {
                since: created,
                plan: Plan::Starter
            }],
            "an org without history is on its plan since creation"
        );
        table
            .put(initial_item(&org).unwrap(), Condition::NotExists)
            .await
            .unwrap();
        let later = created + Duration::days(40);
        change(&table, &org.id, Plan::Growth, later).await.unwrap();

        let org = orgs::get(&table, &org.id).await.unwrap().unwrap();
        assert_eq!(org.plan, Plan::Growth);
        assert_eq!(
            history(&table, &org).await.unwrap(),
            vec![
                PlanPeriod {
                    since: created,
                    plan: Plan::Starter
                },
                PlanPeriod {
                    since: later,
                    plan: Plan::Growth
                },
            ]
        );
    }
}
