//! Notifications: what the product does (monitoring, schedules, actions), delivered to every
//! subscribed channel of the org — Slack, Teams, PagerDuty, email.
//!
//! [`publish`] is the one entry point for the code that raises events. It never fails and stays
//! bounded in time, so a broken channel cannot break or stall a scan:
//! - channels are delivered to concurrently;
//! - each attempt is bounded by `Settings::notify_attempt_timeout` (5 s by default);
//! - at most [`MAX_ATTEMPTS`] attempts, with a backoff of 0.5 s then 1 s, only after a 5xx, a 429,
//!   a timeout or a connection failure — never after another 4xx; a channel already `failing`
//!   gets one attempt; one delivery never takes more than 3 × the attempt timeout;
//! - every delivery is recorded (with its attempts), and [`FAILING_AFTER`] failed deliveries in a
//!   row mark the channel `failing` (a success makes it `active` again).
//!
//! PagerDuty: `idle_cluster` and `action_failed` are `trigger`s with a `dedup_key` derived from
//! the org, the event, the cluster and the idle episode (the start of the quiet spell), so an
//! episode is one incident however often it is reported. A delivered trigger is remembered as an
//! open incident of that cluster; `cluster_hibernated`, `cluster_resumed` and [`clear`] (the
//! cluster is busy again) send the matching `resolve` for each open one, whatever the channel
//! subscribes to. A resolve that fails stays open and is retried at the cluster's next clearing.

pub mod format;
pub mod http;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::join_all;
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::domain::ids::{DeliveryId, OrgId, PlatformId};
use crate::domain::notification::{ChannelConfig, ChannelKind, EventKind};
use crate::domain::platform::PlatformKind;
use crate::platforms::parse::EndpointPolicy;
use crate::store::repos::alerts::Severity;
use crate::store::repos::notifications::{
    self as repo, Attempt, ChannelRecord, ChannelStatus, DeliveryRecord, DeliveryStatus,
    IncidentRecord,
};

pub use crate::store::repos::notifications::FAILING_AFTER;

/// Attempts per delivery, at most.
pub const MAX_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; doubled before the third.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The cluster an event is about.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRef {
    pub platform_id: PlatformId,
    pub platform: PlatformKind,
    pub cluster_id: String,
    /// The cluster's display name.
    pub name: String,
}

/// Something that happened, as channels are told of it.
#[derive(Clone, Debug, PartialEq)]
pub struct NotificationEvent {
    pub kind: EventKind,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub cluster: Option<ClusterRef>,
    /// The idle episode (start of the quiet spell) the event belongs to, when it has one: it
    /// keys PagerDuty's incident.
    pub episode: Option<DateTime<Utc>>,
    /// Name–value pairs shown as fields (Slack), facts (Teams), details (PagerDuty), lines (mail).
    pub facts: Vec<(String, String)>,
    /// When it happened; [`publish`] sets it from the app's clock.
    pub at: DateTime<Utc>,
}

impl NotificationEvent {
    pub fn new(kind: EventKind, severity: Severity, title: &str, message: String) -> Self {
        Self {
            kind,
            severity,
            title: title.to_owned(),
            message,
            cluster: None,
            episode: None,
            facts: Vec::new(),
            at: Utc::now(),
        }
    }

    fn about(mut self, cluster: ClusterRef) -> Self {
        self.facts.extend([
            ("Cluster".to_owned(), cluster.name.clone()),
            ("Cluster id".to_owned(), cluster.cluster_id.clone()),
            ("Platform".to_owned(), cluster.platform.to_string()),
        ]);
        self.cluster = Some(cluster);
        self
    }

    pub fn fact(mut self, name: &str, value: impl Into<String>) -> Self {
        self.facts.push((name.to_owned(), value.into()));
        self
    }

    /// Sets when it happened (tests; [`publish`] uses the app's clock otherwise).
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// A cluster idle past the threshold; `idle_since` is the episode.
    pub fn idle_cluster(
        cluster: ClusterRef,
        idle_since: DateTime<Utc>,
        idle_minutes: u32,
        hourly_cost: Option<f64>,
    ) -> Self {
        let message = format!(
            "Cluster {} has been idle for {idle_minutes} minutes.",
            cluster.name
        );
        let mut event = Self::new(
            EventKind::IdleCluster,
            Severity::Warning,
            "Idle cluster",
            message,
        )
        .about(cluster)
        .fact("Idle for", format!("{idle_minutes} minutes"));
        if let Some(cost) = hourly_cost {
            event = event.fact("Hourly cost", format!("${cost:.2}"));
        }
        event.episode = Some(idle_since);
        event
    }

    /// A cluster hibernated; `reason` as recorded on the action.
    pub fn cluster_hibernated(cluster: ClusterRef, reason: &str) -> Self {
        let message = format!("Cluster {} was hibernated.", cluster.name);
        Self::new(
            EventKind::ClusterHibernated,
            Severity::Info,
            "Cluster hibernated",
            message,
        )
        .about(cluster)
        .fact("Reason", reason)
    }

    pub fn cluster_resumed(cluster: ClusterRef) -> Self {
        let message = format!("Cluster {} was resumed.", cluster.name);
        Self::new(
            EventKind::ClusterResumed,
            Severity::Info,
            "Cluster resumed",
            message,
        )
        .about(cluster)
    }

    /// A hibernation or resume the platform failed. `episode`: the idle episode it acted on,
    /// when known (the scanner's); otherwise each failure is its own incident.
    pub fn action_failed(
        cluster: ClusterRef,
        action: &str,
        error: &str,
        episode: Option<DateTime<Utc>>,
    ) -> Self {
        let message = format!("Could not {action} cluster {}: {error}", cluster.name);
        let mut event = Self::new(
            EventKind::ActionFailed,
            Severity::Critical,
            "Action failed",
            message,
        )
        .about(cluster)
        .fact("Action", action);
        event.episode = episode;
        event
    }

    /// A schedule ran; `summary` says what it did.
    pub fn schedule_executed(schedule_id: &str, schedule_name: &str, summary: &str) -> Self {
        Self::new(
            EventKind::ScheduleExecuted,
            Severity::Info,
            "Schedule executed",
            format!("Schedule {schedule_name} ran: {summary}"),
        )
        .fact("Schedule", schedule_name)
        .fact("Schedule id", schedule_id)
    }

    /// The day's savings: what hibernations saved in the last 24 hours, and in all.
    pub fn savings_digest(
        day_usd: f64,
        day_hours: f64,
        total_usd: f64,
        total_co2_kg: f64,
        total_water_gallons: f64,
    ) -> Self {
        Self::new(
            EventKind::SavingsDigest,
            Severity::Info,
            "Daily savings",
            format!(
                "Hibernated clusters saved ${day_usd:.2} in the last 24 hours ({day_hours:.1} idle hours eliminated); ${total_usd:.2} in all."
            ),
        )
        .fact("Saved, last 24 h", format!("${day_usd:.2}"))
        .fact("Saved in all", format!("${total_usd:.2}"))
        .fact("CO2 avoided in all", format!("{total_co2_kg:.2} kg"))
        .fact("Water saved in all", format!("{total_water_gallons:.1} gal"))
    }

    /// The PagerDuty incident key: org, event, cluster and episode (or the time, for events
    /// without an episode), hashed to a fixed length.
    pub fn dedup_key(&self, org: &OrgId) -> String {
        let (platform, cluster) = match &self.cluster {
            Some(cluster) => (cluster.platform_id.as_str(), cluster.cluster_id.as_str()),
            None => ("", ""),
        };
        let episode = self
            .episode
            .unwrap_or(self.at)
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        let digest = Sha256::digest(format!(
            "{org}|{}|{platform}|{cluster}|{episode}",
            self.kind
        ));
        format!("dtap-{}", &hex::encode(digest)[..40])
    }

    fn clears_incidents(&self) -> bool {
        matches!(
            self.kind,
            EventKind::ClusterHibernated | EventKind::ClusterResumed
        )
    }
}

/// What [`publish`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishReport {
    /// Deliveries made (one per channel and message; a PagerDuty resolve counts as one).
    pub attempted: usize,
    pub delivered: usize,
    pub failed: usize,
}

/// What a channel is sent.
enum Message {
    Event(NotificationEvent),
    Trigger(NotificationEvent, String),
    Resolve(IncidentRecord),
    /// `POST /v1/notifications/test`.
    Test(NotificationEvent),
}

impl Message {
    fn event_name(&self) -> String {
        match self {
            Self::Event(event) | Self::Trigger(event, _) => event.kind.to_string(),
            Self::Resolve(incident) => incident.event.to_string(),
            Self::Test(_) => "test".to_owned(),
        }
    }
}

/// Delivers `event` to every channel of the org that subscribes to it (and resolves PagerDuty
/// incidents it clears). Never fails: problems are recorded on the deliveries and logged.
pub async fn publish(state: &AppState, org: &OrgId, event: NotificationEvent) -> PublishReport {
    match channels_of(state, org).await {
        Some(channels) => publish_to(state, org, &channels, event).await,
        None => PublishReport::default(),
    }
}

/// The cluster is no longer idle (busy again, or gone): resolves the PagerDuty incidents open
/// about it. Sends nothing else. Never fails.
pub async fn clear(state: &AppState, org: &OrgId, cluster: &ClusterRef) -> PublishReport {
    match channels_of(state, org).await {
        Some(channels) => clear_on(state, org, &channels, cluster).await,
        None => PublishReport::default(),
    }
}

/// The org's channels, read once by a caller that sends many events (a scan); `None` when they
/// could not be read (logged).
pub async fn channels_of(state: &AppState, org: &OrgId) -> Option<Vec<ChannelRecord>> {
    match repo::list(state.store.as_ref(), org).await {
        Ok(channels) => Some(channels),
        Err(err) => {
            tracing::error!(org_id = %org, error = format!("{err:#}"), "could not list notification channels");
            None
        }
    }
}

/// [`publish`] to channels already read.
pub async fn publish_to(
    state: &AppState,
    org: &OrgId,
    channels: &[ChannelRecord],
    event: NotificationEvent,
) -> PublishReport {
    let event = event.at(state.clock.now());
    let mut jobs = Vec::new();
    for channel in channels {
        if !channel.subscribes(event.kind) {
            continue;
        }
        let message = match channel.kind {
            ChannelKind::Pagerduty if event.kind.opens_incident() => {
                Message::Trigger(event.clone(), event.dedup_key(org))
            }
            ChannelKind::Pagerduty => continue,
            _ => Message::Event(event.clone()),
        };
        jobs.push((channel, message));
    }
    if let (true, Some(cluster)) = (event.clears_incidents(), &event.cluster) {
        jobs.extend(resolves(state, org, cluster, channels).await);
    }
    deliver_all(state, jobs).await
}

/// [`clear`] on channels already read.
pub async fn clear_on(
    state: &AppState,
    org: &OrgId,
    channels: &[ChannelRecord],
    cluster: &ClusterRef,
) -> PublishReport {
    let jobs = resolves(state, org, cluster, channels).await;
    deliver_all(state, jobs).await
}

async fn resolves<'a>(
    state: &AppState,
    org: &OrgId,
    cluster: &ClusterRef,
    channels: &'a [ChannelRecord],
) -> Vec<(&'a ChannelRecord, Message)> {
    let store = state.store.as_ref();
    let open = match repo::open_incidents(store, org, &cluster.platform_id, &cluster.cluster_id)
        .await
    {
        Ok(open) => open,
        Err(err) => {
            tracing::error!(org_id = %org, error = format!("{err:#}"), "could not read open incidents");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    for incident in open {
        match channels
            .iter()
            .find(|channel| channel.id == incident.channel_id)
        {
            Some(channel) => jobs.push((channel, Message::Resolve(incident))),
            // The channel was removed: nothing left to resolve through.
            None => {
                let _ = repo::close_incident(store, &incident).await;
            }
        }
    }
    jobs
}

async fn deliver_all(state: &AppState, jobs: Vec<(&ChannelRecord, Message)>) -> PublishReport {
    let outcomes = join_all(
        jobs.into_iter()
            .map(|(channel, message)| deliver(state, channel, message)),
    )
    .await;
    let delivered = outcomes
        .iter()
        .filter(|record| record.status == DeliveryStatus::Delivered)
        .count();
    PublishReport {
        attempted: outcomes.len(),
        delivered,
        failed: outcomes.len() - delivered,
    }
}

/// The outcome of `POST /v1/notifications/test`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestOutcome {
    pub delivered: bool,
    pub error: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// Sends a test message to one channel, with the same attempts, recording and failing rule as
/// any delivery. For PagerDuty the test incident is resolved right after it is triggered.
pub async fn test_channel(state: &AppState, channel: &ChannelRecord) -> TestOutcome {
    let event = NotificationEvent::new(
        EventKind::IdleCluster,
        Severity::Info,
        "Test notification",
        "This is a test from Digital Tap: this channel receives notifications.".to_owned(),
    )
    .at(state.clock.now());
    let record = deliver(state, channel, Message::Test(event)).await;
    TestOutcome {
        delivered: record.status == DeliveryStatus::Delivered,
        error: record.error,
        attempts: record.attempts,
    }
}

/// One message to one channel: the attempts, then the delivery record and the channel's count.
async fn deliver(state: &AppState, channel: &ChannelRecord, message: Message) -> DeliveryRecord {
    let started = state.clock.now();
    let (action, attempts, error) = match load_config(state, channel).await {
        Ok(config) => send(state, channel, &config, &message).await,
        Err(reason) => (None, Vec::new(), Some(reason)),
    };
    let delivered = error.is_none();
    let record = DeliveryRecord {
        id: DeliveryId::generate(),
        org_id: channel.org_id.clone(),
        channel_id: channel.id.clone(),
        event: message.event_name(),
        action: action.map(str::to_owned),
        status: if delivered {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        },
        attempts,
        error,
        created_at: started,
    };
    let store = state.store.as_ref();
    if let Err(err) = repo::record_delivery(store, &record).await {
        tracing::error!(channel_id = %channel.id, error = format!("{err:#}"), "could not record a notification delivery");
    }
    let at = state.clock.now();
    match repo::record_outcome(
        store,
        &channel.org_id,
        &channel.id,
        record.error.as_deref(),
        at,
    )
    .await
    {
        Ok(Some(ChannelStatus::Failing)) if channel.status == ChannelStatus::Active => {
            tracing::warn!(org_id = %channel.org_id, channel_id = %channel.id, "notification channel is now failing");
        }
        Ok(_) => {}
        Err(err) => {
            tracing::error!(channel_id = %channel.id, error = format!("{err:#}"), "could not count a notification outcome");
        }
    }
    // PagerDuty bookkeeping: what was triggered is open until resolved.
    if delivered {
        let bookkeeping = match &message {
            Message::Trigger(event, dedup_key) => match &event.cluster {
                Some(cluster) => {
                    repo::open_incident(
                        store,
                        &IncidentRecord {
                            org_id: channel.org_id.clone(),
                            channel_id: channel.id.clone(),
                            platform_id: cluster.platform_id.clone(),
                            cluster_id: cluster.cluster_id.clone(),
                            dedup_key: dedup_key.clone(),
                            event: event.kind,
                            opened_at: event.at,
                        },
                    )
                    .await
                }
                None => Ok(()),
            },
            Message::Resolve(incident) => repo::close_incident(store, incident).await,
            Message::Event(_) | Message::Test(_) => Ok(()),
        };
        if let Err(err) = bookkeeping {
            tracing::error!(channel_id = %channel.id, error = format!("{err:#}"), "could not record a PagerDuty incident");
        }
    }
    tracing::info!(
        org_id = %channel.org_id,
        channel_id = %channel.id,
        channel = %channel.kind,
        event = %record.event,
        delivered,
        attempts = record.attempts.len(),
        "notification delivery"
    );
    record
}

async fn load_config(state: &AppState, channel: &ChannelRecord) -> Result<ChannelConfig, String> {
    if channel.kind == ChannelKind::Email {
        return Ok(ChannelConfig::Email {
            addresses: channel
                .addresses
                .iter()
                .filter_map(|raw| crate::domain::email::Email::parse("email", raw).ok())
                .collect(),
        });
    }
    let unreadable = || "the channel's configuration could not be read".to_owned();
    match state.secrets.get(&channel.secret_name()).await {
        Ok(Some(secret)) => ChannelConfig::from_secret(channel.kind, &secret).map_err(|err| {
            tracing::error!(channel_id = %channel.id, error = format!("{err:#}"), "unreadable channel secret");
            unreadable()
        }),
        Ok(None) => Err(unreadable()),
        Err(err) => {
            tracing::error!(channel_id = %channel.id, error = format!("{err:#}"), "could not read a channel secret");
            Err(unreadable())
        }
    }
}

type Sent = (Option<&'static str>, Vec<Attempt>, Option<String>);

async fn send(
    state: &AppState,
    channel: &ChannelRecord,
    config: &ChannelConfig,
    message: &Message,
) -> Sent {
    let public_url = state.settings.public_url.as_str();
    let event = match message {
        Message::Event(event) | Message::Trigger(event, _) | Message::Test(event) => Some(event),
        Message::Resolve(_) => None,
    };
    match config {
        ChannelConfig::Slack { webhook_url } | ChannelConfig::Teams { webhook_url } => {
            let Some(event) = event else {
                return (
                    None,
                    Vec::new(),
                    Some("nothing to resolve on this channel".into()),
                );
            };
            let body = if channel.kind == ChannelKind::Slack {
                format::slack(event)
            } else {
                format::teams(event)
            };
            let (attempts, error) =
                post_with_retries(state, channel, webhook_url.expose_secret(), &body).await;
            (None, attempts, error)
        }
        ChannelConfig::Pagerduty { routing_key } => {
            let key = routing_key.expose_secret();
            let url = state.settings.pagerduty_url.as_str();
            match message {
                Message::Trigger(event, dedup_key) => {
                    let body = format::pagerduty_trigger(event, key, dedup_key, public_url);
                    let (attempts, error) = post_with_retries(state, channel, url, &body).await;
                    (Some("trigger"), attempts, error)
                }
                Message::Resolve(incident) => {
                    let body = format::pagerduty_resolve(key, &incident.dedup_key);
                    let (attempts, error) = post_with_retries(state, channel, url, &body).await;
                    (Some("resolve"), attempts, error)
                }
                Message::Test(event) => {
                    let dedup_key = format!("dtap-test-{}", DeliveryId::generate());
                    let body = format::pagerduty_trigger(event, key, &dedup_key, public_url);
                    let (mut attempts, error) = post_with_retries(state, channel, url, &body).await;
                    if error.is_none() {
                        // Leave no test incident open: one attempt, so a test stays within 4 ×
                        // the attempt timeout; its outcome does not change the test's.
                        let resolve = format::pagerduty_resolve(key, &dedup_key);
                        if let Ok(url) = http::check_url(url, policy(state)) {
                            let per_attempt = state.settings.notify_attempt_timeout;
                            let tried =
                                http::post_once(&url, &resolve, per_attempt, policy(state)).await;
                            attempts.push(tried.attempt);
                        }
                    }
                    (Some("trigger"), attempts, error)
                }
                Message::Event(_) => (None, Vec::new(), Some("not an incident event".into())),
            }
        }
        ChannelConfig::Email { addresses } => {
            let Some(event) = event else {
                return (
                    None,
                    Vec::new(),
                    Some("nothing to resolve on this channel".into()),
                );
            };
            let (attempts, error) = mail(state, event, addresses).await;
            (None, attempts, error)
        }
    }
}

/// The rule for webhook URLs now, in this deployment.
fn policy(state: &AppState) -> EndpointPolicy {
    EndpointPolicy::from_allow_local(state.settings.allow_local_endpoints)
}

/// Up to [`MAX_ATTEMPTS`] POSTs (one for a failing channel), retrying only what may succeed
/// later, within 3 × the attempt timeout in all.
async fn post_with_retries(
    state: &AppState,
    channel: &ChannelRecord,
    raw_url: &str,
    body: &Value,
) -> (Vec<Attempt>, Option<String>) {
    let policy = policy(state);
    let url = match http::check_url(raw_url, policy) {
        Ok(url) => url,
        Err(reason) => return (Vec::new(), Some(format!("refused: {reason}"))),
    };
    let per_attempt = state.settings.notify_attempt_timeout;
    let deadline = tokio::time::Instant::now() + per_attempt * MAX_ATTEMPTS;
    let attempts_allowed = if channel.status == ChannelStatus::Failing {
        1
    } else {
        MAX_ATTEMPTS
    };
    let mut attempts = Vec::new();
    let mut backoff = FIRST_BACKOFF;
    for number in 1..=attempts_allowed {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let tried = http::post_once(&url, body, per_attempt.min(left), policy).await;
        let error = tried.attempt.error.clone();
        attempts.push(tried.attempt);
        if tried.delivered {
            return (attempts, None);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !tried.retryable || number == attempts_allowed || left <= backoff {
            return (attempts, error);
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    let error = attempts
        .last()
        .and_then(|attempt| attempt.error.clone())
        .unwrap_or_else(|| "no time left to deliver".to_owned());
    (attempts, Some(error))
}

/// One mail per address, through the deployment's mailer (SES, SMTP or the outbox), each bounded
/// by the attempt timeout. The mailers retry on their own, so this makes one attempt.
async fn mail(
    state: &AppState,
    event: &NotificationEvent,
    addresses: &[crate::domain::email::Email],
) -> (Vec<Attempt>, Option<String>) {
    let timeout = state.settings.notify_attempt_timeout;
    let started = std::time::Instant::now();
    let sends = addresses.iter().map(|address| async move {
        let mail = format::email(event, address.as_str(), &state.settings.public_url);
        match tokio::time::timeout(timeout, state.mailer.send(&mail)).await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => {
                tracing::warn!(error = format!("{err:#}"), "notification mail not sent");
                Some(format!("{address}: the mail could not be sent"))
            }
            Err(_) => Some(format!(
                "{address}: the mailer did not answer within {} ms",
                timeout.as_millis()
            )),
        }
    });
    let failures: Vec<String> = join_all(sends).await.into_iter().flatten().collect();
    let error = (!failures.is_empty()).then(|| failures.join("; "));
    let attempt = Attempt {
        status_code: None,
        error: error.clone(),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    (vec![attempt], error)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn cluster() -> ClusterRef {
        ClusterRef {
            platform_id: PlatformId::parse("plat_01hzy8k7m3q4w5e6r7t8y9u0ie").unwrap(),
            platform: PlatformKind::Databricks,
            cluster_id: "0301-etl".into(),
            name: "ETL".into(),
        }
    }

    #[test]
    fn an_episode_is_one_incident_and_the_next_episode_another() {
        let org = OrgId::generate();
        let since = Utc.with_ymd_and_hms(2026, 3, 12, 14, 0, 0).unwrap();
        let first = NotificationEvent::idle_cluster(cluster(), since, 30, None);
        let again = NotificationEvent::idle_cluster(cluster(), since, 45, Some(1.0))
            .at(since + chrono::Duration::minutes(45));
        assert_eq!(first.dedup_key(&org), again.dedup_key(&org));
        assert!(first.dedup_key(&org).starts_with("dtap-"));
        assert_eq!(first.dedup_key(&org).len(), 45);
        let next = NotificationEvent::idle_cluster(
            cluster(),
            since + chrono::Duration::hours(3),
            30,
            None,
        );
        assert_ne!(first.dedup_key(&org), next.dedup_key(&org));
        assert_ne!(first.dedup_key(&org), first.dedup_key(&OrgId::generate()));
        let failed = NotificationEvent::action_failed(cluster(), "hibernate", "503", Some(since));
        assert_ne!(first.dedup_key(&org), failed.dedup_key(&org));
    }
}
