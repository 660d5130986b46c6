//! The same black-box flows on the AWS adapters (DynamoDB, Secrets Manager, SES on moto): the
//! conditional writes and transactions of registration, invitations and roles, and the shared
//! rate-limit counters, exactly as Lambda runs them.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{call, get, invited_member, spawn_app_on_moto};

const SLUG: &str = "org-of-jane-acme-com";

#[tokio::test]
async fn a_team_forms_and_changes_on_dynamodb() {
    let app = spawn_app_on_moto().await;
    let jane = app.signed_up("jane@acme.com").await;
    app.register("Jane", "JANE@acme.com", "another")
        .await
        .assert_error(409, "CONFLICT");

    let ada = invited_member(&app, &jane, SLUG, "ada@acme.com", "admin").await;
    let members = get(&app, &format!("/v1/orgs/{SLUG}/members"), &ada.token).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    assert_eq!(members.body["data"].as_array().unwrap().len(), 2);
    let ada_id = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "ada@acme.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Promote Ada to owner, then Jane may step down; the last owner may not.
    let promote = call(
        &app,
        Method::PUT,
        &format!("/v1/orgs/{SLUG}/members/{ada_id}"),
        &jane.token,
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.body);
    let jane_id = jane_id(&app, &ada.token).await;
    let step_down = call(
        &app,
        Method::PUT,
        &format!("/v1/orgs/{SLUG}/members/{jane_id}"),
        &ada.token,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(step_down.status, StatusCode::OK, "{}", step_down.body);
    let last = call(
        &app,
        Method::PUT,
        &format!("/v1/orgs/{SLUG}/members/{ada_id}"),
        &ada.token,
        Some(json!({"role": "admin"})),
    )
    .await;
    last.assert_error(409, "CONFLICT");

    // A password reset through SES, on the same tables.
    let reset = app
        .post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    let token = crate::helpers::mailed_token(&app, "jane@acme.com");
    let confirmed = app
        .post_json(
            "/v1/auth/reset-password/confirm",
            json!({"token": token, "password": "a new password"}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    app.get_with_token("/v1/account", &jane.token)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn jane_id(app: &crate::helpers::TestApp, token: &str) -> String {
    let members = get(app, &format!("/v1/orgs/{SLUG}/members"), token).await;
    members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "jane@acme.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rate_limits_hold_on_dynamodb_counters() {
    let app = spawn_app_on_moto().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@other.com").await;
    for _ in 0..60 {
        let reply = app.get_with_key("/v1/account/usage", &jane.api_key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let refused = app.get_with_key("/v1/account", &jane.api_key).await;
    refused.assert_error(429, "RATE_LIMITED");
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    assert_eq!(
        app.get_with_key("/v1/account", &bob.api_key).await.status,
        StatusCode::OK
    );

    app.clock.advance(Duration::seconds(60));
    let usage = app.get_with_key("/v1/account/usage", &jane.api_key).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    // The 60 allowed calls and this one; a refused call does no work, counting included.
    assert_eq!(usage.body["data"]["api_calls"], 61);
}
