//! Invitations to an org. Three items, written and removed together and expiring together:
//! - `ORG#o / INVITE#<inv_…>`: what was offered (email, role, who invited), listed per org;
//! - `ORG#o / PENDING_INVITE#<email>`: the one live invitation an email has in an org, so a new
//!   invitation replaces the old one atomically instead of leaving two working tokens;
//! - `INVITE_TOKEN#<sha256> / INVITE`: the lookup by the mailed token; the token itself is never
//!   stored.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::orgs::MembershipRecord;
use crate::domain::email::Email;
use crate::domain::ids::{InviteId, OrgId, UserId};
use crate::domain::role::Role;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, WriteOp, keys};

/// How long an invitation can be accepted: seven days.
pub const INVITE_TTL_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InviteRecord {
    pub id: InviteId,
    pub org_id: OrgId,
    /// Normalized (trimmed, lower-cased), as [`Email`] keeps it.
    pub email: String,
    pub role: Role,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the mailed token, so replacing or revoking the invitation can remove the
    /// token's lookup item too.
    pub token_fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenPointer {
    org_id: OrgId,
    invite_id: InviteId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingClaim {
    invite_id: InviteId,
}

const CLAIM_ATTRIBUTE: &str = "invite_id";

impl InviteRecord {
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.created_at + Duration::seconds(INVITE_TTL_SECONDS)
    }

    /// The store forgets an invitation some time after it expires; the clock decides at once.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at()
    }

    fn email(&self) -> anyhow::Result<Email> {
        Email::parse("email", &self.email)
            .map_err(|err| anyhow::anyhow!("stored invitation has a malformed email: {err}"))
    }

    fn items(&self) -> anyhow::Result<[Item; 3]> {
        let expires_at = self.expires_at().timestamp();
        let invite = Item::from_record(keys::invite(&self.org_id, &self.id), self)?;
        let claim = Item::from_record(
            keys::pending_invite(&self.org_id, &self.email()?),
            &PendingClaim {
                invite_id: self.id.clone(),
            },
        )?;
        let token = Item::from_record(
            keys::invite_token(&self.token_fingerprint),
            &TokenPointer {
                org_id: self.org_id.clone(),
                invite_id: self.id.clone(),
            },
        )?;
        Ok([invite, claim, token].map(|item| item.expiring_at(expires_at)))
    }

    fn claim_condition(&self) -> Condition {
        Condition::AttrEquals(CLAIM_ATTRIBUTE.into(), self.id.as_str().into())
    }
}

fn decode<T: serde::de::DeserializeOwned>(item: Option<Item>) -> StoreResult<Option<T>> {
    item.map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

pub async fn get(
    table: &dyn Table,
    org: &OrgId,
    id: &InviteId,
) -> StoreResult<Option<InviteRecord>> {
    decode(table.get(&keys::invite(org, id)).await?)
}

/// The invitation a token was mailed with.
pub async fn find_by_token(table: &dyn Table, token: &str) -> StoreResult<Option<InviteRecord>> {
    let fingerprint = crate::auth::api_keys::fingerprint(token);
    let Some(pointer) =
        decode::<TokenPointer>(table.get(&keys::invite_token(&fingerprint)).await?)?
    else {
        return Ok(None);
    };
    get(table, &pointer.org_id, &pointer.invite_id).await
}

/// The live invitation of `email` to `org`, if any.
pub async fn pending_for(
    table: &dyn Table,
    org: &OrgId,
    email: &Email,
) -> StoreResult<Option<InviteRecord>> {
    let Some(claim) = decode::<PendingClaim>(table.get(&keys::pending_invite(org, email)).await?)?
    else {
        return Ok(None);
    };
    get(table, org, &claim.invite_id).await
}

/// An org's invitations, oldest first (ids are ULIDs). Includes ones past their validity that
/// the store has not removed yet; callers filter by their clock.
pub async fn list(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<InviteRecord>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::invites_prefix())
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

/// The writes that store `invite`, replacing `previous` (the live invitation of the same email,
/// as read). If another invitation for that email lands in between, the claim's condition fails
/// and nothing is written.
pub fn creation_ops(
    invite: &InviteRecord,
    previous: Option<&InviteRecord>,
) -> anyhow::Result<Vec<WriteOp>> {
    let [invite_item, claim_item, token_item] = invite.items()?;
    let mut ops = vec![
        WriteOp::Put {
            item: invite_item,
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: token_item,
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: claim_item,
            condition: previous.map_or(Condition::NotExists, InviteRecord::claim_condition),
        },
    ];
    if let Some(previous) = previous {
        ops.push(WriteOp::Delete {
            key: keys::invite(&previous.org_id, &previous.id),
            condition: Condition::Always,
        });
        ops.push(WriteOp::Delete {
            key: keys::invite_token(&previous.token_fingerprint),
            condition: Condition::Always,
        });
    }
    Ok(ops)
}

/// The writes that remove `invite` (revoked or used). Fail if it is already gone, so a token is
/// used at most once.
pub fn removal_ops(invite: &InviteRecord) -> anyhow::Result<Vec<WriteOp>> {
    Ok(vec![
        WriteOp::Delete {
            key: keys::invite(&invite.org_id, &invite.id),
            condition: Condition::Exists,
        },
        WriteOp::Delete {
            key: keys::invite_token(&invite.token_fingerprint),
            condition: Condition::Exists,
        },
        WriteOp::Delete {
            key: keys::pending_invite(&invite.org_id, &invite.email()?),
            condition: invite.claim_condition(),
        },
    ])
}

/// The writes that turn `invite` into `membership`: the invitation is consumed in the same
/// transaction, and a user who is already a member fails it. The membership write comes last,
/// so a failure at index `ops.len() - 1` means "already a member".
pub fn acceptance_ops(
    invite: &InviteRecord,
    membership: &MembershipRecord,
) -> anyhow::Result<Vec<WriteOp>> {
    let mut ops = removal_ops(invite)?;
    ops.push(WriteOp::Put {
        item: membership.item()?,
        condition: Condition::NotExists,
    });
    Ok(ops)
}
