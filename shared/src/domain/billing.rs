//! Monthly invoices, derived from an org's plan history; nothing here is stored, so the rules can
//! change without migrating data.
//!
//! Rules (README, "API decisions"): an invoice covers one calendar month (UTC) and is dated its
//! first day. Only whole months the org existed for are billed, so the month an org is created in
//! is free. A month is billed at the price of the plan in force at its first instant; a plan
//! change takes effect with the next month. Months that have ended are `paid`; the month under
//! way is `upcoming`.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::plan::Plan;

/// From this moment on, the org is on this plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanPeriod {
    pub since: DateTime<Utc>,
    pub plan: Plan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvoiceStatus {
    /// The month has ended.
    Paid,
    /// The month is under way; the amount is what it will be billed at.
    Upcoming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// The first day of the month billed.
    pub month: NaiveDate,
    pub plan: Plan,
    pub amount_usd: u32,
    pub status: InvoiceStatus,
}

fn month_start(year: i32, month: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists")
}

fn next_month(at: DateTime<Utc>) -> DateTime<Utc> {
    if at.month() == 12 {
        month_start(at.year() + 1, 1)
    } else {
        month_start(at.year(), at.month() + 1)
    }
}

/// The first month the org existed for entirely.
fn first_billed_month(created_at: DateTime<Utc>) -> DateTime<Utc> {
    let start = month_start(created_at.year(), created_at.month());
    if start == created_at {
        start
    } else {
        next_month(start)
    }
}

/// The plan in force at `at`. `history` is oldest first; before its first entry (which only an
/// inconsistent history allows) the first entry's plan is used rather than inventing one.
fn plan_at(history: &[PlanPeriod], at: DateTime<Utc>) -> Option<Plan> {
    history
        .iter()
        .rev()
        .find(|period| period.since <= at)
        .or_else(|| history.first())
        .map(|period| period.plan)
}

/// The org's invoices up to `now`, newest first. `history` must be sorted oldest first.
pub fn invoices(
    created_at: DateTime<Utc>,
    history: &[PlanPeriod],
    now: DateTime<Utc>,
) -> Vec<Invoice> {
    let mut found = Vec::new();
    let mut month = first_billed_month(created_at);
    while month <= now {
        let Some(plan) = plan_at(history, month) else {
            break;
        };
        let end = next_month(month);
        found.push(Invoice {
            month: month.date_naive(),
            plan,
            amount_usd: plan.monthly_price_usd(),
            status: if end <= now {
                InvoiceStatus::Paid
            } else {
                InvoiceStatus::Upcoming
            },
        });
        month = end;
    }
    found.reverse();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn date(y: i32, m: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, 1).unwrap()
    }

    #[test]
    fn the_month_of_creation_is_not_billed() {
        let created = at(2026, 3, 15, 10);
        let history = [PlanPeriod {
            since: created,
            plan: Plan::Starter,
        }];
        assert!(invoices(created, &history, at(2026, 3, 31, 23)).is_empty());
        let april = invoices(created, &history, at(2026, 4, 2, 0));
        assert_eq!(
            april,
            vec![Invoice {
                month: date(2026, 4),
                plan: Plan::Starter,
                amount_usd: 99,
                status: InvoiceStatus::Upcoming,
            }]
        );
    }

    #[test]
    fn ended_months_are_paid_newest_first_across_a_year_end() {
        let created = at(2025, 11, 20, 0);
        let history = [PlanPeriod {
            since: created,
            plan: Plan::Growth,
        }];
        let found = invoices(created, &history, at(2026, 2, 10, 0));
        let months: Vec<_> = found.iter().map(|i| (i.month, i.status)).collect();
        assert_eq!(
            months,
            vec![
                (date(2026, 2), InvoiceStatus::Upcoming),
                (date(2026, 1), InvoiceStatus::Paid),
                (date(2025, 12), InvoiceStatus::Paid),
            ]
        );
        assert!(found.iter().all(|i| i.amount_usd == 499));
    }

    #[test]
    fn a_plan_change_takes_effect_with_the_next_month() {
        let created = at(2026, 1, 10, 0);
        let history = [
            PlanPeriod {
                since: created,
                plan: Plan::Starter,
            },
            PlanPeriod {
                since: at(2026, 2, 14, 0),
                plan: Plan::Enterprise,
            },
        ];
        let found = invoices(created, &history, at(2026, 4, 1, 0));
        let billed: Vec<_> = found.iter().map(|i| (i.month, i.amount_usd)).collect();
        assert_eq!(
            billed,
            vec![
                (date(2026, 4), 1999),
                (date(2026, 3), 1999),
                (date(2026, 2), 99)
            ]
        );
    }

    #[test]
    fn an_org_created_at_a_month_start_is_billed_for_that_month() {
        let created = at(2026, 5, 1, 0);
        let history = [PlanPeriod {
            since: created,
            plan: Plan::Starter,
        }];
        let found = invoices(created, &history, created);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].month, date(2026, 5));
    }
}
