//! Warm pools end to end on a fake Databricks workspace: the round trip (create → the instance
//! pool exists with our sizes → list, get, status from the pool's stats and the clusters' claim
//! events → update → delete → gone on both sides), the 400s (min > max, unknown platform, a
//! platform type without pools, a new instance type), roles and tenancy.

use chrono::Utc;
use dtap_fakes::FakeDatabricks;
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::store::repos::orgs;
use dtap_shared::store::repos::platforms::{
    self as platforms_repo, PlatformRecord, PlatformStatus,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, call, get, invited_member, post, spawn_app};

async fn connect(app: &TestApp, session: &Session, fake: &FakeDatabricks) -> String {
    let reply = post(
        app,
        "/v1/platforms",
        &session.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn slug_and_org(app: &TestApp, session: &Session) -> (String, OrgId) {
    let listed = get(app, "/v1/orgs", &session.token).await;
    let slug = listed.body["data"][0]["slug"].as_str().unwrap().to_owned();
    let org = orgs::find_by_slug(
        app.state.store.as_ref(),
        &OrgSlug::parse("slug", &slug).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id;
    (slug, org)
}

#[tokio::test]
async fn a_warm_pool_round_trips_through_a_databricks_instance_pool() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let platform = connect(&app, &jane, &fake).await;

    let created = post(
        &app,
        "/v1/warm-pools",
        &jane.token,
        json!({"platform_id": platform, "min_nodes": 2, "max_nodes": 10, "instance_type": "i3.xlarge"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    let id = data["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wp_"));
    assert_eq!(
        (data["min_nodes"].clone(), data["max_nodes"].clone()),
        (json!(2), json!(10))
    );
    // No idle node yet: provisioning, as documented.
    assert_eq!(data["status"], "provisioning");
    let pool_id = data["pool_id"].as_str().unwrap().to_owned();
    let pool = fake.pool(&pool_id).unwrap();
    assert_eq!(pool["node_type_id"], "i3.xlarge");
    assert_eq!(pool["min_idle_instances"], 2);
    assert_eq!(pool["max_capacity"], 10);
    assert_eq!(pool["instance_pool_name"], format!("digitaltap-{id}"));
    assert_eq!(pool["custom_tags"]["DigitalTapWarmPool"], id.as_str());

    // The platform fills the pool; a cluster draws on it.
    fake.set_pool_stats(&pool_id, 2, 4, 0, 1);
    let cluster = fake.add_cluster(json!({
        "cluster_name": "Pooled", "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge", "num_workers": 2, "instance_pool_id": pool_id,
    }));
    let now = Utc::now().timestamp_millis();
    fake.add_event(&cluster, now - 1_800_000, "STARTING");
    fake.add_event(&cluster, now - 1_800_000 + 12_000, "RUNNING");
    fake.add_event(&cluster, now - 600_000, "RESIZING");
    fake.add_event(&cluster, now - 600_000 + 8_000, "UPSIZE_COMPLETED");
    // Not drawing on the pool: not counted.
    let other = fake.add_cluster(json!({
        "cluster_name": "Cold", "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge", "num_workers": 2,
    }));
    fake.add_event(&other, now - 60_000, "STARTING");
    fake.add_event(&other, now, "RUNNING");

    let listed = get(&app, "/v1/warm-pools", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert_eq!(listed.body["data"][0]["status"], "ready");

    // 4 idle + 2 used; claims: the fake's creation (CREATING → RUNNING, 300 s), the start 12 s,
    // the upsize 8 s: (300 + 12 + 8) / 3 = 106.7 s, answered in whole seconds.
    let status = get(&app, "/v1/warm-pools/status", &jane.token).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    let status = &status.body["data"];
    assert_eq!(status["total_warm_nodes"], 6);
    assert_eq!(status["available"], 4);
    assert_eq!(status["in_use"], 2);
    assert_eq!(status["pending"], 1);
    assert_eq!(status["claims_measured"], 3);
    assert_eq!(status["avg_claim_time_seconds"], 107);

    let one = get(&app, &format!("/v1/warm-pools/{id}"), &jane.token).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["data"]["stats"]["idle_count"], 4);

    let path = format!("/v1/warm-pools/{id}");
    let updated = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"min_nodes": 5, "max_nodes": 12})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["updated"], true);
    // 4 idle < 5 wanted.
    assert_eq!(updated.body["data"]["status"], "provisioning");
    let pool = fake.pool(&pool_id).unwrap();
    assert_eq!(
        (
            pool["min_idle_instances"].clone(),
            pool["max_capacity"].clone()
        ),
        (json!(5), json!(12))
    );

    call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"min_nodes": 13})),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    let retype = call(
        &app,
        Method::PUT,
        &path,
        &jane.token,
        Some(json!({"instance_type": "i3.2xlarge"})),
    )
    .await;
    retype.assert_error(400, "VALIDATION_ERROR");
    assert!(retype.error_message().starts_with("instance_type:"));
    assert_eq!(fake.pool(&pool_id).unwrap()["min_idle_instances"], 5);

    let deleted = call(&app, Method::DELETE, &path, &jane.token, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["data"]["message"], "Warm pool deleted");
    assert_eq!(fake.pool(&pool_id), None);
    get(&app, &path, &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");
    let listed = get(&app, "/v1/warm-pools", &jane.token).await;
    assert_eq!(listed.body["data"], json!([]));
    let status = get(&app, "/v1/warm-pools/status", &jane.token).await;
    assert_eq!(status.body["data"]["total_warm_nodes"], 0);
    assert_eq!(status.body["data"]["avg_claim_time_seconds"], Value::Null);
}

#[tokio::test]
async fn bad_sizes_unknown_platforms_and_types_without_pools_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let platform = connect(&app, &jane, &fake).await;
    let (_, org) = slug_and_org(&app, &jane).await;
    let body = |platform: &str, min: i64, max: i64| json!({"platform_id": platform, "min_nodes": min, "max_nodes": max, "instance_type": "i3.xlarge"});
    let reply = post(&app, "/v1/warm-pools", &jane.token, body(&platform, 5, 2)).await;
    reply.assert_error(400, "VALIDATION_ERROR");
    assert!(
        reply.error_message().starts_with("min_nodes:"),
        "{}",
        reply.body
    );
    post(&app, "/v1/warm-pools", &jane.token, body(&platform, 0, 0))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    post(&app, "/v1/warm-pools", &jane.token, body(&platform, -1, 2))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let unknown = post(
        &app,
        "/v1/warm-pools",
        &jane.token,
        body(&PlatformId::generate().to_string(), 1, 2),
    )
    .await;
    unknown.assert_error(400, "VALIDATION_ERROR");
    assert!(unknown.error_message().starts_with("platform_id:"));
    post(&app, "/v1/warm-pools", &jane.token, body("not-an-id", 1, 2))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    post(
        &app,
        "/v1/warm-pools",
        &jane.token,
        json!({"platform_id": platform, "min_nodes": 1}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");

    // An EMR platform (its record written directly: connecting EMR needs AWS).
    let emr = PlatformRecord {
        id: PlatformId::generate(),
        org_id: org.clone(),
        kind: PlatformKind::Emr,
        name: "EMR".into(),
        region: Some("us-east-1".into()),
        status: PlatformStatus::Connected,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        clusters_discovered: 0,
    };
    platforms_repo::create(app.state.store.as_ref(), &emr)
        .await
        .unwrap();
    let refused = post(
        &app,
        "/v1/warm-pools",
        &jane.token,
        body(emr.id.as_str(), 1, 2),
    )
    .await;
    refused.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        refused.error_message(),
        "platform_id: warm pools are supported on databricks platforms only (this platform is emr)"
    );
    assert_eq!(fake.pool_count(), 0);
    assert_eq!(
        get(&app, "/v1/warm-pools", &jane.token).await.body["data"],
        json!([])
    );
}

#[tokio::test]
async fn warm_pools_are_admin_to_change_viewer_to_read_and_invisible_to_other_orgs() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@other.com").await;
    let fake = FakeDatabricks::start().await;
    let platform = connect(&app, &jane, &fake).await;
    let (slug, _) = slug_and_org(&app, &jane).await;
    let viewer = invited_member(&app, &jane, &slug, "vic@acme.com", "viewer").await;
    let member = invited_member(&app, &jane, &slug, "meg@acme.com", "member").await;
    let body = json!({"platform_id": platform, "min_nodes": 1, "max_nodes": 3, "instance_type": "i3.xlarge"});
    post(&app, "/v1/warm-pools", &member.token, body.clone())
        .await
        .assert_error(403, "FORBIDDEN");
    let created = post(&app, "/v1/warm-pools", &jane.token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/warm-pools/{id}");
    assert_eq!(get(&app, &path, &viewer.token).await.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/v1/warm-pools/status", &viewer.token)
            .await
            .status,
        StatusCode::OK
    );
    call(
        &app,
        Method::PUT,
        &path,
        &viewer.token,
        Some(json!({"min_nodes": 2})),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    call(&app, Method::DELETE, &path, &member.token, None)
        .await
        .assert_error(403, "FORBIDDEN");
    // Another org: 404 on every route, and its own lists are empty.
    get(&app, &path, &bob.token)
        .await
        .assert_error(404, "NOT_FOUND");
    call(
        &app,
        Method::PUT,
        &path,
        &bob.token,
        Some(json!({"min_nodes": 2})),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    call(&app, Method::DELETE, &path, &bob.token, None)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(
        get(&app, "/v1/warm-pools", &bob.token).await.body["data"],
        json!([])
    );
    // Bob cannot pool on Jane's platform either.
    post(
        &app,
        "/v1/warm-pools",
        &bob.token,
        json!({"platform_id": platform, "min_nodes": 1, "max_nodes": 3, "instance_type": "i3.xlarge"}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    get(&app, "/v1/warm-pools/wp_nope", &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(fake.pool_count(), 1);
    assert_eq!(
        call(&app, Method::DELETE, &path, &jane.token, None)
            .await
            .status,
        StatusCode::OK
    );
}
