//! What an org has saved, counted from its completed hibernations (contract: "a hibernation saves
//! `hourly_cost × hours hibernated` until resume"); nothing is estimated here.

use chrono::{DateTime, Utc};

use super::actions::{self, ActionRecord, ActionStatus, ActionType};
use crate::domain::ids::OrgId;
use crate::store::{StoreResult, Table};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SavingsSummary {
    pub total_saved_usd: f64,
    pub water_saved_gallons: f64,
    pub idle_hours_eliminated: f64,
    pub co2_reduced_kg: f64,
}

impl SavingsSummary {
    fn add(&mut self, action: &ActionRecord, now: DateTime<Utc>) {
        if action.action_type != ActionType::Hibernate || action.status != ActionStatus::Completed {
            return;
        }
        let (Some(start), Some(rates)) = (action.completed_at, action.rates) else {
            return;
        };
        // A hibernation still under way has saved up to now, and keeps saving; one resumed
        // after `now` counts up to `now` (a summary as of an earlier moment).
        let end = action.resumed_at.map_or(now, |resumed| resumed.min(now));
        let hours = (end - start).num_seconds().max(0) as f64 / 3600.0;
        self.idle_hours_eliminated += hours;
        self.total_saved_usd += rates.hourly_cost_usd * hours;
        self.co2_reduced_kg += rates.co2_kg_per_hour * hours;
        self.water_saved_gallons += rates.water_gallons_per_hour * hours;
    }
}

/// The org's savings as of `now`.
pub async fn summary(
    table: &dyn Table,
    org: &OrgId,
    now: DateTime<Utc>,
) -> StoreResult<SavingsSummary> {
    let mut total = SavingsSummary::default();
    actions::for_each(table, org, |action| total.add(&action, now)).await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::ids::ActionId;
    use crate::store::embedded::EmbeddedTable;
    use crate::store::repos::actions::HibernationRates;

    fn hibernation(org: &OrgId, at: DateTime<Utc>, resumed: Option<DateTime<Utc>>) -> ActionRecord {
        ActionRecord {
            id: ActionId::generate(),
            org_id: org.clone(),
            platform_id: "plat_01hzy8k7m3q4w5e6r7t8y9u0ia".into(),
            cluster_id: "prod-etl".into(),
            action_type: ActionType::Hibernate,
            status: ActionStatus::Completed,
            created_at: at,
            completed_at: Some(at),
            rates: Some(HibernationRates {
                hourly_cost_usd: 12.5,
                co2_kg_per_hour: 0.4,
                water_gallons_per_hour: 2.0,
            }),
            resumed_at: resumed,
            requested_by: None,
            reason: None,
            error: None,
            initiator: None,
        }
    }

    #[tokio::test]
    async fn counts_completed_hibernations_until_resume_or_now() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let now = start + Duration::hours(10);
        assert_eq!(
            summary(&table, &org, now).await.unwrap(),
            SavingsSummary::default()
        );

        let resumed = hibernation(&org, start, Some(start + Duration::hours(4)));
        let ongoing = hibernation(&org, start + Duration::hours(8), None);
        let mut failed = hibernation(&org, start, None);
        failed.status = ActionStatus::Failed;
        let mut rightsize = hibernation(&org, start, None);
        rightsize.action_type = ActionType::Rightsize;
        for action in [&resumed, &ongoing, &failed, &rightsize] {
            actions::create(&table, action).await.unwrap();
        }
        actions::create(&table, &hibernation(&OrgId::generate(), start, None))
            .await
            .unwrap();

        let total = summary(&table, &org, now).await.unwrap();
        assert_eq!(total.idle_hours_eliminated, 6.0);
        assert_eq!(total.total_saved_usd, 75.0);
        assert_eq!(total.water_saved_gallons, 12.0);
        assert!((total.co2_reduced_kg - 2.4).abs() < 1e-9);
    }
}
