//! Every key pattern of the single table, built in exactly one place (infra/README.md lists them).

use chrono::{DateTime, SecondsFormat, Utc};

use super::Key;
use crate::domain::email::Email;
use crate::domain::ids::WarmPoolId;
use crate::domain::ids::{
    ActionId, AlertId, ApiKeyId, DeliveryId, ExecutionId, InviteId, MembershipId,
    NotificationChannelId, OrgId, PlatformId, ScheduleId, UserId,
};
use crate::domain::slug::OrgSlug;

pub fn user(id: &UserId) -> Key {
    Key::new(format!("USER#{id}"), "PROFILE")
}

/// Guards email uniqueness; written in the same transaction as the user.
pub fn email(email: &Email) -> Key {
    Key::new(format!("EMAIL#{email}"), "USER")
}

pub fn org(id: &OrgId) -> Key {
    Key::new(format!("ORG#{id}"), "META")
}

/// Guards slug uniqueness; written in the same transaction as the org.
pub fn slug(slug: &OrgSlug) -> Key {
    Key::new(format!("SLUG#{slug}"), "ORG")
}

pub fn membership(org: &OrgId, user: &UserId) -> Key {
    Key::new(format!("ORG#{org}"), format!("MEMBER#{user}"))
}

/// Index key listing a user's orgs in the order they joined.
pub fn membership_by_user(user: &UserId, membership: &MembershipId) -> Key {
    Key::new(format!("USER#{user}"), format!("ORG#{membership}"))
}

pub fn memberships_of_user_prefix() -> &'static str {
    "ORG#"
}

pub fn user_partition(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn org_partition(org: &OrgId) -> String {
    format!("ORG#{org}")
}

/// The sort-key prefix of the clusters an org manages (`ORG#o / CLUSTER#<platform>#<id>`).
pub fn clusters_prefix() -> &'static str {
    "CLUSTER#"
}

/// A cluster the org manages (hibernated by us, with what resume needs), keyed by the platform
/// record (`plat_…`) and the platform's own cluster id as it was when first acted on.
pub fn cluster(org: &OrgId, platform: &PlatformId, cluster_id: &str) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!("CLUSTER#{platform}#{cluster_id}"),
    )
}

/// An API key, found by the hash of the presented key.
pub fn api_key(fingerprint: &str) -> Key {
    Key::new(format!("APIKEY#{fingerprint}"), "KEY")
}

/// Index key listing a user's keys for one org, oldest first.
pub fn api_key_by_user(user: &UserId, org: &OrgId, id: &ApiKeyId) -> Key {
    Key::new(format!("USER#{user}"), format!("APIKEY#{org}#{id}"))
}

pub fn api_keys_of_user_prefix(org: &OrgId) -> String {
    format!("APIKEY#{org}#")
}

pub fn all_api_keys_of_user_prefix() -> &'static str {
    "APIKEY#"
}

/// An org's usage counters for one calendar month (`yyyy-mm`, UTC).
pub fn usage(org: &OrgId, month: &str) -> Key {
    Key::new(format!("ORG#{org}"), format!("USAGE#{month}"))
}

/// The sort-key prefix of an org's members (`ORG#o / MEMBER#<usr_…>`).
pub fn members_prefix() -> &'static str {
    "MEMBER#"
}

/// A pending invitation to an org.
pub fn invite(org: &OrgId, id: &InviteId) -> Key {
    Key::new(format!("ORG#{org}"), format!("INVITE#{id}"))
}

/// The sort-key prefix of an org's pending invitations.
pub fn invites_prefix() -> &'static str {
    "INVITE#"
}

/// Names the one pending invitation an email has in an org, so a new invitation replaces the
/// old one in the same transaction instead of leaving two live tokens.
pub fn pending_invite(org: &OrgId, email: &Email) -> Key {
    Key::new(format!("ORG#{org}"), format!("PENDING_INVITE#{email}"))
}

/// An invitation token, found by the hash of the token.
pub fn invite_token(fingerprint: &str) -> Key {
    Key::new(format!("INVITE_TOKEN#{fingerprint}"), "INVITE")
}

/// One entry of an org's plan history: from `since` on, the org is on the item's plan. The
/// timestamp has a fixed width (microseconds, `Z`), so sort keys order like the times.
pub fn plan_change(org: &OrgId, since: DateTime<Utc>) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!(
            "PLAN#{}",
            since.to_rfc3339_opts(SecondsFormat::Micros, true)
        ),
    )
}

pub fn plan_changes_prefix() -> &'static str {
    "PLAN#"
}

/// An action on one of the org's clusters; ids are ULIDs, so the partition lists them in time
/// order.
pub fn action(org: &OrgId, id: &ActionId) -> Key {
    Key::new(format!("ORG#{org}"), format!("ACTION#{id}"))
}

pub fn actions_prefix() -> &'static str {
    "ACTION#"
}

/// An entry of the org's alert feed, time-ordered like actions.
pub fn alert(org: &OrgId, id: &AlertId) -> Key {
    Key::new(format!("ORG#{org}"), format!("ALERT#{id}"))
}

pub fn alerts_prefix() -> &'static str {
    "ALERT#"
}

/// A connected platform of an org; its credentials are only in the secret store.
pub fn platform(org: &OrgId, id: &PlatformId) -> Key {
    Key::new(format!("ORG#{org}"), format!("PLATFORM#{id}"))
}

pub fn platforms_prefix() -> &'static str {
    "PLATFORM#"
}

/// The secret holding a platform's credentials (the secret store adds the deployment's prefix).
/// Platform ids are unique across orgs, so the name needs no org.
pub fn platform_secret(id: &PlatformId) -> String {
    format!("platform/{id}")
}

/// An org's monitoring settings and scan bookkeeping.
pub fn monitor(org: &OrgId) -> Key {
    Key::new(format!("ORG#{org}"), "MONITOR")
}

/// The index partition of orgs by when their next scan is due (`gsi1sk` = that time, fixed
/// width), so the ticker finds due orgs with one range query instead of reading every org.
pub fn scans_due_partition() -> &'static str {
    "SCANDUE"
}

pub fn scan_due(org: &OrgId, due: DateTime<Utc>) -> Key {
    Key::new(scans_due_partition(), format!("{}#{org}", timestamp(due)))
}

/// Held while one scanner works on the org, so two scans of one org never overlap.
pub fn scan_lease(org: &OrgId) -> Key {
    Key::new(format!("ORG#{org}"), "SCANLEASE")
}

/// What the scanner remembers of one cluster between scans.
pub fn watch(org: &OrgId, platform: &PlatformId, cluster_id: &str) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!("WATCH#{platform}#{cluster_id}"),
    )
}

pub fn watches_prefix() -> &'static str {
    "WATCH#"
}

/// The partition of one cluster's metric points. The API names a cluster by its platform id
/// alone, so the partition does too; the sort key carries the platform.
pub fn metrics_partition(org: &OrgId, cluster_id: &str) -> String {
    format!("METRICS#{org}#{cluster_id}")
}

pub fn metric(org: &OrgId, cluster_id: &str, at: DateTime<Utc>, platform: &PlatformId) -> Key {
    Key::new(
        metrics_partition(org, cluster_id),
        format!("{}#{platform}", timestamp(at)),
    )
}

/// A fixed-width UTC timestamp (microseconds, `Z`): sort keys built from it order like the times.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Marks a cluster as optimized in a month, so `clusters_optimized` counts each cluster once.
pub fn optimized_cluster(org: &OrgId, month: &str, platform: &PlatformId, cluster_id: &str) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!("OPTIMIZED#{month}#{platform}#{cluster_id}"),
    )
}

/// A schedule rule of an org.
pub fn schedule(org: &OrgId, id: &ScheduleId) -> Key {
    Key::new(format!("ORG#{org}"), format!("SCHEDULE#{id}"))
}

pub fn schedules_prefix() -> &'static str {
    "SCHEDULE#"
}

/// Index partitions holding the enabled time schedules by their next run. Spread over this many
/// partitions (by a hash of the schedule id) so that thousands of schedules due in the same
/// minute do not all rewrite one index partition when the ticker moves them on.
pub const SCHEDULE_DUE_SHARDS: u32 = 16;

/// The shard of a schedule: FNV-1a of its id, so it never changes.
pub fn schedule_due_shard(id: &ScheduleId) -> u32 {
    let hash = id.as_str().bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % SCHEDULE_DUE_SHARDS
}

pub fn schedules_due_partition(shard: u32) -> String {
    format!("SCHEDDUE#{shard:02}")
}

/// The index key of an enabled time schedule: its shard's partition, sorted by the next run
/// (fixed width), so the ticker finds what is due with one range query per shard.
pub fn schedule_due(org: &OrgId, id: &ScheduleId, due: DateTime<Utc>) -> Key {
    Key::new(
        schedules_due_partition(schedule_due_shard(id)),
        format!("{}#{org}#{id}", timestamp(due)),
    )
}

/// One run of a schedule, under the schedule so its runs list together, oldest first.
pub fn execution(org: &OrgId, schedule: &ScheduleId, id: &ExecutionId) -> Key {
    Key::new(format!("ORG#{org}"), format!("EXEC#{schedule}#{id}"))
}

pub fn executions_prefix(schedule: &ScheduleId) -> String {
    format!("EXEC#{schedule}#")
}

/// Marks that an idle rule acted on a cluster for one idle episode (the episode's start), so it
/// acts once per episode, not on every scan.
pub fn rule_fired(
    org: &OrgId,
    schedule: &ScheduleId,
    platform: &PlatformId,
    cluster_id: &str,
    episode: DateTime<Utc>,
) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!(
            "SCHFIRED#{schedule}#{platform}#{cluster_id}#{}",
            timestamp(episode)
        ),
    )
}

/// A notification channel of an org; its webhook URL or routing key is only in the secret store.
pub fn notification_channel(org: &OrgId, id: &NotificationChannelId) -> Key {
    Key::new(format!("ORG#{org}"), format!("NOTIFYCH#{id}"))
}

pub fn notification_channels_prefix() -> &'static str {
    "NOTIFYCH#"
}

/// The secret holding a channel's webhook URL or routing key. Channel ids are unique across
/// orgs, so the name needs no org.
pub fn notification_secret(id: &NotificationChannelId) -> String {
    format!("notification/{id}")
}

/// One delivery to a channel, under the channel so its deliveries list together (ULIDs: oldest
/// first, read newest first).
pub fn notification_delivery(org: &OrgId, channel: &NotificationChannelId, id: &DeliveryId) -> Key {
    Key::new(format!("ORG#{org}"), format!("NOTIFYDLV#{channel}#{id}"))
}

pub fn notification_deliveries_prefix(channel: &NotificationChannelId) -> String {
    format!("NOTIFYDLV#{channel}#")
}

/// A PagerDuty incident a channel opened about a cluster and has not resolved yet, found by the
/// cluster when what opened it clears.
pub fn open_incident(
    org: &OrgId,
    platform: &PlatformId,
    cluster_id: &str,
    channel: &NotificationChannelId,
    dedup_key: &str,
) -> Key {
    Key::new(
        format!("ORG#{org}"),
        format!("INCIDENT#{platform}#{cluster_id}#{channel}#{dedup_key}"),
    )
}

/// The open incidents about one cluster. Cluster ids never contain `#`, so one cluster's prefix
/// is not the start of another's.
pub fn open_incidents_prefix(platform: &PlatformId, cluster_id: &str) -> String {
    format!("INCIDENT#{platform}#{cluster_id}#")
}

/// A warm pool configuration of an org.
pub fn warm_pool(org: &OrgId, id: &WarmPoolId) -> Key {
    Key::new(format!("ORG#{org}"), format!("WARMPOOL#{id}"))
}

pub fn warm_pools_prefix() -> &'static str {
    "WARMPOOL#"
}

/// A password-reset token, found by the hash of the token.
pub fn reset_token(fingerprint: &str) -> Key {
    Key::new(format!("RESET#{fingerprint}"), "TOKEN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shapes() {
        let user = UserId::parse("usr_01hzy8k7m3q4w5e6r7t8y9u0ia").unwrap();
        let org = OrgId::parse("org_01hzy8k7m3q4w5e6r7t8y9u0ib").unwrap();
        assert_eq!(
            self::user(&user),
            Key::new("USER#usr_01hzy8k7m3q4w5e6r7t8y9u0ia", "PROFILE")
        );
        assert_eq!(
            email(&Email::parse("email", "Jane@Acme.com").unwrap()),
            Key::new("EMAIL#jane@acme.com", "USER")
        );
        assert_eq!(
            membership(&org, &user),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "MEMBER#usr_01hzy8k7m3q4w5e6r7t8y9u0ia"
            )
        );
        assert_eq!(api_key("ab12"), Key::new("APIKEY#ab12", "KEY"));
        let platform_id = PlatformId::parse("plat_01hzy8k7m3q4w5e6r7t8y9u0id").unwrap();
        assert_eq!(
            platform(&org, &platform_id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "PLATFORM#plat_01hzy8k7m3q4w5e6r7t8y9u0id"
            )
        );
        assert_eq!(
            platform_secret(&platform_id),
            "platform/plat_01hzy8k7m3q4w5e6r7t8y9u0id"
        );
        assert_eq!(reset_token("cd34"), Key::new("RESET#cd34", "TOKEN"));
        let invite_id = InviteId::parse("inv_01hzy8k7m3q4w5e6r7t8y9u0ic").unwrap();
        assert_eq!(
            invite(&org, &invite_id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "INVITE#inv_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        assert_eq!(
            pending_invite(&org, &Email::parse("email", "Bob@Acme.com").unwrap()),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "PENDING_INVITE#bob@acme.com"
            )
        );
        assert_eq!(
            invite_token("ef56"),
            Key::new("INVITE_TOKEN#ef56", "INVITE")
        );
        // The prefixes must not overlap: listing invites must not pick up the pending claims.
        assert!(!"PENDING_INVITE#x".starts_with(invites_prefix()));
        assert!(!"INVITE_TOKEN#x".starts_with(invites_prefix()));
    }

    #[test]
    fn schedule_keys_have_the_documented_shapes() {
        use chrono::TimeZone;

        let org = OrgId::parse("org_01hzy8k7m3q4w5e6r7t8y9u0ib").unwrap();
        let id = ScheduleId::parse("sch_01hzy8k7m3q4w5e6r7t8y9u0ic").unwrap();
        let run = ExecutionId::parse("exec_01hzy8k7m3q4w5e6r7t8y9u0id").unwrap();
        let due = Utc.with_ymd_and_hms(2026, 3, 2, 22, 0, 0).unwrap();
        assert_eq!(
            schedule(&org, &id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "SCHEDULE#sch_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        let shard = schedule_due_shard(&id);
        assert!(shard < SCHEDULE_DUE_SHARDS);
        assert_eq!(
            schedule_due(&org, &id, due),
            Key::new(
                format!("SCHEDDUE#{shard:02}"),
                "2026-03-02T22:00:00.000000Z#org_01hzy8k7m3q4w5e6r7t8y9u0ib#sch_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        assert_eq!(
            execution(&org, &id, &run),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "EXEC#sch_01hzy8k7m3q4w5e6r7t8y9u0ic#exec_01hzy8k7m3q4w5e6r7t8y9u0id"
            )
        );
        assert!(
            execution(&org, &id, &run)
                .sk
                .starts_with(&executions_prefix(&id))
        );
        // Shards spread: 1,000 ids use every one of them.
        let used: std::collections::HashSet<u32> = (0..1000)
            .map(|_| schedule_due_shard(&ScheduleId::generate()))
            .collect();
        assert_eq!(used.len(), SCHEDULE_DUE_SHARDS as usize);
    }

    #[test]
    fn notification_keys_have_the_documented_shapes() {
        let org = OrgId::parse("org_01hzy8k7m3q4w5e6r7t8y9u0ib").unwrap();
        let channel = NotificationChannelId::parse("nch_01hzy8k7m3q4w5e6r7t8y9u0ic").unwrap();
        let delivery = DeliveryId::parse("dlv_01hzy8k7m3q4w5e6r7t8y9u0id").unwrap();
        let platform = PlatformId::parse("plat_01hzy8k7m3q4w5e6r7t8y9u0ie").unwrap();
        assert_eq!(
            notification_channel(&org, &channel),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "NOTIFYCH#nch_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        assert_eq!(
            notification_secret(&channel),
            "notification/nch_01hzy8k7m3q4w5e6r7t8y9u0ic"
        );
        let key = notification_delivery(&org, &channel, &delivery);
        assert_eq!(
            key.sk,
            "NOTIFYDLV#nch_01hzy8k7m3q4w5e6r7t8y9u0ic#dlv_01hzy8k7m3q4w5e6r7t8y9u0id"
        );
        assert!(
            key.sk
                .starts_with(&notification_deliveries_prefix(&channel))
        );
        let incident = open_incident(&org, &platform, "0301-etl", &channel, "dtap-ab12");
        assert_eq!(
            incident.sk,
            "INCIDENT#plat_01hzy8k7m3q4w5e6r7t8y9u0ie#0301-etl#nch_01hzy8k7m3q4w5e6r7t8y9u0ic#dtap-ab12"
        );
        assert!(
            incident
                .sk
                .starts_with(&open_incidents_prefix(&platform, "0301-etl"))
        );
        assert!(
            !incident
                .sk
                .starts_with(&open_incidents_prefix(&platform, "0301"))
        );
        // Channel and delivery prefixes do not overlap.
        assert!(!key.sk.starts_with(notification_channels_prefix()));
    }

    #[test]
    fn warm_pool_keys_have_the_documented_shapes() {
        let org = OrgId::parse("org_01hzy8k7m3q4w5e6r7t8y9u0ib").unwrap();
        let id = WarmPoolId::parse("wp_01hzy8k7m3q4w5e6r7t8y9u0ic").unwrap();
        assert_eq!(
            warm_pool(&org, &id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "WARMPOOL#wp_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        assert!(warm_pool(&org, &id).sk.starts_with(warm_pools_prefix()));
    }

    #[test]
    fn org_feed_keys_have_the_documented_shapes() {
        use chrono::TimeZone;

        let org = OrgId::parse("org_01hzy8k7m3q4w5e6r7t8y9u0ib").unwrap();
        let since = Utc.with_ymd_and_hms(2026, 3, 1, 9, 5, 0).unwrap();
        assert_eq!(
            plan_change(&org, since),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "PLAN#2026-03-01T09:05:00.000000Z"
            )
        );
        let action_id = ActionId::parse("act_01hzy8k7m3q4w5e6r7t8y9u0ic").unwrap();
        assert_eq!(
            action(&org, &action_id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "ACTION#act_01hzy8k7m3q4w5e6r7t8y9u0ic"
            )
        );
        let alert_id = AlertId::parse("alt_01hzy8k7m3q4w5e6r7t8y9u0id").unwrap();
        assert_eq!(
            alert(&org, &alert_id),
            Key::new(
                "ORG#org_01hzy8k7m3q4w5e6r7t8y9u0ib",
                "ALERT#alt_01hzy8k7m3q4w5e6r7t8y9u0id"
            )
        );
    }
}
