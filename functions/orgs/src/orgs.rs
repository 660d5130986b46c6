use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::auth::Caller;
use dtap_shared::api::{ApiError, ApiJson, ApiResult, Created, Envelope};
use dtap_shared::domain::ids::{MembershipId, OrgId};
use dtap_shared::domain::names::DisplayName;
use dtap_shared::domain::plan::Plan;
use dtap_shared::domain::role::Role;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::domain::{FieldError, required};
use dtap_shared::store::repos::orgs::{self, MembershipRecord, OrgRecord};
use dtap_shared::store::repos::plans;
use dtap_shared::store::{Condition, StoreError, WriteOp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrgRequest {
    /// Organization name, 1-100 characters.
    #[schema(example = "Acme Engineering")]
    name: Option<String>,
    /// URL slug (2-48 characters of a-z, 0-9 and single hyphens); derived from `name` if omitted.
    #[schema(example = "acme-engineering")]
    slug: Option<String>,
}

struct NewOrg {
    name: DisplayName,
    slug: OrgSlug,
}

impl TryFrom<CreateOrgRequest> for NewOrg {
    type Error = FieldError;

    fn try_from(body: CreateOrgRequest) -> Result<Self, FieldError> {
        let name = DisplayName::parse("name", &required("name", body.name)?)?;
        let slug = match body.slug {
            Some(raw) => OrgSlug::parse("slug", &raw)?,
            None => OrgSlug::from_name(name.as_str()),
        };
        Ok(Self { name, slug })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrg {
    #[schema(example = "acme-engineering")]
    slug: String,
    #[schema(example = "Acme Engineering")]
    name: String,
    /// Always 1: the creator, as owner.
    #[schema(example = 1)]
    members: u64,
}

/// An org the caller belongs to, and their role there.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgSummary {
    #[schema(example = "acme-engineering")]
    pub slug: String,
    #[schema(example = "Acme Engineering")]
    pub name: String,
    pub role: Role,
}

/// Create an organization; the caller becomes its owner.
#[utoipa::path(
    post,
    path = "/orgs",
    tag = "orgs",
    request_body = CreateOrgRequest,
    responses(
        (status = 201, description = "Organization created", body = CreatedOrg),
        (status = 400, description = "Invalid input; the message names the field"),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 409, description = "The slug is taken"),
    )
)]
pub async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOrgRequest>,
) -> ApiResult<Created<CreatedOrg>> {
    let new = NewOrg::try_from(body)?;
    let now = state.clock.now();
    let org = OrgRecord {
        id: OrgId::generate(),
        slug: new.slug.as_str().to_owned(),
        name: new.name.into_string(),
        plan: Plan::Starter,
        created_at: now,
        owner_count: Some(1),
    };
    let membership = MembershipRecord {
        membership_id: MembershipId::generate(),
        org_id: org.id.clone(),
        user_id: caller.user.id.clone(),
        role: Role::Owner,
        joined_at: now,
    };
    let put = |item| WriteOp::Put {
        item,
        condition: Condition::NotExists,
    };
    // The slug claim is written with the org it guards: of two racing for a slug, one wins.
    let ops = vec![
        put(orgs::slug_claim_item(&new.slug, &org.id)?),
        put(org.item()?),
        put(membership.item()?),
        // Invoices are derived from the plan history, which starts with the org.
        put(plans::initial_item(&org)?),
    ];
    match state.store.transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            return Err(ApiError::Conflict(format!(
                "slug: the organization slug `{}` is already taken",
                new.slug
            )));
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(org_id = %org.id, user_id = %caller.user.id, "organization created");
    Ok(Created(CreatedOrg {
        slug: org.slug,
        name: org.name,
        members: 1,
    }))
}

/// List the organizations the caller belongs to, in the order they joined (the first is the
/// default org of requests without `X-Org`).
#[utoipa::path(
    get,
    path = "/orgs",
    tag = "orgs",
    responses(
        (status = 200, description = "The caller's organizations", body = [OrgSummary]),
        (status = 401, description = "Missing or invalid credentials"),
    )
)]
pub async fn list_orgs(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Envelope<Vec<OrgSummary>>> {
    let store = state.store.as_ref();
    let mut summaries = Vec::new();
    for membership in orgs::memberships_of_user(store, &caller.user.id).await? {
        // A membership whose org is gone is skipped rather than failing the whole listing.
        if let Some(org) = orgs::get(store, &membership.org_id).await? {
            summaries.push(OrgSummary {
                slug: org.slug,
                name: org.name,
                role: membership.role,
            });
        }
    }
    Ok(Envelope(summaries))
}
