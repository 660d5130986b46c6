use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    PASSWORD, Reply, TestApp, call, get, invited_member, login, mailed_token, post, spawn_app,
};

/// Jane's org, as `signed_up` creates it.
const JANE_SLUG: &str = "org-of-jane-acme-com";

fn user_id(app_reply: &Reply, email: &str) -> String {
    app_reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["email"] == email)
        .unwrap_or_else(|| panic!("{email} is listed: {}", app_reply.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn member_id(app: &TestApp, token: &str, slug: &str, email: &str) -> String {
    let members = get(app, &format!("/v1/orgs/{slug}/members"), token).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    user_id(&members, email)
}

fn roles_by_email(members: &Reply) -> Vec<(String, String)> {
    members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn create_org_makes_the_caller_owner_and_lists_every_org() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let created = post(&app, "/v1/orgs", &jane.token, json!({"name": "Acme Data"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["data"],
        json!({"slug": "acme-data", "name": "Acme Data", "members": 1})
    );
    let explicit = post(
        &app,
        "/api/orgs",
        &jane.token,
        json!({"name": "Acme Labs", "slug": "labs"}),
    )
    .await;
    assert_eq!(explicit.status, StatusCode::CREATED, "{}", explicit.body);
    assert_eq!(explicit.body["data"]["slug"], "labs");

    let listed = get(&app, "/v1/orgs", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body["data"],
        json!([
            {"slug": JANE_SLUG, "name": "org of jane@acme.com", "role": "owner"},
            {"slug": "acme-data", "name": "Acme Data", "role": "owner"},
            {"slug": "labs", "name": "Acme Labs", "role": "owner"},
        ])
    );
}

#[tokio::test]
async fn create_org_returns_409_when_the_slug_is_taken() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@acme.com").await;
    assert_eq!(
        post(&app, "/v1/orgs", &jane.token, json!({"name": "Acme"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let taken = post(&app, "/v1/orgs", &bob.token, json!({"name": "ACME!"})).await;
    taken.assert_error(409, "CONFLICT");
    assert!(taken.error_message().starts_with("slug:"), "{}", taken.body);
    let bobs = get(&app, "/v1/orgs", &bob.token).await;
    assert_eq!(bobs.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_org_rejects_bad_input_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let cases = [
        (json!({}), "name:"),
        (json!({"name": "  "}), "name:"),
        (json!({"name": "x".repeat(101)}), "name:"),
        (json!({"name": 5}), "name"),
        (json!({"name": "Acme", "slug": "Bad Slug"}), "slug:"),
        (json!({"name": "Acme", "slug": "a"}), "slug:"),
        (json!({"name": "Acme", "slug": ["acme"]}), "slug"),
    ];
    for (body, field) in cases {
        let reply = post(&app, "/v1/orgs", &jane.token, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(field),
            "{body}: {}",
            reply.body
        );
    }
    let listed = get(&app, "/v1/orgs", &jane.token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn org_endpoints_need_credentials() {
    let app = spawn_app().await;
    let anonymous = app.send(app.client.get(app.url("/v1/orgs"))).await;
    anonymous.assert_error(401, "UNAUTHORIZED");
    let members = app
        .send(
            app.client
                .get(app.url(&format!("/v1/orgs/{JANE_SLUG}/members"))),
        )
        .await;
    members.assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn x_org_selects_the_org_of_a_user_in_several() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    post(&app, "/v1/orgs", &jane.token, json!({"name": "Second"})).await;
    let default = get(&app, "/v1/account", &jane.token).await;
    assert_eq!(default.body["data"]["org"]["slug"], JANE_SLUG);
    let second = app
        .send(
            app.client
                .get(app.url("/v1/account"))
                .bearer_auth(&jane.token)
                .header("X-Org", "second"),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["data"]["org"]["slug"], "second");
}

#[tokio::test]
async fn an_invited_user_accepts_and_appears_with_the_invited_role() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@acme.com").await;
    let invited = post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "Bob@Acme.com", "role": "admin"}),
    )
    .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    let data = &invited.body["data"];
    assert!(data["invite_id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(data["email"], "bob@acme.com");
    assert_eq!(data["status"], "pending");
    let token = mailed_token(&app, "bob@acme.com");
    assert!(
        !invited.body.to_string().contains(&token),
        "the token is only mailed"
    );

    let pending = get(&app, &format!("/v1/orgs/{JANE_SLUG}/invites"), &jane.token).await;
    assert_eq!(pending.body["data"][0]["invite_id"], data["invite_id"]);
    assert!(!pending.body.to_string().contains(&token));

    let accepted = post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": token}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["data"]["slug"], JANE_SLUG);
    assert_eq!(accepted.body["data"]["role"], "admin");

    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &bob.token).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    assert_eq!(
        roles_by_email(&members),
        vec![
            ("jane@acme.com".to_owned(), "owner".to_owned()),
            ("bob@acme.com".to_owned(), "admin".to_owned()),
        ]
    );
    assert_eq!(members.body["data"][1]["name"], "Jane Smith");
    let bobs_orgs = get(&app, "/v1/orgs", &bob.token).await;
    assert_eq!(bobs_orgs.body["data"][1]["slug"], JANE_SLUG);
    assert_eq!(bobs_orgs.body["data"][1]["role"], "admin");

    let again = post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": token}),
    )
    .await;
    again.assert_error(400, "VALIDATION_ERROR");
    assert!(again.error_message().starts_with("token:"));
    let none_pending = get(&app, &format!("/v1/orgs/{JANE_SLUG}/invites"), &jane.token).await;
    assert_eq!(none_pending.body["data"], json!([]));
}

#[tokio::test]
async fn an_invitation_is_only_for_its_email() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let eve = app.signed_up("eve@evil.com").await;
    post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "bob@acme.com"}),
    )
    .await;
    let token = mailed_token(&app, "bob@acme.com");
    post(
        &app,
        "/v1/invites/accept",
        &eve.token,
        json!({"token": token}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    let eve_registers = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Eve", "email": "eve2@evil.com", "password": PASSWORD, "invite_token": token}),
        )
        .await;
    eve_registers.assert_error(400, "VALIDATION_ERROR");
    assert!(eve_registers.error_message().starts_with("invite_token:"));
    app.login("eve2@evil.com", PASSWORD)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn registering_with_an_invite_token_joins_the_org_instead_of_creating_one() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "carol@acme.com", "role": "viewer"}),
    )
    .await;
    let token = mailed_token(&app, "carol@acme.com");
    let registered = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Carol", "email": "carol@acme.com", "password": PASSWORD,
                   "org_name": "Ignored", "invite_token": token}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(
        registered.body["data"]["org"],
        json!({"slug": JANE_SLUG, "role": "viewer"})
    );
    let carol = login(&app, "carol@acme.com").await;
    let orgs = get(&app, "/v1/orgs", &carol.token).await;
    assert_eq!(
        orgs.body["data"],
        json!([{"slug": JANE_SLUG, "name": "org of jane@acme.com", "role": "viewer"}])
    );
    // No org named from `org_name` was created: its slug is still free.
    assert_eq!(
        post(&app, "/v1/orgs", &jane.token, json!({"name": "Ignored"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let reused = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Dan", "email": "carol@acme.com", "password": PASSWORD, "invite_token": token}),
        )
        .await;
    reused.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn revoked_replaced_and_expired_invitations_are_refused() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@acme.com").await;
    let invite_path = format!("/v1/orgs/{JANE_SLUG}/invite");
    let invite = |role: &'static str| {
        let (app, jane, path) = (&app, &jane, &invite_path);
        async move {
            post(
                app,
                path,
                &jane.token,
                json!({"email": "bob@acme.com", "role": role}),
            )
            .await
        }
    };

    let first = invite("member").await;
    let revoked_token = mailed_token(&app, "bob@acme.com");
    let invite_id = first.body["data"]["invite_id"].as_str().unwrap().to_owned();
    let revoked = call(
        &app,
        Method::DELETE,
        &format!("/v1/orgs/{JANE_SLUG}/invites/{invite_id}"),
        &jane.token,
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(revoked.body["data"]["status"], "revoked");
    post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": revoked_token}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");

    invite("member").await;
    let replaced_token = mailed_token(&app, "bob@acme.com");
    let second = invite("viewer").await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let pending = get(&app, &format!("/v1/orgs/{JANE_SLUG}/invites"), &jane.token).await;
    assert_eq!(
        pending.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        pending.body
    );
    assert_eq!(pending.body["data"][0]["role"], "viewer");
    post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": replaced_token}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");

    let expiring_token = mailed_token(&app, "bob@acme.com");
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    // JWTs last an hour: sign in again at the new time.
    let (jane, bob) = (
        login(&app, "jane@acme.com").await,
        login(&app, "bob@acme.com").await,
    );
    let expired = post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": expiring_token}),
    )
    .await;
    expired.assert_error(400, "VALIDATION_ERROR");
    assert!(expired.error_message().starts_with("token:"));
    let listed = get(&app, &format!("/v1/orgs/{JANE_SLUG}/invites"), &jane.token).await;
    assert_eq!(listed.body["data"], json!([]));
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &jane.token).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn inviting_an_existing_member_is_409() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    invited_member(&app, &jane, JANE_SLUG, "bob@acme.com", "member").await;
    let mails_before = app.mails().len();
    let again = post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "bob@acme.com"}),
    )
    .await;
    again.assert_error(409, "CONFLICT");
    assert!(again.error_message().starts_with("email:"));
    let herself = post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "jane@acme.com"}),
    )
    .await;
    herself.assert_error(409, "CONFLICT");
    assert_eq!(app.mails().len(), mails_before);
}

#[tokio::test]
async fn invite_rejects_bad_input_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let cases = [
        (json!({}), "email:"),
        (json!({"email": "not-an-email"}), "email:"),
        (json!({"email": 42}), "email"),
        (json!({"email": "bob@acme.com", "role": "owner"}), "role:"),
        (json!({"email": "bob@acme.com", "role": "boss"}), "role:"),
        (json!({"email": "bob@acme.com", "role": 3}), "role"),
    ];
    for (body, field) in cases {
        let reply = post(
            &app,
            &format!("/v1/orgs/{JANE_SLUG}/invite"),
            &jane.token,
            body.clone(),
        )
        .await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(field),
            "{body}: {}",
            reply.body
        );
    }
    let pending = get(&app, &format!("/v1/orgs/{JANE_SLUG}/invites"), &jane.token).await;
    assert_eq!(pending.body["data"], json!([]));
    assert!(app.mails().is_empty());
    post(&app, "/v1/invites/accept", &jane.token, json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let bad_role = call(
        &app,
        Method::PUT,
        &format!(
            "/v1/orgs/{JANE_SLUG}/members/{}",
            member_id(&app, &jane.token, JANE_SLUG, "jane@acme.com").await
        ),
        &jane.token,
        Some(json!({"role": "superuser"})),
    )
    .await;
    bad_role.assert_error(400, "VALIDATION_ERROR");
    assert!(bad_role.error_message().starts_with("role:"));
}

#[tokio::test]
async fn the_owner_changes_roles_and_removes_members() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = invited_member(&app, &jane, JANE_SLUG, "bob@acme.com", "member").await;
    let bob_id = member_id(&app, &jane.token, JANE_SLUG, "bob@acme.com").await;
    let member_path = format!("/v1/orgs/{JANE_SLUG}/members/{bob_id}");

    let promoted = call(
        &app,
        Method::PUT,
        &member_path,
        &jane.token,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["data"]["role"], "admin");
    assert_eq!(promoted.body["data"]["id"], bob_id);
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &bob.token).await;
    assert_eq!(
        roles_by_email(&members)[1],
        ("bob@acme.com".to_owned(), "admin".to_owned())
    );

    let removed = call(&app, Method::DELETE, &member_path, &jane.token, None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &jane.token).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 1);
    get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &bob.token)
        .await
        .assert_error(404, "NOT_FOUND");
    // Bob's login key was bound to Jane's org, his only one: it is gone with the membership.
    app.get_with_key("/v1/account", &bob.api_key)
        .await
        .assert_error(401, "UNAUTHORIZED");
    call(&app, Method::DELETE, &member_path, &jane.token, None)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn roles_below_the_required_one_get_403() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let admin = invited_member(&app, &jane, JANE_SLUG, "admin@acme.com", "admin").await;
    let member = invited_member(&app, &jane, JANE_SLUG, "member@acme.com", "member").await;
    let viewer = invited_member(&app, &jane, JANE_SLUG, "viewer@acme.com", "viewer").await;
    let jane_id = member_id(&app, &jane.token, JANE_SLUG, "jane@acme.com").await;
    let viewer_id = member_id(&app, &jane.token, JANE_SLUG, "viewer@acme.com").await;
    let invite_path = format!("/v1/orgs/{JANE_SLUG}/invite");

    for session in [&member, &viewer] {
        let listed = get(
            &app,
            &format!("/v1/orgs/{JANE_SLUG}/members"),
            &session.token,
        )
        .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 4);
        post(
            &app,
            &invite_path,
            &session.token,
            json!({"email": "x@acme.com"}),
        )
        .await
        .assert_error(403, "FORBIDDEN");
        get(
            &app,
            &format!("/v1/orgs/{JANE_SLUG}/invites"),
            &session.token,
        )
        .await
        .assert_error(403, "FORBIDDEN");
    }
    let by_admin = post(
        &app,
        &invite_path,
        &admin.token,
        json!({"email": "x@acme.com"}),
    )
    .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    let invite_id = by_admin.body["data"]["invite_id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        &app,
        Method::DELETE,
        &format!("/v1/orgs/{JANE_SLUG}/invites/{invite_id}"),
        &member.token,
        None,
    )
    .await
    .assert_error(403, "FORBIDDEN");

    for session in [&admin, &member, &viewer] {
        call(
            &app,
            Method::PUT,
            &format!("/v1/orgs/{JANE_SLUG}/members/{viewer_id}"),
            &session.token,
            Some(json!({"role": "admin"})),
        )
        .await
        .assert_error(403, "FORBIDDEN");
        call(
            &app,
            Method::DELETE,
            &format!("/v1/orgs/{JANE_SLUG}/members/{jane_id}"),
            &session.token,
            None,
        )
        .await
        .assert_error(403, "FORBIDDEN");
    }
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &jane.token).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn the_role_checked_is_the_one_in_the_org_of_the_path() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@acme.com").await;
    // Bob owns his own org (his default), but is only a viewer in Jane's.
    post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "bob@acme.com", "role": "viewer"}),
    )
    .await;
    let token = mailed_token(&app, "bob@acme.com");
    post(
        &app,
        "/v1/invites/accept",
        &bob.token,
        json!({"token": token}),
    )
    .await;
    post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &bob.token,
        json!({"email": "x@acme.com"}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    let with_header = app
        .send(
            app.client
                .post(app.url(&format!("/v1/orgs/{JANE_SLUG}/invite")))
                .bearer_auth(&bob.token)
                .header("X-Org", "org-of-bob-acme-com")
                .json(&json!({"email": "x@acme.com"})),
        )
        .await;
    with_header.assert_error(403, "FORBIDDEN");
    let own = post(
        &app,
        "/v1/orgs/org-of-bob-acme-com/invite",
        &bob.token,
        json!({"email": "x@acme.com"}),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[tokio::test]
async fn the_last_owner_cannot_be_demoted_or_removed() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let jane_id = member_id(&app, &jane.token, JANE_SLUG, "jane@acme.com").await;
    let jane_path = format!("/v1/orgs/{JANE_SLUG}/members/{jane_id}");
    let demote = call(
        &app,
        Method::PUT,
        &jane_path,
        &jane.token,
        Some(json!({"role": "admin"})),
    )
    .await;
    demote.assert_error(409, "CONFLICT");
    call(&app, Method::DELETE, &jane_path, &jane.token, None)
        .await
        .assert_error(409, "CONFLICT");

    let bob = invited_member(&app, &jane, JANE_SLUG, "bob@acme.com", "admin").await;
    let bob_id = member_id(&app, &jane.token, JANE_SLUG, "bob@acme.com").await;
    let bob_path = format!("/v1/orgs/{JANE_SLUG}/members/{bob_id}");
    let promoted = call(
        &app,
        Method::PUT,
        &bob_path,
        &jane.token,
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    // Two owners now: Jane may step down, and then Bob is the last one.
    let stepped_down = call(
        &app,
        Method::PUT,
        &jane_path,
        &jane.token,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(stepped_down.status, StatusCode::OK, "{}", stepped_down.body);
    call(
        &app,
        Method::PUT,
        &bob_path,
        &bob.token,
        Some(json!({"role": "viewer"})),
    )
    .await
    .assert_error(409, "CONFLICT");
    call(&app, Method::DELETE, &bob_path, &bob.token, None)
        .await
        .assert_error(409, "CONFLICT");
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &bob.token).await;
    assert_eq!(
        roles_by_email(&members),
        vec![
            ("jane@acme.com".to_owned(), "member".to_owned()),
            ("bob@acme.com".to_owned(), "owner".to_owned()),
        ]
    );
}

#[tokio::test]
async fn concurrent_demotions_leave_at_least_one_owner() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = invited_member(&app, &jane, JANE_SLUG, "bob@acme.com", "member").await;
    let jane_id = member_id(&app, &jane.token, JANE_SLUG, "jane@acme.com").await;
    let bob_id = member_id(&app, &jane.token, JANE_SLUG, "bob@acme.com").await;
    let path = |id: &str| format!("/v1/orgs/{JANE_SLUG}/members/{id}");
    call(
        &app,
        Method::PUT,
        &path(&bob_id),
        &jane.token,
        Some(json!({"role": "owner"})),
    )
    .await;
    let (jane_path, bob_path) = (path(&jane_id), path(&bob_id));
    let (a, b) = tokio::join!(
        call(
            &app,
            Method::PUT,
            &jane_path,
            &jane.token,
            Some(json!({"role": "member"}))
        ),
        call(
            &app,
            Method::PUT,
            &bob_path,
            &bob.token,
            Some(json!({"role": "member"}))
        ),
    );
    let successes = [&a, &b]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(successes, 1, "{} / {}", a.body, b.body);
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &jane.token).await;
    let owners = roles_by_email(&members)
        .into_iter()
        .filter(|(_, role)| role == "owner")
        .count();
    assert_eq!(owners, 1, "{}", members.body);
}

#[tokio::test]
async fn a_member_may_leave_on_their_own() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let viewer = invited_member(&app, &jane, JANE_SLUG, "viewer@acme.com", "viewer").await;
    let viewer_id = member_id(&app, &jane.token, JANE_SLUG, "viewer@acme.com").await;
    let left = call(
        &app,
        Method::DELETE,
        &format!("/v1/orgs/{JANE_SLUG}/members/{viewer_id}"),
        &viewer.token,
        None,
    )
    .await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    // With no org left, the user can still list (none) and create one.
    let orgs = get(&app, "/v1/orgs", &viewer.token).await;
    assert_eq!(orgs.body["data"], json!([]));
    let created = post(
        &app,
        "/v1/orgs",
        &viewer.token,
        json!({"name": "Fresh Start"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn another_orgs_routes_are_404_for_non_members() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let eve = app.signed_up("eve@evil.com").await;
    let jane_id = member_id(&app, &jane.token, JANE_SLUG, "jane@acme.com").await;
    let invited = post(
        &app,
        &format!("/v1/orgs/{JANE_SLUG}/invite"),
        &jane.token,
        json!({"email": "bob@acme.com"}),
    )
    .await;
    let invite_id = invited.body["data"]["invite_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attempts = [
        (Method::GET, format!("/v1/orgs/{JANE_SLUG}/members"), None),
        (Method::GET, format!("/v1/orgs/{JANE_SLUG}/invites"), None),
        (
            Method::POST,
            format!("/v1/orgs/{JANE_SLUG}/invite"),
            Some(json!({"email": "x@evil.com"})),
        ),
        (
            Method::PUT,
            format!("/v1/orgs/{JANE_SLUG}/members/{jane_id}"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{JANE_SLUG}/members/{jane_id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{JANE_SLUG}/invites/{invite_id}"),
            None,
        ),
        (Method::GET, "/v1/orgs/no-such-org/members".to_owned(), None),
        (Method::GET, "/v1/orgs/NOT_A_SLUG/members".to_owned(), None),
    ];
    for (method, path, body) in attempts {
        call(&app, method.clone(), &path, &eve.token, body)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    // Eve's API key is bound to her own org: it reaches nothing of Jane's either.
    let with_key = app
        .get_with_key(&format!("/v1/orgs/{JANE_SLUG}/members"), &eve.api_key)
        .await;
    with_key.assert_error(404, "NOT_FOUND");
    let members = get(&app, &format!("/v1/orgs/{JANE_SLUG}/members"), &jane.token).await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 1);
}
