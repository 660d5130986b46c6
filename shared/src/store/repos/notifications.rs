//! Notification channels (`ORG#o / NOTIFYCH#<nch_…>`), their deliveries
//! (`ORG#o / NOTIFYDLV#<nch_…>#<dlv_…>`, kept 30 days) and the PagerDuty incidents they have
//! open (`ORG#o / INCIDENT#<plat_…>#<cluster>#<nch_…>#<dedup key>`). A channel's webhook URL or
//! routing key is only in the secret store, under [`keys::notification_secret`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::ids::{DeliveryId, NotificationChannelId, OrgId, PlatformId};
use crate::domain::notification::{ChannelKind, EventKind};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, keys};

/// Consecutive failed deliveries after which a channel is marked `failing`.
pub const FAILING_AFTER: u32 = 5;
/// How long delivery records are kept.
pub const DELIVERIES_KEPT_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelStatus {
    /// Delivering (or not tried yet).
    Active,
    /// The last [`FAILING_AFTER`] deliveries failed; a success makes it active again.
    Failing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub id: NotificationChannelId,
    pub org_id: OrgId,
    #[serde(rename = "type")]
    pub kind: ChannelKind,
    pub events: Vec<EventKind>,
    pub status: ChannelStatus,
    /// The config as the API shows it: URLs and keys masked, email addresses in full.
    pub config: Value,
    /// The addresses of an email channel (empty for the other kinds).
    #[serde(default)]
    pub addresses: Vec<String>,
    pub consecutive_failures: u32,
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Why the last delivery failed; cleared by a success.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ChannelRecord {
    fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::notification_channel(&self.org_id, &self.id), self)
    }

    pub fn secret_name(&self) -> String {
        keys::notification_secret(&self.id)
    }

    pub fn subscribes(&self, event: EventKind) -> bool {
        self.events.contains(&event)
    }
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &NotificationChannelId,
) -> StoreResult<Option<ChannelRecord>> {
    table
        .get(&keys::notification_channel(org, id))
        .await?
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// An org's channels, oldest first.
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<ChannelRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::notification_channels_prefix())
            .limit(100)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            found.push(item.record().map_err(StoreError::Backend)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(found),
        }
    }
}

pub async fn create(table: &dyn Table, record: &ChannelRecord) -> StoreResult<()> {
    table
        .put(
            record.item().map_err(StoreError::Backend)?,
            Condition::NotExists,
        )
        .await
}

/// Replaces a channel's record; `ConditionFailed` if it was removed meanwhile.
pub async fn replace(table: &dyn Table, record: &ChannelRecord) -> StoreResult<()> {
    table
        .put(
            record.item().map_err(StoreError::Backend)?,
            Condition::Exists,
        )
        .await
}

/// Removes a channel's record; `ConditionFailed` if it is already gone.
pub async fn delete(table: &dyn Table, org: &OrgId, id: &NotificationChannelId) -> StoreResult<()> {
    table
        .delete(&keys::notification_channel(org, id), Condition::Exists)
        .await
}

/// Counts a delivery's outcome on its channel: a success resets the failure count and makes the
/// channel active; a failure adds one, and the [`FAILING_AFTER`]th in a row marks it failing.
/// Conditioned on the count read, so concurrent deliveries do not lose each other's outcomes
/// (retried a few times, then given up: it is bookkeeping). `None` when the channel is gone.
pub async fn record_outcome(
    table: &dyn Table,
    org: &OrgId,
    id: &NotificationChannelId,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> StoreResult<Option<ChannelStatus>> {
    for _ in 0..4 {
        let Some(record) = get(table, org, id).await? else {
            return Ok(None);
        };
        let failures = match error {
            None => 0,
            Some(_) => record.consecutive_failures.saturating_add(1),
        };
        let status = if failures >= FAILING_AFTER {
            ChannelStatus::Failing
        } else if error.is_none() {
            ChannelStatus::Active
        } else {
            record.status
        };
        let mut set = serde_json::Map::new();
        set.insert("consecutive_failures".into(), json!(failures));
        set.insert(
            "status".into(),
            serde_json::to_value(status).map_err(StoreError::backend)?,
        );
        set.insert(
            "last_delivery_at".into(),
            serde_json::to_value(at).map_err(StoreError::backend)?,
        );
        set.insert("last_error".into(), json!(error));
        let condition = Condition::AttrEquals(
            "consecutive_failures".into(),
            json!(record.consecutive_failures),
        );
        match table
            .update(&keys::notification_channel(org, id), set, condition)
            .await
        {
            Ok(()) => return Ok(Some(status)),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
}

/// One try of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// The service's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    pub latency_ms: u64,
}

/// One event sent to one channel, with every attempt made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub channel_id: NotificationChannelId,
    /// The event (`idle_cluster`, …), or `test` for `POST /v1/notifications/test`.
    pub event: String,
    /// PagerDuty's `event_action` (`trigger` or `resolve`); none for the other kinds.
    pub action: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// Why the delivery failed (the last attempt's reason).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn record_delivery(table: &dyn Table, delivery: &DeliveryRecord) -> StoreResult<()> {
    let expires = delivery.created_at + chrono::Duration::days(DELIVERIES_KEPT_DAYS);
    let item = Item::from_record(
        keys::notification_delivery(&delivery.org_id, &delivery.channel_id, &delivery.id),
        delivery,
    )
    .map_err(StoreError::Backend)?
    .expiring_at(expires.timestamp());
    table.put(item, Condition::Always).await
}

/// A channel's `limit` newest deliveries, newest first.
pub async fn latest_deliveries(
    table: &dyn Table,
    org: &OrgId,
    channel: &NotificationChannelId,
    limit: usize,
) -> StoreResult<Vec<DeliveryRecord>> {
    let query = Query::partition(Index::Primary, keys::org_partition(org))
        .begins_with(keys::notification_deliveries_prefix(channel))
        .limit(limit)
        .descending();
    let page = table.query(&query).await?;
    page.items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect()
}

/// A PagerDuty incident a channel triggered about a cluster and has not resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub org_id: OrgId,
    pub channel_id: NotificationChannelId,
    pub platform_id: PlatformId,
    pub cluster_id: String,
    pub dedup_key: String,
    pub event: EventKind,
    pub opened_at: DateTime<Utc>,
}

impl IncidentRecord {
    fn key(&self) -> crate::store::Key {
        keys::open_incident(
            &self.org_id,
            &self.platform_id,
            &self.cluster_id,
            &self.channel_id,
            &self.dedup_key,
        )
    }
}

pub async fn open_incident(table: &dyn Table, incident: &IncidentRecord) -> StoreResult<()> {
    let item = Item::from_record(incident.key(), incident).map_err(StoreError::Backend)?;
    table.put(item, Condition::Always).await
}

pub async fn close_incident(table: &dyn Table, incident: &IncidentRecord) -> StoreResult<()> {
    table.delete(&incident.key(), Condition::Always).await
}

/// The incidents open about one cluster, over every channel of the org.
pub async fn open_incidents(
    table: &dyn Table,
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
) -> StoreResult<Vec<IncidentRecord>> {
    let query = Query::partition(Index::Primary, keys::org_partition(org))
        .begins_with(keys::open_incidents_prefix(platform, cluster_id))
        .limit(100);
    let page = table.query(&query).await?;
    page.items
        .iter()
        .map(|item| item.record().map_err(StoreError::Backend))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedTable;

    fn channel(org: &OrgId) -> ChannelRecord {
        let now = Utc::now();
        ChannelRecord {
            id: NotificationChannelId::generate(),
            org_id: org.clone(),
            kind: ChannelKind::Slack,
            events: vec![EventKind::IdleCluster],
            status: ChannelStatus::Active,
            config: json!({"webhook_url": "https://hooks.slack.com/services/T000…/****"}),
            addresses: Vec::new(),
            consecutive_failures: 0,
            last_delivery_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn a_channel_fails_after_five_failures_in_a_row_and_recovers_on_a_success() {
        let dir = tempfile::tempdir().unwrap();
        let table = EmbeddedTable::open(&dir.path().join("t.redb")).unwrap();
        let org = OrgId::generate();
        let record = channel(&org);
        create(&table, &record).await.unwrap();
        let now = Utc::now();
        for n in 1..FAILING_AFTER {
            let status = record_outcome(&table, &org, &record.id, Some("HTTP 500"), now)
                .await
                .unwrap();
            assert_eq!(status, Some(ChannelStatus::Active), "after {n} failures");
        }
        let status = record_outcome(&table, &org, &record.id, Some("HTTP 500"), now)
            .await
            .unwrap();
        assert_eq!(status, Some(ChannelStatus::Failing));
        let stored = get(&table, &org, &record.id).await.unwrap().unwrap();
        assert_eq!(stored.consecutive_failures, FAILING_AFTER);
        assert_eq!(stored.last_error.as_deref(), Some("HTTP 500"));
        let status = record_outcome(&table, &org, &record.id, None, now)
            .await
            .unwrap();
        assert_eq!(status, Some(ChannelStatus::Active));
        let stored = get(&table, &org, &record.id).await.unwrap().unwrap();
        assert_eq!((stored.consecutive_failures, stored.last_error), (0, None));
        // Gone: nothing is recreated.
        delete(&table, &org, &record.id).await.unwrap();
        assert_eq!(
            record_outcome(&table, &org, &record.id, None, now)
                .await
                .unwrap(),
            None
        );
        assert!(get(&table, &org, &record.id).await.unwrap().is_none());
    }
}
