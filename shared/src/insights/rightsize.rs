//! Right-sizing: the p95 CPU and memory a cluster's nodes used, against the catalog's types of the
//! same family, keeping 30% headroom; the cheapest type that fits, if it is cheaper.

use super::history::{History, percentile};
use crate::domain::catalog;
use crate::domain::platform::ClusterInfo;

/// A type fits when the p95 load would use at most this share of its vCPUs and of its memory
/// (30% headroom).
pub const TARGET_UTILISATION: f64 = 0.70;
/// Running minutes with CPU and memory readings needed before a type is recommended: six hours.
pub const MIN_UTILISATION_MINUTES: f64 = 360.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Rightsizing {
    pub current_type: Option<String>,
    pub recommended_type: Option<String>,
    /// Mean CPU while running, as a fraction (0.23 = 23%); `None` when the platform reports none.
    pub avg_cpu_utilization: Option<f64>,
    pub p95_cpu_pct: Option<f64>,
    pub p95_memory_pct: Option<f64>,
    /// USD per month; 0 without a recommendation.
    pub savings_monthly: f64,
    /// Why there is no recommendation.
    pub reason: Option<String>,
}

pub fn rightsize(history: &History, info: &ClusterInfo, region: Option<&str>) -> Rightsizing {
    let readings: Vec<(f64, f64, f64)> = history
        .utilisation()
        .map(|(sample, cpu, memory)| (sample.minutes, cpu, memory))
        .collect();
    let cpus: Vec<f64> = readings.iter().map(|r| r.1).collect();
    let memories: Vec<f64> = readings.iter().map(|r| r.2).collect();
    let minutes: f64 = readings.iter().map(|r| r.0).sum();
    let avg_cpu = (minutes > 0.0).then(|| {
        let weighted: f64 = readings.iter().map(|r| r.0 * r.1).sum();
        round(weighted / minutes / 100.0, 2)
    });
    let mut answer = Rightsizing {
        current_type: info.instance_type.clone(),
        recommended_type: None,
        avg_cpu_utilization: avg_cpu,
        p95_cpu_pct: percentile(&cpus, 95.0),
        p95_memory_pct: percentile(&memories, 95.0),
        savings_monthly: 0.0,
        reason: None,
    };
    let refuse = |mut answer: Rightsizing, why: String| {
        answer.reason = Some(why);
        answer
    };
    if let Some(why) = history.too_little() {
        return refuse(answer, why);
    }
    if minutes < MIN_UTILISATION_MINUTES {
        let why = if history.samples.iter().any(|s| s.up && s.cpu.is_some()) {
            format!(
                "too little history: {:.1} running hours with CPU and memory readings, 6 needed",
                minutes / 60.0
            )
        } else {
            "the platform reports no CPU and memory for this cluster; right-sizing needs both"
                .to_owned()
        };
        return refuse(answer, why);
    }
    let Some(current) = info.instance_type.as_deref() else {
        return refuse(answer, "the cluster's node type is unknown".to_owned());
    };
    let (Some(shape), Some(price)) = (catalog::instance(current), catalog::price(current, region))
    else {
        return refuse(answer, format!("{current} is not in the price catalog"));
    };
    let (p95_cpu, p95_memory) = (
        answer.p95_cpu_pct.unwrap_or(100.0),
        answer.p95_memory_pct.unwrap_or(100.0),
    );
    let need_vcpu = p95_cpu / 100.0 * f64::from(shape.vcpu);
    let need_gib = p95_memory / 100.0 * shape.memory_gib;
    let best = catalog::same_family(current)
        .into_iter()
        .filter(|candidate| {
            need_vcpu <= TARGET_UTILISATION * f64::from(candidate.vcpu)
                && need_gib <= TARGET_UTILISATION * candidate.memory_gib
        })
        .filter_map(|candidate| {
            catalog::price(candidate.name, region).map(|p| (candidate.name, p.usd_per_hour))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((name, cheaper)) if cheaper < price.usd_per_hour => {
            let nodes = mean_nodes_of_type(history, info);
            let run_hours_month = history.monthly(up_hours(history));
            answer.recommended_type = Some(name.to_owned());
            answer.savings_monthly =
                round((price.usd_per_hour - cheaper) * nodes * run_hours_month, 2);
            answer
        }
        _ => refuse(
            answer,
            format!(
                "no cheaper type of the {current} family fits p95 CPU {p95_cpu:.1}% and memory {p95_memory:.1}% with 30% headroom"
            ),
        ),
    }
}

/// Hours the cluster was up over the history.
pub fn up_hours(history: &History) -> f64 {
    history
        .samples
        .iter()
        .filter(|s| s.up)
        .map(|s| s.minutes)
        .sum::<f64>()
        / 60.0
}

/// Mean number of nodes of the worker type while up: the workers, plus the driver when it is of
/// the same type.
fn mean_nodes_of_type(history: &History, info: &ClusterInfo) -> f64 {
    let driver_same = info
        .driver_instance_type
        .as_ref()
        .is_none_or(|driver| Some(driver) == info.instance_type.as_ref());
    let (mut minutes, mut node_minutes) = (0.0, 0.0);
    for sample in history.samples.iter().filter(|s| s.up) {
        minutes += sample.minutes;
        node_minutes +=
            sample.minutes * (f64::from(sample.workers) + f64::from(u8::from(driver_same)));
    }
    if minutes > 0.0 {
        node_minutes / minutes
    } else {
        0.0
    }
}

pub fn round(value: f64, places: i32) -> f64 {
    crate::domain::cluster_cost::round(value, places)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Timelike, Utc};

    use super::super::history::fixtures::points;
    use super::*;
    use crate::domain::platform::ClusterState;

    fn cluster(node: &str, workers: u32) -> ClusterInfo {
        ClusterInfo {
            id: "0301-prod-etl".into(),
            name: "Production ETL".into(),
            state: ClusterState::Running,
            instance_type: Some(node.into()),
            driver_instance_type: None,
            workers,
            region: None,
            started_at: None,
        }
    }

    /// Up all week; CPU 10% and memory 20%, except 20:00-21:59 at the given peaks.
    fn week(cpu_peak: f64, memory_peak: f64) -> History {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        History::from_points(
            &points(start, 7, |at| {
                let peak = (20..22).contains(&at.hour());
                let (cpu, memory) = if peak {
                    (cpu_peak, memory_peak)
                } else {
                    (10.0, 20.0)
                };
                ("running", 1, Some(cpu), Some(memory), 4, Some(3.12))
            }),
            15.0,
        )
    }

    #[test]
    fn an_oversized_cluster_moves_down_its_family_with_headroom() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let history = History::from_points(
            &points(start, 7, |at| {
                let peak = (20..22).contains(&at.hour());
                let (cpu, memory) = if peak { (30.0, 30.0) } else { (10.0, 20.0) };
                ("running", 1, Some(cpu), Some(memory), 4, Some(3.12))
            }),
            15.0,
        );
        let answer = rightsize(&history, &cluster("i3.2xlarge", 4), Some("us-east-1"));
        // 84 of 1008 readings (8.3%) are at the peak, so p95 is the peak: CPU 30%, memory 30%.
        assert_eq!(answer.p95_cpu_pct, Some(30.0));
        assert_eq!(answer.p95_memory_pct, Some(30.0));
        // Needs 0.3 × 8 = 2.4 vCPU and 0.3 × 61 = 18.3 GiB. i3.large: 0.7 × 2 = 1.4 vCPU, too
        // small; i3.xlarge: 2.8 vCPU, 21.35 GiB, fits, at 0.312 against 0.624.
        assert_eq!(answer.recommended_type.as_deref(), Some("i3.xlarge"));
        // Mean CPU: (10 × 22 + 30 × 2) / 24 = 11.67% → 0.12.
        assert_eq!(answer.avg_cpu_utilization, Some(0.12));
        // (0.624 − 0.312) × 5 nodes (4 workers + the driver) × 730 h (up all the time) = 1138.80.
        assert_eq!(answer.savings_monthly, 1138.8);
        assert_eq!(answer.reason, None);
    }

    #[test]
    fn a_busy_cluster_keeps_its_type_and_says_why() {
        let answer = rightsize(&week(90.0, 90.0), &cluster("i3.large", 2), None);
        assert_eq!(answer.recommended_type, None);
        assert_eq!(answer.savings_monthly, 0.0);
        assert!(
            answer
                .reason
                .unwrap()
                .starts_with("no cheaper type of the i3.large family")
        );
    }

    #[test]
    fn no_cpu_data_or_too_little_history_means_no_recommendation() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let blind = History::from_points(
            &points(start, 7, |_| ("running", 1, None, None, 4, Some(3.12))),
            15.0,
        );
        let answer = rightsize(&blind, &cluster("i3.2xlarge", 4), None);
        assert_eq!(answer.recommended_type, None);
        assert_eq!(answer.avg_cpu_utilization, None);
        assert_eq!(
            answer.reason.as_deref(),
            Some(
                "the platform reports no CPU and memory for this cluster; right-sizing needs both"
            )
        );
        let short = History::from_points(
            &points(start, 1, |_| {
                ("running", 1, Some(5.0), Some(5.0), 4, Some(3.12))
            }),
            15.0,
        );
        let answer = rightsize(&short, &cluster("i3.2xlarge", 4), None);
        assert_eq!(answer.recommended_type, None);
        assert!(answer.reason.unwrap().starts_with("too little history"));
    }
}
