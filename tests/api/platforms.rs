//! `/v1/platforms`: validation before any call to a platform, 404 for what is not the caller's,
//! and the flows against a fake Databricks workspace: credentials are checked before anything is
//! stored, and live only in the secret store.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, call, get, post, spawn_app};

const UNKNOWN_ID: &str = "plat_01hzy8k7m3q4w5e6r7t8y9u0id";

/// The org's starter plan allows 60 calls a minute; tests that make more move to a new window.
fn next_minute(app: &TestApp) {
    app.clock.advance(chrono::Duration::seconds(60));
}

fn secrets_file(app: &TestApp) -> Vec<u8> {
    std::fs::read(app.data_dir.path().join("secrets.enc")).expect("the secrets file exists")
}

async fn assert_no_platforms(app: &TestApp, session: &Session) {
    let listed = get(app, "/v1/platforms", &session.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["data"], json!([]), "{}", listed.body);
}

fn service_account_key() -> Value {
    json!({
        "type": "service_account",
        "client_email": "dtap@my-project.iam.gserviceaccount.com",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
}

fn synapse_credentials() -> Value {
    json!({
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "0f0e0d0c-0b0a-0908-0706-050403020100",
        "client_secret": "s3cr3t",
        "subscription_id": "11111111-2222-3333-4444-555555555555",
        "resource_group": "analytics-rg",
        "workspace_name": "acme-synapse",
    })
}

#[tokio::test]
async fn connecting_with_invalid_input_is_400_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let secrets_before = secrets_file(&app);
    let databricks = |credentials: Value| json!({"type": "databricks", "name": "Prod", "credentials": credentials});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "Prod", "credentials": {}}),
            "type: is required",
        ),
        (
            json!({"type": "kubernetes", "name": "Prod", "credentials": {}}),
            "type: must be one of",
        ),
        (
            json!({"type": "databricks", "credentials": {"workspace_url": "https://a.cloud.databricks.com", "token": "t"}}),
            "name: is required",
        ),
        (
            json!({"type": "databricks", "name": "  ", "credentials": {}}),
            "name: must not be empty",
        ),
        (
            json!({"type": "databricks", "name": "Prod"}),
            "credentials: is required",
        ),
        (
            json!({"type": "databricks", "name": "Prod", "credentials": "dapi"}),
            "credentials: must be an object",
        ),
        (
            databricks(json!({"token": "t"})),
            "credentials.workspace_url: is required",
        ),
        (
            databricks(json!({"workspace_url": "not a url", "token": "t"})),
            "credentials.workspace_url: must be an http or https URL",
        ),
        (
            databricks(json!({"workspace_url": "ftp://a.cloud.databricks.com", "token": "t"})),
            "credentials.workspace_url: must be an http or https URL",
        ),
        (
            databricks(
                json!({"workspace_url": "https://user:pw@a.cloud.databricks.com", "token": "t"}),
            ),
            "credentials.workspace_url: must not contain a user or password",
        ),
        (
            databricks(json!({"workspace_url": "https://a.cloud.databricks.com"})),
            "credentials.token: is required",
        ),
        (
            databricks(
                json!({"workspace_url": "https://a.cloud.databricks.com", "client_id": "sp"}),
            ),
            "credentials.client_secret: is required",
        ),
        (
            json!({"type": "emr", "name": "EMR", "credentials": {"role_arn": "arn:aws:iam::123456789012:role/dtap"}}),
            "credentials.region: is required",
        ),
        (
            json!({"type": "emr", "name": "EMR", "region": "us-east-1", "credentials": {"role_arn": "arn:aws:s3:::bucket"}}),
            "credentials.role_arn: must be an IAM role ARN",
        ),
        (
            json!({"type": "emr", "name": "EMR", "credentials": {"region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}}),
            "credentials.secret_access_key: is required",
        ),
        (
            json!({"type": "emr", "name": "EMR", "region": "US East", "credentials": {"role_arn": "arn:aws:iam::123456789012:role/dtap"}}),
            "region: must be a cloud region",
        ),
        (
            json!({"type": "dataproc", "name": "GCP", "credentials": {"project_id": "my-project", "region": "us-central1"}}),
            "credentials.service_account_key: is required",
        ),
        (
            json!({"type": "dataproc", "name": "GCP", "credentials": {"service_account_key": "{not json", "project_id": "my-project", "region": "us-central1"}}),
            "credentials.service_account_key: must be the service account's JSON key",
        ),
        (
            json!({"type": "synapse", "name": "Azure", "credentials": {"tenant_id": "nope"}}),
            "credentials.tenant_id: must be a GUID",
        ),
    ];
    for (index, (body, message)) in cases.into_iter().enumerate() {
        if index % 20 == 0 {
            next_minute(&app);
        }
        let reply = post(&app, "/v1/platforms", &jane.token, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(message),
            "{body}: expected `{message}…`, got {}",
            reply.body
        );
    }
    next_minute(&app);
    assert_no_platforms(&app, &jane).await;
    assert_eq!(secrets_file(&app), secrets_before, "no secret was written");
}

#[tokio::test]
async fn types_without_a_connector_are_refused_honestly() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let secrets_before = secrets_file(&app);
    for (kind, credentials) in [
        (
            "dataproc",
            json!({"service_account_key": service_account_key(), "project_id": "my-project", "region": "us-central1"}),
        ),
        ("synapse", synapse_credentials()),
    ] {
        let reply = post(
            &app,
            "/api/platforms",
            &jane.token,
            json!({"type": kind, "name": "Cloud", "credentials": credentials}),
        )
        .await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.error_message(),
            format!("type: {kind} connectors are not available yet")
        );
    }
    assert_no_platforms(&app, &jane).await;
    assert_eq!(secrets_file(&app), secrets_before);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_on_every_route() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    for id in [
        UNKNOWN_ID,
        "plat_short",
        "usr_01hzy8k7m3q4w5e6r7t8y9u0id",
        "..%2F",
    ] {
        let routes: [(Method, String, Option<Value>); 4] = [
            (Method::GET, format!("/v1/platforms/{id}"), None),
            (
                Method::PUT,
                format!("/v1/platforms/{id}"),
                Some(json!({"name": "Renamed"})),
            ),
            (Method::DELETE, format!("/v1/platforms/{id}"), None),
            (
                Method::POST,
                format!("/v1/platforms/{id}/test"),
                Some(json!({})),
            ),
        ];
        for (method, path, body) in routes {
            let reply = call(&app, method.clone(), &path, &jane.token, body).await;
            reply.assert_error(404, "NOT_FOUND");
        }
    }
}

#[tokio::test]
async fn only_admins_and_owners_change_platforms_and_everyone_reads_them() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let slug = "org-of-jane-acme-com";
    let viewer = crate::helpers::invited_member(&app, &jane, slug, "vic@acme.com", "viewer").await;
    let member = crate::helpers::invited_member(&app, &jane, slug, "max@acme.com", "member").await;
    next_minute(&app);
    for session in [&viewer, &member] {
        let listed = get(&app, "/v1/platforms", &session.token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let writes: [(Method, String, Option<Value>); 4] = [
            (
                Method::POST,
                "/v1/platforms".to_owned(),
                Some(json!({"type": "databricks", "name": "x", "credentials": {}})),
            ),
            (
                Method::PUT,
                format!("/v1/platforms/{UNKNOWN_ID}"),
                Some(json!({"name": "x"})),
            ),
            (Method::DELETE, format!("/v1/platforms/{UNKNOWN_ID}"), None),
            (
                Method::POST,
                format!("/v1/platforms/{UNKNOWN_ID}/test"),
                Some(json!({})),
            ),
        ];
        for (method, path, body) in writes {
            let reply = call(&app, method, &path, &session.token, body).await;
            reply.assert_error(403, "FORBIDDEN");
        }
    }
    let no_auth = app.send(app.client.get(app.url("/v1/platforms"))).await;
    no_auth.assert_error(401, "UNAUTHORIZED");
}
