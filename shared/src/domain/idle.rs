//! When a cluster is idle, and for how long: the rule the scanner, `analyze` and `optimize` share.
//!
//! A reading is *quiet* when the cluster is running, has no jobs, steps or queries running, and its
//! CPU (when the platform exposes it) is under the threshold. A cluster is *idle* once it has been
//! quiet for `idle_threshold_minutes`.
//!
//! When the quiet spell started: the platform's own idle mark when it gives one (Dataproc's
//! `idleStartTime`, EMR's last step end) and it is later than the last scan that saw the cluster
//! busy; otherwise the first scan that saw it quiet. The second is never early: a cluster is not
//! acted on before it has been quiet for the whole threshold, at the cost of up to one scan
//! interval of lateness on platforms that give no idle mark.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::platform::ClusterState;

/// The thresholds of an org's config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdleRule {
    pub threshold_pct: f64,
    pub threshold_minutes: u32,
}

/// What one look at a cluster found.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub state: ClusterState,
    pub active_work: u32,
    pub cpu_percent: Option<f64>,
    /// Since when the platform considers the cluster idle, if it says.
    pub platform_idle_since: Option<DateTime<Utc>>,
}

impl Reading {
    pub fn is_quiet(&self, rule: &IdleRule) -> bool {
        self.state == ClusterState::Running
            && self.active_work == 0
            && self.cpu_percent.is_none_or(|cpu| cpu < rule.threshold_pct)
    }
}

/// What the scanner remembers of a cluster between scans.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    /// Start of the current quiet spell; none while the cluster is busy or down.
    pub idle_since: Option<DateTime<Utc>>,
    /// The last scan that saw the cluster busy.
    pub last_busy_at: Option<DateTime<Utc>>,
    /// The quiet spell (its `idle_since`) an idle alert was raised for: one alert per episode.
    pub alerted_for: Option<DateTime<Utc>>,
}

impl Watch {
    /// The watch after `reading`.
    pub fn observe(&self, reading: &Reading, rule: &IdleRule) -> Watch {
        if !reading.is_quiet(rule) {
            let busy = reading.state.is_billing();
            return Watch {
                idle_since: None,
                last_busy_at: if busy {
                    Some(reading.at)
                } else {
                    self.last_busy_at
                },
                alerted_for: None,
            };
        }
        let idle_since = self.idle_since.unwrap_or_else(|| {
            reading
                .platform_idle_since
                .filter(|mark| self.last_busy_at.is_none_or(|busy| *mark > busy))
                .map_or(reading.at, |mark| mark.min(reading.at))
        });
        Watch {
            idle_since: Some(idle_since),
            last_busy_at: self.last_busy_at,
            alerted_for: self.alerted_for.filter(|episode| *episode == idle_since),
        }
    }

    /// Whole minutes of the current quiet spell, as of `now`.
    pub fn idle_minutes(&self, now: DateTime<Utc>) -> u32 {
        self.idle_since.map_or(0, |since| {
            u32::try_from((now - since).num_minutes().max(0)).unwrap_or(u32::MAX)
        })
    }

    /// Quiet for at least the threshold.
    pub fn is_idle(&self, now: DateTime<Utc>, rule: &IdleRule) -> bool {
        self.idle_since.is_some_and(|since| {
            now - since >= Duration::minutes(i64::from(rule.threshold_minutes))
        })
    }

    /// Whether this episode still needs its idle alert.
    pub fn needs_alert(&self, now: DateTime<Utc>, rule: &IdleRule) -> bool {
        self.is_idle(now, rule) && self.alerted_for != self.idle_since
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const RULE: IdleRule = IdleRule {
        threshold_pct: 15.0,
        threshold_minutes: 30,
    };

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 12, 14, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn quiet(minute: i64) -> Reading {
        Reading {
            at: at(minute),
            state: ClusterState::Running,
            active_work: 0,
            cpu_percent: Some(3.0),
            platform_idle_since: None,
        }
    }

    fn busy(minute: i64) -> Reading {
        Reading {
            active_work: 1,
            ..quiet(minute)
        }
    }

    #[test]
    fn quiet_needs_running_no_work_and_low_cpu() {
        assert!(quiet(0).is_quiet(&RULE));
        assert!(!busy(0).is_quiet(&RULE));
        let hot = Reading {
            cpu_percent: Some(15.0),
            ..quiet(0)
        };
        assert!(!hot.is_quiet(&RULE));
        let unknown_cpu = Reading {
            cpu_percent: None,
            ..quiet(0)
        };
        assert!(unknown_cpu.is_quiet(&RULE));
        for state in [
            ClusterState::Stopped,
            ClusterState::Starting,
            ClusterState::Resizing,
        ] {
            assert!(!Reading { state, ..quiet(0) }.is_quiet(&RULE), "{state:?}");
        }
    }

    #[test]
    fn idle_after_the_threshold_counted_from_the_first_quiet_scan() {
        let mut watch = Watch::default().observe(&busy(0), &RULE);
        watch = watch.observe(&quiet(10), &RULE);
        assert_eq!(watch.idle_since, Some(at(10)));
        watch = watch.observe(&quiet(30), &RULE);
        assert!(!watch.is_idle(at(30), &RULE));
        assert_eq!(watch.idle_minutes(at(30)), 20);
        watch = watch.observe(&quiet(40), &RULE);
        assert!(watch.is_idle(at(40), &RULE));
        assert_eq!(watch.idle_minutes(at(40)), 30);
    }

    #[test]
    fn work_ends_the_spell() {
        let watch = Watch::default()
            .observe(&quiet(0), &RULE)
            .observe(&quiet(25), &RULE)
            .observe(&busy(30), &RULE);
        assert_eq!(watch.idle_since, None);
        assert_eq!(watch.last_busy_at, Some(at(30)));
        let again = watch.observe(&quiet(40), &RULE);
        assert_eq!(again.idle_since, Some(at(40)));
    }

    #[test]
    fn the_platforms_idle_mark_counts_unless_a_later_scan_saw_work() {
        let marked = Reading {
            platform_idle_since: Some(at(-50)),
            ..quiet(0)
        };
        let first_look = Watch::default().observe(&marked, &RULE);
        assert_eq!(first_look.idle_since, Some(at(-50)));
        assert!(first_look.is_idle(at(0), &RULE));

        let seen_busy = Watch::default()
            .observe(&busy(-10), &RULE)
            .observe(&marked, &RULE);
        assert_eq!(seen_busy.idle_since, Some(at(0)), "a stale mark is ignored");

        let future = Reading {
            platform_idle_since: Some(at(5)),
            ..quiet(0)
        };
        assert_eq!(
            Watch::default().observe(&future, &RULE).idle_since,
            Some(at(0))
        );
    }

    #[test]
    fn one_alert_per_episode() {
        let mut watch = Watch::default()
            .observe(&quiet(0), &RULE)
            .observe(&quiet(30), &RULE);
        assert!(watch.needs_alert(at(30), &RULE));
        watch.alerted_for = watch.idle_since;
        watch = watch.observe(&quiet(40), &RULE);
        assert!(!watch.needs_alert(at(40), &RULE));
        watch = watch
            .observe(&busy(50), &RULE)
            .observe(&quiet(60), &RULE)
            .observe(&quiet(90), &RULE);
        assert!(
            watch.needs_alert(at(90), &RULE),
            "a new episode alerts again"
        );
    }
}
