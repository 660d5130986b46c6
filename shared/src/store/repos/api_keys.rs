use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{ApiKeyId, OrgId, UserId};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, WriteOp, keys};

/// How a key came to be: issued by `login`, or created by the user under `/v1/account/api-keys`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyOrigin {
    Login,
    User,
}

/// The most login-issued keys a user keeps per org; the oldest is revoked past this, so logins
/// from several machines coexist but keys do not pile up.
pub const LOGIN_KEYS_KEPT: usize = 5;

/// The most keys a user may create by name per org: enough for every pipeline, few enough that a
/// runaway script cannot fill the table.
pub const USER_KEYS_MAX: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub name: String,
    /// The first characters of the key, to tell keys apart in a listing.
    pub prefix: String,
    pub fingerprint: String,
    pub origin: KeyOrigin,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Ok(Item::from_record(keys::api_key(&self.fingerprint), self)?
            .with_gsi1(keys::api_key_by_user(&self.user_id, &self.org_id, &self.id)))
    }
}

pub async fn find_by_fingerprint(
    table: &dyn Table,
    fingerprint: &str,
) -> StoreResult<Option<ApiKeyRecord>> {
    let item = table.get(&keys::api_key(fingerprint)).await?;
    item.map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// A user's keys in one org, oldest first.
pub async fn list_for_user(
    table: &dyn Table,
    user: &UserId,
    org: &OrgId,
) -> StoreResult<Vec<ApiKeyRecord>> {
    list_by_prefix(table, user, &keys::api_keys_of_user_prefix(org)).await
}

async fn list_by_prefix(
    table: &dyn Table,
    user: &UserId,
    prefix: &str,
) -> StoreResult<Vec<ApiKeyRecord>> {
    let mut keys_found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Gsi1, keys::user_partition(user))
            .begins_with(prefix)
            .limit(100)
            .after(cursor);
        let page = table.query(&query).await?;
        for item in &page.items {
            keys_found.push(item.record().map_err(StoreError::Backend)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(keys_found),
        }
    }
}

/// The user's key with this id in this org; another user's or org's key is simply not found.
pub async fn find_for_user(
    table: &dyn Table,
    user: &UserId,
    org: &OrgId,
    id: &ApiKeyId,
) -> StoreResult<Option<ApiKeyRecord>> {
    let index_key = keys::api_key_by_user(user, org, id);
    let query = Query::partition(Index::Gsi1, index_key.pk)
        .begins_with(index_key.sk)
        .limit(1);
    let page = table.query(&query).await?;
    page.items
        .first()
        .map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

/// Replaces `old` by `new` in one transaction: both keys never work at once, and a key revoked
/// meanwhile is not resurrected (`ConditionFailed`).
pub async fn rotate(table: &dyn Table, old: &ApiKeyRecord, new: &ApiKeyRecord) -> StoreResult<()> {
    table
        .transact(vec![
            WriteOp::Delete {
                key: keys::api_key(&old.fingerprint),
                condition: Condition::Exists,
            },
            WriteOp::Put {
                item: new.item().map_err(StoreError::Backend)?,
                condition: Condition::NotExists,
            },
        ])
        .await
}

pub async fn create(table: &dyn Table, key: &ApiKeyRecord) -> StoreResult<()> {
    table
        .put(
            key.item().map_err(StoreError::Backend)?,
            Condition::NotExists,
        )
        .await
}

pub async fn revoke(table: &dyn Table, key: &ApiKeyRecord) -> StoreResult<()> {
    table
        .delete(&keys::api_key(&key.fingerprint), Condition::Always)
        .await
}

/// Revokes the oldest login-issued keys so that at most `keep` remain.
pub async fn prune_login_keys(
    table: &dyn Table,
    user: &UserId,
    org: &OrgId,
    keep: usize,
) -> StoreResult<()> {
    let login_keys: Vec<ApiKeyRecord> = list_for_user(table, user, org)
        .await?
        .into_iter()
        .filter(|key| key.origin == KeyOrigin::Login)
        .collect();
    let excess = login_keys.len().saturating_sub(keep);
    revoke_all(table, &login_keys[..excess]).await
}

/// Revokes every login-issued key of the user in every org: after a password reset, whoever
/// logged in with the old password keeps nothing. Keys the user created by name stay.
pub async fn revoke_login_keys(table: &dyn Table, user: &UserId) -> StoreResult<()> {
    let login_keys: Vec<ApiKeyRecord> =
        list_by_prefix(table, user, keys::all_api_keys_of_user_prefix())
            .await?
            .into_iter()
            .filter(|key| key.origin == KeyOrigin::Login)
            .collect();
    revoke_all(table, &login_keys).await
}

async fn revoke_all(table: &dyn Table, doomed: &[ApiKeyRecord]) -> StoreResult<()> {
    let ops: Vec<WriteOp> = doomed
        .iter()
        .map(|key| WriteOp::Delete {
            key: keys::api_key(&key.fingerprint),
            condition: Condition::Always,
        })
        .collect();
    for chunk in ops.chunks(25) {
        table.transact(chunk.to_vec()).await?;
    }
    Ok(())
}

/// Records that a key was used, at most once a minute per key so reads stay reads.
pub async fn touch(table: &dyn Table, key: &ApiKeyRecord, now: DateTime<Utc>) -> StoreResult<()> {
    let fresh = key
        .last_used_at
        .is_some_and(|at| (now - at).num_seconds() < 60);
    if fresh {
        return Ok(());
    }
    let mut set = serde_json::Map::new();
    set.insert(
        "last_used_at".into(),
        serde_json::to_value(now).map_err(StoreError::backend)?,
    );
    match table
        .update(&keys::api_key(&key.fingerprint), set, Condition::Exists)
        .await
    {
        // Revoked between lookup and touch: nothing to record.
        Err(StoreError::ConditionFailed { .. }) => Ok(()),
        other => other,
    }
}
