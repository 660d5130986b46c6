use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{MembershipId, OrgId, UserId};
use crate::domain::plan::Plan;
use crate::domain::role::Role;
use crate::domain::slug::OrgSlug;
use crate::store::{Index, Item, Query, StoreError, StoreResult, Table, keys};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgRecord {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
}

impl OrgRecord {
    pub fn item(&self) -> anyhow::Result<Item> {
        Item::from_record(keys::org(&self.id), self)
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
