//! An org's monitoring settings (`GET /v1/monitoring/status`, `PUT /v1/monitoring/config`): how
//! often its clusters are scanned, what counts as idle, and what the scanner may do on its own.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Longest scan interval: a day. Anything slower is not monitoring.
pub const MAX_SCAN_INTERVAL_MINUTES: u32 = 1440;
/// Longest idle threshold: a week, the span the metrics history covers.
pub const MAX_IDLE_THRESHOLD_MINUTES: u32 = 10_080;
/// More exclusions than this is a sign the caller wants `auto_hibernate: false`.
pub const MAX_EXCLUDED_CLUSTERS: usize = 500;

/// The settings, always complete and valid (defaults are the documentation's example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitoringConfig {
    #[schema(example = 10)]
    pub scan_interval_minutes: u32,
    /// CPU % below which a cluster with no running work counts as idle.
    #[schema(example = 15.0)]
    pub idle_threshold_pct: f64,
    /// Minutes a cluster must stay idle before automation acts.
    #[schema(example = 30)]
    pub idle_threshold_minutes: u32,
    pub auto_hibernate: bool,
    pub auto_rightsize: bool,
    pub auto_spot_failover: bool,
    /// Platform cluster ids automation never touches.
    #[serde(default)]
    pub exclude_clusters: Vec<String>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            scan_interval_minutes: 10,
            idle_threshold_pct: 15.0,
            idle_threshold_minutes: 30,
            auto_hibernate: false,
            auto_rightsize: false,
            auto_spot_failover: false,
            exclude_clusters: Vec::new(),
        }
    }
}

impl MonitoringConfig {
    pub fn excludes(&self, cluster_id: &str) -> bool {
        self.exclude_clusters.iter().any(|id| id == cluster_id)
    }
}

/// A `PUT /v1/monitoring/config` body as sent: every field optional, numbers as the client wrote
/// them so that a negative or fractional value gets a message naming the field.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatchBody {
    /// How often to scan clusters, 1–1440 minutes.
    #[schema(value_type = Option<i64>, example = 5)]
    pub scan_interval_minutes: Option<serde_json::Number>,
    /// CPU % below which a cluster is considered idle, 0–100.
    #[schema(value_type = Option<f64>, example = 15.0)]
    pub idle_threshold_pct: Option<serde_json::Number>,
    /// Minutes idle before action is taken, 1–10080.
    #[schema(value_type = Option<i64>, example = 20)]
    pub idle_threshold_minutes: Option<serde_json::Number>,
    pub auto_hibernate: Option<bool>,
    pub auto_rightsize: Option<bool>,
    pub auto_spot_failover: Option<bool>,
    /// Cluster ids to exclude from automation; they must be clusters of the org.
    pub exclude_clusters: Option<Vec<String>>,
}

/// A validated partial update; `apply` it to the stored settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigPatch {
    pub scan_interval_minutes: Option<u32>,
    pub idle_threshold_pct: Option<f64>,
    pub idle_threshold_minutes: Option<u32>,
    pub auto_hibernate: Option<bool>,
    pub auto_rightsize: Option<bool>,
    pub auto_spot_failover: Option<bool>,
    /// Deduplicated, in the order given. Whether the ids name clusters of the org is checked by
    /// the caller, which can see the platforms.
    pub exclude_clusters: Option<Vec<String>>,
}

fn whole_in(
    field: &str,
    value: &serde_json::Number,
    min: u32,
    max: u32,
) -> Result<u32, FieldError> {
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

/// A cluster id as the platforms write them (see the clusters endpoints): letters, digits, `-`,
/// `_`, `.` and `/` (Synapse pools are `sql/<name>`), at most 128 characters.
pub fn is_cluster_id(raw: &str) -> bool {
    (1..=128).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl ConfigPatch {
    pub fn parse(body: ConfigPatchBody) -> Result<Self, FieldError> {
        let scan_interval_minutes = body
            .scan_interval_minutes
            .map(|value| {
                whole_in(
                    "scan_interval_minutes",
                    &value,
                    1,
                    MAX_SCAN_INTERVAL_MINUTES,
                )
            })
            .transpose()?;
        let idle_threshold_pct = body
            .idle_threshold_pct
            .map(|value| {
                value
                    .as_f64()
                    .filter(|pct| (0.0..=100.0).contains(pct))
                    .ok_or_else(|| {
                        FieldError::new("idle_threshold_pct", "must be a number from 0 to 100")
                    })
            })
            .transpose()?;
        let idle_threshold_minutes = body
            .idle_threshold_minutes
            .map(|value| {
                whole_in(
                    "idle_threshold_minutes",
                    &value,
                    1,
                    MAX_IDLE_THRESHOLD_MINUTES,
                )
            })
            .transpose()?;
        let exclude_clusters = body
            .exclude_clusters
            .map(|ids| {
                if ids.len() > MAX_EXCLUDED_CLUSTERS {
                    return Err(FieldError::new(
                        "exclude_clusters",
                        format!("must list at most {MAX_EXCLUDED_CLUSTERS} clusters"),
                    ));
                }
                let mut unique: Vec<String> = Vec::with_capacity(ids.len());
                for (index, id) in ids.into_iter().enumerate() {
                    if !is_cluster_id(&id) {
                        return Err(FieldError::new(
                            format!("exclude_clusters[{index}]"),
                            "must be a cluster id (1-128 letters, digits, '-', '_', '.', '/')",
                        ));
                    }
                    if !unique.contains(&id) {
                        unique.push(id);
                    }
                }
                Ok(unique)
            })
            .transpose()?;
        Ok(Self {
            scan_interval_minutes,
            idle_threshold_pct,
            idle_threshold_minutes,
            auto_hibernate: body.auto_hibernate,
            auto_rightsize: body.auto_rightsize,
            auto_spot_failover: body.auto_spot_failover,
            exclude_clusters,
        })
    }

    pub fn apply(&self, config: &MonitoringConfig) -> MonitoringConfig {
        let mut next = config.clone();
        if let Some(value) = self.scan_interval_minutes {
            next.scan_interval_minutes = value;
        }
        if let Some(value) = self.idle_threshold_pct {
            next.idle_threshold_pct = value;
        }
        if let Some(value) = self.idle_threshold_minutes {
            next.idle_threshold_minutes = value;
        }
        if let Some(value) = self.auto_hibernate {
            next.auto_hibernate = value;
        }
        if let Some(value) = self.auto_rightsize {
            next.auto_rightsize = value;
        }
        if let Some(value) = self.auto_spot_failover {
            next.auto_spot_failover = value;
        }
        if let Some(ids) = &self.exclude_clusters {
            next.exclude_clusters = ids.clone();
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(body: serde_json::Value) -> Result<ConfigPatch, FieldError> {
        ConfigPatch::parse(serde_json::from_value(body).expect("a patch body"))
    }

    #[test]
    fn defaults_are_the_documented_example() {
        let config = MonitoringConfig::default();
        assert_eq!(config.scan_interval_minutes, 10);
        assert_eq!(config.idle_threshold_pct, 15.0);
        assert_eq!(config.idle_threshold_minutes, 30);
        assert!(!config.auto_hibernate && !config.auto_rightsize && !config.auto_spot_failover);
    }

    #[test]
    fn only_the_given_fields_change() {
        let patched = patch(json!({"auto_hibernate": true, "idle_threshold_minutes": 20, "scan_interval_minutes": 5}))
            .unwrap()
            .apply(&MonitoringConfig::default());
        assert_eq!(patched.scan_interval_minutes, 5);
        assert_eq!(patched.idle_threshold_minutes, 20);
        assert!(patched.auto_hibernate);
        assert_eq!(patched.idle_threshold_pct, 15.0);
        assert_eq!(patch(json!({})).unwrap().apply(&patched), patched);
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        for (body, field) in [
            (json!({"scan_interval_minutes": 0}), "scan_interval_minutes"),
            (
                json!({"scan_interval_minutes": -5}),
                "scan_interval_minutes",
            ),
            (
                json!({"scan_interval_minutes": 2.5}),
                "scan_interval_minutes",
            ),
            (
                json!({"scan_interval_minutes": 1441}),
                "scan_interval_minutes",
            ),
            (json!({"idle_threshold_pct": -0.1}), "idle_threshold_pct"),
            (json!({"idle_threshold_pct": 100.5}), "idle_threshold_pct"),
            (
                json!({"idle_threshold_minutes": 0}),
                "idle_threshold_minutes",
            ),
            (
                json!({"idle_threshold_minutes": -30}),
                "idle_threshold_minutes",
            ),
            (
                json!({"exclude_clusters": ["ok", "bad id!"]}),
                "exclude_clusters[1]",
            ),
            (json!({"exclude_clusters": [""]}), "exclude_clusters[0]"),
        ] {
            let err = patch(body.clone()).expect_err(&body.to_string());
            assert_eq!(err.field, field, "{body}");
        }
    }

    #[test]
    fn boundaries_are_accepted_and_exclusions_deduplicated() {
        let ok = patch(json!({"scan_interval_minutes": 1, "idle_threshold_pct": 0, "idle_threshold_minutes": 10080, "exclude_clusters": ["a", "sql/pool1", "a"]})).unwrap();
        assert_eq!(ok.scan_interval_minutes, Some(1));
        assert_eq!(ok.idle_threshold_pct, Some(0.0));
        assert_eq!(
            ok.exclude_clusters,
            Some(vec!["a".to_owned(), "sql/pool1".to_owned()])
        );
        assert!(patch(json!({"idle_threshold_pct": 100})).is_ok());
        assert!(patch(json!({"scan_interval_minutes": 5.0})).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_value::<ConfigPatchBody>(json!({"idle_treshold_pct": 5})).is_err()
        );
    }
}
