//! What to change on one cluster, from its measured week: fewer workers (from the p95 load),
//! spot capacity for what autoscaling adds, auto-termination (from the idle time observed) and a
//! daily hibernation window (from hours in which no work was ever seen). Each saving is a
//! catalog price × hours measured, scaled to a month; they are alternatives, not a sum.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Timelike};
use serde::Serialize;

use super::history::{History, percentile};
use super::rightsize::{MIN_UTILISATION_MINUTES, TARGET_UTILISATION, round, up_hours};
use crate::domain::catalog;
use crate::domain::platform::ClusterInfo;

/// The shortest daily window worth a schedule.
const MIN_WINDOW_HOURS: usize = 3;

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// downsize | spot_mix | auto_termination | schedule
    #[serde(rename = "type")]
    #[schema(example = "downsize")]
    pub kind: &'static str,
    #[schema(example = "Reduce from 8 to 5 workers")]
    pub detail: String,
    /// USD per month; null where the catalog has no price for the change (spot).
    #[schema(example = 540.0)]
    pub savings_monthly: Option<f64>,
    /// spot_mix: the on-demand cost per month of the capacity that would move to spot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_stake_monthly: Option<f64>,
    /// schedule: the suggested cron expressions (UTC) to hibernate and resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hibernate_cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_cron: Option<String>,
}

impl Recommendation {
    fn new(kind: &'static str, detail: String, savings_monthly: Option<f64>) -> Self {
        Self {
            kind,
            detail,
            savings_monthly,
            at_stake_monthly: None,
            hibernate_cron: None,
            resume_cron: None,
        }
    }
}

/// The recommendations for a cluster, or why there are none (too little history). `info` is the
/// cluster as its platform describes it now (for the worker type and count), when known.
pub fn recommend(
    history: &History,
    info: Option<&ClusterInfo>,
    region: Option<&str>,
    idle_threshold_minutes: u32,
) -> Result<Vec<Recommendation>, String> {
    if let Some(why) = history.too_little() {
        return Err(why);
    }
    let run_hours_month = history.monthly(up_hours(history));
    let worker_price = info
        .and_then(|info| info.instance_type.as_deref())
        .and_then(|node| catalog::price(node, region))
        .map(|price| price.usd_per_hour);
    let mut found = Vec::new();
    if let (Some(info), Some(price)) = (info, worker_price) {
        found.extend(downsize(history, info, price, run_hours_month));
    }
    if let Some(price) = worker_price {
        found.extend(spot_mix(history, price, run_hours_month));
    }
    found.extend(auto_termination(history, idle_threshold_minutes));
    found.extend(schedule(history));
    Ok(found)
}

fn downsize(
    history: &History,
    info: &ClusterInfo,
    price: f64,
    run_hours_month: f64,
) -> Option<Recommendation> {
    let mut minutes = 0.0;
    let mut loads = Vec::new();
    for sample in history.samples.iter().filter(|s| s.up) {
        if let Some(cpu) = sample.cpu {
            minutes += sample.minutes;
            loads.push(cpu / 100.0 * f64::from(sample.workers));
        }
    }
    if minutes < MIN_UTILISATION_MINUTES || info.workers < 2 {
        return None;
    }
    let peak = percentile(&loads, 95.0)?;
    let needed = ((peak / TARGET_UTILISATION).ceil() as u32).max(1);
    if needed >= info.workers {
        return None;
    }
    let fewer = info.workers - needed;
    Some(Recommendation::new(
        "downsize",
        format!(
            "Reduce from {} to {needed} workers: at its p95 load the cluster used {peak:.1} workers' worth of CPU, and {needed} keep that under 70%",
            info.workers
        ),
        Some(round(f64::from(fewer) * price * run_hours_month, 2)),
    ))
}

fn spot_mix(history: &History, price: f64, run_hours_month: f64) -> Option<Recommendation> {
    let up: Vec<_> = history.samples.iter().filter(|s| s.up).collect();
    let minutes: f64 = up.iter().map(|s| s.minutes).sum();
    let baseline = up.iter().map(|s| s.workers).min()?;
    let most = up.iter().map(|s| s.workers).max()?;
    if most <= baseline || minutes <= 0.0 {
        return None;
    }
    let mean = up
        .iter()
        .map(|s| s.minutes * f64::from(s.workers))
        .sum::<f64>()
        / minutes;
    let surge = mean - f64::from(baseline);
    let share = (surge / mean * 100.0).round();
    let at_stake = round(surge * price * run_hours_month, 2);
    let mut recommendation = Recommendation::new(
        "spot_mix",
        format!(
            "Use {share:.0}% spot instances for worker nodes: {baseline} workers are always up and autoscaling adds {surge:.1} on average; the saving is the spot discount on ${at_stake:.2} a month of on-demand workers (the price sheet has no spot prices)"
        ),
        None,
    );
    recommendation.at_stake_monthly = Some(at_stake);
    Some(recommendation)
}

fn auto_termination(history: &History, threshold_minutes: u32) -> Option<Recommendation> {
    let idle_cost = history.cost_of(|s| s.idle);
    if idle_cost <= 0.0 {
        return None;
    }
    let idle_hours = history
        .samples
        .iter()
        .filter(|s| s.idle)
        .map(|s| s.minutes)
        .sum::<f64>()
        / 60.0;
    Some(Recommendation::new(
        "auto_termination",
        format!(
            "Set auto-termination to {threshold_minutes} minutes: the cluster sat idle past that for {idle_hours:.1} hours over the last {:.1} days",
            history.observed_hours() / 24.0
        ),
        Some(round(history.monthly(idle_cost), 2)),
    ))
}

/// The longest run of hours of the day (wrapping at midnight) seen on at least two days and
/// never busy on any, if at least three hours long and shorter than the whole day.
pub fn quiet_window(history: &History) -> Option<(u32, u32)> {
    let mut days: BTreeMap<u32, BTreeMap<NaiveDate, bool>> = BTreeMap::new();
    for sample in &history.samples {
        let busy = days
            .entry(sample.at.hour())
            .or_default()
            .entry(sample.at.date_naive())
            .or_default();
        *busy |= sample.busy;
    }
    let quiet: Vec<bool> = (0..24)
        .map(|hour| {
            days.get(&hour)
                .is_some_and(|seen| seen.len() >= 2 && seen.values().all(|busy| !busy))
        })
        .collect();
    if quiet.iter().all(|q| *q) {
        return None;
    }
    let (mut best, mut run) = (None::<(usize, usize)>, 0usize);
    for index in 0..48 {
        if quiet[index % 24] {
            run += 1;
            let start = index + 1 - run;
            if start < 24 && best.is_none_or(|(_, len)| run > len) {
                best = Some((start, run));
            }
        } else {
            run = 0;
        }
    }
    let (start, len) = best.filter(|(_, len)| *len >= MIN_WINDOW_HOURS)?;
    Some((start as u32, ((start + len) % 24) as u32))
}

fn schedule(history: &History) -> Option<Recommendation> {
    let (start, end) = quiet_window(history)?;
    let in_window = |hour: u32| {
        if start < end {
            (start..end).contains(&hour)
        } else {
            hour >= start || hour < end
        }
    };
    let cost = history.cost_of(|s| in_window(s.at.hour()));
    if cost <= 0.0 {
        return None;
    }
    let days = history.observed_hours() / 24.0;
    let mut recommendation = Recommendation::new(
        "schedule",
        format!(
            "Hibernate daily {start:02}:00-{end:02}:00 UTC: no work was seen in these hours on any of the {days:.1} days observed"
        ),
        Some(round(history.monthly(cost), 2)),
    );
    recommendation.hibernate_cron = Some(format!("0 {start} * * *"));
    recommendation.resume_cron = Some(format!("0 {end} * * *"));
    Some(recommendation)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::super::history::fixtures::points;
    use super::*;
    use crate::domain::platform::ClusterState;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn cluster(workers: u32) -> ClusterInfo {
        ClusterInfo {
            id: "c".into(),
            name: "c".into(),
            state: ClusterState::Running,
            instance_type: Some("i3.2xlarge".into()),
            driver_instance_type: None,
            workers,
            region: None,
            started_at: None,
        }
    }

    #[test]
    fn idle_evenings_and_quiet_nights_give_auto_termination_and_a_schedule() {
        // Busy 09-17, idle past the threshold 17-20, running without work 20-22, stopped 22-09;
        // $3.12/h while up; no CPU readings.
        let history = History::from_points(
            &points(start(), 7, |at| match at.hour() {
                9..17 => ("running", 1, None, None, 4, Some(3.12)),
                17..20 => ("idle", 0, None, None, 4, Some(3.12)),
                20..22 => ("running", 0, None, None, 4, Some(3.12)),
                _ => ("stopped", 0, None, None, 0, Some(0.0)),
            }),
            15.0,
        );
        let found = recommend(&history, Some(&cluster(4)), Some("us-east-1"), 30).unwrap();
        let kinds: Vec<_> = found.iter().map(|r| r.kind).collect();
        // No CPU: no downsize; workers never change: no spot mix.
        assert_eq!(kinds, ["auto_termination", "schedule"]);
        // Idle: 3 h × 7 days × $3.12 = $65.52 in 168 h → × 730/168 = $284.70 a month.
        assert_eq!(found[0].savings_monthly, Some(284.7));
        assert!(
            found[0]
                .detail
                .contains("for 21.0 hours over the last 7.0 days")
        );
        // Quiet 17:00-09:00; up 5 h a day in it: 35 h × $3.12 = $109.20 → $474.50 a month.
        assert_eq!(found[1].savings_monthly, Some(474.5));
        assert_eq!(found[1].hibernate_cron.as_deref(), Some("0 17 * * *"));
        assert_eq!(found[1].resume_cron.as_deref(), Some("0 9 * * *"));
        assert!(
            found[1]
                .detail
                .starts_with("Hibernate daily 17:00-09:00 UTC")
        );
    }

    #[test]
    fn the_p95_load_sizes_the_workers_and_autoscaled_capacity_suits_spot() {
        // Up all week: 2 workers 00-12, 6 workers 12-24, CPU 30% throughout.
        let history = History::from_points(
            &points(start(), 7, |at| {
                let workers = if at.hour() < 12 { 2 } else { 6 };
                ("running", 1, Some(30.0), Some(40.0), workers, Some(1.0))
            }),
            15.0,
        );
        let found = recommend(&history, Some(&cluster(6)), Some("us-east-1"), 30).unwrap();
        let kinds: Vec<_> = found.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["downsize", "spot_mix"]);
        // p95 load 0.3 × 6 = 1.8 workers → ceil(1.8 / 0.7) = 3; 3 fewer × $0.624 × 730 h.
        assert!(found[0].detail.starts_with("Reduce from 6 to 3 workers"));
        assert_eq!(found[0].savings_monthly, Some(1366.56));
        // Baseline 2, mean 4: 2 workers (50%) to spot, $0.624 × 2 × 730 = $911.04 at stake.
        assert_eq!(found[1].savings_monthly, None);
        assert_eq!(found[1].at_stake_monthly, Some(911.04));
        assert!(found[1].detail.starts_with("Use 50% spot instances"));
    }

    #[test]
    fn too_little_history_gives_no_recommendation() {
        let history = History::from_points(
            &points(start(), 1, |_| {
                ("idle", 0, Some(1.0), Some(1.0), 8, Some(5.0))
            }),
            15.0,
        );
        let why = recommend(&history, Some(&cluster(8)), None, 30).unwrap_err();
        assert!(why.starts_with("too little history"));
    }
}
