//! Schedule rules (`/v1/schedules`): what a schedule does (`hibernate`, `resume`, `resize`), to
//! which clusters, and when — at the times of a cron expression in a time zone (`time`), when a
//! cluster has been idle long enough (`idle`), or when clusters cost more than a limit (`cost`).
//!
//! A body is validated as a whole: every rule broken is a [`FieldError`] naming the field
//! (`threshold.cpu_pct`, `cluster_ids[2]`), and a value of [`ScheduleSpec`] is valid.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::FieldError;
use super::cron::ScheduleWhen;
use super::monitoring::{MAX_IDLE_THRESHOLD_MINUTES, is_cluster_id};
use super::names::DisplayName;

/// Clusters one schedule may name.
pub const MAX_CLUSTERS: usize = 100;
/// Holidays one time schedule may list (a year of them, and then some).
pub const MAX_EXCLUDE_DATES: usize = 400;
/// Largest worker count a resize may ask for.
pub const MAX_TARGET_NODES: u32 = 1000;
/// Largest cost limit accepted, in USD: anything above is a typo, not a budget.
pub const MAX_COST_USD: f64 = 1_000_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Time,
    Idle,
    Cost,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Time => "time",
            Self::Idle => "idle",
            Self::Cost => "cost",
        }
    }

    fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "time" => Ok(Self::Time),
            "idle" => Ok(Self::Idle),
            "cost" => Ok(Self::Cost),
            _ => Err(FieldError::new("type", "must be one of time, idle, cost")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleAction {
    Hibernate,
    Resume,
    Resize,
}

impl ScheduleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hibernate => "hibernate",
            Self::Resume => "resume",
            Self::Resize => "resize",
        }
    }

    fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "hibernate" => Ok(Self::Hibernate),
            "resume" => Ok(Self::Resume),
            "resize" => Ok(Self::Resize),
            _ => Err(FieldError::new(
                "action",
                "must be one of hibernate, resume, resize",
            )),
        }
    }
}

/// An idle rule: a cluster quiet (no running work, CPU under `cpu_pct`) for `idle_minutes`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleThreshold {
    pub idle_minutes: u32,
    pub cpu_pct: f64,
}

/// Whether a cost limit applies to each cluster alone or to the clusters of the schedule together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CostScope {
    #[default]
    Cluster,
    Set,
}

/// A cost rule: the run rate (USD per hour, or per day = 24 × per hour) above which the schedule acts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostThreshold {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<f64>,
    #[serde(default)]
    pub scope: CostScope,
}

impl CostThreshold {
    /// Whether an hourly run rate is over the limit.
    pub fn exceeded_by(&self, hourly_cost: f64) -> bool {
        match (self.hourly_usd, self.daily_usd) {
            (Some(limit), _) => hourly_cost > limit,
            (None, Some(limit)) => hourly_cost * 24.0 > limit,
            (None, None) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Idle(IdleThreshold),
    Cost(CostThreshold),
}

/// A `POST /v1/schedules` body (and a `PUT` body, where every field is optional), as sent:
/// strings and numbers as the client wrote them, so each bad value gets a message naming it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Schedule name, 1-100 characters.
    #[schema(example = "Night Hibernate")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// time | idle | cost
    #[schema(example = "time")]
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Platform cluster ids of the organization (1-100).
    #[schema(example = json!(["0301-prod-etl"]))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ids: Option<Vec<String>>,
    /// hibernate | resume | resize
    #[schema(example = "hibernate")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Five-field cron expression (time schedules only; required for them).
    #[schema(example = "0 22 * * 1-5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone the cron is read in (time schedules; default UTC).
    #[schema(example = "America/New_York")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Local dates (YYYY-MM-DD) on which a time schedule does not fire: holidays.
    #[schema(example = json!(["2026-12-25"]))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_dates: Option<Vec<String>>,
    /// idle: `{"idle_minutes": 30, "cpu_pct": 10}`; cost: `{"hourly_usd": 20}` or
    /// `{"daily_usd": 400}`, with `"scope": "cluster" | "set"` (default cluster).
    #[schema(value_type = Option<Object>, example = json!({"idle_minutes": 30, "cpu_pct": 10}))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Value>,
    /// Worker nodes to resize to (resize only; required for it), 0-1000.
    #[schema(value_type = Option<i64>, example = 2)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_nodes: Option<Number>,
    /// Default true. A disabled schedule never runs on its own; it can still be run now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A valid schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    pub kind: ScheduleKind,
    pub action: ScheduleAction,
    /// Deduplicated, in the order given.
    pub cluster_ids: Vec<String>,
    /// Time schedules only.
    #[serde(default)]
    pub when: Option<ScheduleWhen>,
    /// Idle and cost schedules only.
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// Resize only.
    #[serde(default)]
    pub target_nodes: Option<u32>,
    pub enabled: bool,
}

fn whole_in(field: &str, value: &Number, min: u32, max: u32) -> Result<u32, FieldError> {
    let rule = || FieldError::new(field, format!("must be a whole number from {min} to {max}"));
    let whole = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        })
        .ok_or_else(rule)?;
    u32::try_from(whole)
        .ok()
        .filter(|whole| (min..=max).contains(whole))
        .ok_or_else(rule)
}

fn number_of<'a>(field: &str, value: &'a Value) -> Result<&'a Number, FieldError> {
    match value {
        Value::Number(number) => Ok(number),
        _ => Err(FieldError::new(field, "must be a number")),
    }
}

fn usd(field: &str, value: &Value) -> Result<f64, FieldError> {
    number_of(field, value)?
        .as_f64()
        .filter(|usd| *usd > 0.0 && *usd <= MAX_COST_USD)
        .ok_or_else(|| {
            FieldError::new(
                field,
                format!("must be a number of USD above 0, at most {MAX_COST_USD}"),
            )
        })
}

fn object(kind: ScheduleKind, value: &Value) -> Result<&Map<String, Value>, FieldError> {
    let expected = match kind {
        ScheduleKind::Idle => "must be an object {\"idle_minutes\": …, \"cpu_pct\": …}",
        _ => {
            "must be an object {\"hourly_usd\": …} or {\"daily_usd\": …}, with an optional \"scope\""
        }
    };
    value
        .as_object()
        .ok_or_else(|| FieldError::new("threshold", expected))
}

fn only_known(fields: &Map<String, Value>, known: &[&str]) -> Result<(), FieldError> {
    match fields.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(FieldError::new(
            format!("threshold.{unknown}"),
            format!("unknown field (expected {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

impl Threshold {
    fn parse(kind: ScheduleKind, value: &Value) -> Result<Self, FieldError> {
        let fields = object(kind, value)?;
        match kind {
            ScheduleKind::Idle => {
                only_known(fields, &["idle_minutes", "cpu_pct"])?;
                let minutes = fields
                    .get("idle_minutes")
                    .ok_or_else(|| FieldError::required("threshold.idle_minutes"))?;
                let idle_minutes = whole_in(
                    "threshold.idle_minutes",
                    number_of("threshold.idle_minutes", minutes)?,
                    1,
                    MAX_IDLE_THRESHOLD_MINUTES,
                )?;
                let cpu = fields
                    .get("cpu_pct")
                    .ok_or_else(|| FieldError::required("threshold.cpu_pct"))?;
                let cpu_pct = number_of("threshold.cpu_pct", cpu)?
                    .as_f64()
                    .filter(|pct| (0.0..=100.0).contains(pct))
                    .ok_or_else(|| {
                        FieldError::new("threshold.cpu_pct", "must be a number from 0 to 100")
                    })?;
                Ok(Self::Idle(IdleThreshold {
                    idle_minutes,
                    cpu_pct,
                }))
            }
            _ => {
                only_known(fields, &["hourly_usd", "daily_usd", "scope"])?;
                let hourly = fields.get("hourly_usd");
                let daily = fields.get("daily_usd");
                let (hourly_usd, daily_usd) = match (hourly, daily) {
                    (Some(_), Some(_)) => {
                        return Err(FieldError::new(
                            "threshold",
                            "give hourly_usd or daily_usd, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(FieldError::new(
                            "threshold.hourly_usd",
                            "is required (or threshold.daily_usd)",
                        ));
                    }
                    (Some(hourly), None) => (Some(usd("threshold.hourly_usd", hourly)?), None),
                    (None, Some(daily)) => (None, Some(usd("threshold.daily_usd", daily)?)),
                };
                let scope = match fields.get("scope") {
                    None => CostScope::Cluster,
                    Some(Value::String(scope)) if scope == "cluster" => CostScope::Cluster,
                    Some(Value::String(scope)) if scope == "set" => CostScope::Set,
                    Some(_) => {
                        return Err(FieldError::new(
                            "threshold.scope",
                            "must be one of cluster, set",
                        ));
                    }
                };
                Ok(Self::Cost(CostThreshold {
                    hourly_usd,
                    daily_usd,
                    scope,
                }))
            }
        }
    }
}

impl ScheduleSpec {
    /// Validates a whole body (a create, or an update merged over the stored schedule). Whether
    /// the cluster ids name clusters of the org is checked by the caller, which sees the platforms.
    pub fn parse(body: &ScheduleBody) -> Result<Self, FieldError> {
        let name = DisplayName::parse(
            "name",
            body.name
                .as_deref()
                .ok_or_else(|| FieldError::required("name"))?,
        )?
        .into_string();
        let kind = ScheduleKind::parse(
            body.kind
                .as_deref()
                .ok_or_else(|| FieldError::required("type"))?,
        )?;
        let ids = body
            .cluster_ids
            .as_ref()
            .ok_or_else(|| FieldError::required("cluster_ids"))?;
        if ids.is_empty() || ids.len() > MAX_CLUSTERS {
            return Err(FieldError::new(
                "cluster_ids",
                format!("must list 1 to {MAX_CLUSTERS} clusters"),
            ));
        }
        let mut cluster_ids: Vec<String> = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            if !is_cluster_id(id) {
                return Err(FieldError::new(
                    format!("cluster_ids[{index}]"),
                    "must be a cluster id (1-128 letters, digits, '-', '_', '.', '/')",
                ));
            }
            if !cluster_ids.contains(id) {
                cluster_ids.push(id.clone());
            }
        }
        let action = ScheduleAction::parse(
            body.action
                .as_deref()
                .ok_or_else(|| FieldError::required("action"))?,
        )?;
        let (when, threshold) = match kind {
            ScheduleKind::Time => {
                if body.threshold.is_some() {
                    return Err(FieldError::new(
                        "threshold",
                        "is only for idle and cost schedules",
                    ));
                }
                let cron = body
                    .cron
                    .as_deref()
                    .ok_or_else(|| FieldError::new("cron", "is required for time schedules"))?;
                let dates = body.exclude_dates.clone().unwrap_or_default();
                if dates.len() > MAX_EXCLUDE_DATES {
                    return Err(FieldError::new(
                        "exclude_dates",
                        format!("must list at most {MAX_EXCLUDE_DATES} dates"),
                    ));
                }
                let when = ScheduleWhen::parse(cron, body.timezone.as_deref(), &dates)?;
                (Some(when), None)
            }
            ScheduleKind::Idle | ScheduleKind::Cost => {
                for (field, given) in [
                    ("cron", body.cron.is_some()),
                    ("timezone", body.timezone.is_some()),
                    ("exclude_dates", body.exclude_dates.is_some()),
                ] {
                    if given {
                        return Err(FieldError::new(field, "is only for time schedules"));
                    }
                }
                if action == ScheduleAction::Resume {
                    return Err(FieldError::new(
                        "action",
                        format!(
                            "resume is only for time schedules ({} rules hibernate or resize)",
                            kind.as_str()
                        ),
                    ));
                }
                let threshold = body.threshold.as_ref().ok_or_else(|| {
                    FieldError::new(
                        "threshold",
                        format!("is required for {} schedules", kind.as_str()),
                    )
                })?;
                (None, Some(Threshold::parse(kind, threshold)?))
            }
        };
        let target_nodes = match (action, &body.target_nodes) {
            (ScheduleAction::Resize, Some(nodes)) => {
                Some(whole_in("target_nodes", nodes, 0, MAX_TARGET_NODES)?)
            }
            (ScheduleAction::Resize, None) => {
                return Err(FieldError::new("target_nodes", "is required for resize"));
            }
            (_, Some(_)) => {
                return Err(FieldError::new("target_nodes", "is only for resize"));
            }
            (_, None) => None,
        };
        Ok(Self {
            name,
            kind,
            action,
            cluster_ids,
            when,
            threshold,
            target_nodes,
            enabled: body.enabled.unwrap_or(true),
        })
    }

    /// The body this schedule was made from, to merge an update over.
    pub fn to_body(&self) -> ScheduleBody {
        let when = self
            .when
            .as_ref()
            .and_then(|when| serde_json::to_value(when).ok());
        let text = |field: &str| {
            when.as_ref()
                .and_then(|when| when.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        ScheduleBody {
            name: Some(self.name.clone()),
            kind: Some(self.kind.as_str().to_owned()),
            cluster_ids: Some(self.cluster_ids.clone()),
            action: Some(self.action.as_str().to_owned()),
            cron: text("cron"),
            timezone: text("timezone"),
            exclude_dates: when
                .as_ref()
                .and_then(|when| serde_json::from_value(when.get("exclude_dates")?.clone()).ok()),
            threshold: self
                .threshold
                .as_ref()
                .and_then(|threshold| serde_json::to_value(threshold).ok()),
            target_nodes: self.target_nodes.map(Number::from),
            enabled: Some(self.enabled),
        }
    }

    /// The body of an update merged over this schedule: fields given replace the stored ones.
    /// When the update changes the type, the stored fields of the old type (cron, timezone,
    /// exclude_dates, threshold) are dropped; when it changes the action away from resize, the
    /// stored target_nodes is.
    pub fn merge(&self, patch: &ScheduleBody) -> ScheduleBody {
        let mut merged = self.to_body();
        if patch
            .kind
            .as_deref()
            .is_some_and(|kind| kind != self.kind.as_str())
        {
            merged.cron = None;
            merged.timezone = None;
            merged.exclude_dates = None;
            merged.threshold = None;
        }
        if patch
            .action
            .as_deref()
            .is_some_and(|action| action != self.action.as_str())
        {
            merged.target_nodes = None;
        }
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = &patch.$field {
                    merged.$field = Some(value.clone());
                }
            )*};
        }
        take!(
            name,
            kind,
            cluster_ids,
            action,
            cron,
            timezone,
            exclude_dates,
            threshold,
            target_nodes,
            enabled
        );
        merged
    }

    /// Whether the update changes when the schedule runs (so its next run is computed again).
    pub fn timing_differs(&self, other: &Self) -> bool {
        self.kind != other.kind || self.when != other.when || self.enabled != other.enabled
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<ScheduleSpec, FieldError> {
        let body: ScheduleBody = serde_json::from_value(body).expect("body shape");
        ScheduleSpec::parse(&body)
    }

    fn field_of(body: Value) -> String {
        parse(body).expect_err("must be refused").field
    }

    #[test]
    fn the_documented_example_parses() {
        let spec = parse(json!({"name": "Night Hibernate", "type": "time",
            "cluster_ids": ["a", "b", "a"], "action": "hibernate", "cron": "0 22 * * 1-5"}))
        .unwrap();
        assert_eq!(spec.kind, ScheduleKind::Time);
        assert_eq!(spec.cluster_ids, ["a", "b"]);
        assert!(spec.enabled);
        assert_eq!(spec.when.unwrap().timezone().name(), "UTC");
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let time = |extra: Value| {
            let mut body = json!({"name": "n", "type": "time", "cluster_ids": ["a"],
                "action": "hibernate", "cron": "0 22 * * *"});
            for (key, value) in extra.as_object().unwrap() {
                if value.is_null() {
                    body.as_object_mut().unwrap().remove(key);
                } else {
                    body[key] = value.clone();
                }
            }
            body
        };
        assert_eq!(field_of(time(json!({"cron": "0 25 * * *"}))), "cron");
        assert_eq!(field_of(time(json!({"cron": null}))), "cron");
        assert_eq!(
            field_of(time(json!({"timezone": "Mars/Olympus"}))),
            "timezone"
        );
        assert_eq!(
            field_of(time(json!({"exclude_dates": ["2026-02-30"]}))),
            "exclude_dates[0]"
        );
        assert_eq!(field_of(time(json!({"type": "weekly"}))), "type");
        assert_eq!(field_of(time(json!({"action": "reboot"}))), "action");
        assert_eq!(field_of(time(json!({"action": "resize"}))), "target_nodes");
        assert_eq!(field_of(time(json!({"target_nodes": 2}))), "target_nodes");
        assert_eq!(field_of(time(json!({"cluster_ids": []}))), "cluster_ids");
        assert_eq!(
            field_of(time(json!({"cluster_ids": ["a b"]}))),
            "cluster_ids[0]"
        );
        assert_eq!(field_of(time(json!({"name": " "}))), "name");
        assert_eq!(
            field_of(time(json!({"threshold": {"idle_minutes": 5}}))),
            "threshold"
        );
        assert_eq!(
            field_of(time(json!({"type": "idle", "cron": null}))),
            "threshold"
        );
        assert_eq!(
            field_of(time(json!({"type": "idle", "cron": null,
                "threshold": {"idle_minutes": 0, "cpu_pct": 5}}))),
            "threshold.idle_minutes"
        );
        assert_eq!(
            field_of(time(json!({"type": "idle", "cron": null,
                "threshold": {"idle_minutes": 30}}))),
            "threshold.cpu_pct"
        );
        assert_eq!(
            field_of(time(json!({"type": "idle", "cron": null,
                "threshold": {"idle_minutes": 30, "cpu_pct": 101}}))),
            "threshold.cpu_pct"
        );
        assert_eq!(
            field_of(time(
                json!({"type": "idle", "threshold": {"idle_minutes": 30, "cpu_pct": 5}})
            )),
            "cron"
        );
        assert_eq!(
            field_of(time(json!({"type": "cost", "cron": null, "threshold": {}}))),
            "threshold.hourly_usd"
        );
        assert_eq!(
            field_of(time(json!({"type": "cost", "cron": null,
                "threshold": {"hourly_usd": -1}}))),
            "threshold.hourly_usd"
        );
        assert_eq!(
            field_of(time(json!({"type": "cost", "cron": null,
                "threshold": {"daily_usd": 10, "scope": "org"}}))),
            "threshold.scope"
        );
        assert_eq!(
            field_of(time(json!({"type": "cost", "cron": null,
                "threshold": {"hourly_usd": 10, "per": "x"}}))),
            "threshold.per"
        );
        assert_eq!(
            field_of(time(
                json!({"type": "cost", "cron": null, "action": "resume",
                "threshold": {"hourly_usd": 10}})
            )),
            "action"
        );
    }

    #[test]
    fn thresholds_round_trip_through_storage() {
        let idle = parse(json!({"name": "n", "type": "idle", "cluster_ids": ["a"],
            "action": "resize", "target_nodes": 1,
            "threshold": {"idle_minutes": 30, "cpu_pct": 10}}))
        .unwrap();
        let cost = parse(json!({"name": "n", "type": "cost", "cluster_ids": ["a"],
            "action": "hibernate", "threshold": {"daily_usd": 400, "scope": "set"}}))
        .unwrap();
        for spec in [idle, cost] {
            let stored = serde_json::to_value(&spec).unwrap();
            assert_eq!(
                serde_json::from_value::<ScheduleSpec>(stored).unwrap(),
                spec
            );
            assert_eq!(ScheduleSpec::parse(&spec.to_body()).unwrap(), spec);
        }
    }

    #[test]
    fn an_update_merges_over_the_stored_schedule() {
        let stored = parse(json!({"name": "n", "type": "time", "cluster_ids": ["a"],
            "action": "hibernate", "cron": "0 22 * * *", "timezone": "Europe/Paris"}))
        .unwrap();
        let renamed = ScheduleSpec::parse(&stored.merge(&ScheduleBody {
            name: Some("m".into()),
            ..ScheduleBody::default()
        }))
        .unwrap();
        assert_eq!(renamed.name, "m");
        assert_eq!(renamed.when, stored.when);
        assert!(!renamed.timing_differs(&stored));
        let idle = ScheduleSpec::parse(&stored.merge(&ScheduleBody {
            kind: Some("idle".into()),
            threshold: Some(json!({"idle_minutes": 30, "cpu_pct": 5})),
            ..ScheduleBody::default()
        }))
        .unwrap();
        assert_eq!(idle.when, None);
        assert!(idle.timing_differs(&stored));
    }

    #[test]
    fn cost_limits_compare_run_rates() {
        let hourly = CostThreshold {
            hourly_usd: Some(10.0),
            daily_usd: None,
            scope: CostScope::Cluster,
        };
        assert!(hourly.exceeded_by(10.5));
        assert!(!hourly.exceeded_by(10.0));
        let daily = CostThreshold {
            hourly_usd: None,
            daily_usd: Some(240.0),
            scope: CostScope::Set,
        };
        assert!(daily.exceeded_by(10.01));
        assert!(!daily.exceeded_by(9.99));
    }
}
