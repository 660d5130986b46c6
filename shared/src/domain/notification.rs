//! Notification channels (`/v1/notifications/...`): their types, the events they subscribe to,
//! and their `config`, read into typed values with every rule naming its field.
//!
//! Webhook URLs and PagerDuty routing keys are secrets: they are held as [`SecretString`]s, kept
//! only in the secret store, and shown masked ([`ChannelConfig::masked`]). Email addresses are
//! not secret and are shown as given.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

use super::FieldError;
use super::email::Email;
use crate::platforms::parse::{EndpointPolicy, is_public_host};

/// Where a channel delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Slack,
    Teams,
    Pagerduty,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::Slack, Self::Teams, Self::Pagerduty, Self::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Pagerduty => "pagerduty",
            Self::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// The events a channel of this kind gets when the request names none.
    pub fn default_events(self) -> Vec<EventKind> {
        match self {
            Self::Pagerduty => EventKind::INCIDENTS.to_vec(),
            Self::Slack | Self::Teams | Self::Email => EventKind::ALL.to_vec(),
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a channel can subscribe to.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A cluster has been idle past the org's threshold (once per idle episode).
    IdleCluster,
    /// A cluster was hibernated (by the scanner, a schedule or a person).
    ClusterHibernated,
    /// A hibernated cluster was resumed.
    ClusterResumed,
    /// A hibernation or resume failed on the platform.
    ActionFailed,
    /// A schedule ran.
    ScheduleExecuted,
    /// A periodic summary of savings.
    SavingsDigest,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        Self::IdleCluster,
        Self::ClusterHibernated,
        Self::ClusterResumed,
        Self::ActionFailed,
        Self::ScheduleExecuted,
        Self::SavingsDigest,
    ];

    /// The events that open a PagerDuty incident; the only ones a PagerDuty channel takes.
    pub const INCIDENTS: [EventKind; 2] = [Self::IdleCluster, Self::ActionFailed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdleCluster => "idle_cluster",
            Self::ClusterHibernated => "cluster_hibernated",
            Self::ClusterResumed => "cluster_resumed",
            Self::ActionFailed => "action_failed",
            Self::ScheduleExecuted => "schedule_executed",
            Self::SavingsDigest => "savings_digest",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    pub fn opens_incident(self) -> bool {
        Self::INCIDENTS.contains(&self)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel's configuration, valid for its kind.
#[derive(Clone, Debug)]
pub enum ChannelConfig {
    Slack { webhook_url: SecretString },
    Teams { webhook_url: SecretString },
    Pagerduty { routing_key: SecretString },
    Email { addresses: Vec<Email> },
}

/// Longest webhook URL accepted (Teams workflow URLs with their signature run to ~400).
const MAX_URL_LEN: usize = 2048;
/// Most addresses one email channel sends to.
pub const MAX_ADDRESSES: usize = 20;

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Slack { .. } => ChannelKind::Slack,
            Self::Teams { .. } => ChannelKind::Teams,
            Self::Pagerduty { .. } => ChannelKind::Pagerduty,
            Self::Email { .. } => ChannelKind::Email,
        }
    }

    /// Reads `config` for a channel of `kind`. Unknown fields are refused, so a misspelt field
    /// cannot leave a channel silently misconfigured.
    pub fn parse(
        kind: ChannelKind,
        config: Option<&Value>,
        policy: EndpointPolicy,
    ) -> Result<Self, FieldError> {
        let object = match config {
            None | Some(Value::Null) => return Err(FieldError::required("config")),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(FieldError::new("config", "must be an object")),
        };
        let allowed: &[&str] = match kind {
            ChannelKind::Slack | ChannelKind::Teams => &["webhook_url"],
            ChannelKind::Pagerduty => &["routing_key"],
            ChannelKind::Email => &["addresses", "email"],
        };
        if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
            // The name is the client's own text: keep it short and printable in the message.
            let shown: String = unknown
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect();
            return Err(FieldError::new(
                format!("config.{shown}"),
                format!(
                    "is not a {kind} setting (expected {})",
                    allowed.join(" or ")
                ),
            ));
        }
        match kind {
            ChannelKind::Slack => Ok(Self::Slack {
                webhook_url: webhook_url(object, policy)?,
            }),
            ChannelKind::Teams => Ok(Self::Teams {
                webhook_url: webhook_url(object, policy)?,
            }),
            ChannelKind::Pagerduty => Ok(Self::Pagerduty {
                routing_key: routing_key(object)?,
            }),
            ChannelKind::Email => Ok(Self::Email {
                addresses: addresses(object)?,
            }),
        }
    }

    /// What the API shows of the config: URLs and keys masked, addresses in full.
    pub fn masked(&self) -> Value {
        match self {
            Self::Slack { webhook_url } | Self::Teams { webhook_url } => {
                json!({ "webhook_url": mask_url(webhook_url.expose_secret()) })
            }
            Self::Pagerduty { routing_key } => {
                json!({ "routing_key": mask_key(routing_key.expose_secret()) })
            }
            Self::Email { addresses } => {
                json!({ "addresses": addresses.iter().map(Email::as_str).collect::<Vec<_>>() })
            }
        }
    }

    /// The part of the config that is secret, for the secret store; `None` for email.
    pub fn to_secret(&self) -> Option<SecretString> {
        let value = match self {
            Self::Slack { webhook_url } | Self::Teams { webhook_url } => {
                json!({ "webhook_url": webhook_url.expose_secret() })
            }
            Self::Pagerduty { routing_key } => {
                json!({ "routing_key": routing_key.expose_secret() })
            }
            Self::Email { .. } => return None,
        };
        Some(SecretString::from(value.to_string()))
    }

    /// Reads back what [`to_secret`](Self::to_secret) stored. The stored value passed the rules
    /// when it was written; the endpoint rule is checked again at every delivery, not here.
    pub fn from_secret(kind: ChannelKind, secret: &SecretString) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_str(secret.expose_secret())
            .map_err(|_| anyhow::anyhow!("a stored channel secret is not JSON"))?;
        Self::parse(kind, Some(&value), EndpointPolicy::AllowLocal)
            .map_err(|err| anyhow::anyhow!("a stored channel secret is invalid ({})", err.field))
    }
}

fn string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, FieldError> {
    let field = format!("config.{name}");
    match object.get(name) {
        None | Some(Value::Null) => Err(FieldError::required(&field)),
        Some(Value::String(raw)) if raw.trim().is_empty() => {
            Err(FieldError::new(field, "must not be empty"))
        }
        Some(Value::String(raw)) => Ok(raw.trim()),
        Some(_) => Err(FieldError::new(field, "must be a string")),
    }
}

/// An incoming-webhook URL: `https://` (also `http://` in local mode), to a public host in AWS
/// mode, no user or password. Unlike a platform endpoint it keeps its path and query: both carry
/// the webhook's own secret (Slack's path, a Teams workflow's `sig`).
pub fn webhook_url(
    object: &Map<String, Value>,
    policy: EndpointPolicy,
) -> Result<SecretString, FieldError> {
    let field = "config.webhook_url";
    let raw = string(object, "webhook_url")?;
    let rule = match policy {
        EndpointPolicy::PublicHttps => "must be an https URL",
        EndpointPolicy::AllowLocal => "must be an http or https URL",
    };
    if raw.len() > MAX_URL_LEN {
        return Err(FieldError::new(field, "must be at most 2048 characters"));
    }
    // Never quote the URL in a message: it is the secret.
    let url = Url::parse(raw).map_err(|_| FieldError::new(field, rule))?;
    match (url.scheme(), policy) {
        ("https", _) | ("http", EndpointPolicy::AllowLocal) => {}
        _ => return Err(FieldError::new(field, rule)),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            "must not contain a user or password",
        ));
    }
    if url.fragment().is_some() {
        return Err(FieldError::new(field, "must not have a fragment"));
    }
    let host = url.host().ok_or_else(|| FieldError::new(field, rule))?;
    if policy == EndpointPolicy::PublicHttps && !is_public_host(&host) {
        return Err(FieldError::new(
            field,
            "must be a public host (not localhost, a private, loopback or link-local address)",
        ));
    }
    Ok(SecretString::from(url.to_string()))
}

/// A PagerDuty Events API v2 routing (integration) key: 32 letters and digits.
fn routing_key(object: &Map<String, Value>) -> Result<SecretString, FieldError> {
    let raw = string(object, "routing_key")?;
    if raw.len() == 32 && raw.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(SecretString::from(raw.to_owned()))
    } else {
        Err(FieldError::new(
            "config.routing_key",
            "must be a 32-character Events API v2 routing key (letters and digits)",
        ))
    }
}

/// `addresses` (a list) or `email` (one address, or a list); 1 to 20 addresses, duplicates
/// dropped.
fn addresses(object: &Map<String, Value>) -> Result<Vec<Email>, FieldError> {
    let (name, value) = match (object.get("addresses"), object.get("email")) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "config",
                "give either addresses or email, not both",
            ));
        }
        (Some(value), None) => ("addresses", value),
        (None, Some(value)) => ("email", value),
        (None, None) => return Err(FieldError::required("config.addresses")),
    };
    let field = format!("config.{name}");
    let raws: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        Value::Null => return Err(FieldError::required(&field)),
        _ => {
            return Err(FieldError::new(
                field,
                "must be an email address or a list of them",
            ));
        }
    };
    if raws.is_empty() || raws.len() > MAX_ADDRESSES {
        return Err(FieldError::new(
            field,
            format!("must hold 1 to {MAX_ADDRESSES} email addresses"),
        ));
    }
    let mut found: Vec<Email> = Vec::with_capacity(raws.len());
    for (index, raw) in raws.into_iter().enumerate() {
        let item_field = if value.is_array() {
            format!("{field}[{index}]")
        } else {
            field.clone()
        };
        let Value::String(raw) = raw else {
            return Err(FieldError::new(item_field, "must be a string"));
        };
        let email = Email::parse(&item_field, raw)?;
        if !found.contains(&email) {
            found.push(email);
        }
    }
    Ok(found)
}

/// `events` as sent: absent means the kind's defaults; present, a non-empty list of known events
/// (duplicates dropped, sorted). A PagerDuty channel takes only events that open incidents.
pub fn parse_events(
    kind: ChannelKind,
    events: Option<&Value>,
) -> Result<Vec<EventKind>, FieldError> {
    let items = match events {
        None | Some(Value::Null) => return Ok(kind.default_events()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(FieldError::new("events", "must be a list of event names")),
    };
    if items.is_empty() {
        return Err(FieldError::new(
            "events",
            "must name at least one event (omit it for the defaults)",
        ));
    }
    let mut found = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field = format!("events[{index}]");
        let event = item
            .as_str()
            .map(str::trim)
            .and_then(EventKind::parse)
            .ok_or_else(|| {
                FieldError::new(
                    field.clone(),
                    format!(
                        "must be one of {}",
                        EventKind::ALL.map(EventKind::as_str).join(", ")
                    ),
                )
            })?;
        if kind == ChannelKind::Pagerduty && !event.opens_incident() {
            return Err(FieldError::new(
                field,
                "pagerduty channels take idle_cluster and action_failed (their incidents are resolved automatically)",
            ));
        }
        found.push(event);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `https://hooks.slack.com/services/T000…/****`: the scheme, host and first path segment, the
/// first four characters of the second, never the rest (where the webhook's secret is).
pub fn mask_url(raw: &str) -> String {
    let Ok(url) = Url::parse(raw) else {
        return "****".to_owned();
    };
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    let mut segments = url
        .path_segments()
        .map(|segments| segments.filter(|s| !s.is_empty()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    if let Some(first) = segments.next() {
        shown.push('/');
        shown.push_str(first);
        if let Some(second) = segments.next() {
            shown.push('/');
            shown.extend(second.chars().take(4));
            shown.push('…');
        }
    }
    shown.push_str("/****");
    shown
}

/// A routing key shows its first four characters only.
pub fn mask_key(raw: &str) -> String {
    let head: String = raw.chars().take(4).collect();
    format!("{head}…****")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: &str = "https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX";

    fn parse(
        kind: ChannelKind,
        config: Value,
        policy: EndpointPolicy,
    ) -> Result<ChannelConfig, String> {
        ChannelConfig::parse(kind, Some(&config), policy).map_err(|err| err.to_string())
    }

    #[test]
    fn webhook_channels_take_an_https_url_and_show_it_masked() {
        let config = parse(
            ChannelKind::Slack,
            json!({"webhook_url": SLACK}),
            EndpointPolicy::PublicHttps,
        )
        .unwrap();
        assert_eq!(
            config.masked(),
            json!({"webhook_url": "https://hooks.slack.com/services/T000…/****"})
        );
        let shown = format!("{config:?} {}", config.masked());
        assert!(!shown.contains("secret"), "{shown}");
        // A Teams workflow URL keeps its query (its signature) in the stored secret.
        let teams = "https://prod-01.westus.logic.azure.com:443/workflows/abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1G";
        let config = parse(
            ChannelKind::Teams,
            json!({"webhook_url": teams}),
            EndpointPolicy::PublicHttps,
        )
        .unwrap();
        let stored = config.to_secret().unwrap();
        assert!(stored.expose_secret().contains("sig=S1G"));
        let back = ChannelConfig::from_secret(ChannelKind::Teams, &stored).unwrap();
        assert_eq!(back.masked(), config.masked());
        assert!(!config.masked().to_string().contains("S1G"));
    }

    #[test]
    fn aws_mode_refuses_plain_http_and_private_or_local_hosts() {
        for url in [
            "http://hooks.slack.com/services/T/B/X",
            "https://127.0.0.1/hook",
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://localhost/hook",
            "https://hooks.internal/hook",
            "https://intranet/hook",
            "ftp://hooks.slack.com/x",
            "not a url",
            "https://user:pw@hooks.slack.com/services/T/B/X",
        ] {
            let err = parse(
                ChannelKind::Slack,
                json!({"webhook_url": url}),
                EndpointPolicy::PublicHttps,
            )
            .unwrap_err();
            assert!(err.starts_with("config.webhook_url: "), "{url}: {err}");
            assert!(!err.contains(url), "the URL is never quoted: {err}");
        }
    }

    #[test]
    fn local_mode_allows_loopback_http() {
        parse(
            ChannelKind::Teams,
            json!({"webhook_url": "http://127.0.0.1:4000/hook"}),
            EndpointPolicy::AllowLocal,
        )
        .unwrap();
    }

    #[test]
    fn missing_malformed_and_unknown_config_name_the_field() {
        let cases = [
            (ChannelKind::Slack, Value::Null, "config: is required"),
            (
                ChannelKind::Slack,
                json!("https://x.y/z"),
                "config: must be an object",
            ),
            (
                ChannelKind::Slack,
                json!({}),
                "config.webhook_url: is required",
            ),
            (
                ChannelKind::Slack,
                json!({"webhook_url": 5}),
                "config.webhook_url: must be a string",
            ),
            (
                ChannelKind::Slack,
                json!({"webhook_url": SLACK, "channel": "#ops"}),
                "config.channel: is not a slack setting",
            ),
            (
                ChannelKind::Pagerduty,
                json!({}),
                "config.routing_key: is required",
            ),
            (
                ChannelKind::Pagerduty,
                json!({"routing_key": "short"}),
                "config.routing_key: must be a 32-character",
            ),
            (
                ChannelKind::Email,
                json!({}),
                "config.addresses: is required",
            ),
            (
                ChannelKind::Email,
                json!({"addresses": []}),
                "config.addresses: must hold 1 to 20",
            ),
            (
                ChannelKind::Email,
                json!({"addresses": ["ops@acme.com", "nope"]}),
                "config.addresses[1]: ",
            ),
            (
                ChannelKind::Email,
                json!({"email": "a@acme.com", "addresses": ["b@acme.com"]}),
                "config: give either",
            ),
        ];
        for (kind, config, expected) in cases {
            let err = ChannelConfig::parse(kind, Some(&config), EndpointPolicy::AllowLocal)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{config}: {err}");
        }
    }

    #[test]
    fn email_takes_one_address_or_a_list_and_drops_duplicates() {
        let one = parse(
            ChannelKind::Email,
            json!({"email": "Ops@Acme.com"}),
            EndpointPolicy::PublicHttps,
        )
        .unwrap();
        assert_eq!(one.masked(), json!({"addresses": ["ops@acme.com"]}));
        assert!(one.to_secret().is_none());
        let list = parse(
            ChannelKind::Email,
            json!({"addresses": ["a@acme.com", "A@acme.com", "b@acme.com"]}),
            EndpointPolicy::PublicHttps,
        )
        .unwrap();
        assert_eq!(
            list.masked(),
            json!({"addresses": ["a@acme.com", "b@acme.com"]})
        );
    }

    #[test]
    fn a_routing_key_is_masked_and_round_trips() {
        let key = "R0UTINGkey0123456789abcdefABCDEF";
        let config = parse(
            ChannelKind::Pagerduty,
            json!({"routing_key": key}),
            EndpointPolicy::PublicHttps,
        )
        .unwrap();
        assert_eq!(config.masked(), json!({"routing_key": "R0UT…****"}));
        let back = ChannelConfig::from_secret(ChannelKind::Pagerduty, &config.to_secret().unwrap())
            .unwrap();
        assert!(
            matches!(back, ChannelConfig::Pagerduty { routing_key } if routing_key.expose_secret() == key)
        );
    }

    #[test]
    fn events_are_a_known_subset_with_defaults_per_kind() {
        assert_eq!(
            parse_events(ChannelKind::Slack, None).unwrap(),
            EventKind::ALL.to_vec()
        );
        assert_eq!(
            parse_events(ChannelKind::Pagerduty, None).unwrap(),
            vec![EventKind::IdleCluster, EventKind::ActionFailed]
        );
        assert_eq!(
            parse_events(
                ChannelKind::Email,
                Some(&json!([
                    "cluster_hibernated",
                    "idle_cluster",
                    "idle_cluster"
                ]))
            )
            .unwrap(),
            vec![EventKind::IdleCluster, EventKind::ClusterHibernated]
        );
        let unknown = parse_events(
            ChannelKind::Slack,
            Some(&json!(["idle_cluster", "cluster_exploded"])),
        )
        .unwrap_err()
        .to_string();
        assert!(
            unknown.starts_with("events[1]: must be one of idle_cluster"),
            "{unknown}"
        );
        assert!(parse_events(ChannelKind::Slack, Some(&json!([]))).is_err());
        assert!(parse_events(ChannelKind::Slack, Some(&json!("idle_cluster"))).is_err());
        let paged = parse_events(ChannelKind::Pagerduty, Some(&json!(["cluster_resumed"])))
            .unwrap_err()
            .to_string();
        assert!(
            paged.starts_with("events[0]: pagerduty channels take"),
            "{paged}"
        );
    }

    #[test]
    fn masks_never_show_the_secret_part() {
        assert_eq!(
            mask_url("http://127.0.0.1:4000/hook"),
            "http://127.0.0.1:4000/hook/****"
        );
        assert_eq!(
            mask_url("https://x.example.com/"),
            "https://x.example.com/****"
        );
        assert_eq!(mask_url("garbage"), "****");
    }
}
