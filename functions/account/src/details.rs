use axum::extract::State;
use chrono::{DateTime, Utc};
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiResult, Envelope};
use dtap_shared::domain::plan::Plan;
use dtap_shared::domain::role::Role;
use dtap_shared::store::repos::orgs;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActingOrg {
    slug: String,
    name: String,
    role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    id: String,
    name: String,
    email: String,
    /// The plan of the organization the request acts for.
    plan: Plan,
    /// Clusters under management in that organization.
    clusters_managed: u64,
    created_at: DateTime<Utc>,
    /// The organization the request acts for (the first joined, or the one named by `X-Org`).
    org: ActingOrg,
}

/// The authenticated user's account.
#[utoipa::path(
    get,
    path = "/account",
    tag = "account",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Account details", body = Account),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn account(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Account>> {
    let clusters_managed = orgs::clusters_managed(state.store.as_ref(), &caller.org.id).await?;
    Ok(Envelope(Account {
        id: caller.user.id.to_string(),
        name: caller.user.name.clone(),
        email: caller.user.email.clone(),
        plan: caller.org.plan,
        clusters_managed,
        created_at: caller.user.created_at,
        org: ActingOrg {
            slug: caller.org.slug.clone(),
            name: caller.org.name.clone(),
            role: caller.role,
        },
    }))
}
