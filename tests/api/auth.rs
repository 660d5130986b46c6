use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn register_returns_201_with_the_documented_shape_and_an_owner_org() {
    let app = spawn_app().await;
    let reply = app
        .post_json(
            "/v1/auth/register",
            json!({
                "name": "Jane Smith",
                "email": "jane@acme.com",
                "password": "securepass123",
                "company": "Acme Corp",
                "org_name": "acme-engineering"
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["success"], json!(true));
    let data = &reply.body["data"];
    assert!(data["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(data["name"], "Jane Smith");
    assert_eq!(data["email"], "jane@acme.com");
    assert_eq!(
        data["org"],
        json!({"slug": "acme-engineering", "role": "owner"})
    );
    assert!(
        reply.body["meta"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
    assert!(
        reply.body["meta"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(data.get("password").is_none() && data.get("password_hash").is_none());
}

#[tokio::test]
async fn register_derives_the_org_from_company_then_name() {
    let app = spawn_app().await;
    let reply = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Jane", "email": "a@acme.com", "password": PASSWORD, "company": "Acme Corp"}),
        )
        .await;
    assert_eq!(reply.body["data"]["org"]["slug"], "acme-corp");
    let reply = app
        .post_json(
            "/v1/auth/register",
            json!({"name": "Bob Chen", "email": "b@acme.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.body["data"]["org"]["slug"], "bob-chen");
}

#[tokio::test]
async fn register_returns_409_for_a_taken_email_in_any_case() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("Jane", "jane@acme.com", "acme").await.status,
        StatusCode::CREATED
    );
    let again = app
        .register("Jane Again", "JANE@Acme.com", "other-org")
        .await;
    again.assert_error(409, "CONFLICT");
    assert!(again.error_message().contains("email"), "{}", again.body);
}

#[tokio::test]
async fn register_returns_409_for_a_taken_org_slug_and_stores_nothing() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("Jane", "jane@acme.com", "Acme").await.status,
        StatusCode::CREATED
    );
    let clash = app.register("Bob", "bob@acme.com", "acme").await;
    clash.assert_error(409, "CONFLICT");
    assert!(clash.error_message().contains("slug"), "{}", clash.body);
    // Bob's user was not half-written: his email is still free.
    app.login("bob@acme.com", PASSWORD)
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.register("Bob", "bob@acme.com", "bobs-org").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn register_rejects_bad_input_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"name": "Jane", "email": "jane@acme.com", "password": "short"}),
            "password: must be at least 8 characters",
        ),
        (
            json!({"name": "Jane", "password": PASSWORD}),
            "email: is required",
        ),
        (
            json!({"name": "Jane", "email": "not-an-email", "password": PASSWORD}),
            "email: must be a valid email address",
        ),
        (
            json!({"email": "jane@acme.com", "password": PASSWORD}),
            "name: is required",
        ),
        (
            json!({"name": "  ", "email": "jane@acme.com", "password": PASSWORD}),
            "name: must not be empty",
        ),
        (
            json!({"name": "Jane", "email": "jane@acme.com", "password": 12345678}),
            "password: invalid type",
        ),
        (
            json!({"name": "Jane", "email": "jane@acme.com", "password": PASSWORD, "org_name": "x".repeat(101)}),
            "org_name: must be at most 100 characters",
        ),
    ];
    for (body, message) in cases {
        let reply = app.post_json("/v1/auth/register", body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(message),
            "{body} -> {}",
            reply.body
        );
    }
    app.login("jane@acme.com", PASSWORD)
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.register("Jane", "jane@acme.com", "acme").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let malformed = app
        .send(
            app.client
                .post(app.url("/v1/auth/register"))
                .header("content-type", "application/json")
                .body(r#"{"name": "Jane", "email": "#),
        )
        .await;
    malformed.assert_error(400, "INVALID_JSON");
    let form = app
        .send(
            app.client
                .post(app.url("/v1/auth/register"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("name=Jane&email=jane@acme.com&password=securepass123"),
        )
        .await;
    form.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let no_type = app
        .send(app.client.post(app.url("/v1/auth/register")).body("{}"))
        .await;
    no_type.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.login("jane@acme.com", PASSWORD)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn concurrent_registrations_with_one_email_have_exactly_one_winner() {
    let app = spawn_app().await;
    let org_names: Vec<String> = (0..6).map(|i| format!("race org {i}")).collect();
    let attempts = org_names
        .iter()
        .map(|org| app.register("Jane", "race@acme.com", org));
    let replies = join_all(attempts).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 5));
}

#[tokio::test]
async fn login_returns_a_token_an_api_key_and_expires_in() {
    let app = spawn_app().await;
    app.register("Jane", "jane@acme.com", "acme").await;
    let reply = app.login("Jane@Acme.com", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(data["token"].as_str().unwrap().split('.').count(), 3);
    assert!(data["api_key"].as_str().unwrap().starts_with("dtap_live_"));
    assert_eq!(data["expires_in"], 3600);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    app.register("Jane", "jane@acme.com", "acme").await;
    let wrong = app.login("jane@acme.com", "wrong-password").await;
    let unknown = app.login("nobody@acme.com", PASSWORD).await;
    wrong.assert_error(401, "UNAUTHORIZED");
    unknown.assert_error(401, "UNAUTHORIZED");
    assert_eq!(wrong.body["error"], unknown.body["error"]);
}

#[tokio::test]
async fn login_rejects_missing_fields_with_400() {
    let app = spawn_app().await;
    let reply = app
        .post_json("/v1/auth/login", json!({"email": "jane@acme.com"}))
        .await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(reply.error_message(), "password: is required");
}

#[tokio::test]
async fn login_keeps_at_most_five_login_keys_revoking_the_oldest() {
    let app = spawn_app().await;
    let first = app.signed_up("jane@acme.com").await;
    let mut later = Vec::new();
    for _ in 0..5 {
        let login = app.login("jane@acme.com", PASSWORD).await;
        later.push(login.body["data"]["api_key"].as_str().unwrap().to_owned());
    }
    app.get_with_key("/v1/account", &first.api_key)
        .await
        .assert_error(401, "UNAUTHORIZED");
    for key in later {
        assert_eq!(
            app.get_with_key("/v1/account", &key).await.status,
            StatusCode::OK
        );
    }
}
