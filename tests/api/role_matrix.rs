//! The contract's role matrix, for every endpoint that reads or changes an org's data: each role
//! gets the contract's answer (allowed, or 403 `FORBIDDEN`), and a member of another org gets 404
//! for every id of this org it names. New endpoints get a row here.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, call, get, invited_member, post, spawn_app};

const SLUG: &str = "org-of-jane-acme-com";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

const ROLES: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

struct Team {
    app: TestApp,
    owner: Session,
    admin: Session,
    member: Session,
    viewer: Session,
    /// The owner of another org.
    outsider: Session,
}

impl Team {
    async fn assemble() -> Self {
        let app = spawn_app().await;
        let owner = app.signed_up("jane@acme.com").await;
        let admin = invited_member(&app, &owner, SLUG, "ada@acme.com", "admin").await;
        let member = invited_member(&app, &owner, SLUG, "max@acme.com", "member").await;
        let viewer = invited_member(&app, &owner, SLUG, "vic@acme.com", "viewer").await;
        let outsider = app.signed_up("oscar@other.com").await;
        Self {
            app,
            owner,
            admin,
            member,
            viewer,
            outsider,
        }
    }

    fn session(&self, role: Role) -> &Session {
        match role {
            Role::Viewer => &self.viewer,
            Role::Member => &self.member,
            Role::Admin => &self.admin,
            Role::Owner => &self.owner,
        }
    }

    /// A pending invitation in Jane's org, fresh for each call that may consume it.
    async fn pending_invite(&self, email: &str) -> String {
        let reply = post(
            &self.app,
            &format!("/v1/orgs/{SLUG}/invite"),
            &self.owner.token,
            json!({"email": email, "role": "viewer"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["data"]["invite_id"].as_str().unwrap().to_owned()
    }

    /// A member of Jane's org who can be changed or removed.
    async fn disposable_member(&self, email: &str) -> String {
        invited_member(&self.app, &self.owner, SLUG, email, "viewer").await;
        self.member_id(email).await
    }

    async fn member_id(&self, email: &str) -> String {
        let members = get(
            &self.app,
            &format!("/v1/orgs/{SLUG}/members"),
            &self.owner.token,
        )
        .await;
        members.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap_or_else(|| panic!("{email} is a member: {}", members.body))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An API key of the caller's own, to manage.
    async fn own_key(&self, session: &Session) -> String {
        let reply = post(
            &self.app,
            "/v1/account/api-keys",
            &session.token,
            json!({"name": "ci"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["data"]["id"].as_str().unwrap().to_owned()
    }
}

fn assert_allowed(reply: &crate::helpers::Reply, what: &str, role: Role) {
    assert!(
        reply.status.is_success(),
        "{what} as {role:?} should be allowed: {} {}",
        reply.status,
        reply.body
    );
}

fn assert_answer(reply: &crate::helpers::Reply, what: &str, role: Role, minimum: Role) {
    if role >= minimum {
        assert_allowed(reply, what, role);
    } else {
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{what} as {role:?}: {}",
            reply.body
        );
        reply.assert_error(403, "FORBIDDEN");
    }
}

#[tokio::test]
async fn every_role_gets_the_contracts_answer_on_every_endpoint() {
    let team = Team::assemble().await;
    let app = &team.app;
    // A starter org has 60 calls a minute, fewer than this test makes: each section starts on a
    // fresh window.
    let next_minute = || app.clock.advance(chrono::Duration::seconds(60));
    next_minute();

    // Endpoints that change nothing, or only the caller's own things: one call per role.
    let reads: [(Method, &str, Option<Value>, Role); 26] = [
        (Method::GET, "/v1/account", None, Role::Viewer),
        (Method::GET, "/v1/account/usage", None, Role::Viewer),
        (Method::GET, "/v1/account/billing", None, Role::Owner),
        (Method::GET, "/v1/account/savings", None, Role::Viewer),
        (Method::GET, "/v1/account/alerts", None, Role::Viewer),
        (Method::GET, "/v1/account/api-keys", None, Role::Viewer),
        (
            Method::POST,
            "/v1/account/api-keys",
            Some(json!({"name": "matrix"})),
            Role::Viewer,
        ),
        (Method::GET, "/v1/orgs", None, Role::Viewer),
        (
            Method::GET,
            "/v1/orgs/org-of-jane-acme-com/members",
            None,
            Role::Viewer,
        ),
        (
            Method::GET,
            "/v1/orgs/org-of-jane-acme-com/invites",
            None,
            Role::Admin,
        ),
        (Method::GET, "/v1/platforms", None, Role::Viewer),
        (Method::GET, "/v1/clusters", None, Role::Viewer),
        (Method::GET, "/v1/monitoring/status", None, Role::Viewer),
        (Method::GET, "/v1/monitoring/actions", None, Role::Viewer),
        (
            Method::PUT,
            "/v1/monitoring/config",
            Some(json!({"idle_threshold_minutes": 45})),
            Role::Admin,
        ),
        (Method::POST, "/v1/monitoring/pause", None, Role::Admin),
        (Method::POST, "/v1/monitoring/resume", None, Role::Admin),
        (Method::POST, "/v1/clusters/analyze", None, Role::Member),
        (
            Method::POST,
            "/v1/clusters/optimize",
            Some(json!({"dry_run": true})),
            Role::Member,
        ),
        (
            Method::POST,
            "/v1/clusters/optimize",
            Some(json!({"idle_threshold_minutes": 30})),
            Role::Member,
        ),
        (Method::GET, "/v1/insights", None, Role::Viewer),
        (Method::GET, "/v1/insights/rightsizing", None, Role::Viewer),
        (Method::GET, "/v1/clusters/predictions", None, Role::Viewer),
        (Method::GET, "/v1/warm-pools", None, Role::Viewer),
        (Method::GET, "/v1/warm-pools/status", None, Role::Viewer),
        (
            Method::GET,
            "/v1/notifications/channels",
            None,
            Role::Viewer,
        ),
    ];
    for (method, path, body, minimum) in reads {
        next_minute();
        for role in ROLES {
            let reply = call(
                app,
                method.clone(),
                path,
                &team.session(role).token,
                body.clone(),
            )
            .await;
            assert_answer(&reply, &format!("{method} {path}"), role, minimum);
        }
    }

    for role in ROLES {
        next_minute();
        let session = team.session(role);
        // Creating an org is open to any user: it makes them the new org's owner.
        let slug = format!("side-project-{role:?}").to_lowercase();
        let created = post(app, "/v1/orgs", &session.token, json!({"name": slug})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

        // Everyone manages their own keys.
        let key = team.own_key(session).await;
        let rotated = post(
            app,
            &format!("/v1/account/api-keys/{key}/rotate"),
            &session.token,
            json!({}),
        )
        .await;
        assert_allowed(&rotated, "rotate own key", role);
        let rotated_id = rotated.body["data"]["id"].as_str().unwrap().to_owned();
        let deleted = call(
            app,
            Method::DELETE,
            &format!("/v1/account/api-keys/{rotated_id}"),
            &session.token,
            None,
        )
        .await;
        assert_allowed(&deleted, "delete own key", role);

        let tag = format!("{role:?}").to_lowercase();
        let invite = post(
            app,
            &format!("/v1/orgs/{SLUG}/invite"),
            &session.token,
            json!({"email": format!("new-{tag}@acme.com"), "role": "member"}),
        )
        .await;
        assert_answer(&invite, "invite", role, Role::Admin);

        let pending = team
            .pending_invite(&format!("pending-{tag}@acme.com"))
            .await;
        let revoke = call(
            app,
            Method::DELETE,
            &format!("/v1/orgs/{SLUG}/invites/{pending}"),
            &session.token,
            None,
        )
        .await;
        assert_answer(&revoke, "revoke an invitation", role, Role::Admin);

        let target = team
            .disposable_member(&format!("target-{tag}@acme.com"))
            .await;
        let change = call(
            app,
            Method::PUT,
            &format!("/v1/orgs/{SLUG}/members/{target}"),
            &session.token,
            Some(json!({"role": "member"})),
        )
        .await;
        assert_answer(&change, "change a role", role, Role::Owner);
        let remove = call(
            app,
            Method::DELETE,
            &format!("/v1/orgs/{SLUG}/members/{target}"),
            &session.token,
            None,
        )
        .await;
        assert_answer(&remove, "remove a member", role, Role::Owner);
    }
}

#[tokio::test]
async fn platforms_are_changed_by_admins_and_owners_and_read_by_everyone() {
    let team = Team::assemble().await;
    let app = &team.app;
    let fake = dtap_fakes::FakeDatabricks::with_fleet(1).await;
    let credentials = json!({"workspace_url": fake.url(), "token": fake.config().token});
    for role in ROLES {
        app.clock.advance(chrono::Duration::seconds(60));
        let session = team.session(role);
        let created = post(
            app,
            "/v1/platforms",
            &session.token,
            json!({"type": "databricks", "name": "Matrix", "credentials": credentials}),
        )
        .await;
        assert_answer(&created, "connect a platform", role, Role::Admin);
        // Those who may not create act on the owner's platform.
        let id = match created.body["data"]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let owners = post(
                    app,
                    "/v1/platforms",
                    &team.owner.token,
                    json!({"type": "databricks", "name": "Owned", "credentials": credentials}),
                )
                .await;
                owners.body["data"]["id"].as_str().unwrap().to_owned()
            }
        };
        let path = format!("/v1/platforms/{id}");
        let read = get(app, &path, &session.token).await;
        assert_answer(&read, "read a platform", role, Role::Viewer);
        let tested = post(app, &format!("{path}/test"), &session.token, json!({})).await;
        assert_answer(&tested, "test a platform", role, Role::Admin);
        let renamed = call(
            app,
            Method::PUT,
            &path,
            &session.token,
            Some(json!({"name": "Renamed"})),
        )
        .await;
        assert_answer(&renamed, "update a platform", role, Role::Admin);
        let removed = call(app, Method::DELETE, &path, &session.token, None).await;
        assert_answer(&removed, "remove a platform", role, Role::Admin);
    }
}

#[tokio::test]
async fn a_member_of_another_org_gets_404_for_every_id_of_this_one() {
    let team = Team::assemble().await;
    let app = &team.app;
    app.clock.advance(chrono::Duration::seconds(60));
    let outsider = &team.outsider.token;
    let other_slug = "org-of-oscar-other-com";
    let invite = team.pending_invite("someone@acme.com").await;
    let member = team.member_id("vic@acme.com").await;
    let jane_key = team.own_key(&team.owner).await;

    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/orgs/{SLUG}/members"), None),
        (Method::GET, format!("/v1/orgs/{SLUG}/invites"), None),
        (
            Method::POST,
            format!("/v1/orgs/{SLUG}/invite"),
            Some(json!({"email": "x@y.com"})),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{SLUG}/invites/{invite}"),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/orgs/{SLUG}/members/{member}"),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{SLUG}/members/{member}"),
            None,
        ),
        // Jane's ids through the outsider's own org, where the outsider is owner.
        (
            Method::DELETE,
            format!("/v1/orgs/{other_slug}/invites/{invite}"),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/orgs/{other_slug}/members/{member}"),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::DELETE,
            format!("/v1/orgs/{other_slug}/members/{member}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/account/api-keys/{jane_key}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/account/api-keys/{jane_key}/rotate"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in probes {
        let reply = call(app, method.clone(), &path, outsider, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        reply.assert_error(404, "NOT_FOUND");
    }

    // Nothing was touched: the invitation, the member and the key are still there.
    let invites = get(app, &format!("/v1/orgs/{SLUG}/invites"), &team.owner.token).await;
    assert!(
        invites.body.to_string().contains(&invite),
        "{}",
        invites.body
    );
    assert_eq!(team.member_id("vic@acme.com").await, member);
    let keys = get(app, "/v1/account/api-keys", &team.owner.token).await;
    assert!(keys.body.to_string().contains(&jane_key), "{}", keys.body);
}

#[tokio::test]
async fn clusters_are_hibernated_and_resumed_by_members_and_read_by_everyone() {
    let team = Team::assemble().await;
    let app = &team.app;
    let fake = dtap_fakes::FakeDatabricks::start().await;
    let connected = post(
        app,
        "/v1/platforms",
        &team.owner.token,
        json!({"type": "databricks", "name": "Matrix",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    for role in ROLES {
        app.clock.advance(chrono::Duration::seconds(60));
        let session = team.session(role);
        let id = fake.add_cluster(json!({"cluster_name": format!("matrix-{role:?}"),
                                         "node_type_id": "i3.xlarge", "num_workers": 1}));
        let path = format!("/v1/clusters/databricks/{id}");
        let read = get(app, &path, &session.token).await;
        assert_answer(&read, "read a cluster", role, Role::Viewer);
        let hibernated = post(app, &format!("{path}/hibernate"), &session.token, json!({})).await;
        assert_answer(&hibernated, "hibernate a cluster", role, Role::Member);
        if role < Role::Member {
            // The resume check needs a hibernated cluster: the owner hibernates it.
            let owners = post(
                app,
                &format!("{path}/hibernate"),
                &team.owner.token,
                json!({}),
            )
            .await;
            assert_eq!(owners.status, StatusCode::OK, "{}", owners.body);
        }
        let resumed = post(app, &format!("{path}/resume"), &session.token, json!({})).await;
        assert_answer(&resumed, "resume a cluster", role, Role::Member);

        let outsider = &team.outsider.token;
        for (method, probe) in [
            (Method::GET, path.clone()),
            (Method::POST, format!("{path}/hibernate")),
            (Method::POST, format!("{path}/resume")),
        ] {
            let body = (method == Method::POST).then(|| json!({}));
            let reply = call(app, method.clone(), &probe, outsider, body).await;
            reply.assert_error(404, "NOT_FOUND");
        }
    }
}

#[tokio::test]
async fn schedules_are_changed_by_admins_run_by_members_and_read_by_everyone() {
    let team = Team::assemble().await;
    let app = &team.app;
    let fake = dtap_fakes::FakeDatabricks::start().await;
    let connected = post(
        app,
        "/v1/platforms",
        &team.owner.token,
        json!({"type": "databricks", "name": "Matrix",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);
    let cluster = fake.add_cluster(
        json!({"cluster_name": "matrix", "node_type_id": "i3.xlarge",
                                          "num_workers": 1}),
    );
    for role in ROLES {
        app.clock.advance(chrono::Duration::seconds(60));
        let session = team.session(role);
        let body = json!({"name": format!("matrix-{role:?}"), "type": "time",
                          "cron": "0 22 * * *", "action": "hibernate", "cluster_ids": [cluster]});
        let created = post(app, "/v1/schedules", &session.token, body.clone()).await;
        assert_answer(&created, "create a schedule", role, Role::Admin);
        // Those who may not create act on the owner's schedule.
        let id = match created.body["data"]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let owners = post(app, "/v1/schedules", &team.owner.token, body).await;
                owners.body["data"]["id"].as_str().unwrap().to_owned()
            }
        };
        let path = format!("/v1/schedules/{id}");
        for read in [
            "/v1/schedules".to_owned(),
            path.clone(),
            format!("{path}/executions"),
        ] {
            let reply = get(app, &read, &session.token).await;
            assert_answer(&reply, &format!("GET {read}"), role, Role::Viewer);
        }
        let run = post(app, &format!("{path}/run"), &session.token, json!({})).await;
        assert_answer(&run, "run a schedule now", role, Role::Member);
        let renamed = call(
            app,
            Method::PUT,
            &path,
            &session.token,
            Some(json!({"name": "Renamed"})),
        )
        .await;
        assert_answer(&renamed, "update a schedule", role, Role::Admin);
        let removed = call(app, Method::DELETE, &path, &session.token, None).await;
        assert_answer(&removed, "delete a schedule", role, Role::Admin);
    }
}
