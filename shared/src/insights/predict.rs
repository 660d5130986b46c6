//! Usage of a cluster over the next 24 hours from its history: an hour-of-week profile, shrunk
//! towards the hour-of-day profile of the same kind of day (weekday or weekend) where the week
//! has few readings, and a confidence that is how much history there is times how regularly the
//! cluster repeats itself from day to day.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use serde::Serialize;

use super::history::{History, WINDOW_HOURS};

/// Pseudo-readings of the hour-of-day profile added to each hour-of-week bucket: two hours of
/// readings at the default 10-minute scan interval, so that one odd day in a week of history
/// (the bucket's six readings) does not outweigh the same hour on the other days of its kind.
const PRIOR_WEIGHT: f64 = 12.0;
/// Mean predicted busy share at or above which usage is `high`, and `medium`.
const HIGH: f64 = 0.5;
const MEDIUM: f64 = 0.2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    High,
    Medium,
    Low,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// `None` with too little history.
    pub usage: Option<Usage>,
    /// 0–1, two decimals; 0 with too little history.
    pub confidence: f64,
    /// UTC hour (0–23) of the busiest predicted hour; `None` when no work is expected or the
    /// history is too short.
    pub peak_hour: Option<u32>,
    /// Predicted busy share of each of the next 24 hours, in order from `starts_at`.
    pub hourly: Vec<f64>,
    pub starts_at: DateTime<Utc>,
    pub history_hours: f64,
    /// Why there is no prediction.
    pub reason: Option<String>,
}

fn weekend(day: Weekday) -> bool {
    matches!(day, Weekday::Sat | Weekday::Sun)
}

/// The first whole hour at or after `now`.
pub fn horizon_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let hour = now
        .with_minute(0)
        .and_then(|at| at.with_second(0))
        .and_then(|at| at.with_nanosecond(0))
        .unwrap_or(now);
    if hour < now {
        hour + Duration::hours(1)
    } else {
        hour
    }
}

#[derive(Default, Clone, Copy)]
struct Count {
    n: f64,
    busy: f64,
}

impl Count {
    fn add(&mut self, busy: bool) {
        self.n += 1.0;
        self.busy += f64::from(u8::from(busy));
    }

    fn share(self) -> Option<f64> {
        (self.n > 0.0).then(|| self.busy / self.n)
    }
}

pub fn predict(history: &History, now: DateTime<Utc>) -> Prediction {
    let starts_at = horizon_start(now);
    let history_hours = history.observed_hours();
    let insufficient = |reason: String| Prediction {
        usage: None,
        confidence: 0.0,
        peak_hour: None,
        hourly: Vec::new(),
        starts_at,
        history_hours,
        reason: Some(reason),
    };
    if let Some(reason) = history.too_little() {
        return insufficient(reason);
    }
    // Busy share per (day, hour) cell, per hour-of-week bucket, per (day kind, hour), per hour.
    let mut cells: BTreeMap<(NaiveDate, u32), Count> = BTreeMap::new();
    let mut buckets: BTreeMap<(u32, u32), Count> = BTreeMap::new();
    let mut by_kind: BTreeMap<(bool, u32), Count> = BTreeMap::new();
    let mut by_hour: BTreeMap<u32, Count> = BTreeMap::new();
    for sample in &history.samples {
        let (date, hour, day) = (
            sample.at.date_naive(),
            sample.at.hour(),
            sample.at.weekday(),
        );
        cells.entry((date, hour)).or_default().add(sample.busy);
        buckets
            .entry((day.num_days_from_monday(), hour))
            .or_default()
            .add(sample.busy);
        by_kind
            .entry((weekend(day), hour))
            .or_default()
            .add(sample.busy);
        by_hour.entry(hour).or_default().add(sample.busy);
    }
    let Some(regularity) = regularity(&cells) else {
        return insufficient(
            "too little history: no hour of the day was seen on two days yet".to_owned(),
        );
    };
    let overall = Count {
        n: by_hour.values().map(|c| c.n).sum(),
        busy: by_hour.values().map(|c| c.busy).sum(),
    };
    let hourly: Vec<f64> = (0..24)
        .map(|offset| {
            let at = starts_at + Duration::hours(offset);
            let (day, hour) = (at.weekday(), at.hour());
            let prior = by_kind
                .get(&(weekend(day), hour))
                .and_then(|c| c.share())
                .or_else(|| by_hour.get(&hour).and_then(|c| c.share()))
                .or_else(|| overall.share())
                .unwrap_or(0.0);
            let bucket = buckets
                .get(&(day.num_days_from_monday(), hour))
                .copied()
                .unwrap_or_default();
            (bucket.busy + PRIOR_WEIGHT * prior) / (bucket.n + PRIOR_WEIGHT)
        })
        .collect();
    let mean = hourly.iter().sum::<f64>() / 24.0;
    let usage = if mean >= HIGH {
        Usage::High
    } else if mean >= MEDIUM {
        Usage::Medium
    } else {
        Usage::Low
    };
    let peak = hourly
        .iter()
        .enumerate()
        .fold(None::<(usize, f64)>, |best, (index, &share)| match best {
            Some((_, top)) if top >= share => best,
            _ => Some((index, share)),
        })
        .filter(|(_, share)| *share > 1e-9)
        .map(|(index, _)| (starts_at + Duration::hours(index as i64)).hour());
    let coverage = (history_hours / WINDOW_HOURS as f64).min(1.0);
    Prediction {
        usage: Some(usage),
        confidence: round2(coverage * regularity),
        peak_hour: peak,
        hourly,
        starts_at,
        history_hours,
        reason: None,
    }
}

/// 1 − 2 × the mean absolute difference between a (day, hour) cell's busy share and the mean of
/// that hour over the *other* days of the same kind (weekday/weekend; all days when that kind has
/// fewer than two days with the hour). 1: every day repeats; 0: a coin toss (against the other
/// days' mean, a fair coin is off by ½ on average). `None` when no hour was seen on two days.
fn regularity(cells: &BTreeMap<(NaiveDate, u32), Count>) -> Option<f64> {
    let mut by_kind: BTreeMap<(bool, u32), (f64, usize)> = BTreeMap::new();
    let mut by_hour: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
    for (&(date, hour), count) in cells {
        let share = count.share().unwrap_or(0.0);
        for group in [
            by_kind.entry((weekend(date.weekday()), hour)).or_default(),
            by_hour.entry(hour).or_default(),
        ] {
            group.0 += share;
            group.1 += 1;
        }
    }
    let mut deviation = 0.0;
    let mut compared = 0usize;
    for (&(date, hour), count) in cells {
        let share = count.share().unwrap_or(0.0);
        let group = by_kind
            .get(&(weekend(date.weekday()), hour))
            .filter(|(_, days)| *days >= 2)
            .or_else(|| by_hour.get(&hour).filter(|(_, days)| *days >= 2));
        if let Some(&(sum, days)) = group {
            let others = (sum - share) / (days - 1) as f64;
            deviation += (share - others).abs();
            compared += 1;
        }
    }
    (compared > 0).then(|| (1.0 - 2.0 * deviation / compared as f64).clamp(0.0, 1.0))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::history::fixtures::points;
    use super::*;

    fn monday() -> DateTime<Utc> {
        // 2026-03-02 is a Monday.
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn office(at: DateTime<Utc>) -> bool {
        (9..17).contains(&at.hour())
    }

    #[test]
    fn a_cluster_busy_nine_to_five_every_day_is_medium_peaks_at_nine_with_full_confidence() {
        let history = History::from_points(
            &points(monday(), 7, |at| {
                let busy = office(at);
                ("running", u32::from(busy), None, None, 2, Some(1.0))
            }),
            15.0,
        );
        let prediction = predict(&history, monday() + Duration::days(7));
        // 8 busy hours of 24: mean share 1/3 → medium; every day alike → regularity 1; 168 of
        // 168 hours → coverage 1.
        assert_eq!(prediction.usage, Some(Usage::Medium));
        assert_eq!(prediction.confidence, 1.0);
        assert_eq!(prediction.peak_hour, Some(9));
        assert_eq!(prediction.hourly[9], 1.0);
        assert_eq!(prediction.hourly[8], 0.0);
        assert_eq!(prediction.reason, None);
    }

    #[test]
    fn confidence_falls_with_irregular_days() {
        // Busy 9-17 on Mon, Wed, Fri and Sun only. In a busy hour, each weekday against the other
        // four: Mon, Wed, Fri |1 − 2/4| = 0.5, Tue, Thu |0 − 3/4| = 0.75, sum 3; weekend: Sat
        // against Sun and Sun against Sat, 1 each, sum 2. 8 busy hours × 5 = 40 across 168 cells
        // → 1 − 2 × 40/168 = 0.524 → 0.52 (coverage 1).
        let busy_days = [Weekday::Mon, Weekday::Wed, Weekday::Fri, Weekday::Sun];
        let history = History::from_points(
            &points(monday(), 7, |at| {
                let busy = office(at) && busy_days.contains(&at.weekday());
                ("running", u32::from(busy), None, None, 2, Some(1.0))
            }),
            15.0,
        );
        let prediction = predict(&history, monday() + Duration::days(7));
        assert_eq!(prediction.confidence, 0.52);
        // Next Monday 10:00: the bucket (6 busy of 6) shrunk towards the weekday hour (18 of 30):
        // (6 + 12 × 0.6) / 18 = 0.7333.
        assert!((prediction.hourly[10] - 13.2 / 18.0).abs() < 1e-9);
        // Mean = 8 × 0.7333 / 24 = 0.244 → medium.
        assert_eq!(prediction.usage, Some(Usage::Medium));
    }

    #[test]
    fn too_little_history_is_said_not_guessed() {
        let history = History::from_points(
            &points(monday(), 1, |_| ("running", 1, None, None, 2, Some(1.0))),
            15.0,
        );
        let prediction = predict(&history, monday() + Duration::days(1));
        assert_eq!(prediction.usage, None);
        assert_eq!(prediction.confidence, 0.0);
        assert_eq!(prediction.peak_hour, None);
        assert!(
            prediction
                .reason
                .unwrap()
                .starts_with("too little history: 24.0 of the 48")
        );
    }

    #[test]
    fn the_horizon_starts_at_the_next_whole_hour() {
        let at = monday() + Duration::minutes(61);
        assert_eq!(horizon_start(at), monday() + Duration::hours(2));
        assert_eq!(horizon_start(monday()), monday());
    }

    /// A tiny deterministic generator, so the backtest is the same on every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Backtest: 8 days generated from a known hourly pattern with each hour flipped with
    /// probability `noise`; the first 7 days are the history, the 8th is what happens. An hour is
    /// predicted busy when its predicted share is ≥ 0.5, and counted right when it matches.
    fn backtest(
        pattern: &dyn Fn(DateTime<Utc>) -> bool,
        noise: f64,
        seed: u64,
    ) -> (f64, f64, bool, f64) {
        let mut rng = Lcg(seed);
        let start = monday() + Duration::days(7 * (seed as i64 % 4));
        let hours: Vec<bool> = (0..8 * 24)
            .map(|h| {
                let at = start + Duration::hours(h);
                pattern(at) ^ (rng.next() < noise)
            })
            .collect();
        let history = History::from_points(
            &points(start, 7, |at| {
                let busy = hours[((at - start).num_hours()) as usize];
                ("running", u32::from(busy), None, None, 2, Some(1.0))
            }),
            15.0,
        );
        let now = start + Duration::days(7);
        let prediction = predict(&history, now);
        let actual = &hours[7 * 24..];
        let right = prediction
            .hourly
            .iter()
            .zip(actual)
            .filter(|(share, busy)| (**share >= 0.5) == **busy)
            .count();
        let pattern_right = prediction
            .hourly
            .iter()
            .enumerate()
            .filter(|(offset, share)| {
                (**share >= 0.5) == pattern(now + Duration::hours(*offset as i64))
            })
            .count();
        let actual_mean = actual.iter().filter(|b| **b).count() as f64 / 24.0;
        let actual_usage = if actual_mean >= HIGH {
            Usage::High
        } else if actual_mean >= MEDIUM {
            Usage::Medium
        } else {
            Usage::Low
        };
        (
            right as f64 / 24.0,
            prediction.confidence,
            prediction.usage == Some(actual_usage),
            pattern_right as f64 / 24.0,
        )
    }

    #[test]
    fn backtest_on_generated_histories_with_known_patterns() {
        type Pattern = (&'static str, Box<dyn Fn(DateTime<Utc>) -> bool>);
        let patterns: Vec<Pattern> = vec![
            (
                "office hours, weekdays",
                Box::new(|at: DateTime<Utc>| !weekend(at.weekday()) && office(at)),
            ),
            ("always on", Box::new(|_| true)),
            (
                "nightly batch 01-04",
                Box::new(|at: DateTime<Utc>| (1..4).contains(&at.hour())),
            ),
            (
                "weekends only",
                Box::new(|at: DateTime<Utc>| weekend(at.weekday())),
            ),
            ("never", Box::new(|_| false)),
        ];
        let mut report = String::new();
        let (mut hours_right, mut usage_right, mut runs) = (0.0, 0usize, 0usize);
        for (index, (name, pattern)) in patterns.iter().enumerate() {
            let (mut accuracy, mut confidence, mut usage, mut truth) = (0.0, 0.0, 0, 0.0);
            for seed in 1..=40u64 {
                let (a, c, u, t) = backtest(pattern.as_ref(), 0.05, seed + 1000 * index as u64);
                accuracy += a;
                confidence += c;
                usage += usize::from(u);
                truth += t;
            }
            hours_right += accuracy;
            usage_right += usage;
            runs += 40;
            report += &format!(
                "{name}: hourly accuracy {:.3} (against the noiseless pattern {:.3}), usage class right {}/40, mean confidence {:.2}\n",
                accuracy / 40.0,
                truth / 40.0,
                usage,
                confidence / 40.0
            );
            assert!(accuracy / 40.0 >= 0.9, "{name}: {}", accuracy / 40.0);
        }
        let (mut coin_confidence, mut coin_accuracy) = (0.0, 0.0);
        for seed in 1..=40u64 {
            let (a, c, _, _) = backtest(&|_| false, 0.5, seed);
            coin_accuracy += a;
            coin_confidence += c;
        }
        report += &format!(
            "coin toss: hourly accuracy {:.3}, mean confidence {:.2}\n",
            coin_accuracy / 40.0,
            coin_confidence / 40.0
        );
        report += &format!(
            "regular patterns overall: hourly accuracy {:.3}, usage class {:.3}\n",
            hours_right / runs as f64,
            usage_right as f64 / runs as f64
        );
        eprintln!("{report}");
        // A coin toss repeats nothing: confidence must say so.
        assert!(coin_confidence / 40.0 < 0.2, "{report}");
    }
}
