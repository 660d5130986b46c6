//! One extractor for every authenticated endpoint: a JWT (`Authorization: Bearer`) or an API key
//! (`X-API-Key`) becomes a [`Principal`] — the user, the org the request acts for, and the role
//! there. An endpoint states its minimum role in its signature: `Auth<Admin>`.

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;

use super::error::ApiError;
use crate::AppState;
use crate::auth::api_keys;
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::domain::slug::OrgSlug;
use crate::store::repos::api_keys as key_repo;
use crate::store::repos::api_keys::ApiKeyRecord;
use crate::store::repos::orgs::{self, MembershipRecord, OrgRecord};
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
        if !principal.role.allows(R::ROLE) {
            return Err(ApiError::Forbidden(format!(
                "this action requires the {} role or higher; you are {}",
                R::ROLE,
                principal.role
            )));
        }
        Ok(Self(principal, PhantomData))
    }
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

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let org_header = requested_org(&parts.headers)?;
    if let Some(presented) = header(&parts.headers, API_KEY_HEADER)? {
        return authenticate_key(presented, org_header.as_ref(), state).await;
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
    let membership = acting_membership(state, &user.id, org_header.as_ref()).await?;
    principal(state, user, membership, Credential::Jwt).await
}

async fn authenticate_key(
    presented: &str,
    org_header: Option<&OrgSlug>,
    state: &AppState,
) -> Result<Principal, ApiError> {
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
    let principal = principal(
        state,
        user,
        membership,
        Credential::ApiKey(Box::new(key.clone())),
    )
    .await?;
    if let Some(slug) = org_header
        && slug.as_str() != principal.org.slug
    {
        return Err(ApiError::Forbidden(format!(
            "this API key is bound to the organization `{}`",
            principal.org.slug
        )));
    }
    key_repo::touch(store, &key, state.clock.now()).await?;
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
