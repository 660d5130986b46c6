use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::rate_limit::IpThrottle;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created};
use dtap_shared::auth::passwords;
use dtap_shared::domain::email::Email;
use dtap_shared::domain::ids::{MembershipId, OrgId, UserId};
use dtap_shared::domain::names::DisplayName;
use dtap_shared::domain::password::Password;
use dtap_shared::domain::plan::Plan;
use dtap_shared::domain::role::Role;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::domain::{FieldError, required};
use dtap_shared::store::repos::invites::{self, InviteRecord};
use dtap_shared::store::repos::orgs::{self, MembershipRecord, OrgRecord};
use dtap_shared::store::repos::plans;
use dtap_shared::store::repos::users::{self, UserRecord};
use dtap_shared::store::{Condition, StoreError, WriteOp, keys};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Full name.
    #[schema(example = "Jane Smith")]
    name: Option<String>,
    #[schema(example = "jane@acme.com")]
    email: Option<String>,
    /// At least 8 characters.
    #[schema(example = "securepass123", min_length = 8)]
    password: Option<String>,
    company: Option<String>,
    /// The organization to create; defaults to `company`, then to `name`. Its slug is derived
    /// from it.
    org_name: Option<String>,
    /// The token of an invitation to this email: the user joins the inviting organization with
    /// the invited role instead of creating one (`org_name` is then not used).
    invite_token: Option<String>,
}

/// A registration that passed validation.
struct Registration {
    name: DisplayName,
    email: Email,
    password: Password,
    company: Option<DisplayName>,
    org_name: DisplayName,
    slug: OrgSlug,
    invite_token: Option<String>,
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = FieldError;

    fn try_from(body: RegisterRequest) -> Result<Self, FieldError> {
        let name = DisplayName::parse("name", &required("name", body.name)?)?;
        let email = Email::parse("email", &required("email", body.email)?)?;
        let password = Password::parse("password", required("password", body.password)?)?;
        let company = body
            .company
            .filter(|c| !c.trim().is_empty())
            .map(|c| DisplayName::parse("company", &c))
            .transpose()?;
        let org_name = match body.org_name {
            Some(raw) => DisplayName::parse("org_name", &raw)?,
            None => company.clone().unwrap_or_else(|| name.clone()),
        };
        let slug = OrgSlug::from_name(org_name.as_str());
        Ok(Self {
            name,
            email,
            password,
            company,
            org_name,
            slug,
            invite_token: body.invite_token,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgMembership {
    slug: String,
    role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredUser {
    id: String,
    name: String,
    email: String,
    org: OrgMembership,
}

/// Create an account: a user and an organization they own.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisteredUser),
        (status = 400, description = "Invalid input; the message names the field"),
        (status = 409, description = "Email already registered or organization slug taken"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    _throttle: IpThrottle,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<Created<RegisteredUser>> {
    let registration = Registration::try_from(body)?;
    // Checked before the slow password hash: a bad token fails fast.
    let invite = match registration.invite_token.as_deref() {
        Some(token) => Some(redeemable_invite(&state, token, &registration.email).await?),
        None => None,
    };
    let now = state.clock.now();
    let user = UserRecord {
        id: UserId::generate(),
        name: registration.name.into_string(),
        email: registration.email.as_str().to_owned(),
        company: registration.company.map(DisplayName::into_string),
        password_hash: passwords::hash(registration.password).await?,
        credential_version: 0,
        created_at: now,
    };
    if let Some(invite) = invite {
        return join_by_invite(&state, user, &registration.email, invite).await;
    }
    let org = OrgRecord {
        id: OrgId::generate(),
        slug: registration.slug.as_str().to_owned(),
        name: registration.org_name.into_string(),
        plan: Plan::Starter,
        created_at: now,
        owner_count: Some(1),
    };
    let membership = MembershipRecord {
        membership_id: MembershipId::generate(),
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: Role::Owner,
        joined_at: now,
    };
    let put = |item| WriteOp::Put {
        item,
        condition: Condition::NotExists,
    };
    // The email and slug claims are written with what they guard, so a registration is whole
    // or absent, and of two racing for one email exactly one wins.
    let ops = vec![
        put(users::email_claim_item(&registration.email, &user.id)?),
        put(orgs::slug_claim_item(&registration.slug, &org.id)?),
        put(user.item()?),
        put(org.item()?),
        put(membership.item()?),
        // Invoices are derived from the plan history, which starts with the org.
        put(plans::initial_item(&org)?),
    ];
    match state.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { op }) => {
            let email_taken = match op {
                Some(index) => index == 0,
                None => state
                    .store
                    .get(&keys::email(&registration.email))
                    .await?
                    .is_some(),
            };
            return Err(if email_taken {
                ApiError::Conflict("email: is already registered".into())
            } else {
                ApiError::Conflict(format!(
                    "org_name: the organization slug `{}` is already taken",
                    registration.slug
                ))
            });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(user_id = %user.id, org_id = %org.id, "registered");
    Ok(Created(RegisteredUser {
        id: user.id.to_string(),
        name: user.name,
        email: user.email,
        org: OrgMembership {
            slug: org.slug,
            role: Role::Owner,
        },
    }))
}

fn invalid_invite() -> ApiError {
    // One message whether the token is unknown or meant for another email: it reveals nothing.
    ApiError::Validation(
        "invite_token: is invalid, used, revoked or expired, or was sent to another email".into(),
    )
}

async fn redeemable_invite(
    state: &AppState,
    token: &str,
    email: &Email,
) -> ApiResult<InviteRecord> {
    invites::find_by_token(state.store.as_ref(), token.trim())
        .await?
        .filter(|invite| invite.is_valid_at(state.clock.now()) && invite.email == email.as_str())
        .ok_or_else(invalid_invite)
}

/// Registration with an invitation: the user joins the inviting org with the invited role, in
/// the same transaction that creates the user and consumes the invitation.
async fn join_by_invite(
    state: &AppState,
    user: UserRecord,
    email: &Email,
    invite: InviteRecord,
) -> ApiResult<Created<RegisteredUser>> {
    let store = state.store.as_ref();
    let org = orgs::get(store, &invite.org_id)
        .await?
        .ok_or_else(invalid_invite)?;
    let membership = MembershipRecord {
        membership_id: MembershipId::generate(),
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: invite.role,
        joined_at: user.created_at,
    };
    let put = |item| WriteOp::Put {
        item,
        condition: Condition::NotExists,
    };
    let mut ops = vec![
        put(users::email_claim_item(email, &user.id)?),
        put(user.item()?),
    ];
    ops.extend(invites::acceptance_ops(&invite, &membership)?);
    match store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { op }) => {
            let email_taken = match op {
                Some(index) => index == 0,
                None => store.get(&keys::email(email)).await?.is_some(),
            };
            return Err(if email_taken {
                ApiError::Conflict("email: is already registered".into())
            } else {
                invalid_invite()
            });
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(user_id = %user.id, org_id = %org.id, invite_id = %invite.id, "registered by invitation");
    Ok(Created(RegisteredUser {
        id: user.id.to_string(),
        name: user.name,
        email: user.email,
        org: OrgMembership {
            slug: org.slug,
            role: invite.role,
        },
    }))
}
