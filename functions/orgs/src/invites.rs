use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Caller, OrgAuth, roles};
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Envelope};
use dtap_shared::auth::api_keys;
use dtap_shared::domain::email::Email;
use dtap_shared::domain::ids::{InviteId, MembershipId};
use dtap_shared::domain::role::Role;
use dtap_shared::domain::{FieldError, required};
use dtap_shared::mail::Mail;
use dtap_shared::store::repos::invites::{self, INVITE_TTL_SECONDS, InviteRecord};
use dtap_shared::store::repos::orgs::{self, MembershipRecord, OrgRecord};
use dtap_shared::store::repos::users;
use dtap_shared::store::{StoreError, keys};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::orgs::OrgSummary;

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    #[schema(example = "bob@acme.com")]
    email: Option<String>,
    /// admin | member | viewer (default: member). Owners are made by changing a member's role.
    #[schema(example = "member")]
    role: Option<String>,
}

/// The roles an invitation may carry: ownership is given by an owner to a member, never mailed.
fn invited_role(raw: Option<String>) -> Result<Role, FieldError> {
    let Some(raw) = raw else {
        return Ok(Role::Member);
    };
    match Role::parse(raw.trim()) {
        Some(role) if role != Role::Owner => Ok(role),
        _ => Err(FieldError::new(
            "role",
            "must be one of admin, member, viewer",
        )),
    }
}

/// An invitation as admins see it. The token is never shown: it travels only in the email.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    #[schema(example = "inv_01j9y8k7m3q4w5e6r7t8y9u0ia")]
    invite_id: String,
    #[schema(example = "bob@acme.com")]
    email: String,
    role: Role,
    /// `pending`, or `revoked` in the answer to a revocation.
    #[schema(example = "pending")]
    status: &'static str,
    invited_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl Invite {
    fn from_record(record: &InviteRecord, status: &'static str) -> Self {
        Self {
            invite_id: record.id.to_string(),
            email: record.email.clone(),
            role: record.role,
            status,
            invited_by: record.invited_by.to_string(),
            created_at: record.created_at,
            expires_at: record.expires_at(),
        }
    }
}

fn invitation_mail(
    state: &AppState,
    org: &OrgRecord,
    inviter: &str,
    invite: &InviteRecord,
    token: &str,
) -> Mail {
    let base = state.settings.public_url.trim_end_matches('/');
    Mail {
        to: invite.email.clone(),
        subject: format!("You are invited to {} on Digital Tap", org.name),
        text: format!(
            "Hello,\n\n{inviter} invited you to join the organization \"{org_name}\" on Digital Tap \
             as {role}.\n\nIf you have an account, sign in and send this token to \
             POST {base}/v1/invites/accept as \"token\". If you are new, send it to \
             POST {base}/v1/auth/register as \"invite_token\", with this email address:\n\n\
             {token}\n\nThe invitation works once and is valid for {days} days. If you did not \
             expect it, ignore this email.\n",
            org_name = org.name,
            role = invite.role,
            days = INVITE_TTL_SECONDS / 86_400,
        ),
    }
}

/// Invite someone to the organization by email (admins and owners). A second invitation to the
/// same email replaces the first, whose token stops working.
#[utoipa::path(
    post,
    path = "/orgs/{slug}/invite",
    tag = "orgs",
    params(("slug" = String, Path, description = "The organization's slug")),
    request_body = InviteRequest,
    responses(
        (status = 200, description = "Invitation sent", body = Invite),
        (status = 400, description = "Invalid email or role"),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such organization, or the caller is not a member"),
        (status = 409, description = "The email already belongs to a member"),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Admin>,
    ApiJson(body): ApiJson<InviteRequest>,
) -> ApiResult<Envelope<Invite>> {
    let email = Email::parse("email", &required("email", body.email)?)?;
    let role = invited_role(body.role)?;
    let store = state.store.as_ref();
    let org = &auth.org;
    if let Some(user) = users::find_by_email(store, &email).await?
        && orgs::membership(store, &org.id, &user.id).await?.is_some()
    {
        return Err(ApiError::Conflict(
            "email: already belongs to a member of this organization".into(),
        ));
    }
    let previous = invites::pending_for(store, &org.id, &email).await?;
    let token = api_keys::random_token();
    let token_text = api_keys::expose(&token);
    let record = InviteRecord {
        id: InviteId::generate(),
        org_id: org.id.clone(),
        email: email.as_str().to_owned(),
        role,
        invited_by: auth.user.id.clone(),
        created_at: state.clock.now(),
        token_fingerprint: api_keys::fingerprint(token_text),
    };
    match store
        .transact(invites::creation_ops(&record, previous.as_ref())?)
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            return Err(ApiError::Conflict(
                "email: another invitation to this address was sent at the same time".into(),
            ));
        }
        Err(other) => return Err(other.into()),
    }
    // Stored first, mailed second: a token that was mailed always works.
    state
        .mailer
        .send(&invitation_mail(
            &state,
            org,
            &auth.user.name,
            &record,
            token_text,
        ))
        .await?;
    tracing::info!(
        org_id = %org.id,
        invite_id = %record.id,
        replaced = ?previous.map(|p| p.id),
        "invitation sent"
    );
    Ok(Envelope(Invite::from_record(&record, "pending")))
}

/// List the organization's pending invitations (admins and owners).
#[utoipa::path(
    get,
    path = "/orgs/{slug}/invites",
    tag = "orgs",
    params(("slug" = String, Path, description = "The organization's slug")),
    responses(
        (status = 200, description = "Pending invitations, oldest first", body = [Invite]),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such organization, or the caller is not a member"),
    )
)]
pub async fn list_invites(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Admin>,
) -> ApiResult<Envelope<Vec<Invite>>> {
    let now = state.clock.now();
    let pending = invites::list(state.store.as_ref(), &auth.org.id)
        .await?
        .iter()
        .filter(|invite| invite.is_valid_at(now))
        .map(|invite| Invite::from_record(invite, "pending"))
        .collect();
    Ok(Envelope(pending))
}

/// Revoke a pending invitation (admins and owners); its token stops working.
#[utoipa::path(
    delete,
    path = "/orgs/{slug}/invites/{invite_id}",
    tag = "orgs",
    params(
        ("slug" = String, Path, description = "The organization's slug"),
        ("invite_id" = String, Path, description = "The invitation's id (`inv_…`)"),
    ),
    responses(
        (status = 200, description = "Revoked", body = Invite),
        (status = 403, description = "The caller is not an admin or owner"),
        (status = 404, description = "No such organization or pending invitation"),
    )
)]
pub async fn revoke_invite(
    State(state): State<AppState>,
    auth: OrgAuth<roles::Admin>,
    Path((_slug, invite_id)): Path<(String, String)>,
) -> ApiResult<Envelope<Invite>> {
    let not_found = || ApiError::not_found("invitation");
    let id = InviteId::parse(&invite_id).ok_or_else(not_found)?;
    let store = state.store.as_ref();
    let record = invites::get(store, &auth.org.id, &id)
        .await?
        .filter(|invite| invite.is_valid_at(state.clock.now()))
        .ok_or_else(not_found)?;
    match store.transact(invites::removal_ops(&record)?).await {
        Ok(()) => {}
        // Accepted, revoked or replaced in the meantime.
        Err(StoreError::ConditionFailed { .. }) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %auth.org.id, invite_id = %record.id, "invitation revoked");
    Ok(Envelope(Invite::from_record(&record, "revoked")))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptInvite {
    /// The token from the invitation email.
    token: Option<String>,
}

fn invalid_token() -> ApiError {
    ApiError::Validation("token: is invalid, used, revoked or expired".into())
}

/// Accept an invitation: the signed-in user, whose email must be the invited one, joins the
/// organization with the invited role.
#[utoipa::path(
    post,
    path = "/invites/accept",
    tag = "orgs",
    request_body = AcceptInvite,
    responses(
        (status = 200, description = "Joined; the organization and the role", body = OrgSummary),
        (status = 400, description = "Invalid, used, revoked or expired token"),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 403, description = "The invitation was sent to another email address"),
        (status = 409, description = "Already a member"),
    )
)]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AcceptInvite>,
) -> ApiResult<Envelope<OrgSummary>> {
    let token = required("token", body.token)?;
    let store = state.store.as_ref();
    let invite = invites::find_by_token(store, token.trim())
        .await?
        .filter(|invite| invite.is_valid_at(state.clock.now()))
        .ok_or_else(invalid_token)?;
    if invite.email != caller.user.email {
        return Err(ApiError::Forbidden(
            "token: this invitation was sent to another email address".into(),
        ));
    }
    let org = orgs::get(store, &invite.org_id)
        .await?
        .ok_or_else(invalid_token)?;
    let already_member =
        || ApiError::Conflict("you are already a member of this organization".into());
    if orgs::membership(store, &org.id, &caller.user.id)
        .await?
        .is_some()
    {
        return Err(already_member());
    }
    let membership = MembershipRecord {
        membership_id: MembershipId::generate(),
        org_id: org.id.clone(),
        user_id: caller.user.id.clone(),
        role: invite.role,
        joined_at: state.clock.now(),
    };
    let ops = invites::acceptance_ops(&invite, &membership)?;
    let membership_op = ops.len() - 1;
    match store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { op }) => {
            let joined_meanwhile = match op {
                Some(index) => index == membership_op,
                None => store
                    .get(&keys::membership(&org.id, &caller.user.id))
                    .await?
                    .is_some(),
            };
            return Err(if joined_meanwhile {
                already_member()
            } else {
                invalid_token()
            });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %org.id, user_id = %caller.user.id, invite_id = %invite.id, "invitation accepted");
    Ok(Envelope(OrgSummary {
        slug: org.slug,
        name: org.name,
        role: invite.role,
    }))
}
