//! The organizations endpoint group: `POST /v1/orgs`, `GET /v1/orgs`, members and their roles
//! under `/v1/orgs/{slug}/members`, invitations under `/v1/orgs/{slug}/invite(s)` and
//! `POST /v1/invites/accept`.
//!
//! Routes under `/orgs/{slug}/…` act in the org of the path (see `OrgAuth`), whatever `X-Org`
//! says; the others concern the caller's orgs themselves and need no org at all (`Caller`).

mod invites;
mod members;
mod orgs;

use dtap_shared::api::edge::Routes;
use utoipa_axum::routes;

pub fn routes() -> Routes {
    Routes::new()
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(members::list_members))
        .routes(routes!(members::change_role, members::remove_member))
        .routes(routes!(invites::invite))
        .routes(routes!(invites::list_invites))
        .routes(routes!(invites::revoke_invite))
        .routes(routes!(invites::accept_invite))
}
