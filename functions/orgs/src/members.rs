use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{OrgAuth, Principal, roles};
use dtap_shared::api::envelope::Message;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Envelope};
use dtap_shared::domain::ids::UserId;
use dtap_shared::domain::role::Role;
use dtap_shared::domain::{FieldError, required};
use dtap_shared::store::repos::api_keys as key_repo;
use dtap_shared::store::repos::orgs::{self, MembershipRecord};
use dtap_shared::store::repos::users;
use dtap_shared::store::{Condition, StoreError, WriteOp, keys};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How often a membership change is retried when a concurrent change to the same org's owners
/// invalidated what it read.
const ATTEMPTS: usize = 3;

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    #[schema(example = "usr_01j9y8k7m3q4w5e6r7t8y9u0ia")]
    id: String,
    #[schema(example = "Jane Smith")]
    name: String,
    #[schema(example = "jane@acme.com")]
    email: String,
    role: Role,
    joined_at: DateTime<Utc>,
}

async fn member_view(state: &AppState, membership: &MembershipRecord) -> ApiResult<Option<Member>> {
    let Some(user) = users::get(state.store.as_ref(), &membership.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(Member {
        id: user.id.to_string(),
        name: user.name,
        email: user.email,
        role: membership.role,
        joined_at: membership.joined_at,
    }))
}

/// List the members of an organization (any member may), in the order they joined.
#[utoipa::path(
    get,
    path = "/orgs/{slug}/members",
    tag = "orgs",
    params(("slug" = String, Path, description = "The organization's slug")),
    responses(
        (status = 200, description = "The members", body = [Member]),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 404, description = "No such organization, or the caller is not a member"),
    )
)]
pub async fn list_members(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Viewer>,
) -> ApiResult<Envelope<Vec<Member>>> {
    let mut memberships = orgs::members(state.store.as_ref(), &auth.org.id).await?;
    memberships.sort_by(|a, b| a.membership_id.cmp(&b.membership_id));
    let mut members = Vec::with_capacity(memberships.len());
    for membership in &memberships {
        members.extend(member_view(&state, membership).await?);
    }
    Ok(Envelope(members))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleChange {
    /// owner | admin | member | viewer
    #[schema(example = "admin")]
    role: Option<String>,
}

fn parse_role(raw: Option<String>) -> Result<Role, FieldError> {
    let raw = required("role", raw)?;
    Role::parse(raw.trim())
        .ok_or_else(|| FieldError::new("role", "must be one of owner, admin, member, viewer"))
}

fn member_id(raw: &str) -> ApiResult<UserId> {
    UserId::parse(raw).ok_or_else(|| ApiError::not_found("member"))
}

fn concurrent_change() -> ApiError {
    ApiError::Conflict("the organization's members changed at the same time; try again".into())
}

/// The caller's role as stored now, not as read when the request was authenticated: an owner
/// demoted meanwhile must not finish an owner-only change.
async fn current_role(state: &AppState, principal: &Principal) -> ApiResult<Role> {
    orgs::membership(state.store.as_ref(), &principal.org.id, &principal.user.id)
        .await?
        .map(|membership| membership.role)
        .ok_or_else(|| ApiError::not_found("organization"))
}

fn owner_only(role: Role, what: &str) -> ApiResult<()> {
    if role == Role::Owner {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "{what} requires the owner role in this organization; you are {role}"
    )))
}

/// Asserts in the transaction that the caller is still an owner.
fn caller_still_owner(principal: &Principal) -> WriteOp {
    WriteOp::Check {
        key: keys::membership(&principal.org.id, &principal.user.id),
        condition: Condition::AttrEquals("role".into(), Role::Owner.as_str().into()),
    }
}

/// Change a member's role (owners only). The last owner cannot be demoted.
#[utoipa::path(
    put,
    path = "/orgs/{slug}/members/{user_id}",
    tag = "orgs",
    params(
        ("slug" = String, Path, description = "The organization's slug"),
        ("user_id" = String, Path, description = "The member's user id (`usr_…`)"),
    ),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member with the new role", body = Member),
        (status = 400, description = "Unknown role"),
        (status = 403, description = "The caller is not an owner"),
        (status = 404, description = "No such organization or member"),
        (status = 409, description = "The member is the last owner"),
    )
)]
pub async fn change_role(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Owner>,
    Path((_slug, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> ApiResult<Envelope<Member>> {
    let new_role = parse_role(body.role)?;
    let target_id = member_id(&user_id)?;
    let store = state.store.as_ref();
    let org_id = &auth.org.id;
    for _ in 0..ATTEMPTS {
        owner_only(current_role(&state, &auth).await?, "changing roles")?;
        let target = orgs::membership(store, org_id, &target_id)
            .await?
            .ok_or_else(|| ApiError::not_found("member"))?;
        let org = orgs::get(store, org_id)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        if target.role == new_role {
            return member_view(&state, &target)
                .await?
                .map(Envelope)
                .ok_or_else(|| ApiError::not_found("member"));
        }
        let owners = match (target.role, new_role) {
            (Role::Owner, _) if org.owners() <= 1 => {
                return Err(ApiError::Conflict(
                    "role: the last owner cannot be demoted; make another member owner first"
                        .into(),
                ));
            }
            (Role::Owner, _) => Some(org.owners() - 1),
            (_, Role::Owner) => Some(org.owners() + 1),
            _ => None,
        };
        let mut set = serde_json::Map::new();
        set.insert("role".into(), new_role.as_str().into());
        let mut ops = vec![WriteOp::Update {
            key: keys::membership(org_id, &target_id),
            set,
            condition: Condition::AttrEquals("role".into(), target.role.as_str().into()),
        }];
        if target_id != auth.user.id {
            ops.push(caller_still_owner(&auth));
        }
        ops.extend(owners.map(|count| orgs::owner_count_change(&org, count)));
        match store.transact(ops).await {
            Ok(()) => {
                tracing::info!(org_id = %org_id, user_id = %target_id, role = %new_role, "role changed");
                let updated = MembershipRecord {
                    role: new_role,
                    ..target
                };
                return member_view(&state, &updated)
                    .await?
                    .map(Envelope)
                    .ok_or_else(|| ApiError::not_found("member"));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(concurrent_change())
}

/// Remove a member (owners only), or leave the organization (any member, for themselves). The
/// last owner can do neither. The member's API keys for this organization are revoked.
#[utoipa::path(
    delete,
    path = "/orgs/{slug}/members/{user_id}",
    tag = "orgs",
    params(
        ("slug" = String, Path, description = "The organization's slug"),
        ("user_id" = String, Path, description = "The member's user id (`usr_…`), or the caller's own to leave"),
    ),
    responses(
        (status = 200, description = "Removed", body = Message),
        (status = 403, description = "Removing someone else needs the owner role"),
        (status = 404, description = "No such organization or member"),
        (status = 409, description = "The member is the last owner"),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Viewer>,
    Path((_slug, user_id)): Path<(String, String)>,
) -> ApiResult<Envelope<Message>> {
    let target_id = member_id(&user_id)?;
    let leaving = target_id == auth.user.id;
    let store = state.store.as_ref();
    let org_id = &auth.org.id;
    for _ in 0..ATTEMPTS {
        if !leaving {
            owner_only(current_role(&state, &auth).await?, "removing a member")?;
        }
        let target = orgs::membership(store, org_id, &target_id)
            .await?
            .ok_or_else(|| ApiError::not_found("member"))?;
        let org = orgs::get(store, org_id)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        let mut ops = vec![WriteOp::Delete {
            key: keys::membership(org_id, &target_id),
            condition: Condition::AttrEquals("role".into(), target.role.as_str().into()),
        }];
        if target.role == Role::Owner {
            if org.owners() <= 1 {
                return Err(ApiError::Conflict(
                    "the last owner cannot leave or be removed; make another member owner first"
                        .into(),
                ));
            }
            ops.push(orgs::owner_count_change(&org, org.owners() - 1));
        }
        if !leaving {
            ops.push(caller_still_owner(&auth));
        }
        match store.transact(ops).await {
            Ok(()) => {
                // Keys stop working without the membership already; deleting them keeps a
                // re-invited member from getting old keys back.
                for key in key_repo::list_for_user(store, &target_id, org_id).await? {
                    key_repo::revoke(store, &key).await?;
                }
                tracing::info!(org_id = %org_id, user_id = %target_id, leaving, "member removed");
                return Ok(Message::new(if leaving {
                    "You left the organization"
                } else {
                    "Member removed"
                }));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(concurrent_change())
}
