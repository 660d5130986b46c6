//! Rate limits: the documented tiers and fixed one-minute windows. Pure: the counting itself is
//! an adapter ([`crate::ratelimit`]).
//!
//! Fixed windows (not sliding): a window is the calendar minute `[60·k, 60·k + 60)` in unix
//! seconds, and `X-RateLimit-Reset` is its end. A client can burst up to twice the limit across a
//! window boundary; in exchange one counter per minute suffices, which is one atomic add per
//! request on DynamoDB.

use chrono::{DateTime, Utc};

use super::plan::Plan;

pub const WINDOW_SECONDS: i64 = 60;

/// Requests per minute per org, by plan (the documentation's tier table).
pub fn requests_per_minute(plan: Plan) -> u32 {
    match plan {
        Plan::Starter => 60,
        Plan::Growth => 300,
        Plan::Enterprise => 1000,
    }
}

/// The tier table's auth-endpoint rate, by plan.
pub fn auth_requests_per_minute(plan: Plan) -> u32 {
    match plan {
        Plan::Starter => 10,
        Plan::Growth => 30,
        Plan::Enterprise => 100,
    }
}

/// Auth requests per minute from one client IP. An IP has no plan, and many users share one
/// (an office, a CI provider), so it gets the highest tier's auth rate.
pub const AUTH_PER_IP_PER_MINUTE: u32 = 100;

/// Login (and reset) attempts per minute for one email address: the lowest tier's auth rate, the
/// same for every address so that the limit reveals nothing about which emails have accounts.
pub const AUTH_PER_EMAIL_PER_MINUTE: u32 = 10;

/// One fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Unix seconds at which the window opened.
    pub start: i64,
}

impl Window {
    pub fn containing(at: DateTime<Utc>) -> Self {
        let now = at.timestamp();
        Self {
            start: now - now.rem_euclid(WINDOW_SECONDS),
        }
    }

    /// Unix seconds at which the next window opens (`X-RateLimit-Reset`).
    pub fn reset(self) -> i64 {
        self.start + WINDOW_SECONDS
    }
}

/// The state of one bucket after counting a request, as the `X-RateLimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    pub reset: i64,
    /// Seconds until the window resets, when this request was over the limit.
    pub retry_after: Option<u64>,
}

impl Quota {
    /// `count` is the number of requests in the window including this one.
    pub fn after(limit: u32, count: u64, window: Window, now: DateTime<Utc>) -> Self {
        let over = count > u64::from(limit);
        let used = u32::try_from(count).unwrap_or(u32::MAX);
        Self {
            limit,
            remaining: limit.saturating_sub(used),
            reset: window.reset(),
            retry_after: over.then(|| (window.reset() - now.timestamp()).max(1) as u64),
        }
    }

    pub fn exceeded(&self) -> bool {
        self.retry_after.is_some()
    }

    /// Of two quotas that apply to one request, the one to report: a refusal first, then the
    /// one with less room left.
    pub fn tighter(self, other: Self) -> Self {
        match (self.exceeded(), other.exceeded()) {
            (true, false) => self,
            (false, true) => other,
            _ if other.remaining < self.remaining => other,
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn windows_are_calendar_minutes() {
        assert_eq!(Window::containing(at(1_710_273_600)).start, 1_710_273_600);
        assert_eq!(Window::containing(at(1_710_273_659)).start, 1_710_273_600);
        assert_eq!(Window::containing(at(1_710_273_660)).start, 1_710_273_660);
        assert_eq!(Window::containing(at(1_710_273_659)).reset(), 1_710_273_660);
    }

    #[test]
    fn the_request_past_the_limit_is_refused_until_the_reset() {
        let window = Window::containing(at(1_710_273_600));
        let last_allowed = Quota::after(60, 60, window, at(1_710_273_615));
        assert_eq!(
            (last_allowed.remaining, last_allowed.exceeded()),
            (0, false)
        );
        let refused = Quota::after(60, 61, window, at(1_710_273_615));
        assert_eq!(refused.retry_after, Some(45));
        assert_eq!(refused.reset, 1_710_273_660);
        let first = Quota::after(60, 1, window, at(1_710_273_600));
        assert_eq!(first.remaining, 59);
    }

    #[test]
    fn documented_tiers() {
        assert_eq!(requests_per_minute(Plan::Starter), 60);
        assert_eq!(requests_per_minute(Plan::Growth), 300);
        assert_eq!(requests_per_minute(Plan::Enterprise), 1000);
        assert_eq!(auth_requests_per_minute(Plan::Starter), 10);
        assert_eq!(auth_requests_per_minute(Plan::Growth), 30);
        assert_eq!(auth_requests_per_minute(Plan::Enterprise), 100);
    }

    #[test]
    fn the_tighter_quota_is_reported() {
        let window = Window::containing(at(0));
        let ip = Quota::after(100, 5, window, at(0));
        let email = Quota::after(10, 3, window, at(0));
        assert_eq!(ip.tighter(email), email);
        let refused = Quota::after(10, 11, window, at(0));
        assert_eq!(ip.tighter(refused), refused);
    }
}
