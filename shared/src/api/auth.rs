//! One extractor for every authenticated endpoint: a JWT (`Authorization: Bearer`) or an API key
//! (`X-API-Key`) becomes a [`Principal`] — the user, the org the request acts for, and the role
//! there. An endpoint states its minimum role in its signature: `Auth<Admin>`. Routes under
//! `/orgs/{slug}/…` use [`OrgAuth`] instead (the org is the path's), and endpoints about the
//! user's orgs themselves use [`Caller`] (no org chosen).

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRequestParts, RawPathParams};
use http::HeaderMap;
use http::request::Parts;

use super::error::ApiError;
use super::rate_limit;
use crate::AppState;
use crate::auth::api_keys;
use crate::domain::ids::UserId;
use crate::domain::plan::Plan;
use crate::domain::rate_limit::requests_per_minute;
use crate::domain::role::Role;
use crate::domain::slug::OrgSlug;
use crate::store::repos::api_keys as key_repo;
use crate::store::repos::api_keys::ApiKeyRecord;
use crate::store::repos::orgs::{self, MembershipRecord, OrgRecord};
use crate::store::repos::usage::{self, Counter};
use crate::store::repos::users::{self, UserRecord};

pub const API_KEY_HEADER: &str = "x-api-key";
pub const ORG_HEADER: &str = "x-org";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    Jwt,
    ApiKey(Box<ApiKeyRecord>),
}

/// The authenticated caller, acting for one org.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub org: OrgRecord,
    pub role: Role,
    pub credential: Credential,
}

/// A minimum role, named as a type so handlers declare it in their signature.
pub trait MinRole: Send + Sync + 'static {
    const ROLE: Role;
}

pub mod roles {
    use super::{MinRole, Role};

    pub struct Viewer;
    pub struct Member;
    pub struct Admin;
    pub struct Owner;

    impl MinRole for Viewer {
        const ROLE: Role = Role::Viewer;
    }
    impl MinRole for Member {
        const ROLE: Role = Role::Member;
    }
    impl MinRole for Admin {
        const ROLE: Role = Role::Admin;
    }
    impl MinRole for Owner {
        const ROLE: Role = Role::Owner;
    }
}

/// An authenticated caller holding at least role `R` in the org the request acts for.
pub struct Auth<R: MinRole = roles::Viewer>(pub Principal, PhantomData<R>);

impl<R: MinRole> Deref for Auth<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.to_owned())
}

const BAD_TOKEN: &str = "Invalid or expired token";
const BAD_KEY: &str = "Invalid API key";

impl<R: MinRole> FromRequestParts<AppState> for Auth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        admit(state, &principal, R::ROLE).await?;
        Ok(Self(principal, PhantomData))
    }
}

/// What every authenticated request passes before its handler runs, in one place: the org's rate
/// limit and usage count (counted before the role check: a refused call is still a call), then
/// the role.
async fn admit(state: &AppState, principal: &Principal, required: Role) -> Result<(), ApiError> {
    let org = &principal.org;
    rate_limit::enforce(
        state,
        &format!("org:{}", org.id),
        requests_per_minute(org.plan),
    )
    .await?;
    usage::record(
        state.store.as_ref(),
        &org.id,
        Counter::ApiCalls,
        state.clock.now(),
        1,
    )
    .await?;
    if principal.role.allows(required) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this action requires the {required} role or higher in `{}`; you are {}",
            org.slug, principal.role
        )))
    }
}

/// The authenticated caller with no org chosen, for what concerns the user's orgs themselves
/// (create one, list them, accept an invitation): those must work for a user who belongs to no
/// org, and must not depend on `X-Org`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRecord,
    pub credential: Credential,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state).await?;
        // No org is chosen, so the budget is the user's own, at the lowest tier's rate.
        let bucket = format!("user:{}", identity.user.id);
        rate_limit::enforce(state, &bucket, requests_per_minute(Plan::Starter)).await?;
        Ok(Self {
            user: identity.user,
            credential: identity.credential,
        })
    }
}

/// The path parameter that names the org of an [`OrgAuth`] route (`/orgs/{slug}/…`).
pub const ORG_SLUG_PARAM: &str = "slug";

/// An authenticated member of the org named by the path's `{slug}`, holding at least role `R`
/// in that org. The path decides, not `X-Org` or the default org; a caller who is not a member
/// gets 404, as for any other org's resource.
pub struct OrgAuth<R: MinRole = roles::Viewer>(pub Principal, PhantomData<R>);

impl<R: MinRole> Deref for OrgAuth<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<R: MinRole> FromRequestParts<AppState> for OrgAuth<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = identify(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|err| ApiError::internal(anyhow::anyhow!("path parameters: {err}")))?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == ORG_SLUG_PARAM)
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("OrgAuth on a route without {{slug}}"))
            })?;
        let principal = principal_in_org(state, identity, &slug).await?;
        admit(state, &principal, R::ROLE).await?;
        Ok(Self(principal, PhantomData))
    }
}

async fn principal_in_org(
    state: &AppState,
    identity: Identity,
    raw_slug: &str,
) -> Result<Principal, ApiError> {
    let not_found = || ApiError::not_found("organization");
    let store = state.store.as_ref();
    let slug = OrgSlug::parse(ORG_SLUG_PARAM, raw_slug).map_err(|_| not_found())?;
    let org = orgs::find_by_slug(store, &slug)
        .await?
        .ok_or_else(not_found)?;
    let membership = match identity.key_membership {
        Some(membership) if membership.org_id == org.id => membership,
        Some(key_membership) => {
            // The user's own membership decides between "no such org" and "wrong key", so the
            // answer reveals nothing to a non-member.
            if orgs::membership(store, &org.id, &key_membership.user_id)
                .await?
                .is_none()
            {
                return Err(not_found());
            }
            return Err(ApiError::Forbidden(
                "this API key is bound to another organization".into(),
            ));
        }
        None => orgs::membership(store, &org.id, &identity.user.id)
            .await?
            .ok_or_else(not_found)?,
    };
    Ok(Principal {
        user: identity.user,
        org,
        role: membership.role,
        credential: identity.credential,
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| ApiError::Validation(format!("{name}: header must be visible ASCII"))),
    }
}

/// The org named by the `X-Org` header, if any.
pub fn requested_org(headers: &HeaderMap) -> Result<Option<OrgSlug>, ApiError> {
    header(headers, ORG_HEADER)?
        .filter(|v| !v.is_empty())
        .map(|raw| OrgSlug::parse(ORG_HEADER, raw).map_err(ApiError::from))
        .transpose()
}

/// The membership a request acts through: in the org named by `X-Org`, else the user's first.
pub async fn acting_membership(
    state: &AppState,
    user: &UserId,
    requested: Option<&OrgSlug>,
) -> Result<MembershipRecord, ApiError> {
    match requested {
        Some(slug) => membership_by_slug(state, user, slug).await,
        None => orgs::first_membership(state.store.as_ref(), user)
            .await?
            .ok_or_else(|| ApiError::Forbidden("you do not belong to any organization".into())),
    }
}

/// Who the caller is, before any org is chosen. An API key is only valid while its user is still
/// a member of the key's org, so that membership comes with the identity.
struct Identity {
    user: UserRecord,
    credential: Credential,
    key_membership: Option<MembershipRecord>,
}

async fn identify(parts: &Parts, state: &AppState) -> Result<Identity, ApiError> {
    if let Some(presented) = header(&parts.headers, API_KEY_HEADER)? {
        return identify_key(presented, state).await;
    }
    let Some(authorization) = header(&parts.headers, http::header::AUTHORIZATION.as_str())? else {
        return Err(unauthorized(
            "Missing credentials: send Authorization: Bearer <token> or X-API-Key",
        ));
    };
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
    let claims = state
        .tokens
        .verify(token, state.clock.now())
        .map_err(|_| unauthorized(BAD_TOKEN))?;
    let user_id = UserId::parse(&claims.sub).ok_or_else(|| unauthorized(BAD_TOKEN))?;
    let user = users::get(state.store.as_ref(), &user_id)
        .await?
        .ok_or_else(|| unauthorized(BAD_TOKEN))?;
    if user.credential_version != claims.ver {
        return Err(unauthorized(BAD_TOKEN));
    }
    Ok(Identity {
        user,
        credential: Credential::Jwt,
        key_membership: None,
    })
}

async fn identify_key(presented: &str, state: &AppState) -> Result<Identity, ApiError> {
    if !api_keys::looks_valid(presented) {
        return Err(unauthorized(BAD_KEY));
    }
    let store = state.store.as_ref();
    let key = key_repo::find_by_fingerprint(store, &api_keys::fingerprint(presented))
        .await?
        .ok_or_else(|| unauthorized(BAD_KEY))?;
    let user = users::get(store, &key.user_id)
        .await?
        .ok_or_else(|| unauthorized(BAD_KEY))?;
    // A key outlives nothing: once its user leaves the org, it stops working.
    let membership = orgs::membership(store, &key.org_id, &key.user_id)
        .await?
        .ok_or_else(|| unauthorized(BAD_KEY))?;
    key_repo::touch(store, &key, state.clock.now()).await?;
    Ok(Identity {
        user,
        credential: Credential::ApiKey(Box::new(key)),
        key_membership: Some(membership),
    })
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let org_header = requested_org(&parts.headers)?;
    let identity = identify(parts, state).await?;
    let Some(membership) = identity.key_membership else {
        let membership = acting_membership(state, &identity.user.id, org_header.as_ref()).await?;
        return principal(state, identity.user, membership, identity.credential).await;
    };
    let principal = principal(state, identity.user, membership, identity.credential).await?;
    if let Some(slug) = org_header
        && slug.as_str() != principal.org.slug
    {
        return Err(ApiError::Forbidden(format!(
            "this API key is bound to the organization `{}`",
            principal.org.slug
        )));
    }
    Ok(principal)
}

async fn membership_by_slug(
    state: &AppState,
    user: &UserId,
    slug: &OrgSlug,
) -> Result<MembershipRecord, ApiError> {
    let not_member =
        || ApiError::Forbidden(format!("you are not a member of the organization `{slug}`"));
    let org = orgs::find_by_slug(state.store.as_ref(), slug)
        .await?
        .ok_or_else(not_member)?;
    orgs::membership(state.store.as_ref(), &org.id, user)
        .await?
        .ok_or_else(not_member)
}

async fn principal(
    state: &AppState,
    user: UserRecord,
    membership: MembershipRecord,
    credential: Credential,
) -> Result<Principal, ApiError> {
    let org = orgs::get(state.store.as_ref(), &membership.org_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("membership names a missing org")))?;
    Ok(Principal {
        user,
        org,
        role: membership.role,
        credential,
    })
}
