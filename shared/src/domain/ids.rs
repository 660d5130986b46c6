//! Opaque, prefixed, unguessable identifiers. The body is a ULID: 80 random bits make it
//! unguessable, and its time prefix keeps items created later sorted later in the store.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            /// Accepts only ids of this kind; anything else cannot name one of our resources.
            pub fn parse(raw: &str) -> Option<Self> {
                let body = raw.strip_prefix($prefix)?;
                let valid = body.len() == 26 && body.chars().all(|c| c.is_ascii_alphanumeric());
                valid.then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(UserId, "usr_");
id_type!(OrgId, "org_");
id_type!(ApiKeyId, "key_");
id_type!(RequestId, "req_");
id_type!(
    /// An action on a cluster; time-ordered, so an org's actions list in the order they happened.
    ActionId,
    "act_"
);
id_type!(
    /// An alert in an org's feed; time-ordered like actions.
    AlertId,
    "alt_"
);
id_type!(InviteId, "inv_");
id_type!(
    /// A connected platform account (a Databricks workspace, an AWS account and region, …).
    PlatformId,
    "plat_"
);
id_type!(
    /// A schedule rule (time, idle or cost) of an org.
    ScheduleId,
    "sch_"
);
id_type!(
    /// One run of a schedule; time-ordered, so a schedule's runs list in the order they started.
    ExecutionId,
    "exec_"
);
id_type!(
    /// A notification channel (Slack, Teams, PagerDuty or email) of an org.
    NotificationChannelId,
    "nch_"
);
id_type!(
    /// One delivery of an event to a notification channel; time-ordered.
    DeliveryId,
    "dlv_"
);
id_type!(
    /// A warm pool configuration (on Databricks, an instance pool kept in step with it).
    WarmPoolId,
    "wp_"
);
id_type!(
    /// Orders a user's memberships by the time they joined (the first is the default org).
    MembershipId,
    "mem_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = UserId::generate();
        assert!(id.as_str().starts_with("usr_"));
        assert_eq!(UserId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn ids_of_another_kind_do_not_parse() {
        let org = OrgId::generate();
        assert_eq!(UserId::parse(org.as_str()), None);
        assert_eq!(UserId::parse("usr_short"), None);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = MembershipId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = MembershipId::generate();
        assert!(first < second);
    }
}
