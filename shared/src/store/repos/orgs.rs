use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{MembershipId, OrgId, UserId};
use crate::domain::plan::Plan;
use crate::domain::role::Role;
use crate::domain::slug::OrgSlug;
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Table, WriteOp, keys};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgRecord {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    /// How many members are owners. Every change of an owner's membership updates it in the same
    /// transaction, conditioned on the value read, so two concurrent demotions cannot both pass
    /// the "not the last owner" check. `None` only on orgs stored before the count existed.
    #[serde(default)]
    pub owner_count: Option<u64>,
}

impl OrgRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::org(&self.id), self)
    }

    /// Orgs stored before the count existed were created by `register` with exactly one owner,
    /// and roles could not change then.
    pub fn owners(&self) -> u64 {
        self.owner_count.unwrap_or(1)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MembershipRecord {
    pub membership_id: MembershipId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl MembershipRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Ok(
            Item::from_record(keys::membership(&self.org_id, &self.user_id), self)?
                .with_gsi1(keys::membership_by_user(&self.user_id, &self.membership_id)),
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlugClaim {
    org_id: OrgId,
}

pub fn slug_claim_item(slug: &OrgSlug, org: &OrgId) -> anyhow::Result<Item> {
    Item::from_record(
        keys::slug(slug),
        &SlugClaim {
            org_id: org.clone(),
        },
    )
}

fn decode<T: serde::de::DeserializeOwned>(item: Option<Item>) -> StoreResult<Option<T>> {
    item.map(|item| item.record().map_err(StoreError::Backend))
        .transpose()
}

pub async fn get(table: &dyn Table, id: &OrgId) -> StoreResult<Option<OrgRecord>> {
    decode(table.get(&keys::org(id)).await?)
}

pub async fn find_by_slug(table: &dyn Table, slug: &OrgSlug) -> StoreResult<Option<OrgRecord>> {
    let Some(claim) = decode::<SlugClaim>(table.get(&keys::slug(slug)).await?)? else {
        return Ok(None);
    };
    get(table, &claim.org_id).await
}

pub async fn membership(
    table: &dyn Table,
    org: &OrgId,
    user: &UserId,
) -> StoreResult<Option<MembershipRecord>> {
    decode(table.get(&keys::membership(org, user)).await?)
}

/// The org a user acts for when a request names none: the first they joined.
pub async fn first_membership(
    table: &dyn Table,
    user: &UserId,
) -> StoreResult<Option<MembershipRecord>> {
    let query = Query::partition(Index::Gsi1, keys::user_partition(user))
        .begins_with(keys::memberships_of_user_prefix())
        .limit(1);
    let page = table.query(&query).await?;
    decode(page.items.into_iter().next())
}

/// How many clusters the org has under management (`ORG#o / CLUSTER#…` items).
pub async fn clusters_managed(table: &dyn Table, org: &OrgId) -> StoreResult<u64> {
    let mut count = 0;
    let mut cursor = None;
    loop {
        let query = Query::partition(Index::Primary, keys::org_partition(org))
            .begins_with(keys::clusters_prefix())
            .limit(1000)
            .after(cursor);
        let page = table.query(&query).await?;
        count += page.items.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// Every page of a query, decoded.
async fn query_all<T: serde::de::DeserializeOwned>(
    table: &dyn Table,
    index: Index,
    pk: String,
    prefix: &str,
) -> StoreResult<Vec<T>> {
    let mut found = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(index, pk.clone())
            .begins_with(prefix)
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

/// The memberships of an org (`ORG#o / MEMBER#…`).
pub async fn members(table: &dyn Table, org: &OrgId) -> StoreResult<Vec<MembershipRecord>> {
    query_all(
        table,
        Index::Primary,
        keys::org_partition(org),
        keys::members_prefix(),
    )
    .await
}

/// A user's memberships, in the order they joined.
pub async fn memberships_of_user(
    table: &dyn Table,
    user: &UserId,
) -> StoreResult<Vec<MembershipRecord>> {
    query_all(
        table,
        Index::Gsi1,
        keys::user_partition(user),
        keys::memberships_of_user_prefix(),
    )
    .await
}

/// Moves the org's owner count from the value read to `owner_count`, failing the transaction if
/// another write changed it in between.
pub fn owner_count_change(org: &OrgRecord, owner_count: u64) -> WriteOp {
    let mut set = serde_json::Map::new();
    set.insert("owner_count".into(), owner_count.into());
    let condition = match org.owner_count {
        Some(read) => Condition::AttrEquals("owner_count".into(), read.into()),
        // An org without the attribute holds exactly one owner, and the only change allowed then
        // is adding one; from this write on, the count guards every change.
        None => Condition::Exists,
    };
    WriteOp::Update {
        key: keys::org(&org.id),
        set,
        condition,
    }
}
