use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn the_api_prefix_is_an_alias_of_v1() {
    let app = spawn_app().await;
    let registered = app
        .post_json(
            "/api/auth/register",
            json!({"name": "Jane", "email": "jane@acme.com", "password": PASSWORD, "org_name": "acme"}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let login = app
        .post_json(
            "/api/auth/login",
            json!({"email": "jane@acme.com", "password": PASSWORD}),
        )
        .await;
    let token = login.body["data"]["token"].as_str().unwrap();
    let via_api = app.get_with_token("/api/account", token).await;
    let via_v1 = app.get_with_token("/v1/account", token).await;
    assert_eq!(via_api.status, StatusCode::OK);
    assert_eq!(via_api.body["data"], via_v1.body["data"]);
    assert_eq!(
        app.send(app.client.get(app.url("/api/health")))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app().await;
    for path in ["/v1/nothing-here", "/nothing", "/api/auth/nothing", "/"] {
        app.send(app.client.get(app.url(path)))
            .await
            .assert_error(404, "NOT_FOUND");
    }
    app.send(app.client.get(app.url("/v1/auth/login")))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    app.send(app.client.delete(app.url("/api/account")))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn every_response_carries_a_request_id_matching_its_meta() {
    let app = spawn_app().await;
    let health = app.send(app.client.get(app.url("/v1/health"))).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["success"], json!(true));
    assert_eq!(health.body["data"]["status"], "ok");
    let id = health.headers["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"));
    assert_eq!(health.body["meta"]["request_id"], id);
    let other = app.send(app.client.get(app.url("/v1/health"))).await;
    assert_ne!(
        other.headers["x-request-id"],
        health.headers["x-request-id"]
    );
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let huge =
        json!({"name": "x".repeat(100 * 1024), "email": "jane@acme.com", "password": PASSWORD});
    app.post_json("/v1/auth/register", huge)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn openapi_describes_every_route_under_v1() {
    let app = spawn_app().await;
    let doc = app.send(app.client.get(app.url("/v1/openapi.json"))).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/reset-password", "post"),
        ("/v1/auth/reset-password/confirm", "post"),
        ("/v1/account", "get"),
        ("/v1/health", "get"),
        ("/v1/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}
