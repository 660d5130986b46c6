use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::email::Email;
use crate::domain::ids::UserId;
use crate::store::{Condition, Item, StoreError, StoreResult, Table, keys};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub company: Option<String>,
    /// The argon2id PHC string; never leaves the store layer except to be verified.
    pub password_hash: String,
    /// Bumped by every password change; JWTs carry it, so older tokens stop working.
    #[serde(default)]
    pub credential_version: u64,
    pub created_at: DateTime<Utc>,
}

impl UserRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::user(&self.id), self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmailClaim {
    user_id: UserId,
}

pub fn email_claim_item(email: &Email, user: &UserId) -> anyhow::Result<Item> {
    Item::from_record(
        keys::email(email),
        &EmailClaim {
            user_id: user.clone(),
        },
    )
}

pub async fn get(table: &dyn Table, id: &UserId) -> StoreResult<Option<UserRecord>> {
    let item = table.get(&keys::user(id)).await?;
    item.map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

pub async fn find_by_email(table: &dyn Table, email: &Email) -> StoreResult<Option<UserRecord>> {
    let Some(claim) = table.get(&keys::email(email)).await? else {
        return Ok(None);
    };
    let claim: EmailClaim = claim.record().map_err(StoreError::Backend)?;
    get(table, &claim.user_id).await
}

/// Replaces the password hash and bumps the credential version, only if the version is still
/// `expected_version` (so two concurrent changes cannot both win).
pub fn password_change(
    user: &UserRecord,
    new_hash: String,
) -> (
    crate::store::Key,
    serde_json::Map<String, serde_json::Value>,
    Condition,
) {
    let mut set = serde_json::Map::new();
    set.insert("password_hash".into(), new_hash.into());
    set.insert(
        "credential_version".into(),
        (user.credential_version + 1).into(),
    );
    let condition =
        Condition::AttrEquals("credential_version".into(), user.credential_version.into());
    (keys::user(&user.id), set, condition)
}
