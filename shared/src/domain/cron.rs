//! Time schedules: a standard five-field cron expression, an IANA time zone and holiday dates,
//! and the next instant at which such a schedule fires. Pure: no clock, no I/O.
//!
//! # Expressions
//!
//! `minute hour day-of-month month day-of-week`, as in Vixie cron: `*`, values, ranges (`1-5`),
//! steps (`*/15`, `10-50/10`), lists (`1,3,5`), three-letter month and day names in any case
//! (`JAN`, `mon-fri`), and day of week `0` or `7` for Sunday. When day-of-month and day-of-week
//! are both restricted, a day matches if either matches; a field that starts with `*` (including
//! `*/2`) counts as unrestricted for this rule, exactly as in Vixie cron and cronie. Nothing
//! beyond that (no seconds, years, `L`, `W`, `#`, `?` or `@daily`) is accepted.
//!
//! # When a schedule fires
//!
//! A schedule fires at the instants whose local wall-clock time in its time zone matches the
//! expression, except on its excluded local dates. Where daylight saving time moves the clock:
//!
//! - **Spring forward.** A matching local time that does not exist that day (02:30 in New York
//!   on the March change day) fires once, at the instant the gap ends (03:00 local), which is
//!   what Vixie cron does for a job the clock jumps over. Several matching times in one gap
//!   (`*/15` hits 02:00, 02:15, 02:30 and 02:45) fire once together, and if the first time after
//!   the gap matches too (03:00), that is the same run. No run is lost; some are merged.
//! - **Fall back.** A matching local time that happens twice (01:30 in New York on the November
//!   change day) fires once, at its first occurrence. This holds for every expression, hourly
//!   and `*/15` included: the repeated hour's wall-clock times have already fired, so an hourly
//!   job has a two-hour interval in real time there.
//!
//! The search looks at most [`HORIZON_YEARS`] ahead (enough for the next 29 February even
//! across 2100) and says `None` when nothing in that window matches (`0 0 30 2 *`). It jumps
//! over months the expression excludes and walks only the hours and minutes the expression
//! lists, so one search costs microseconds.

// The team's notes suggested the `croner` crate. Version 4.0.3 was evaluated and not used:
// its parse errors name neither the field nor the value ("Component error: Number out of
// bounds."), it accepts syntax this contract does not (`L`, `W`, `#`, `+`, `@daily`), in a
// fall-back it fires wildcard jobs (`0 * * * *`, `*/15 * * * *`) at both occurrences of a
// repeated time where this module must fire once, and an impossible date takes milliseconds
// before failing. A five-field set parser and a day-skipping search are small enough to own.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::FieldError;

/// How far ahead [`next_run_after`] searches. Eight years, because 29 February can be eight
/// years apart (2096, then 2104).
pub const HORIZON_YEARS: u32 = 8;

/// Longest cron expression accepted, in bytes.
pub const MAX_CRON_LEN: usize = 256;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One of the five fields of a cron expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl CronField {
    const ALL: [Self; 5] = [
        Self::Minute,
        Self::Hour,
        Self::DayOfMonth,
        Self::Month,
        Self::DayOfWeek,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
        }
    }

    /// The values a field accepts; day of week takes 7 as another Sunday.
    fn bounds(self) -> (u32, u32) {
        match self {
            Self::Minute => (0, 59),
            Self::Hour => (0, 23),
            Self::DayOfMonth => (1, 31),
            Self::Month => (1, 12),
            Self::DayOfWeek => (0, 7),
        }
    }

    /// Names the field accepts and the value of the first name.
    fn names(self) -> Option<(&'static [&'static str], u32)> {
        match self {
            Self::Month => Some((&MONTH_NAMES, 1)),
            Self::DayOfWeek => Some((&DAY_NAMES, 0)),
            _ => None,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Month => "a number or a month name (JAN-DEC)",
            Self::DayOfWeek => "a number or a day name (SUN-SAT)",
            _ => "a number",
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a cron expression was rejected. The messages complete `"cron: …"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_CRON_LEN} characters")]
    TooLong,
    #[error("must have 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount { found: usize },
    #[error("{field} field: {problem}")]
    Field {
        field: CronField,
        problem: FieldProblem,
    },
}

/// What is wrong inside one field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("{value} is out of range {min}-{max}")]
    OutOfRange { value: String, min: u32, max: u32 },
    #[error("{value:?} is not {expected}")]
    NotAValue {
        value: String,
        expected: &'static str,
    },
    #[error("range {range} runs backwards; put the smaller value first")]
    BackwardsRange { range: String },
    #[error("step must be at least 1")]
    ZeroStep,
    #[error("step {step:?} is not a number")]
    BadStep { step: String },
    #[error("{value}/{step} has a step without a range; write {value}-{max}/{step} or */{step}")]
    StepWithoutRange {
        value: String,
        step: String,
        max: u32,
    },
    #[error("has an empty list item")]
    EmptyItem,
}

/// A parsed five-field cron expression. It keeps its source text for display and storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    /// Bit `n` set: value `n` matches.
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Sunday is bit 0 (a `7` in the source is folded into it).
    days_of_week: u64,
    /// The field started with `*`, so the Vixie day rule ignores it.
    dom_unrestricted: bool,
    dow_unrestricted: bool,
}

impl CronExpr {
    pub fn parse(raw: &str) -> Result<Self, CronError> {
        if raw.len() > MAX_CRON_LEN {
            return Err(CronError::TooLong);
        }
        let fields: Vec<&str> = raw.split_ascii_whitespace().collect();
        if fields.is_empty() {
            return Err(CronError::Empty);
        }
        if fields.len() != CronField::ALL.len() {
            return Err(CronError::FieldCount {
                found: fields.len(),
            });
        }
        let mut sets = [0u64; 5];
        for ((set, field), text) in sets.iter_mut().zip(CronField::ALL).zip(&fields) {
            *set =
                parse_field(field, text).map_err(|problem| CronError::Field { field, problem })?;
        }
        let [minutes, hours, days_of_month, months, mut days_of_week] = sets;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        Ok(Self {
            source: raw.to_owned(),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_unrestricted: fields[2].starts_with('*'),
            dow_unrestricted: fields[4].starts_with('*'),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn month_matches(&self, month: u32) -> bool {
        self.months & (1 << month) != 0
    }

    /// The day-of-month and day-of-week fields together, with Vixie's either-or rule.
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_unrestricted || self.dow_unrestricted {
            dom && dow
        } else {
            dom || dow
        }
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One field: a comma-separated list of `*`, `v`, `a-b`, `*/s` or `a-b/s`, as a bit set.
fn parse_field(field: CronField, text: &str) -> Result<u64, FieldProblem> {
    let (min, max) = field.bounds();
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(FieldProblem::EmptyItem);
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let (start, end) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (start, end) = (parse_value(field, a)?, parse_value(field, b)?);
            if start > end {
                return Err(FieldProblem::BackwardsRange {
                    range: range.to_owned(),
                });
            }
            (start, end)
        } else {
            let value = parse_value(field, range)?;
            if let Some(step) = step {
                return Err(FieldProblem::StepWithoutRange {
                    value: range.to_owned(),
                    step: step.to_owned(),
                    max,
                });
            }
            (value, value)
        };
        let step = match step {
            None => 1,
            Some(step) => match step.parse::<u32>() {
                Ok(0) => return Err(FieldProblem::ZeroStep),
                Ok(n) if step.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(FieldProblem::BadStep {
                        step: step.to_owned(),
                    });
                }
            },
        };
        for value in (start..=end).step_by(step as usize) {
            set |= 1 << value;
        }
    }
    Ok(set)
}

fn parse_value(field: CronField, text: &str) -> Result<u32, FieldProblem> {
    let (min, max) = field.bounds();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(FieldProblem::OutOfRange {
                value: text.to_owned(),
                min,
                max,
            }),
        };
    }
    if let Some((names, first)) = field.names()
        && let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(first + index as u32);
    }
    Err(FieldProblem::NotAValue {
        value: text.to_owned(),
        expected: field.expected(),
    })
}

/// An IANA time zone (`America/New_York`, `Europe/Berlin`, `UTC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timezone(Tz);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown timezone; use an IANA name such as America/New_York or UTC")]
pub struct UnknownTimezone;

impl Timezone {
    pub const UTC: Self = Self(Tz::UTC);

    /// Exact IANA names only (case matters, as in the database).
    pub fn parse(raw: &str) -> Result<Self, UnknownTimezone> {
        raw.parse::<Tz>().map(Self).map_err(|_| UnknownTimezone)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    pub fn tz(self) -> Tz {
        self.0
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first instant strictly after `after` at which `expr` fires in `tz`, skipping the local
/// dates in `exclude_dates`, under the rules in the module documentation. `None` if nothing
/// fires within [`HORIZON_YEARS`].
pub fn next_run_after(
    expr: &CronExpr,
    tz: Timezone,
    after: DateTime<Utc>,
    exclude_dates: &[NaiveDate],
) -> Option<DateTime<Utc>> {
    search(
        expr,
        tz.0,
        after,
        |date| exclude_dates.contains(&date),
        &mut SearchCost::default(),
    )
}

/// What one search did, for the tests that check it skips what cannot match.
#[derive(Debug, Default)]
struct SearchCost {
    /// Days whose day-of-month and day-of-week were checked.
    days_checked: u32,
    /// Local date-times turned into instants.
    times_resolved: u32,
}

/// Walks local dates from the one `after` falls on, then the listed hours and minutes of each
/// matching date, and returns the first candidate whose instant is after `after`.
///
/// Candidates map to instants in non-decreasing order: an existing time maps to its (first)
/// occurrence, a time in a gap to the end of the gap, which is no later than anything after
/// it. So every candidate before `after`'s own wall-clock minute maps to an instant no later
/// than `after` and need not be looked at, and the first candidate found past `after` is the
/// answer. Candidates at or after that minute can still map to or before `after` (the minute
/// itself, or the whole repeated hour when `after` falls in its second pass); the comparison
/// drops them.
fn search(
    expr: &CronExpr,
    tz: Tz,
    after: DateTime<Utc>,
    excluded: impl Fn(NaiveDate) -> bool,
    cost: &mut SearchCost,
) -> Option<DateTime<Utc>> {
    let start = after.with_timezone(&tz).naive_local();
    let last = start
        .date()
        .checked_add_months(Months::new(12 * HORIZON_YEARS))?;
    let mut date = start.date();
    let (mut from_hour, mut from_minute) = (start.hour(), start.minute());
    while date <= last {
        if !expr.month_matches(date.month()) {
            date = first_of_next_month(date)?;
            (from_hour, from_minute) = (0, 0);
            continue;
        }
        cost.days_checked += 1;
        if expr.day_matches(date) && !excluded(date) {
            let mut hour = next_bit(expr.hours, from_hour);
            while let Some(h) = hour {
                let mut minute =
                    next_bit(expr.minutes, if h == from_hour { from_minute } else { 0 });
                while let Some(m) = minute {
                    cost.times_resolved += 1;
                    if let Some(run) = resolve(tz, date.and_hms_opt(h, m, 0)?)
                        && run > after
                    {
                        return Some(run);
                    }
                    minute = next_bit(expr.minutes, m + 1);
                }
                hour = next_bit(expr.hours, h + 1);
            }
        }
        date = date.succ_opt()?;
        (from_hour, from_minute) = (0, 0);
    }
    None
}

/// The lowest set bit at or above `from`.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    let rest = set.checked_shr(from)?;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = match date.month() {
        12 => (date.year().checked_add(1)?, 1),
        month => (date.year(), month + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The instant a local wall-clock time fires at: its only or first occurrence, or, inside a
/// spring-forward gap, the instant the gap ends.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.to_utc()),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first existing local time after `local`, which lies in a gap: gallop forward a second
/// at a time, doubling, until a time exists, then bisect. A gap is at most a day (Samoa, 2011).
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const LONGEST_GAP_SECONDS: i64 = 2 * 86_400;
    let at = |seconds: i64| {
        let shifted = local.checked_add_signed(TimeDelta::seconds(seconds))?;
        tz.from_local_datetime(&shifted).earliest()
    };
    let (mut missing, mut exists) = (0, 1);
    while at(exists).is_none() {
        if exists > LONGEST_GAP_SECONDS {
            return None;
        }
        (missing, exists) = (exists, exists * 2);
    }
    while exists - missing > 1 {
        let mid = missing + (exists - missing) / 2;
        if at(mid).is_some() {
            exists = mid;
        } else {
            missing = mid;
        }
    }
    at(exists).map(|at| at.to_utc())
}

/// When a schedule fires: a cron expression, its time zone (UTC when none is given) and local
/// dates on which it does not fire. Stored and serialized as the strings it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleWhenSource", into = "ScheduleWhenSource")]
pub struct ScheduleWhen {
    source: ScheduleWhenSource,
    cron: CronExpr,
    timezone: Timezone,
    /// Sorted, without duplicates.
    exclude_dates: Vec<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ScheduleWhenSource {
    cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    #[serde(default)]
    exclude_dates: Vec<String>,
}

impl ScheduleWhen {
    /// Validates every part; the error names the field (`cron`, `timezone`, `exclude_dates[2]`).
    pub fn parse(
        cron: &str,
        timezone: Option<&str>,
        exclude_dates: &[String],
    ) -> Result<Self, FieldError> {
        let expr = CronExpr::parse(cron).map_err(|err| FieldError::new("cron", err.to_string()))?;
        let tz = match timezone {
            None => Timezone::UTC,
            Some(name) => {
                Timezone::parse(name).map_err(|err| FieldError::new("timezone", err.to_string()))?
            }
        };
        let mut dates = exclude_dates
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                parse_date(raw).ok_or_else(|| {
                    FieldError::new(
                        format!("exclude_dates[{i}]"),
                        "must be a date written YYYY-MM-DD",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        dates.sort_unstable();
        dates.dedup();
        Ok(Self {
            source: ScheduleWhenSource {
                cron: cron.to_owned(),
                timezone: timezone.map(str::to_owned),
                exclude_dates: exclude_dates.to_vec(),
            },
            cron: expr,
            timezone: tz,
            exclude_dates: dates,
        })
    }

    pub fn cron(&self) -> &CronExpr {
        &self.cron
    }

    pub fn timezone(&self) -> Timezone {
        self.timezone
    }

    /// The excluded local dates, sorted, without duplicates.
    pub fn exclude_dates(&self) -> &[NaiveDate] {
        &self.exclude_dates
    }

    /// See [`next_run_after`].
    pub fn next_run_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        search(
            &self.cron,
            self.timezone.0,
            after,
            |date| self.exclude_dates.binary_search(&date).is_ok(),
            &mut SearchCost::default(),
        )
    }
}

/// Exactly `YYYY-MM-DD`, a real calendar date.
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let bytes = raw.as_bytes();
    let shape = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shape
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

impl TryFrom<ScheduleWhenSource> for ScheduleWhen {
    type Error = FieldError;

    fn try_from(source: ScheduleWhenSource) -> Result<Self, Self::Error> {
        Self::parse(
            &source.cron,
            source.timezone.as_deref(),
            &source.exclude_dates,
        )
    }
}

impl From<ScheduleWhen> for ScheduleWhenSource {
    fn from(when: ScheduleWhen) -> Self {
        when.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(raw: &str) -> CronExpr {
        CronExpr::parse(raw).unwrap_or_else(|err| panic!("{raw}: {err}"))
    }

    fn tz(name: &str) -> Timezone {
        Timezone::parse(name).unwrap()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap_or_else(|err| panic!("{raw}: {err}"))
    }

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap()
    }

    fn bits(values: impl IntoIterator<Item = u32>) -> u64 {
        values.into_iter().fold(0, |set, v| set | 1 << v)
    }

    /// The next `count` runs after `from`, as RFC 3339 UTC strings.
    fn runs(raw: &str, zone: &str, from: &str, count: usize) -> Vec<String> {
        let (expr, zone) = (cron(raw), tz(zone));
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..count {
            let next = next_run_after(&expr, zone, at, &[]).expect("a next run");
            assert!(next > at, "{raw}: {next} is not after {at}");
            out.push(next.format("%Y-%m-%dT%H:%MZ").to_string());
            at = next;
        }
        out
    }

    #[test]
    fn parses_ranges_steps_and_lists() {
        let expr = cron("1-5 */6 1,15 * *");
        assert_eq!(expr.minutes, bits(1..=5));
        assert_eq!(expr.hours, bits([0, 6, 12, 18]));
        assert_eq!(expr.days_of_month, bits([1, 15]));
        assert_eq!(expr.months, bits(1..=12));
        assert_eq!(expr.days_of_week, bits(0..=6));

        assert_eq!(cron("10-50/10 * * * *").minutes, bits([10, 20, 30, 40, 50]));
        assert_eq!(cron("0,30,5-7 * * * *").minutes, bits([0, 5, 6, 7, 30]));
        assert_eq!(cron("* 9-17/4 * * *").hours, bits([9, 13, 17]));
        assert_eq!(cron("*/20 * */10 * *").days_of_month, bits([1, 11, 21, 31]));
        assert_eq!(cron("  0\t12 * * *  ").hours, bits([12]));
    }

    #[test]
    fn parses_month_and_day_names_in_any_case() {
        let named = cron("0 0 * JAN-MAR MON-FRI");
        assert_eq!(named.months, bits(1..=3));
        assert_eq!(named.days_of_week, bits(1..=5));
        let numeric = cron("0 0 * 1-3 1-5");
        assert_eq!(
            (named.months, named.days_of_week),
            (numeric.months, numeric.days_of_week)
        );

        let lower = cron("0 0 * jan,Dec mon-fri/2");
        assert_eq!(lower.months, bits([1, 12]));
        assert_eq!(lower.days_of_week, bits([1, 3, 5]));
        assert_eq!(cron("0 0 * * sun,SAT").days_of_week, bits([0, 6]));
    }

    #[test]
    fn sunday_is_both_0_and_7() {
        assert_eq!(cron("0 0 * * 0").days_of_week, bits([0]));
        assert_eq!(cron("0 0 * * 7").days_of_week, bits([0]));
        assert_eq!(cron("0 0 * * SUN").days_of_week, bits([0]));
        assert_eq!(cron("0 0 * * 5-7").days_of_week, bits([0, 5, 6]));
        assert_eq!(cron("0 0 * * 0-7").days_of_week, bits(0..=6));
        // 2026-01-04 is a Sunday.
        assert_eq!(
            runs("0 12 * * 7", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-04T12:00Z", "2026-01-11T12:00Z"]
        );
    }

    #[test]
    fn restricted_day_of_month_and_day_of_week_match_either() {
        // The 10th (a Tuesday in February 2026) or any Friday.
        assert_eq!(
            runs("0 0 10 * 5", "UTC", "2026-02-01T00:00:00Z", 5),
            [
                "2026-02-06T00:00Z",
                "2026-02-10T00:00Z",
                "2026-02-13T00:00Z",
                "2026-02-20T00:00Z",
                "2026-02-27T00:00Z",
            ]
        );
        // Only one restricted: that one decides.
        assert_eq!(
            runs("0 0 13 * *", "UTC", "2026-02-01T00:00:00Z", 2),
            ["2026-02-13T00:00Z", "2026-03-13T00:00Z"]
        );
        assert_eq!(
            runs("0 0 * * FRI", "UTC", "2026-02-01T00:00:00Z", 2),
            ["2026-02-06T00:00Z", "2026-02-13T00:00Z"]
        );
        // As in Vixie cron, a field starting with `*` is unrestricted, so `*/2` with Mondays
        // means odd-numbered days that are Mondays (2026-02-09 is a Monday, 2026-02-23 too).
        assert_eq!(
            runs("0 0 */2 * MON", "UTC", "2026-02-01T00:00:00Z", 2),
            ["2026-02-09T00:00Z", "2026-02-23T00:00Z"]
        );
    }

    #[test]
    fn rejects_invalid_crons_naming_the_problem() {
        let cases = [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            (
                "abc",
                "must have 5 fields (minute hour day-of-month month day-of-week), found 1",
            ),
            (
                "* * * *",
                "must have 5 fields (minute hour day-of-month month day-of-week), found 4",
            ),
            (
                "0 * * * * *",
                "must have 5 fields (minute hour day-of-month month day-of-week), found 6",
            ),
            ("61 * * * *", "minute field: 61 is out of range 0-59"),
            ("* 24 * * *", "hour field: 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
            ("* * * 13 *", "month field: 13 is out of range 1-12"),
            ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
            ("*/0 * * * *", "minute field: step must be at least 1"),
            (
                "5-1 * * * *",
                "minute field: range 5-1 runs backwards; put the smaller value first",
            ),
            (
                "* * * * FRI-MON",
                "day-of-week field: range FRI-MON runs backwards; put the smaller value first",
            ),
            ("abc * * * *", "minute field: \"abc\" is not a number"),
            (
                "* * * FOO *",
                "month field: \"FOO\" is not a number or a month name (JAN-DEC)",
            ),
            (
                "* * * * MONDAY",
                "day-of-week field: \"MONDAY\" is not a number or a day name (SUN-SAT)",
            ),
            (
                "* * * * JAN",
                "day-of-week field: \"JAN\" is not a number or a day name (SUN-SAT)",
            ),
            ("1,,2 * * * *", "minute field: has an empty list item"),
            ("-5 * * * *", "minute field: \"\" is not a number"),
            ("*/x * * * *", "minute field: step \"x\" is not a number"),
            (
                "5/10 * * * *",
                "minute field: 5/10 has a step without a range; write 5-59/10 or */10",
            ),
            (
                "99999999999 * * * *",
                "minute field: 99999999999 is out of range 0-59",
            ),
            ("0 0 L * *", "day-of-month field: \"L\" is not a number"),
            (
                "@daily",
                "must have 5 fields (minute hour day-of-month month day-of-week), found 1",
            ),
        ];
        for (raw, message) in cases {
            let err = CronExpr::parse(raw).expect_err(raw);
            assert_eq!(err.to_string(), message, "{raw:?}");
        }
        assert_eq!(
            CronExpr::parse("61 * * * *").unwrap_err(),
            CronError::Field {
                field: CronField::Minute,
                problem: FieldProblem::OutOfRange {
                    value: "61".into(),
                    min: 0,
                    max: 59
                },
            }
        );
        assert_eq!(
            CronExpr::parse(&"1,".repeat(200)).unwrap_err(),
            CronError::TooLong
        );
    }

    #[test]
    fn parses_timezones_by_iana_name() {
        assert_eq!(tz("America/New_York").name(), "America/New_York");
        assert_eq!(tz("Europe/Berlin").to_string(), "Europe/Berlin");
        assert_eq!(tz("UTC"), Timezone::UTC);
        for raw in ["Mars/Olympus_Mons", "", "america/new_york", "EST5EDT "] {
            let err = Timezone::parse(raw).unwrap_err();
            assert!(err.to_string().starts_with("unknown timezone"), "{raw}");
        }
    }

    #[test]
    fn runs_strictly_after_the_given_instant() {
        assert_eq!(
            runs("0 9 * * *", "UTC", "2026-05-01T09:00:00Z", 1),
            ["2026-05-02T09:00Z"]
        );
        assert_eq!(
            runs("0 9 * * *", "UTC", "2026-05-01T08:59:59Z", 1),
            ["2026-05-01T09:00Z"]
        );
        assert_eq!(
            runs("* * * * *", "UTC", "2026-05-01T08:59:30Z", 2),
            ["2026-05-01T09:00Z", "2026-05-01T09:01Z"]
        );
        assert_eq!(
            runs("59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", 1),
            ["2027-12-31T23:59Z"]
        );
    }

    // New York, 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT; 02:00-02:59 do not exist.
    #[test]
    fn new_york_spring_forward() {
        let zone = "America/New_York";
        // 02:30 does not exist on the 8th: it runs at 03:00 EDT, the end of the gap.
        assert_eq!(
            runs("30 2 * * *", zone, "2026-03-07T00:00:00Z", 3),
            [
                "2026-03-07T07:30Z",
                "2026-03-08T07:00Z",
                "2026-03-09T06:30Z"
            ]
        );
        // 02:00 folds into 03:00: one run an hour in real time, none lost, none doubled.
        assert_eq!(
            runs("0 * * * *", zone, "2026-03-08T04:30:00Z", 4),
            [
                "2026-03-08T05:00Z",
                "2026-03-08T06:00Z",
                "2026-03-08T07:00Z",
                "2026-03-08T08:00Z"
            ]
        );
        assert_eq!(
            runs("*/15 * * * *", zone, "2026-03-08T06:00:00Z", 6),
            [
                "2026-03-08T06:15Z",
                "2026-03-08T06:30Z",
                "2026-03-08T06:45Z",
                "2026-03-08T07:00Z",
                "2026-03-08T07:15Z",
                "2026-03-08T07:30Z",
            ]
        );
        // A minute in the gap that is not on the hour still runs, at the gap's end, once.
        assert_eq!(
            runs("30 * * * *", zone, "2026-03-08T06:00:00Z", 3),
            [
                "2026-03-08T06:30Z",
                "2026-03-08T07:00Z",
                "2026-03-08T07:30Z"
            ]
        );
    }

    // New York, 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:00-01:59 happen twice.
    #[test]
    fn new_york_fall_back() {
        let zone = "America/New_York";
        assert_eq!(
            runs("30 2 * * *", zone, "2026-10-31T00:00:00Z", 3),
            [
                "2026-10-31T06:30Z",
                "2026-11-01T07:30Z",
                "2026-11-02T07:30Z"
            ]
        );
        // 01:30 happens twice on the 1st; it runs at the first (EDT) only.
        assert_eq!(
            runs("30 1 * * *", zone, "2026-10-31T00:00:00Z", 3),
            [
                "2026-10-31T05:30Z",
                "2026-11-01T05:30Z",
                "2026-11-02T06:30Z"
            ]
        );
        // The repeated 01:00 runs once, at 05:00Z; the next run is 02:00 EST.
        assert_eq!(
            runs("0 * * * *", zone, "2026-11-01T03:30:00Z", 4),
            [
                "2026-11-01T04:00Z",
                "2026-11-01T05:00Z",
                "2026-11-01T07:00Z",
                "2026-11-01T08:00Z"
            ]
        );
        assert_eq!(
            runs("*/15 * * * *", zone, "2026-11-01T05:00:00Z", 5),
            [
                "2026-11-01T05:15Z",
                "2026-11-01T05:30Z",
                "2026-11-01T05:45Z",
                "2026-11-01T07:00Z",
                "2026-11-01T07:15Z",
            ]
        );
        // From inside the second 01:xx (01:10 EST), those times have already run.
        assert_eq!(
            runs("*/15 * * * *", zone, "2026-11-01T06:10:00Z", 1),
            ["2026-11-01T07:00Z"]
        );
    }

    // Berlin, 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST; 02:00-02:59 do not exist.
    #[test]
    fn berlin_spring_forward() {
        let zone = "Europe/Berlin";
        assert_eq!(
            runs("30 2 * * *", zone, "2026-03-28T00:00:00Z", 3),
            [
                "2026-03-28T01:30Z",
                "2026-03-29T01:00Z",
                "2026-03-30T00:30Z"
            ]
        );
        assert_eq!(
            runs("0 * * * *", zone, "2026-03-28T22:30:00Z", 4),
            [
                "2026-03-28T23:00Z",
                "2026-03-29T00:00Z",
                "2026-03-29T01:00Z",
                "2026-03-29T02:00Z"
            ]
        );
        assert_eq!(
            runs("*/15 * * * *", zone, "2026-03-29T00:00:00Z", 6),
            [
                "2026-03-29T00:15Z",
                "2026-03-29T00:30Z",
                "2026-03-29T00:45Z",
                "2026-03-29T01:00Z",
                "2026-03-29T01:15Z",
                "2026-03-29T01:30Z",
            ]
        );
    }

    // Berlin, 2026-10-25: 03:00 CEST (01:00Z) becomes 02:00 CET; 02:00-02:59 happen twice.
    #[test]
    fn berlin_fall_back() {
        let zone = "Europe/Berlin";
        // 02:30 happens twice on the 25th; it runs at the first (CEST) only.
        assert_eq!(
            runs("30 2 * * *", zone, "2026-10-24T00:00:00Z", 3),
            [
                "2026-10-24T00:30Z",
                "2026-10-25T00:30Z",
                "2026-10-26T01:30Z"
            ]
        );
        assert_eq!(
            runs("0 * * * *", zone, "2026-10-24T22:30:00Z", 4),
            [
                "2026-10-24T23:00Z",
                "2026-10-25T00:00Z",
                "2026-10-25T02:00Z",
                "2026-10-25T03:00Z"
            ]
        );
        assert_eq!(
            runs("*/15 * * * *", zone, "2026-10-25T00:00:00Z", 5),
            [
                "2026-10-25T00:15Z",
                "2026-10-25T00:30Z",
                "2026-10-25T00:45Z",
                "2026-10-25T02:00Z",
                "2026-10-25T02:15Z",
            ]
        );
    }

    #[test]
    fn weeknight_schedule_skips_the_weekend() {
        // 2026-01-09 is a Friday; 21:00 EST is 02:00Z on the 10th.
        assert_eq!(
            runs(
                "0 22 * * 1-5",
                "America/New_York",
                "2026-01-10T02:00:00Z",
                2
            ),
            ["2026-01-10T03:00Z", "2026-01-13T03:00Z"]
        );
        // The same in summer time (2026-06-12 is a Friday; 21:00 EDT is 01:00Z).
        assert_eq!(
            runs(
                "0 22 * * 1-5",
                "America/New_York",
                "2026-06-13T01:00:00Z",
                2
            ),
            ["2026-06-13T02:00Z", "2026-06-16T02:00Z"]
        );
    }

    #[test]
    fn twenty_ninth_of_february_finds_the_next_leap_year() {
        assert_eq!(
            runs("0 12 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2028-02-29T12:00Z", "2032-02-29T12:00Z"]
        );
        // 2100 is not a leap year: eight years apart, still inside the horizon.
        assert_eq!(
            runs("0 12 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1),
            ["2104-02-29T12:00Z"]
        );
    }

    #[test]
    fn impossible_dates_give_none_after_skipping_other_months() {
        for raw in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 FEB *"] {
            let mut cost = SearchCost::default();
            let next = search(
                &cron(raw),
                Tz::UTC,
                utc("2026-01-01T00:00:00Z"),
                |_| false,
                &mut cost,
            );
            assert_eq!(next, None, "{raw}");
            // Only the days of the listed months, over the horizon, and no time of day.
            assert!(
                cost.days_checked <= 4 * 30 * (HORIZON_YEARS + 1),
                "{raw}: {cost:?}"
            );
            assert_eq!(cost.times_resolved, 0, "{raw}");
        }
    }

    #[test]
    fn search_skips_what_cannot_match() {
        // A yearly job from 2 January: the rest of January day by day, then straight to the
        // next January.
        let mut cost = SearchCost::default();
        let next = search(
            &cron("0 0 1 1 *"),
            Tz::UTC,
            utc("2026-01-02T00:00:00Z"),
            |_| false,
            &mut cost,
        );
        assert_eq!(next, Some(utc("2027-01-01T00:00:00Z")));
        assert_eq!(cost.days_checked, 31);
        assert_eq!(cost.times_resolved, 1);

        // From Friday 22:30 to Monday 22:00: four days looked at, one time resolved (Friday's
        // 22:00 is before the start's minute and is not even tried).
        let mut cost = SearchCost::default();
        let ny = tz("America/New_York").tz();
        let next = search(
            &cron("0 22 * * 1-5"),
            ny,
            utc("2026-01-10T03:30:00Z"),
            |_| false,
            &mut cost,
        );
        assert_eq!(next, Some(utc("2026-01-13T03:00:00Z")));
        assert_eq!(cost.days_checked, 4);
        assert_eq!(cost.times_resolved, 1);

        // Every minute: the next one is the first tried.
        let mut cost = SearchCost::default();
        search(
            &cron("* * * * *"),
            ny,
            utc("2026-01-10T03:30:10Z"),
            |_| false,
            &mut cost,
        );
        assert_eq!(cost.times_resolved, 2);
    }

    #[test]
    fn excluded_dates_are_skipped() {
        let holidays = [date("2026-12-25"), date("2027-01-01")];
        let expr = cron("0 9 * * *");
        let ny = tz("America/New_York");
        let next = next_run_after(&expr, ny, utc("2026-12-24T15:00:00Z"), &holidays);
        assert_eq!(next, Some(utc("2026-12-26T14:00:00Z")));
        let next = next_run_after(&expr, ny, utc("2026-12-31T15:00:00Z"), &holidays);
        assert_eq!(next, Some(utc("2027-01-02T14:00:00Z")));
        // Excluding every matching day in the horizon leaves nothing.
        let only = cron("0 0 1 1 *");
        let all: Vec<NaiveDate> = (2026..=2035)
            .map(|y| NaiveDate::from_ymd_opt(y, 1, 1).unwrap())
            .collect();
        assert_eq!(
            next_run_after(&only, Timezone::UTC, utc("2025-12-31T12:00:00Z"), &all),
            None
        );
    }

    #[test]
    fn schedule_when_parses_every_part() {
        let when = ScheduleWhen::parse(
            "0 22 * * MON-FRI",
            Some("America/New_York"),
            &[
                "2026-12-25".into(),
                "2026-11-26".into(),
                "2026-12-25".into(),
            ],
        )
        .unwrap();
        assert_eq!(when.cron().as_str(), "0 22 * * MON-FRI");
        assert_eq!(when.timezone().name(), "America/New_York");
        assert_eq!(
            when.exclude_dates(),
            [date("2026-11-26"), date("2026-12-25")]
        );
        // Thursday 2026-12-24 22:00 EST, then Friday the 25th is a holiday, then Monday.
        assert_eq!(
            when.next_run_after(utc("2026-12-24T12:00:00Z")),
            Some(utc("2026-12-25T03:00:00Z"))
        );
        assert_eq!(
            when.next_run_after(utc("2026-12-25T03:00:00Z")),
            Some(utc("2026-12-29T03:00:00Z"))
        );

        let utc_default = ScheduleWhen::parse("0 0 * * *", None, &[]).unwrap();
        assert_eq!(utc_default.timezone(), Timezone::UTC);
    }

    #[test]
    fn schedule_when_errors_name_the_field() {
        let dates = |raw: &[&str]| raw.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (
                "61 * * * *",
                Some("UTC"),
                dates(&[]),
                "cron: minute field: 61 is out of range 0-59",
            ),
            ("", None, dates(&[]), "cron: must not be empty"),
            (
                "0 0 * * *",
                Some("Mars/Base"),
                dates(&[]),
                "timezone: unknown timezone; use an IANA name such as America/New_York or UTC",
            ),
            (
                "0 0 * * *",
                None,
                dates(&["2026-01-01", "2026-12-25", "2026-02-30"]),
                "exclude_dates[2]: must be a date written YYYY-MM-DD",
            ),
        ];
        for (cron, zone, excluded, message) in cases {
            let err = ScheduleWhen::parse(cron, zone, &excluded).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        for bad in [
            "2026-1-05",
            "26-01-05",
            "2026/01/05",
            "yesterday",
            "",
            "2026-01-05T00:00",
            "+2026-01-0",
        ] {
            let err = ScheduleWhen::parse("0 0 * * *", None, &[bad.to_string()]).unwrap_err();
            assert_eq!(err.field, "exclude_dates[0]", "{bad}");
        }
        // The first problem is the one reported, in field order.
        let err = ScheduleWhen::parse("bad", Some("Nowhere"), &dates(&["x"])).unwrap_err();
        assert_eq!(err.field, "cron");
    }

    #[test]
    fn schedule_when_is_stored_as_its_source_strings() {
        let when = ScheduleWhen::parse(
            "0 22 * * mon-fri",
            Some("Europe/Berlin"),
            &["2026-12-25".into(), "2026-12-24".into()],
        )
        .unwrap();
        let json = serde_json::to_value(&when).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cron": "0 22 * * mon-fri",
                "timezone": "Europe/Berlin",
                "exclude_dates": ["2026-12-25", "2026-12-24"],
            })
        );
        let back: ScheduleWhen = serde_json::from_value(json).unwrap();
        assert_eq!(back, when);

        let bare: ScheduleWhen = serde_json::from_str(r#"{"cron": "0 0 * * *"}"#).unwrap();
        assert_eq!(bare.timezone(), Timezone::UTC);
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"cron":"0 0 * * *","exclude_dates":[]}"#
        );

        let err = serde_json::from_str::<ScheduleWhen>(r#"{"cron": "0 0 * * 9"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("cron: day-of-week field: 9 is out of range 0-7"),
            "{err}"
        );
    }
}
