//! `/v1/clusters` against fake Databricks workspaces: listing across platforms (a failing one
//! does not hide the others), details with hand-computed cost and water, hibernate and resume
//! with their guards, the actions and savings they leave, roles and tenancy.

use dtap_fakes::{FakeDatabricks, Fault};
use dtap_shared::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, get, invited_member, login, post, spawn_app};

/// i3.xlarge in us-east-1 is $0.312/h (§6 [D]); 2 workers + the driver: 3 × 0.312.
const HOURLY: f64 = 0.936;
/// Water of one i3.xlarge hour (see the sustainability unit tests): IT 0.020436 kWh × 0.12 L/kWh
/// / 3.785411784 L/gal.
const WATER_PER_NODE_HOUR: f64 = 0.020436 * 0.12 / 3.785411784;

fn next_minute(app: &TestApp) {
    app.clock.advance(chrono::Duration::seconds(60));
}

fn seed(fake: &FakeDatabricks, name: &str) -> String {
    fake.add_cluster(json!({
        "cluster_name": name,
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 2,
        "aws_attributes": {"zone_id": "us-east-1a"},
    }))
}

async fn connect(app: &TestApp, session: &Session, fake: &FakeDatabricks, name: &str) -> String {
    let reply = post(
        app,
        "/v1/platforms",
        &session.token,
        json!({"type": "databricks", "name": name, "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

fn close(actual: &Value, expected: f64, tolerance: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not {expected}"
    );
}

#[tokio::test]
async fn clusters_of_every_platform_are_listed_and_a_failing_platform_is_reported() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let up = FakeDatabricks::start().await;
    let etl = seed(&up, "Production ETL");
    up.add_cluster(json!({"cluster_name": "Odd", "node_type_id": "x9.mega", "num_workers": 1, "state": "TERMINATED"}));
    let down = FakeDatabricks::start().await;
    seed(&down, "Staging");
    let up_id = connect(&app, &jane, &up, "Up").await;
    let down_id = connect(&app, &jane, &down, "Down").await;

    let both = get(&app, "/v1/clusters", &jane.token).await;
    assert_eq!(both.status, StatusCode::OK, "{}", both.body);
    assert_eq!(
        both.body["data"].as_array().unwrap().len(),
        3,
        "{}",
        both.body
    );
    assert_eq!(both.body["meta"]["failed_platforms"], json!([]));

    drop(down);
    let listed = get(&app, "/v1/clusters", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let data = listed.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{}", listed.body);
    let prod = data
        .iter()
        .find(|c| c["cluster_id"] == etl.as_str())
        .unwrap();
    assert_eq!(prod["platform"], "databricks");
    assert_eq!(prod["platform_id"], up_id.as_str());
    assert_eq!(prod["name"], "Production ETL");
    assert_eq!(prod["state"], "running");
    assert_eq!(prod["idle_minutes"], 0);
    assert_eq!(prod["nodes"], 3);
    assert_eq!(prod["instance_type"], "i3.xlarge");
    close(&prod["hourly_cost"], HOURLY, 1e-9);
    let odd = data.iter().find(|c| c["name"] == "Odd").unwrap();
    assert_eq!(
        odd["hourly_cost"],
        Value::Null,
        "unknown types are not priced"
    );
    assert_eq!(odd["state"], "stopped");
    let failed = &listed.body["meta"]["failed_platforms"];
    assert_eq!(failed.as_array().unwrap().len(), 1, "{}", listed.body);
    assert_eq!(failed[0]["id"], down_id.as_str());
    assert_eq!(failed[0]["type"], "databricks");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("unavailable"),
        "{failed}"
    );
}

#[tokio::test]
async fn details_carry_todays_cost_and_water() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Production ETL");
    let platform = connect(&app, &jane, &fake, "Prod").await;

    for path in [
        format!("/v1/clusters/databricks/{id}"),
        format!("/api/clusters/{platform}/{id}"),
    ] {
        let reply = get(&app, &path, &jane.token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        let data = &reply.body["data"];
        assert_eq!(data["cluster_id"], id.as_str());
        assert_eq!(data["state"], "running");
        assert_eq!(data["instance_type"], "i3.xlarge");
        assert_eq!(data["nodes"], 3);
        let now = app.clock.now();
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let uptime = data["uptime_hours"].as_f64().unwrap();
        assert!(uptime > 0.0, "{data}");
        let since_midnight = (now - midnight).num_milliseconds() as f64 / 3_600_000.0;
        let today = uptime.min(since_midnight);
        // Rounded in the answer (uptime to 0.01 h, cost to cents).
        close(&data["cost_today"], HOURLY * today, 0.02);
        close(
            &data["water_usage_gallons"],
            3.0 * WATER_PER_NODE_HOUR * today,
            3.0 * WATER_PER_NODE_HOUR * 0.02,
        );
    }
    let missing = get(
        &app,
        "/v1/clusters/databricks/0000-000000-none",
        &jane.token,
    )
    .await;
    missing.assert_error(404, "NOT_FOUND");
    let bad = get(&app, "/v1/clusters/databricks/a%20b", &jane.token).await;
    bad.assert_error(400, "VALIDATION_ERROR");
    let unknown = get(&app, &format!("/v1/clusters/kubernetes/{id}"), &jane.token).await;
    unknown.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn hibernate_once_then_resume_the_same_cluster_and_count_the_savings() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Production ETL");
    connect(&app, &jane, &fake, "Prod").await;
    let before = fake.cluster(&id).unwrap();
    let path = format!("/v1/clusters/databricks/{id}");

    let hibernated = post(&app, &format!("{path}/hibernate"), &jane.token, json!({})).await;
    assert_eq!(hibernated.status, StatusCode::OK, "{}", hibernated.body);
    let data = &hibernated.body["data"];
    assert_eq!(data["cluster_id"], id.as_str());
    assert_eq!(data["previous_state"], "running");
    assert_eq!(data["new_state"], "hibernating");
    close(&data["estimated_savings_per_hour"], HOURLY, 1e-9);

    let again = post(&app, &format!("{path}/hibernate"), &jane.token, json!({})).await;
    again.assert_error(409, "CONFLICT");
    assert_eq!(fake.terminations(&id), 1, "the platform is asked once");

    let details = get(&app, &path, &jane.token).await;
    assert_eq!(
        details.body["data"]["state"], "hibernated",
        "{}",
        details.body
    );
    let account = get(&app, "/v1/account", &jane.token).await;
    assert_eq!(
        account.body["data"]["clusters_managed"], 1,
        "{}",
        account.body
    );
    let usage = get(&app, "/v1/account/usage", &jane.token).await;
    assert_eq!(
        usage.body["data"]["hibernations_triggered"], 1,
        "{}",
        usage.body
    );

    next_minute(&app);
    app.clock.advance(chrono::Duration::hours(2));
    // A fresh session: the first one's token has expired meanwhile.
    let jane = login(&app, "jane@acme.com").await;
    let savings = get(&app, "/v1/account/savings", &jane.token).await;
    assert_eq!(savings.status, StatusCode::OK, "{}", savings.body);
    // 2 h 1 min hibernated × $0.936/h = 1.8876 → cents.
    close(
        &savings.body["data"]["total_saved_usd"],
        HOURLY * (2.0 + 1.0 / 60.0),
        0.006,
    );

    let resumed = post(&app, &format!("{path}/resume"), &jane.token, json!({})).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["data"]["cluster_id"], id.as_str());
    assert_eq!(resumed.body["data"]["new_state"], "resuming");
    assert!(
        resumed.body["data"]["estimated_ready_seconds"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(fake.starts(&id), 1);
    let after = fake.cluster(&id).unwrap();
    for field in [
        "node_type_id",
        "num_workers",
        "spark_version",
        "cluster_name",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let twice = post(&app, &format!("{path}/resume"), &jane.token, json!({})).await;
    twice.assert_error(409, "CONFLICT");

    // Savings stop at resume.
    app.clock.advance(chrono::Duration::hours(5));
    let jane = login(&app, "jane@acme.com").await;
    let later = get(&app, "/v1/account/savings", &jane.token).await;
    close(
        &later.body["data"]["total_saved_usd"],
        HOURLY * (2.0 + 1.0 / 60.0),
        0.006,
    );
}

#[tokio::test]
async fn an_upstream_failure_is_502_and_nothing_is_hibernated() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Production ETL");
    connect(&app, &jane, &fake, "Prod").await;
    fake.fail_next("/api/2.1/clusters/delete", 10, Fault::status(500));
    let path = format!("/v1/clusters/databricks/{id}/hibernate");
    let failed = post(&app, &path, &jane.token, json!({})).await;
    failed.assert_error(502, "UPSTREAM_ERROR");
    assert!(
        failed.error_message().contains("injected failure 500"),
        "{}",
        failed.body
    );
    let account = get(&app, "/v1/account", &jane.token).await;
    assert_eq!(account.body["data"]["clusters_managed"], 0);
    let usage = get(&app, "/v1/account/usage", &jane.token).await;
    assert_eq!(usage.body["data"]["hibernations_triggered"], 0);
    let details = get(&app, &format!("/v1/clusters/databricks/{id}"), &jane.token).await;
    assert_eq!(details.body["data"]["state"], "running");

    // Once the platform recovers, the same call works: the failed attempt left no claim.
    fake.clear_faults();
    let retried = post(&app, &path, &jane.token, json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);

    let stopped = fake.add_cluster(
        json!({"cluster_name": "Stopped", "node_type_id": "i3.xlarge",
                                          "num_workers": 1, "state": "TERMINATED"}),
    );
    let not_running = post(
        &app,
        &format!("/v1/clusters/databricks/{stopped}/hibernate"),
        &jane.token,
        json!({}),
    )
    .await;
    not_running.assert_error(409, "CONFLICT");
    assert_eq!(fake.terminations(&stopped), 0);
    let never = post(
        &app,
        &format!("/v1/clusters/databricks/{stopped}/resume"),
        &jane.token,
        json!({}),
    )
    .await;
    never.assert_error(409, "CONFLICT");
}

#[tokio::test]
async fn a_type_naming_two_platforms_with_the_cluster_is_409_and_the_id_works() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Shared");
    let first = connect(&app, &jane, &fake, "One").await;
    connect(&app, &jane, &fake, "Two").await;
    let ambiguous = get(&app, &format!("/v1/clusters/databricks/{id}"), &jane.token).await;
    ambiguous.assert_error(409, "CONFLICT");
    assert!(
        ambiguous.error_message().contains("plat_"),
        "{}",
        ambiguous.body
    );
    let by_id = get(&app, &format!("/v1/clusters/{first}/{id}"), &jane.token).await;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_id.body["data"]["platform_id"], first.as_str());
}

#[tokio::test]
async fn viewers_cannot_act_and_other_orgs_see_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Production ETL");
    let platform = connect(&app, &jane, &fake, "Prod").await;
    let viewer = invited_member(
        &app,
        &jane,
        "org-of-jane-acme-com",
        "vic@acme.com",
        "viewer",
    )
    .await;
    let outsider = app.signed_up("oscar@other.com").await;
    next_minute(&app);

    let read = get(
        &app,
        &format!("/v1/clusters/databricks/{id}"),
        &viewer.token,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    for action in ["hibernate", "resume"] {
        let path = format!("/v1/clusters/databricks/{id}/{action}");
        post(&app, &path, &viewer.token, json!({}))
            .await
            .assert_error(403, "FORBIDDEN");
    }
    assert_eq!(fake.terminations(&id), 0);

    let listed = get(&app, "/v1/clusters", &outsider.token).await;
    assert_eq!(listed.body["data"], json!([]));
    for path in [
        format!("/v1/clusters/{platform}/{id}"),
        format!("/v1/clusters/databricks/{id}"),
    ] {
        get(&app, &path, &outsider.token)
            .await
            .assert_error(404, "NOT_FOUND");
        for action in ["hibernate", "resume"] {
            post(
                &app,
                &format!("{path}/{action}"),
                &outsider.token,
                json!({}),
            )
            .await
            .assert_error(404, "NOT_FOUND");
        }
    }
    assert_eq!(fake.terminations(&id), 0);
}

#[tokio::test]
async fn two_concurrent_hibernates_act_once() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let id = seed(&fake, "Production ETL");
    connect(&app, &jane, &fake, "Prod").await;
    let path = format!("/v1/clusters/databricks/{id}/hibernate");
    let (a, b) = tokio::join!(
        post(&app, &path, &jane.token, json!({})),
        post(&app, &path, &jane.token, json!({}))
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    assert_eq!(fake.terminations(&id), 1);
    let usage = get(&app, "/v1/account/usage", &jane.token).await;
    assert_eq!(usage.body["data"]["hibernations_triggered"], 1);
}

/// An AWS account no other test uses: moto keeps one EMR backend per account.
fn fresh_account() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let n = (u64::from(std::process::id()) * 1_000_003
        + nanos
        + COUNTER.fetch_add(1, Ordering::Relaxed))
        % 900_000_000_000;
    format!("{:012}", 200_000_000_000 + n)
}

/// A long-running EMR cluster in `account` on moto: one m5.xlarge master, two m5.xlarge cores.
async fn emr_cluster(moto: &str, account: &str) -> String {
    use aws_sdk_emr::types::{
        InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig, MarketType,
    };
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_emr::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "dtap-tests",
        ))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/digital-tap-access"
    ))
    .session_name("dtap-tests")
    .configure(&base)
    .build()
    .await;
    let config = base
        .into_builder()
        .credentials_provider(aws_sdk_emr::config::SharedCredentialsProvider::new(
            provider,
        ))
        .build();
    let group = |role: InstanceRoleType, count: i32| {
        InstanceGroupConfig::builder()
            .name(format!("{}-group", role.as_str().to_lowercase()))
            .instance_role(role)
            .instance_type("m5.xlarge")
            .instance_count(count)
            .market(MarketType::OnDemand)
            .build()
    };
    aws_sdk_emr::Client::new(&config)
        .run_job_flow()
        .name("Staging Analytics")
        .release_label("emr-6.15.0")
        .service_role("EMR_DefaultRole")
        .job_flow_role("EMR_EC2_DefaultRole")
        .instances(
            JobFlowInstancesConfig::builder()
                .keep_job_flow_alive_when_no_steps(true)
                .set_instance_groups(Some(vec![
                    group(InstanceRoleType::Master, 1),
                    group(InstanceRoleType::Core, 2),
                ]))
                .build(),
        )
        .send()
        .await
        .expect("RunJobFlow")
        .job_flow_id
        .expect("a cluster id")
}

#[tokio::test]
async fn an_emr_cluster_on_moto_is_listed_hibernated_and_recreated_under_a_new_id() {
    let moto = std::env::var("DTAP_TEST_MOTO_URL").expect(
        "DTAP_TEST_MOTO_URL is not set: run the tests with scripts/test, which starts moto",
    );
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let account = fresh_account();
    let id = emr_cluster(&moto, &account).await;
    let connected = post(
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
    assert_eq!(connected.status, StatusCode::CREATED, "{}", connected.body);

    let listed = get(&app, "/v1/clusters", &jane.token).await;
    let data = listed.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", listed.body);
    assert_eq!(data[0]["platform"], "emr");
    assert_eq!(data[0]["cluster_id"], id.as_str());
    assert_eq!(data[0]["state"], "running");
    assert_eq!(data[0]["nodes"], 3);
    // m5.xlarge is $0.192/h in us-east-1 (§6 [D]): 2 cores + the master.
    close(&data[0]["hourly_cost"], 3.0 * 0.192, 1e-9);

    let path = format!("/v1/clusters/emr/{id}");
    let hibernated = post(&app, &format!("{path}/hibernate"), &jane.token, json!({})).await;
    assert_eq!(hibernated.status, StatusCode::OK, "{}", hibernated.body);
    close(
        &hibernated.body["data"]["estimated_savings_per_hour"],
        0.576,
        1e-9,
    );
    post(&app, &format!("{path}/hibernate"), &jane.token, json!({}))
        .await
        .assert_error(409, "CONFLICT");

    let resumed = post(&app, &format!("{path}/resume"), &jane.token, json!({})).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    let new_id = resumed.body["data"]["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, id, "EMR recreates the cluster under a new id");
    assert_eq!(resumed.body["data"]["new_state"], "resuming");
    post(&app, &format!("{path}/resume"), &jane.token, json!({}))
        .await
        .assert_error(409, "CONFLICT");
    let details = get(&app, &format!("/v1/clusters/emr/{new_id}"), &jane.token).await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert_eq!(details.body["data"]["instance_type"], "m5.xlarge");
    assert_eq!(details.body["data"]["nodes"], 3);
}
