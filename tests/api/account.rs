use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn account_is_served_by_jwt_and_by_api_key() {
    let app = spawn_app().await;
    let session = app.signed_up("jane@acme.com").await;
    let by_token = app.get_with_token("/v1/account", &session.token).await;
    let by_key = app.get_with_key("/v1/account", &session.api_key).await;
    for reply in [&by_token, &by_key] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let data = &reply.body["data"];
        assert!(data["id"].as_str().unwrap().starts_with("usr_"));
        assert_eq!(data["name"], "Jane Smith");
        assert_eq!(data["email"], "jane@acme.com");
        assert_eq!(data["plan"], "starter");
        assert_eq!(data["clusters_managed"], 0);
        assert!(data["created_at"].as_str().is_some());
        assert_eq!(data["org"]["role"], "owner");
    }
    assert_eq!(by_token.body["data"], by_key.body["data"]);
}

#[tokio::test]
async fn missing_and_malformed_credentials_are_401() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await;
    let missing = app.send(app.client.get(app.url("/v1/account"))).await;
    missing.assert_error(401, "UNAUTHORIZED");
    let not_bearer = app
        .send(
            app.client
                .get(app.url("/v1/account"))
                .header("Authorization", "Basic amFuZTpzZWNyZXQ="),
        )
        .await;
    not_bearer.assert_error(401, "UNAUTHORIZED");
    for token in ["garbage", "a.b.c", ""] {
        app.get_with_token("/v1/account", token)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = spawn_app().await;
    let session = app.signed_up("jane@acme.com").await;
    app.clock.advance(Duration::seconds(3599));
    assert_eq!(
        app.get_with_token("/v1/account", &session.token)
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(Duration::seconds(2));
    app.get_with_token("/v1/account", &session.token)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn tampered_and_alg_none_tokens_are_401() {
    let app = spawn_app().await;
    let session = app.signed_up("jane@acme.com").await;
    let parts: Vec<&str> = session.token.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    let mut forged = claims.clone();
    forged["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    app.get_with_token("/v1/account", &tampered)
        .await
        .assert_error(401, "UNAUTHORIZED");

    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    for unsigned in [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}", parts[1]),
    ] {
        app.get_with_token("/v1/account", &unsigned)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }

    let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let wrong_alg = format!("{hs512}.{}.{}", parts[1], parts[2]);
    app.get_with_token("/v1/account", &wrong_alg)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn unknown_and_malformed_api_keys_are_401() {
    let app = spawn_app().await;
    let session = app.signed_up("jane@acme.com").await;
    let unknown = format!("dtap_live_{}", "A".repeat(40));
    app.get_with_key("/v1/account", &unknown)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_with_key("/v1/account", "dtap_live_short")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let last = if session.api_key.ends_with('x') {
        'y'
    } else {
        'x'
    };
    let mangled = format!("{}{last}", &session.api_key[..session.api_key.len() - 1]);
    app.get_with_key("/v1/account", &mangled)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn acting_for_an_org_one_does_not_belong_to_is_403() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    app.signed_up("bob@other.com").await;
    let reply = app
        .send(
            app.client
                .get(app.url("/v1/account"))
                .bearer_auth(&jane.token)
                .header("X-Org", "org-of-bob-other-com"),
        )
        .await;
    reply.assert_error(403, "FORBIDDEN");
    let own = app
        .send(
            app.client
                .get(app.url("/v1/account"))
                .bearer_auth(&jane.token)
                .header("X-Org", "org-of-jane-acme-com"),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let by_key = app
        .send(
            app.client
                .get(app.url("/v1/account"))
                .header("X-API-Key", &jane.api_key)
                .header("X-Org", "org-of-bob-other-com"),
        )
        .await;
    by_key.assert_error(403, "FORBIDDEN");
}
