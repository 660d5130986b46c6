use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::store::{Item, keys};

/// How long a password-reset token is valid.
pub const RESET_TOKEN_TTL_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResetTokenRecord {
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
}

impl ResetTokenRecord {
    /// The token's item; the store forgets it an hour after `created_at`.
    pub fn item(&self, fingerprint: &str) -> anyhow::Result<Item> {
        Ok(Item::from_record(keys::reset_token(fingerprint), self)?
            .expiring_at(self.created_at.timestamp() + RESET_TOKEN_TTL_SECONDS))
    }

    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() < self.created_at.timestamp() + RESET_TOKEN_TTL_SECONDS
    }
}
