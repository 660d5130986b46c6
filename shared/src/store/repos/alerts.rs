//! An org's alert feed (`ORG#o / ALERT#<ulid>`), written by monitoring as it notices things and
//! read newest first by `GET /v1/account/alerts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AlertId, OrgId};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertRecord {
    pub id: AlertId,
    pub org_id: OrgId,
    /// What happened, in snake_case (`idle_cluster`, `action_failed`, …); the set grows with the
    /// monitoring features, so it is not closed here.
    pub kind: String,
    pub message: String,
    pub severity: Severity,
    pub created_at: DateTime<Utc>,
}

impl AlertRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::alert(&self.org_id, &self.id), self)
    }
}

pub async fn create(table: &dyn Table, alert: &AlertRecord) -> StoreResult<()> {
    table
        .put(
            alert.item().map_err(StoreError::Backend)?,
            Condition::NotExists,
        )
        .await
}

/// The org's `limit` newest alerts (at most 1000), newest first.
pub async fn latest(table: &dyn Table, org: &OrgId, limit: usize) -> StoreResult<Vec<AlertRecord>> {
    let query = Query::partition(Index::Primary, keys::org_partition(org))
        .begins_with(keys::alerts_prefix())
        .limit(limit)
        .descending();
    let page = table.query(&query).await?;
    page.items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::store::embedded::EmbeddedTable;

    #[tokio::test]
    async fn lists_the_newest_alerts_of_one_org_first() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let now = Utc::now();
        let mut written = Vec::new();
        for minutes in 0..3 {
            let alert = AlertRecord {
                id: AlertId::generate(),
                org_id: org.clone(),
                kind: "idle_cluster".into(),
                message: format!("Cluster prod-etl idle for {} minutes", 45 + minutes),
                severity: Severity::Warning,
                created_at: now + Duration::minutes(minutes),
            };
            create(&table, &alert).await.unwrap();
            written.push(alert);
            // ULIDs order by millisecond; keep the three apart.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let mut other = written[0].clone();
        other.id = AlertId::generate();
        other.org_id = OrgId::generate();
        create(&table, &other).await.unwrap();

        let newest_two = latest(&table, &org, 2).await.unwrap();
        assert_eq!(newest_two, vec![written[2].clone(), written[1].clone()]);
        assert_eq!(latest(&table, &org, 50).await.unwrap().len(), 3);
    }
}
