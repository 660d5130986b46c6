//! The sample API Gateway events in `events/` through each function's router exactly as
//! `lambda_http::run` serves it: proof that the Lambda path, not only the local server, works.

use std::path::PathBuf;

use dtap_shared::AppState;
use dtap_shared::api::edge::{self, Routes};
use dtap_shared::runtime::{Adapters, Mode, Settings};
use http_body_util::BodyExt;
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use tower::ServiceExt;

fn event(name: &str) -> lambda_http::Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} exists", path.display()));
    let request: LambdaRequest = serde_json::from_str(&text).expect("a valid API Gateway event");
    lambda_http::Request::from(request)
}

async fn state(data_dir: &std::path::Path) -> AppState {
    let mode = Mode::Local {
        data_dir: data_dir.to_path_buf(),
    };
    AppState::new(
        Adapters::for_mode(&mode).await.unwrap(),
        Settings::default(),
    )
    .await
    .unwrap()
}

async fn invoke(routes: Routes, state: &AppState, request: lambda_http::Request) -> (u16, Value) {
    let response = edge::app(routes, state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-request-id"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn sample_events_are_served_by_their_functions() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;

    let (status, body) = invoke(
        dtap_auth::routes(),
        &state,
        event("apigw-auth-register.json"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = invoke(dtap_auth::routes(), &state, event("apigw-auth-login.json")).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();

    // The account event carries a placeholder token: 401 as is, 200 with a real one.
    let (status, _) = invoke(
        dtap_account::routes(),
        &state,
        event("apigw-account-get.json"),
    )
    .await;
    assert_eq!(status, 401);
    let mut with_token = event("apigw-account-get.json");
    with_token
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (status, body) = invoke(dtap_account::routes(), &state, with_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["email"], "jane@acme.com");

    let (status, _) = invoke(dtap_meta::routes(), &state, event("apigw-health.json")).await;
    assert_eq!(status, 200);
    let (status, body) = invoke(
        dtap_meta::routes(),
        &state,
        event("apigw-unknown-route.json"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn the_orgs_sample_event_creates_an_org() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    invoke(
        dtap_auth::routes(),
        &state,
        event("apigw-auth-register.json"),
    )
    .await;
    let (_, body) = invoke(dtap_auth::routes(), &state, event("apigw-auth-login.json")).await;
    let token = body["data"]["token"].as_str().unwrap().to_owned();

    let mut with_token = event("apigw-orgs-create.json");
    with_token
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (status, body) = invoke(dtap_orgs::routes(), &state, with_token).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["slug"], "acme-data");
    assert_eq!(body["data"]["members"], 1);
}

#[tokio::test]
async fn the_platforms_sample_event_reaches_the_platforms_function() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    // With its placeholder token the event is refused before anything would call Databricks.
    let (status, body) = invoke(
        dtap_platforms::routes(),
        &state,
        event("apigw-platforms-create.json"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}
