use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, spawn_app};

fn header(reply: &Reply, name: &str) -> i64 {
    reply.headers[name]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

#[tokio::test]
async fn authenticated_responses_carry_the_rate_limit_headers() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let first = app.get_with_token("/v1/account", &jane.token).await;
    let second = app.get_with_key("/v1/account", &jane.api_key).await;
    assert_eq!(
        header(&first, "x-ratelimit-limit"),
        60,
        "a new org is on starter"
    );
    assert_eq!(header(&first, "x-ratelimit-remaining"), 59);
    assert_eq!(
        header(&second, "x-ratelimit-remaining"),
        58,
        "JWT and API key share the org's budget"
    );
    let reset = header(&first, "x-ratelimit-reset");
    let now = app.clock_now();
    assert!(
        reset > now && reset <= now + 60,
        "reset {reset} is the end of the current minute"
    );
    assert_eq!(reset % 60, 0);
}

#[tokio::test]
async fn the_61st_request_in_a_minute_on_a_starter_org_is_429_until_the_next_window() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@other.com").await;
    for _ in 0..60 {
        let reply = app.get_with_key("/v1/account", &jane.api_key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let refused = app.get_with_key("/v1/account", &jane.api_key).await;
    refused.assert_error(429, "RATE_LIMITED");
    assert_eq!(header(&refused, "x-ratelimit-limit"), 60);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
    let reset = header(&refused, "x-ratelimit-reset");
    let retry_after = header(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(app.clock_now() + retry_after, reset);
    // The JWT is the same org: refused too. Another org is unaffected.
    app.get_with_token("/v1/account", &jane.token)
        .await
        .assert_error(429, "RATE_LIMITED");
    assert_eq!(
        app.get_with_key("/v1/account", &bob.api_key).await.status,
        StatusCode::OK
    );

    app.clock.advance(Duration::seconds(retry_after));
    let next = app.get_with_key("/v1/account", &jane.api_key).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(header(&next, "x-ratelimit-remaining"), 59);
}

#[tokio::test]
async fn login_is_throttled_per_email() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await; // one login already
    for _ in 0..9 {
        app.login("jane@acme.com", "wrong password")
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
    let refused = app.login("jane@acme.com", PASSWORD).await;
    refused.assert_error(429, "RATE_LIMITED");
    assert!(header(&refused, "retry-after") >= 1);
    // Another address from the same client is not held back by Jane's.
    app.register("Bob", "bob@acme.com", "bobs").await;
    assert_eq!(
        app.login("bob@acme.com", PASSWORD).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::seconds(60));
    assert_eq!(
        app.login("jane@acme.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn auth_endpoints_are_throttled_per_client_ip() {
    let app = spawn_app().await;
    // 100 auth requests a minute from one address, whatever the email.
    for i in 0..100 {
        let reply = app
            .post_json(
                "/v1/auth/reset-password",
                json!({"email": format!("user{i}@acme.com")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}: {}", reply.body);
    }
    let refused = app
        .post_json(
            "/v1/auth/login",
            json!({"email": "new@acme.com", "password": PASSWORD}),
        )
        .await;
    refused.assert_error(429, "RATE_LIMITED");
    assert_eq!(header(&refused, "x-ratelimit-limit"), 100);
    let register = app.register("Jane", "jane@acme.com", "acme").await;
    register.assert_error(429, "RATE_LIMITED");
    assert!(
        app.mails().is_empty(),
        "no account, so no mail, and the refused calls did nothing"
    );
    app.clock.advance(Duration::seconds(60));
    assert_eq!(
        app.register("Jane", "jane@acme.com", "acme").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_rate_limited_request_does_no_work() {
    let app = spawn_app().await;
    app.signed_up("jane@acme.com").await;
    for _ in 0..9 {
        app.post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
            .await;
    }
    assert_eq!(app.mails().len(), 9);
    let refused = app
        .post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    assert_eq!(refused.status, StatusCode::OK, "the 10th is still allowed");
    let refused = app
        .post_json("/v1/auth/reset-password", json!({"email": "jane@acme.com"}))
        .await;
    refused.assert_error(429, "RATE_LIMITED");
    assert_eq!(app.mails().len(), 10, "the refused request sent no mail");
}
