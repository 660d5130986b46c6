//! The org-wide figures of `GET /v1/insights`: idle waste, the optimization score and the single
//! largest opportunity, from each cluster's measured week.

use std::collections::BTreeMap;

use super::history::History;
use super::rightsize::{Rightsizing, round};
use crate::domain::platform::PlatformKind;

/// One cluster as the summary sees it.
pub struct Analyzed<'a> {
    pub kind: PlatformKind,
    pub name: &'a str,
    pub history: &'a History,
    /// `None` when the cluster's shape is unknown (its platform did not answer).
    pub rightsizing: Option<&'a Rightsizing>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrgInsights {
    /// Projected monthly cost of idle time (running, idle past the org's threshold).
    pub total_waste_monthly: f64,
    /// Projected monthly cost of all running time.
    pub spend_monthly: f64,
    /// 0–100; `None` when no cluster has enough history.
    pub optimization_score: Option<u32>,
    pub top_opportunity: String,
    pub clusters_analyzed: usize,
    pub clusters_without_enough_history: usize,
}

/// A monthly figure as people read it: `$1,800`.
pub fn dollars(value: f64) -> String {
    let whole = value.round() as i64;
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{}${grouped}", if whole < 0 { "-" } else { "" })
}

fn platform_name(kind: PlatformKind) -> &'static str {
    match kind {
        PlatformKind::Databricks => "Databricks",
        PlatformKind::Emr => "EMR",
        PlatformKind::Dataproc => "Dataproc",
        PlatformKind::Synapse => "Synapse",
    }
}

/// score = round(100 × (1 − min(1, (idle waste + right-sizing savings) / spend))), over the
/// clusters with enough history; 100 when they spent nothing.
pub fn summarize(clusters: &[Analyzed<'_>]) -> OrgInsights {
    let (mut waste, mut spend, mut rightsizing) = (0.0, 0.0, 0.0);
    let mut analyzed = 0;
    let mut idle_by_kind: BTreeMap<&'static str, (usize, f64)> = BTreeMap::new();
    let mut best: Option<(f64, String)> = None;
    for cluster in clusters {
        if !cluster.history.enough() {
            continue;
        }
        analyzed += 1;
        let idle = cluster.history.monthly(cluster.history.cost_of(|s| s.idle));
        waste += idle;
        spend += cluster.history.monthly(cluster.history.cost_of(|_| true));
        if idle > 0.0 {
            let entry = idle_by_kind.entry(platform_name(cluster.kind)).or_default();
            entry.0 += 1;
            entry.1 += idle;
        }
        if let Some(sizing) = cluster.rightsizing
            && let (Some(current), Some(recommended)) =
                (&sizing.current_type, &sizing.recommended_type)
        {
            rightsizing += sizing.savings_monthly;
            let text = format!(
                "Right-size {} from {current} to {recommended} to save {}/mo",
                cluster.name,
                dollars(sizing.savings_monthly)
            );
            if best
                .as_ref()
                .is_none_or(|(top, _)| sizing.savings_monthly > *top)
            {
                best = Some((sizing.savings_monthly, text));
            }
        }
    }
    for (name, (count, total)) in &idle_by_kind {
        let noun = if *count == 1 { "cluster" } else { "clusters" };
        let text = format!(
            "Hibernate {count} idle {name} {noun} to save {}/mo",
            dollars(*total)
        );
        if best.as_ref().is_none_or(|(top, _)| *total > *top) {
            best = Some((*total, text));
        }
    }
    let score = (analyzed > 0).then(|| {
        if spend <= 0.0 {
            100
        } else {
            (100.0 * (1.0 - ((waste + rightsizing) / spend).min(1.0))).round() as u32
        }
    });
    let top_opportunity = match (best, analyzed) {
        (Some((_, text)), _) => text,
        (None, 0) => format!(
            "Not enough history yet: insights need {:.0} hours of monitoring per cluster",
            super::history::MIN_HISTORY_HOURS
        ),
        (None, _) => "No savings found in the measured week".to_owned(),
    };
    OrgInsights {
        total_waste_monthly: round(waste, 2),
        spend_monthly: round(spend, 2),
        optimization_score: score,
        top_opportunity,
        clusters_analyzed: analyzed,
        clusters_without_enough_history: clusters.len() - analyzed,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike, Utc};

    use super::super::history::fixtures::points;
    use super::*;

    #[test]
    fn dollars_are_whole_and_grouped() {
        assert_eq!(dollars(1800.4), "$1,800");
        assert_eq!(dollars(999.5), "$1,000");
        assert_eq!(dollars(1234567.0), "$1,234,567");
        assert_eq!(dollars(12.0), "$12");
    }

    #[test]
    fn waste_score_and_the_top_opportunity_follow_the_formula() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        // Up all week at $2/h, idle 6 hours a day: waste $2 × 42 h = $84 in 168 h → $365/month;
        // spend $2 × 168 → $1,460/month.
        let emr = History::from_points(
            &points(start, 7, |at| {
                let status = if at.hour() < 6 { "idle" } else { "running" };
                (status, 1, None, None, 2, Some(2.0))
            }),
            15.0,
        );
        let short = History::from_points(
            &points(start, 1, |_| ("idle", 0, None, None, 2, Some(9.0))),
            15.0,
        );
        let sizing = Rightsizing {
            current_type: Some("i3.2xlarge".into()),
            recommended_type: Some("i3.xlarge".into()),
            avg_cpu_utilization: Some(0.1),
            p95_cpu_pct: Some(20.0),
            p95_memory_pct: Some(20.0),
            savings_monthly: 146.0,
            reason: None,
        };
        let clusters = [
            Analyzed {
                kind: PlatformKind::Emr,
                name: "etl",
                history: &emr,
                rightsizing: Some(&sizing),
            },
            Analyzed {
                kind: PlatformKind::Databricks,
                name: "new",
                history: &short,
                rightsizing: None,
            },
        ];
        let insights = summarize(&clusters);
        assert_eq!(insights.total_waste_monthly, 365.0);
        assert_eq!(insights.spend_monthly, 1460.0);
        // 100 × (1 − (365 + 146) / 1460) = 65.
        assert_eq!(insights.optimization_score, Some(65));
        assert_eq!(
            insights.top_opportunity,
            "Hibernate 1 idle EMR cluster to save $365/mo"
        );
        assert_eq!(
            (
                insights.clusters_analyzed,
                insights.clusters_without_enough_history
            ),
            (1, 1)
        );
        let only_short = summarize(&clusters[1..]);
        assert_eq!(only_short.optimization_score, None);
        assert!(
            only_short
                .top_opportunity
                .starts_with("Not enough history yet")
        );
        assert_eq!(only_short.total_waste_monthly, 0.0);
    }
}
