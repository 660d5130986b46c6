//! `/v1/platforms`: validation before any call to a platform, 404 for what is not the caller's,
//! and the flows against a fake Databricks workspace: credentials are checked before anything is
//! stored, and live only in the secret store.

use dtap_fakes::{FakeDatabricks, FakeDataproc, FakeSynapse};
use dtap_shared::secrets::local::LocalSecretFile;
use dtap_shared::secrets::{ExposeSecret, SecretStore};
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
async fn connecting_synapse_answers_201_with_the_pools_it_found() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    fake.add_spark_pool("etl", json!({}));
    let config = fake.config();
    let mut credentials = synapse_credentials();
    credentials["tenant_id"] = json!(config.tenant_id);
    credentials["client_id"] = json!(config.client_id);
    credentials["client_secret"] = json!(config.client_secret);
    credentials["subscription_id"] = json!(config.subscription_id);
    credentials["resource_group"] = json!(config.resource_group);
    credentials["workspace_name"] = json!(config.workspace_name);
    credentials["endpoint_url"] = json!(fake.url());

    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "synapse", "name": "Azure", "credentials": credentials}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["type"], "synapse");
    assert_eq!(reply.body["data"]["clusters_discovered"], 2);
    assert!(!reply.body.to_string().contains(&config.client_secret));

    credentials["client_secret"] = json!("not~the~secret");
    let refused = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "synapse", "name": "Azure", "credentials": credentials}),
    )
    .await;
    refused.assert_error(400, "VALIDATION_ERROR");
    assert!(!refused.body.to_string().contains("not~the~secret"));
}

#[tokio::test]
async fn connecting_dataproc_answers_201_with_the_clusters_it_found() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDataproc::start().await;
    fake.fleet(3);
    let credentials = json!({
        "service_account_key": fake.service_account_key(),
        "project_id": fake.config().project_id,
        "region": fake.config().region,
        "endpoint_url": fake.url(),
    });

    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "dataproc", "name": "GCP", "credentials": credentials}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["type"], "dataproc");
    assert_eq!(reply.body["data"]["clusters_discovered"], 3);
    assert!(!reply.body.to_string().contains("PRIVATE KEY"));
    assert_eq!(fake.calls("/token"), 1);
}

#[tokio::test]
async fn a_dataproc_key_that_cannot_sign_is_400_and_stores_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let secrets_before = secrets_file(&app);

    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "dataproc", "name": "GCP", "credentials": {"service_account_key": service_account_key(), "project_id": "my-project", "region": "us-central1"}}),
    )
    .await;

    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(
        reply
            .error_message()
            .starts_with("credentials: dataproc rejected them: "),
        "{}",
        reply.body
    );
    assert!(!reply.body.to_string().contains("BEGIN PRIVATE KEY"));
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

// ---------------------------------------------------------------- against a fake workspace

async fn connect_databricks(
    app: &TestApp,
    session: &Session,
    fake: &FakeDatabricks,
    token: &str,
) -> crate::helpers::Reply {
    post(
        app,
        "/v1/platforms",
        &session.token,
        json!({
            "type": "databricks",
            "name": "Production Databricks",
            "credentials": {"workspace_url": fake.url(), "token": token},
            "region": "us-east-1",
        }),
    )
    .await
}

async fn connected(app: &TestApp, session: &Session, fake: &FakeDatabricks) -> String {
    let reply = connect_databricks(app, session, fake, &fake.config().token).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn stored_secret(app: &TestApp, id: &str) -> Option<String> {
    let secrets = LocalSecretFile::open(app.data_dir.path()).expect("the secrets file opens");
    secrets
        .get(&format!("platform/{id}"))
        .await
        .expect("the secrets file reads")
        .map(|secret| secret.expose_secret().to_owned())
}

#[tokio::test]
async fn connecting_databricks_with_a_token_answers_201_with_the_clusters_it_found() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(3).await;

    let reply = connect_databricks(&app, &jane, &fake, &fake.config().token).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let data = &reply.body["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("plat_"), "{data}");
    assert_eq!(data["type"], "databricks");
    assert_eq!(data["name"], "Production Databricks");
    assert_eq!(data["status"], "connected");
    assert_eq!(data["clusters_discovered"], 3);

    let listed = get(&app, "/api/platforms", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let platforms = listed.body["data"].as_array().unwrap();
    assert_eq!(platforms.len(), 1, "{}", listed.body);
    assert_eq!(platforms[0]["id"], id.as_str());
    assert_eq!(platforms[0]["type"], "databricks");
    assert_eq!(platforms[0]["status"], "connected");
    assert_eq!(platforms[0]["region"], "us-east-1");
    assert!(platforms[0]["created_at"].is_string());

    let one = get(&app, &format!("/v1/platforms/{id}"), &jane.token).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["data"], platforms[0]);

    let secret = stored_secret(&app, &id)
        .await
        .expect("the secret is stored");
    assert!(secret.contains(&fake.config().token));
}

#[tokio::test]
async fn a_token_the_workspace_refuses_is_400_naming_credentials_and_stores_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(2).await;
    let secrets_before = secrets_file(&app);

    let reply = connect_databricks(&app, &jane, &fake, "dapi-not-the-right-token").await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(
        reply
            .error_message()
            .starts_with("credentials: databricks rejected them"),
        "{}",
        reply.body
    );
    assert!(!reply.body.to_string().contains("dapi-not-the-right-token"));
    assert_no_platforms(&app, &jane).await;
    assert_eq!(secrets_file(&app), secrets_before, "no secret was written");
}

#[tokio::test]
async fn an_unreachable_workspace_is_400_naming_the_workspace_url() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    // A port that was just free: nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let secrets_before = secrets_file(&app);
    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "databricks", "name": "Gone", "credentials": {"workspace_url": closed, "token": "dapi-x"}}),
    )
    .await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(
        reply
            .error_message()
            .starts_with("credentials.workspace_url: databricks could not be reached"),
        "{}",
        reply.body
    );
    assert_no_platforms(&app, &jane).await;
    assert_eq!(secrets_file(&app), secrets_before);
}

#[tokio::test]
async fn updating_renames_and_checks_new_credentials_before_replacing_them() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(1).await;
    let id = connected(&app, &jane, &fake).await;
    let path = format!("/v1/platforms/{id}");

    let renamed = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"name": "Prod DB Updated"})),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        renamed.body["data"],
        json!({"id": id, "name": "Prod DB Updated", "status": "connected"})
    );
    let secret_before = stored_secret(&app, &id).await.unwrap();

    let refused = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"credentials": {"workspace_url": fake.url(), "token": "dapi-wrong"}})),
    )
    .await;
    refused.assert_error(400, "VALIDATION_ERROR");
    assert!(
        refused.error_message().starts_with("credentials:"),
        "{}",
        refused.body
    );
    assert_eq!(stored_secret(&app, &id).await.unwrap(), secret_before);

    let empty = call(&app, Method::PUT, &path, &jane.token, Some(json!({}))).await;
    empty.assert_error(400, "VALIDATION_ERROR");

    // Switch to the service principal (OAuth M2M): checked, then stored in place of the token.
    let config = fake.config();
    let switched = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"credentials": {
            "workspace_url": fake.url(),
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        }})),
    )
    .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    let secret_after = stored_secret(&app, &id).await.unwrap();
    assert!(secret_after.contains(&config.client_secret));
    assert!(!secret_after.contains(&config.token));

    let tested = post(&app, &format!("{path}/test"), &jane.token, json!({})).await;
    assert_eq!(tested.body["data"]["reachable"], true, "{}", tested.body);
    let one = get(&app, &path, &jane.token).await;
    assert_eq!(one.body["data"]["name"], "Prod DB Updated");
}

#[tokio::test]
async fn removing_a_platform_deletes_its_record_and_its_secret() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(1).await;
    let id = connected(&app, &jane, &fake).await;
    assert!(stored_secret(&app, &id).await.is_some());

    let path = format!("/v1/platforms/{id}");
    let removed = call(&app, Method::DELETE, &path, &jane.token, None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["data"], json!({"message": "Platform removed"}));

    assert!(
        stored_secret(&app, &id).await.is_none(),
        "the secret is gone"
    );
    get(&app, &path, &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");
    call(&app, Method::DELETE, &path, &jane.token, None)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_no_platforms(&app, &jane).await;
}

#[tokio::test]
async fn the_test_endpoint_reports_reachability_and_records_the_status() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(2).await;
    let id = connected(&app, &jane, &fake).await;
    let test_path = format!("/v1/platforms/{id}/test");

    let ok = post(&app, &test_path, &jane.token, json!({})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let data = &ok.body["data"];
    assert_eq!(data["reachable"], true, "{data}");
    assert!(data["latency_ms"].is_u64(), "{data}");
    assert_eq!(data["permissions"], json!(["read"]));
    assert!(data.get("error").is_none(), "{data}");

    drop(fake);
    let down = post(&app, &test_path, &jane.token, json!({})).await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.body);
    let data = &down.body["data"];
    assert_eq!(data["reachable"], false, "{data}");
    assert_eq!(data["permissions"], json!([]));
    assert!(
        data["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{data}"
    );

    let one = get(&app, &format!("/v1/platforms/{id}"), &jane.token).await;
    assert_eq!(one.body["data"]["status"], "error", "{}", one.body);
}

#[tokio::test]
async fn credentials_appear_in_no_answer_and_no_table_item() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(1).await;
    let token = fake.config().token.clone();
    let created = connect_databricks(&app, &jane, &fake, &token).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/platforms/{id}");

    let mut answers = vec![created.body.to_string()];
    for reply in [
        get(&app, "/v1/platforms", &jane.token).await,
        get(&app, &path, &jane.token).await,
        post(&app, &format!("{path}/test"), &jane.token, json!({})).await,
        call(
            &app,
            Method::PUT,
            &path,
            &jane.token,
            Some(json!({"name": "Renamed", "credentials": {"workspace_url": fake.url(), "token": token}})),
        )
        .await,
    ] {
        assert!(reply.status.is_success(), "{}", reply.body);
        answers.push(reply.body.to_string());
    }
    for answer in answers {
        assert!(!answer.contains(&token), "the token leaked: {answer}");
    }
    // redb stores values as written, so a credential in any item would be in the file's bytes.
    let table = std::fs::read(app.data_dir.path().join("dtap.redb")).unwrap();
    assert!(
        !table
            .windows(token.len())
            .any(|window| window == token.as_bytes()),
        "the token is in the table"
    );
    let secrets = secrets_file(&app);
    assert!(
        !secrets
            .windows(token.len())
            .any(|window| window == token.as_bytes()),
        "the secrets file is encrypted"
    );
}

#[tokio::test]
async fn another_orgs_platform_is_404_on_every_route_and_stays_untouched() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let oscar = app.signed_up("oscar@other.com").await;
    let fake = FakeDatabricks::with_fleet(1).await;
    let id = connected(&app, &jane, &fake).await;
    let path = format!("/v1/platforms/{id}");
    let routes: [(Method, String, Option<Value>); 4] = [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(json!({"name": "Mine now"}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/test"), Some(json!({}))),
    ];
    for (method, path, body) in routes {
        call(&app, method, &path, &oscar.token, body)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    let oscars = get(&app, "/v1/platforms", &oscar.token).await;
    assert_eq!(oscars.body["data"], json!([]));
    let janes = get(&app, &path, &jane.token).await;
    assert_eq!(janes.body["data"]["name"], "Production Databricks");
    assert!(stored_secret(&app, &id).await.is_some());
}

// ---------------------------------------------------------------- EMR

#[tokio::test]
async fn an_unreachable_emr_endpoint_is_400_naming_it() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "emr", "name": "EMR", "region": "us-east-1", "credentials": {
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "not-a-real-secret",
            "endpoint_url": closed,
        }}),
    )
    .await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(
        reply
            .error_message()
            .starts_with("credentials.endpoint_url: emr could not be reached"),
        "{}",
        reply.body
    );
    assert!(!reply.body.to_string().contains("not-a-real-secret"));
    assert_no_platforms(&app, &jane).await;
}

#[tokio::test]
async fn connecting_emr_through_a_role_on_moto_answers_201() {
    let moto = std::env::var("DTAP_TEST_MOTO_URL").expect(
        "DTAP_TEST_MOTO_URL is not set: run the tests with scripts/test, which starts moto",
    );
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    // An account of its own, so no other test's clusters are counted.
    let account = format!(
        "{:012}",
        100_000_000_000
            + u64::from(std::process::id()) * 7_919
            + u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            )
    );
    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "emr", "name": "AWS EMR Staging", "region": "us-east-1", "credentials": {
            "role_arn": format!("arn:aws:iam::{account}:role/digital-tap-access"),
            "external_id": "dtap-external-id",
            "endpoint_url": moto,
        }}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["data"]["type"], "emr");
    assert_eq!(reply.body["data"]["clusters_discovered"], 0);
    let id = reply.body["data"]["id"].as_str().unwrap().to_owned();
    let listed = get(&app, "/v1/platforms", &jane.token).await;
    assert_eq!(listed.body["data"][0]["region"], "us-east-1");
    let tested = post(
        &app,
        &format!("/v1/platforms/{id}/test"),
        &jane.token,
        json!({}),
    )
    .await;
    assert_eq!(tested.body["data"]["reachable"], true, "{}", tested.body);
}

#[tokio::test]
async fn on_the_aws_adapters_a_platform_is_connected_tested_and_removed() {
    let app = crate::helpers::spawn_app_on_moto().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::with_fleet(2).await;
    let id = connected(&app, &jane, &fake).await;
    let path = format!("/v1/platforms/{id}");
    // The test reads the credentials back from Secrets Manager.
    let tested = post(&app, &format!("{path}/test"), &jane.token, json!({})).await;
    assert_eq!(tested.body["data"]["reachable"], true, "{}", tested.body);
    let removed = call(&app, Method::DELETE, &path, &jane.token, None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    get(&app, &path, &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_no_platforms(&app, &jane).await;
}
