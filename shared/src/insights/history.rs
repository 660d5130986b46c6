//! A cluster's measured history, as the insights read it: the scanner's metric points turned into
//! samples that each stand for a stretch of time, with whether the cluster was billing (up) and
//! working (busy) in it.

use chrono::{DateTime, Utc};

use crate::store::repos::metrics::MetricPoint;

/// The window every insight looks at: the week the metrics history keeps.
pub const WINDOW_HOURS: i64 = 168;
/// Hours of readings a cluster needs before anything is projected from them.
pub const MIN_HISTORY_HOURS: f64 = 48.0;
/// Hours in an average month (8,760 / 12): monthly figures are hourly figures × this.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// A reading stands for the time until the next one, but never more than this: a gap in the
/// readings (the scanner was down, the cluster was not listed) is not counted as observed time.
const MAX_SAMPLE_MINUTES: f64 = 60.0;

/// One reading and the time it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub minutes: f64,
    /// Billing: running (busy or idle).
    pub up: bool,
    /// Up and working: jobs running, or CPU at or above the org's idle threshold.
    pub busy: bool,
    /// Up and idle past the org's threshold (the scanner's `idle` status).
    pub idle: bool,
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub workers: u32,
    pub cost_per_hour: Option<f64>,
}

/// The samples of one cluster, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub samples: Vec<Sample>,
}

impl History {
    /// `busy_cpu_pct` is the org's idle threshold: a running reading with no jobs is busy when
    /// its CPU is at or above it (unknown CPU and no jobs is not busy).
    pub fn from_points(points: &[MetricPoint], busy_cpu_pct: f64) -> Self {
        let mut points: Vec<&MetricPoint> = points.iter().collect();
        points.sort_by_key(|point| point.timestamp);
        let gaps: Vec<f64> = points
            .windows(2)
            .map(|pair| minutes_between(pair[0].timestamp, pair[1].timestamp))
            .collect();
        let last = median(&gaps).unwrap_or(10.0).min(MAX_SAMPLE_MINUTES);
        let samples = points
            .iter()
            .enumerate()
            .map(|(index, point)| {
                let up = matches!(point.status.as_str(), "running" | "idle");
                let busy = point.status == "running"
                    && (point.active_work > 0
                        || point.cpu_util.is_some_and(|cpu| cpu >= busy_cpu_pct));
                Sample {
                    at: point.timestamp,
                    minutes: gaps
                        .get(index)
                        .copied()
                        .unwrap_or(last)
                        .min(MAX_SAMPLE_MINUTES),
                    up,
                    busy,
                    idle: point.status == "idle",
                    cpu: point.cpu_util,
                    memory: point.memory_util,
                    workers: point.workers,
                    cost_per_hour: point.cost_per_hour,
                }
            })
            .collect();
        Self { samples }
    }

    /// Hours the readings cover.
    pub fn observed_hours(&self) -> f64 {
        self.samples
            .iter()
            .map(|sample| sample.minutes)
            .sum::<f64>()
            / 60.0
    }

    pub fn enough(&self) -> bool {
        self.observed_hours() >= MIN_HISTORY_HOURS
    }

    /// Why nothing is projected, when the history is too short.
    pub fn too_little(&self) -> Option<String> {
        (!self.enough()).then(|| {
            format!(
                "too little history: {:.1} of the {MIN_HISTORY_HOURS:.0} hours of readings needed",
                self.observed_hours()
            )
        })
    }

    /// Scales a figure measured over the observed hours to a month.
    pub fn monthly(&self, measured: f64) -> f64 {
        let hours = self.observed_hours();
        if hours <= 0.0 {
            0.0
        } else {
            measured * HOURS_PER_MONTH / hours
        }
    }

    /// The share of observed time the cluster was up.
    pub fn up_share(&self) -> f64 {
        let total: f64 = self.samples.iter().map(|sample| sample.minutes).sum();
        if total <= 0.0 {
            return 0.0;
        }
        self.samples
            .iter()
            .filter(|sample| sample.up)
            .map(|sample| sample.minutes)
            .sum::<f64>()
            / total
    }

    /// USD spent (at the catalog price each reading carries) over the samples `keep` selects.
    pub fn cost_of(&self, keep: impl Fn(&Sample) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|sample| sample.up && keep(sample))
            .filter_map(|sample| {
                sample
                    .cost_per_hour
                    .map(|cost| cost * sample.minutes / 60.0)
            })
            .sum()
    }

    /// Up samples with both CPU and memory readings.
    pub fn utilisation(&self) -> impl Iterator<Item = (&Sample, f64, f64)> {
        self.samples
            .iter()
            .filter_map(|sample| match (sample.up, sample.cpu, sample.memory) {
                (true, Some(cpu), Some(memory)) => Some((sample, cpu, memory)),
                _ => None,
            })
    }
}

fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 60_000.0
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[sorted.len() / 2])
}

/// The nearest-rank percentile (`p` in 0–100) of `values`; `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, Duration, Utc};

    use crate::store::repos::metrics::MetricPoint;

    /// A reading every 10 minutes from `start` for `days` days; `shape(at)` gives (status,
    /// active_work, cpu, memory, workers, cost).
    pub fn points(
        start: DateTime<Utc>,
        days: i64,
        shape: impl Fn(
            DateTime<Utc>,
        ) -> (
            &'static str,
            u32,
            Option<f64>,
            Option<f64>,
            u32,
            Option<f64>,
        ),
    ) -> Vec<MetricPoint> {
        (0..days * 144)
            .map(|step| {
                let at = start + Duration::minutes(10 * step);
                let (status, active_work, cpu, memory, workers, cost) = shape(at);
                MetricPoint {
                    timestamp: at,
                    cpu_util: cpu,
                    memory_util: memory,
                    workers,
                    idle_minutes: 0,
                    cost_per_hour: cost,
                    status: status.to_owned(),
                    active_work,
                    platform_id: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn samples_stand_for_the_gap_to_the_next_reading_capped_at_an_hour() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let mut points = fixtures::points(start, 1, |_| ("running", 1, None, None, 2, Some(1.0)));
        points.truncate(3);
        // A two-hour hole before the fourth reading.
        let mut late = points[2].clone();
        late.timestamp = start + chrono::Duration::minutes(20 + 120);
        points.push(late);
        let history = History::from_points(&points, 15.0);
        let minutes: Vec<f64> = history.samples.iter().map(|s| s.minutes).collect();
        assert_eq!(minutes, vec![10.0, 10.0, 60.0, 10.0]);
        assert!((history.observed_hours() - 1.5).abs() < 1e-9);
        assert!(!history.enough());
        assert_eq!(
            history.too_little().unwrap(),
            "too little history: 1.5 of the 48 hours of readings needed"
        );
    }

    #[test]
    fn busy_needs_work_or_cpu_at_the_threshold() {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let cases = [
            ("running", 1, None, true),
            ("running", 0, Some(15.0), true),
            ("running", 0, Some(14.9), false),
            ("running", 0, None, false),
            ("idle", 0, Some(50.0), false),
            ("stopped", 3, None, false),
        ];
        for (status, work, cpu, busy) in cases {
            let points = fixtures::points(start, 1, |_| (status, work, cpu, None, 2, None));
            let history = History::from_points(&points[..1], 15.0);
            assert_eq!(history.samples[0].busy, busy, "{status} {work} {cpu:?}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 95.0), Some(19.0));
        assert_eq!(percentile(&values, 100.0), Some(20.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 95.0), None);
    }
}
