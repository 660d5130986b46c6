use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, mailed_token, spawn_app};

#[tokio::test]
async fn reset_password_answers_identically_for_known_and_unknown_emails() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await;
    let known = app
        .post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    let unknown = app
        .post_json(
            "/v1/auth/reset-password",
            json!({"email": "nobody@acme.com"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(
        known.body["data"],
        json!({"message": "Password reset email sent"})
    );
    assert_eq!(known.body["data"], unknown.body["data"]);
    let mails = app.mails();
    assert_eq!(mails.len(), 1, "only the known account gets mail");
    assert_eq!(mails[0].to, "jane@acme.com");
}

#[tokio::test]
async fn a_reset_token_works_once_and_revokes_earlier_tokens() {
    let app = spawn_app().await;
    let before = app.signed_up("jane@acme.com").await;
    app.post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    let token = mailed_token(&app, "jane@acme.com");

    let confirm = json!({"token": token, "password": "a brand new password"});
    let first = app
        .post_json("/v1/auth/reset-password/confirm", confirm.clone())
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = app
        .post_json("/v1/auth/reset-password/confirm", confirm)
        .await;
    second.assert_error(400, "VALIDATION_ERROR");
    assert!(second.error_message().starts_with("token:"));

    app.login("jane@acme.com", PASSWORD)
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.login("jane@acme.com", "a brand new password")
            .await
            .status,
        StatusCode::OK
    );
    app.get_with_token("/v1/account", &before.token)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_with_key("/v1/account", &before.api_key)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_reset_token_expires_after_an_hour() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await;
    app.post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    let token = mailed_token(&app, "jane@acme.com");
    app.clock.advance(Duration::seconds(3601));
    let reply = app
        .post_json(
            "/v1/auth/reset-password/confirm",
            json!({"token": token, "password": "another password"}),
        )
        .await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        app.login("jane@acme.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn confirm_rejects_unknown_tokens_and_weak_passwords() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await;
    app.post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    let token = mailed_token(&app, "jane@acme.com");
    let weak = app
        .post_json(
            "/v1/auth/reset-password/confirm",
            json!({"token": token, "password": "short"}),
        )
        .await;
    weak.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        weak.error_message(),
        "password: must be at least 8 characters"
    );
    let unknown = app
        .post_json(
            "/v1/auth/reset-password/confirm",
            json!({"token": "x".repeat(43), "password": "long enough"}),
        )
        .await;
    unknown.assert_error(400, "VALIDATION_ERROR");
    // The weak attempt did not consume the token.
    let ok = app
        .post_json(
            "/v1/auth/reset-password/confirm",
            json!({"token": token, "password": "long enough"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let malformed = app
        .post_json("/v1/auth/reset-password", json!({"email": "nope"}))
        .await;
    malformed.assert_error(400, "VALIDATION_ERROR");
}
