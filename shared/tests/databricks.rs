//! The Databricks connector against the fake workspace (dtap-fakes): pagination, the hibernate and
//! resume cycle, OAuth M2M, retries and error mapping, counted in upstream calls.

use std::time::{Duration, Instant};

use dtap_fakes::{FakeConfig, FakeDatabricks, Fault};
use dtap_shared::domain::platform::ClusterState;
use dtap_shared::platforms::credentials::{DatabricksAuth, DatabricksCredentials};
use dtap_shared::platforms::databricks::{Databricks, StatementPolicy};
use dtap_shared::platforms::http::RetryPolicy;
use dtap_shared::platforms::{Platform, PlatformError};
use secrecy::SecretString;
use serde_json::json;

const LIST: &str = "/api/2.1/clusters/list";
const GET: &str = "/api/2.1/clusters/get";
const DELETE: &str = "/api/2.1/clusters/delete";
const START: &str = "/api/2.1/clusters/start";
const TOKEN: &str = "/oidc/v1/token";
const DISCOVERY: &str = "/oidc/.well-known/oauth-authorization-server";
const STATEMENTS: &str = "/api/2.0/sql/statements";

/// One policy second is 10 ms here, so `Retry-After: 5` waits 50 ms.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        unit: Duration::from_millis(10),
        max_retry_after: 30,
    }
}

fn http(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .build()
        .unwrap()
}

fn connector(fake: &FakeDatabricks, auth: DatabricksAuth, timeout: Duration) -> Databricks {
    let credentials = DatabricksCredentials {
        workspace_url: fake.url().to_owned(),
        auth,
        warehouse_id: None,
    };
    Databricks::new(credentials, http(timeout)).with_retry_policy(fast_retries())
}

/// Statements polled every 10 ms, given up after `max_wait`.
fn fast_statements(max_wait: Duration) -> StatementPolicy {
    StatementPolicy {
        wait_timeout: Duration::ZERO,
        interval: Duration::from_millis(10),
        max_wait,
    }
}

/// A connector that queries utilisation on `warehouse_id`.
fn with_warehouse(fake: &FakeDatabricks, auth: DatabricksAuth, warehouse_id: &str) -> Databricks {
    let credentials = DatabricksCredentials {
        workspace_url: fake.url().to_owned(),
        auth,
        warehouse_id: Some(warehouse_id.to_owned()),
    };
    Databricks::new(credentials, http(Duration::from_secs(5)))
        .with_retry_policy(fast_retries())
        .with_statement_policy(fast_statements(Duration::from_secs(2)))
}

fn pat(fake: &FakeDatabricks) -> DatabricksAuth {
    DatabricksAuth::Token(SecretString::from(fake.config().token.clone()))
}

fn with_pat(fake: &FakeDatabricks) -> Databricks {
    let token = SecretString::from(fake.config().token.clone());
    connector(fake, DatabricksAuth::Token(token), Duration::from_secs(5))
}

fn with_service_principal(fake: &FakeDatabricks) -> Databricks {
    let auth = DatabricksAuth::ServicePrincipal {
        client_id: fake.config().client_id.clone(),
        client_secret: SecretString::from(fake.config().client_secret.clone()),
    };
    connector(fake, auth, Duration::from_secs(5))
}

fn analytics_cluster() -> serde_json::Value {
    json!({
        "cluster_name": "analytics-shared",
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "r5d.2xlarge",
        "driver_node_type_id": "i3.xlarge",
        "num_workers": 6,
        "autotermination_minutes": 60,
        "aws_attributes": {"zone_id": "us-west-2a", "availability": "SPOT_WITH_FALLBACK"},
        "spark_conf": {"spark.sql.shuffle.partitions": "64"},
        "custom_tags": {"team": "analytics"},
    })
}

#[tokio::test]
async fn listing_follows_every_page_to_the_end() {
    let fake = FakeDatabricks::with_fleet(250).await;
    let databricks = with_pat(&fake);

    let clusters = databricks.list_clusters().await.unwrap();

    assert_eq!(clusters.len(), 250);
    assert_eq!(fake.calls(LIST), 3);
    let mut ids: Vec<_> = clusters.iter().map(|c| c.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert!(clusters.iter().any(|c| c.state == ClusterState::Stopped));
    assert!(clusters.iter().all(|c| c.region.is_some()));
}

#[tokio::test]
async fn listing_a_thousand_clusters_takes_ten_calls() {
    let fake = FakeDatabricks::with_fleet(1000).await;
    let databricks = with_pat(&fake);

    let started = Instant::now();
    let clusters = databricks.list_clusters().await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(clusters.len(), 1000);
    assert_eq!(fake.total_calls(), 10);
    println!(
        "listed 1000 clusters in {elapsed:?} with {} calls",
        fake.total_calls()
    );
}

#[tokio::test]
async fn a_cluster_is_described_in_the_common_vocabulary() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let autoscaling = fake.add_cluster(json!({
        "cluster_name": "etl", "spark_version": "15.4.x-scala2.12", "node_type_id": "m5d.large",
        "autoscale": {"min_workers": 2, "max_workers": 8}, "state": "TERMINATED",
    }));
    let databricks = with_pat(&fake);

    let cluster = databricks.cluster(&id).await.unwrap();
    assert_eq!(cluster.id, id);
    assert_eq!(cluster.name, "analytics-shared");
    assert_eq!(cluster.state, ClusterState::Running);
    assert_eq!(cluster.instance_type.as_deref(), Some("r5d.2xlarge"));
    assert_eq!(cluster.driver_instance_type.as_deref(), Some("i3.xlarge"));
    assert_eq!(cluster.workers, 6);
    assert_eq!(cluster.region.as_deref(), Some("us-west-2"));
    assert!(cluster.started_at.is_some());

    let stopped = databricks.cluster(&autoscaling).await.unwrap();
    assert_eq!(stopped.state, ClusterState::Stopped);
    assert_eq!(stopped.workers, 2);
    assert_eq!(stopped.driver_instance_type, None);
    assert_eq!(stopped.started_at, None);
    assert_eq!(fake.calls(GET), 2);
}

#[tokio::test]
async fn an_unknown_cluster_is_not_found() {
    let fake = FakeDatabricks::start().await;
    let err = with_pat(&fake)
        .cluster("0000-000000-nothere")
        .await
        .unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn check_reports_read_access() {
    let fake = FakeDatabricks::with_fleet(3).await;
    let access = with_pat(&fake).check().await.unwrap();
    assert_eq!(access.permissions, ["read"]);
    assert_eq!(fake.total_calls(), 1);
}

#[tokio::test]
async fn hibernate_then_resume_brings_back_the_same_cluster() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let before = fake.cluster(&id).unwrap()["spec"].clone();
    let databricks = with_pat(&fake);

    let snapshot = databricks.hibernate(&id).await.unwrap();
    assert_eq!(snapshot.cluster_id, id);
    assert_eq!(snapshot.definition, before);
    assert_eq!(fake.terminations(&id), 1);
    assert_eq!(
        databricks.cluster(&id).await.unwrap().state,
        ClusterState::Stopped
    );

    let resumed = databricks.resume(&snapshot).await.unwrap();
    assert_eq!(resumed.cluster_id, id);
    assert_eq!(resumed.estimated_ready_seconds, 300);
    assert_eq!(fake.starts(&id), 1);
    let after = databricks.cluster(&id).await.unwrap();
    assert_eq!(after.state, ClusterState::Running);
    assert_eq!(fake.cluster(&id).unwrap()["spec"], before);
}

#[tokio::test]
async fn hibernating_a_cluster_that_is_not_running_is_refused() {
    let fake = FakeDatabricks::start().await;
    let mut spec = analytics_cluster();
    spec["state"] = json!("TERMINATED");
    let id = fake.add_cluster(spec);

    let err = with_pat(&fake).hibernate(&id).await.unwrap_err();

    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert_eq!(fake.calls(DELETE), 0);
}

#[tokio::test]
async fn resuming_a_cluster_someone_already_started_succeeds_without_a_second_start() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);
    let snapshot = databricks.hibernate(&id).await.unwrap();
    databricks.resume(&snapshot).await.unwrap();

    let again = databricks.resume(&snapshot).await.unwrap();

    assert_eq!(again.cluster_id, id);
    assert_eq!(fake.starts(&id), 1);
}

#[tokio::test]
async fn resume_after_the_purge_recreates_the_cluster_from_the_snapshot_once() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);
    let snapshot = databricks.hibernate(&id).await.unwrap();
    fake.purge(&id);

    let resumed = databricks.resume(&snapshot).await.unwrap();

    assert_ne!(resumed.cluster_id, id);
    assert_eq!(fake.creations(), 1);
    let recreated = fake.cluster(&resumed.cluster_id).unwrap();
    for field in [
        "cluster_name",
        "spark_version",
        "node_type_id",
        "driver_node_type_id",
        "num_workers",
        "autotermination_minutes",
        "aws_attributes",
        "spark_conf",
    ] {
        assert_eq!(
            recreated["spec"][field], snapshot.definition[field],
            "{field}"
        );
    }
    assert_eq!(recreated["custom_tags"]["team"], "analytics");
    assert_eq!(
        recreated["custom_tags"]["DigitalTapResumedFrom"],
        id.as_str()
    );

    // A second resume of the same snapshot finds the recreated cluster instead of a third one.
    let again = databricks.resume(&snapshot).await.unwrap();
    assert_eq!(again.cluster_id, resumed.cluster_id);
    assert_eq!(fake.creations(), 1);
}

#[tokio::test]
async fn a_lost_create_answer_does_not_create_twice() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);
    let snapshot = databricks.hibernate(&id).await.unwrap();
    fake.purge(&id);
    fake.fail_next("/api/2.1/clusters/create", 1, Fault::AfterApplying(500));

    let resumed = databricks.resume(&snapshot).await.unwrap();

    assert_eq!(fake.creations(), 1);
    assert_eq!(fake.calls("/api/2.1/clusters/create"), 1);
    assert!(fake.cluster(&resumed.cluster_id).is_some());
}

#[tokio::test]
async fn an_oauth_token_serves_many_calls() {
    let fake = FakeDatabricks::with_fleet(5).await;
    let databricks = with_service_principal(&fake);

    databricks.list_clusters().await.unwrap();
    for _ in 0..10 {
        databricks.check().await.unwrap();
    }

    assert_eq!(fake.calls(DISCOVERY), 1);
    assert_eq!(fake.calls(TOKEN), 1);
    assert_eq!(fake.calls(LIST), 11);
}

#[tokio::test]
async fn an_expired_oauth_token_is_replaced() {
    let fake = FakeDatabricks::start_with(FakeConfig {
        token_ttl: Duration::from_secs(1),
        ..FakeConfig::default()
    })
    .await;
    fake.fleet(2);
    let databricks = with_service_principal(&fake);

    databricks.check().await.unwrap();
    databricks.check().await.unwrap();
    assert_eq!(fake.calls(TOKEN), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    databricks.check().await.unwrap();

    assert_eq!(fake.calls(TOKEN), 2);
    assert_eq!(fake.calls(DISCOVERY), 1);
}

#[tokio::test]
async fn without_oauth_metadata_the_standard_token_path_is_used() {
    let fake = FakeDatabricks::start().await;
    fake.fail_next(DISCOVERY, 1, Fault::status(404));

    with_service_principal(&fake).check().await.unwrap();

    assert_eq!(fake.calls(TOKEN), 1);
}

#[tokio::test]
async fn a_wrong_client_secret_is_unauthorized_and_never_echoed() {
    let fake = FakeDatabricks::start().await;
    let secret = "dose-wrong-secret-4242";
    let auth = DatabricksAuth::ServicePrincipal {
        client_id: fake.config().client_id.clone(),
        client_secret: SecretString::from(secret),
    };
    let databricks = connector(&fake, auth, Duration::from_secs(5));

    let err = databricks.check().await.unwrap_err();

    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");
    assert!(!format!("{err} {err:?} {databricks:?}").contains(secret));
    assert_eq!(fake.calls(LIST), 0);
}

#[tokio::test]
async fn upstream_failures_map_to_platform_errors() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);

    fake.fail_next(GET, 1, Fault::status(401));
    let err = databricks.cluster(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(GET, 1, Fault::status(403));
    let err = databricks.cluster(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(GET, 1, Fault::status(404));
    let err = databricks.cluster(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("RESOURCE_DOES_NOT_EXIST"), "{err}");

    fake.reset_calls();
    fake.fail_next(GET, 10, Fault::throttled(1));
    let err = databricks.cluster(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::Throttled(_)), "{err:?}");
    assert_eq!(fake.calls(GET), 4);

    fake.clear_faults();
    fake.reset_calls();
    fake.fail_next(GET, 10, Fault::status(500));
    let err = databricks.cluster(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.calls(GET), 4);
}

#[tokio::test]
async fn retry_after_is_honoured_before_succeeding() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);
    fake.fail_next(GET, 1, Fault::throttled(5));

    let started = Instant::now();
    let cluster = databricks.cluster(&id).await.unwrap();

    assert_eq!(cluster.id, id);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(fake.calls(GET), 2);
}

#[tokio::test]
async fn a_transient_server_error_on_a_read_is_retried() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.fail_next(GET, 2, Fault::status(500));

    with_pat(&fake).cluster(&id).await.unwrap();

    assert_eq!(fake.calls(GET), 3);
}

#[tokio::test]
async fn a_platform_that_hangs_is_unavailable() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let token = SecretString::from(fake.config().token.clone());
    let databricks = connector(
        &fake,
        DatabricksAuth::Token(token),
        Duration::from_millis(200),
    );
    fake.fail_next(GET, 10, Fault::Hang(Duration::from_secs(3)));

    let err = databricks.cluster(&id).await.unwrap_err();

    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(fake.calls(GET), 4);
}

#[tokio::test]
async fn an_unreachable_workspace_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let credentials = DatabricksCredentials {
        workspace_url: url,
        auth: DatabricksAuth::Token(SecretString::from("dapi-unused-token")),
        warehouse_id: None,
    };
    let databricks = Databricks::new(credentials, http(Duration::from_secs(2)))
        .with_retry_policy(fast_retries());

    let err = databricks.list_clusters().await.unwrap_err();

    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_terminate_whose_answer_was_lost_is_not_sent_again() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.fail_next(DELETE, 1, Fault::AfterApplying(500));

    with_pat(&fake).hibernate(&id).await.unwrap();

    assert_eq!(fake.calls(DELETE), 1);
    assert_eq!(fake.terminations(&id), 1);
}

#[tokio::test]
async fn a_terminate_that_failed_before_acting_is_sent_once_more() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.fail_next(DELETE, 1, Fault::status(500));

    with_pat(&fake).hibernate(&id).await.unwrap();

    assert_eq!(fake.calls(DELETE), 2);
    assert_eq!(fake.terminations(&id), 1);
}

#[tokio::test]
async fn a_throttled_terminate_is_retried_and_applied_once() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.fail_next(DELETE, 2, Fault::throttled(1));

    with_pat(&fake).hibernate(&id).await.unwrap();

    assert_eq!(fake.calls(DELETE), 3);
    assert_eq!(fake.terminations(&id), 1);
}

#[tokio::test]
async fn a_start_whose_answer_was_lost_is_not_sent_again() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);
    let snapshot = databricks.hibernate(&id).await.unwrap();
    fake.fail_next(START, 1, Fault::AfterApplying(503));

    databricks.resume(&snapshot).await.unwrap();

    // 503 proves nothing for an action that was applied: the fake did apply it, and the
    // connector's retry then met INVALID_STATE and read the cluster back as starting.
    assert_eq!(fake.starts(&id), 1);
}

#[tokio::test]
async fn resize_sets_the_worker_count() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_pat(&fake);

    databricks.resize(&id, 11).await.unwrap();

    assert_eq!(databricks.cluster(&id).await.unwrap().workers, 11);
}

#[tokio::test]
async fn usage_counts_the_active_runs_on_the_cluster_only() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let other = fake.add_cluster(analytics_cluster());
    let runs: Vec<u64> = (0..30).map(|_| fake.add_run(&id)).collect();
    for _ in 0..5 {
        fake.add_run(&other);
    }
    let databricks = with_pat(&fake);

    let busy = databricks.usage(&id).await.unwrap();
    assert_eq!(busy.active_work, 30);
    assert!(busy.last_activity.is_some());
    assert_eq!(fake.calls("/api/2.2/jobs/runs/list"), 2);

    for run in runs {
        fake.finish_run(run);
    }
    let idle = databricks.usage(&id).await.unwrap();
    assert_eq!(idle.active_work, 0);
    let last = idle
        .last_activity
        .expect("the RUNNING event dates the last activity");
    assert!(last < chrono::Utc::now());
    assert_eq!(idle.cpu_percent, None);
}

#[tokio::test]
async fn usage_reports_worker_utilisation_from_node_timeline() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let other = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 37.5, 62.25);
    fake.set_utilization(&other, 90.0, 90.0);
    fake.add_run(&id);
    let databricks = with_warehouse(&fake, pat(&fake), fake.warehouse_id());

    let usage = databricks.usage(&id).await.unwrap();

    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.cpu_percent, Some(37.5));
    assert_eq!(usage.memory_percent, Some(62.25));
    assert_eq!(fake.calls(STATEMENTS), 1);
}

#[tokio::test]
async fn the_cluster_id_reaches_the_warehouse_as_a_named_parameter_only() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 12.0, 34.0);
    let databricks = with_warehouse(&fake, pat(&fake), fake.warehouse_id());

    databricks.usage(&id).await.unwrap();

    let statements = fake.statements();
    assert_eq!(statements.len(), 1);
    let sent = &statements[0];
    assert_eq!(sent["warehouse_id"], fake.warehouse_id());
    assert_eq!(
        sent["parameters"],
        json!([{"name": "cluster_id", "value": id, "type": "STRING"}])
    );
    let text = sent["statement"].as_str().unwrap();
    assert!(!text.contains(&id), "{text}");
    assert!(text.contains(":cluster_id"), "{text}");
    assert!(text.contains("system.compute.node_timeline"), "{text}");
    assert!(text.contains("driver = false"), "{text}");
}

#[tokio::test]
async fn without_a_warehouse_usage_reports_activity_and_no_utilisation() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 55.0, 66.0);
    fake.add_run(&id);
    let databricks = with_pat(&fake);

    let usage = databricks.usage(&id).await.unwrap();

    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(usage.memory_percent, None);
    assert_eq!(fake.calls(STATEMENTS), 0);
}

#[tokio::test]
async fn a_cluster_without_node_timeline_rows_has_no_utilisation() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let databricks = with_warehouse(&fake, pat(&fake), fake.warehouse_id());

    let usage = databricks.usage(&id).await.unwrap();

    assert_eq!(fake.calls(STATEMENTS), 1);
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(usage.memory_percent, None);
    assert!(usage.last_activity.is_some());
}

#[tokio::test]
async fn a_failed_statement_leaves_utilisation_out_and_usage_still_works() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 40.0, 50.0);
    fake.add_run(&id);

    // An unknown warehouse: Databricks answers 200 with the statement FAILED.
    let databricks = with_warehouse(&fake, pat(&fake), "0000000000000000");
    let usage = databricks.usage(&id).await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(usage.memory_percent, None);

    // No permission on the warehouse (or on the system tables): a 403.
    let auth = DatabricksAuth::ServicePrincipal {
        client_id: fake.config().client_id.clone(),
        client_secret: SecretString::from(fake.config().client_secret.clone()),
    };
    let databricks = with_warehouse(&fake, auth, fake.warehouse_id());
    fake.fail_next(STATEMENTS, 1, Fault::status(403));
    let usage = databricks.usage(&id).await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(
        fake.calls(TOKEN),
        1,
        "a refused statement does not cost the token"
    );

    // A warehouse that keeps failing.
    fake.fail_next(STATEMENTS, 4, Fault::status(500));
    let usage = databricks.usage(&id).await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.memory_percent, None);

    // And once it answers again, utilisation is back.
    let usage = databricks.usage(&id).await.unwrap();
    assert_eq!(usage.cpu_percent, Some(40.0));
    assert_eq!(usage.memory_percent, Some(50.0));
}

#[tokio::test]
async fn a_running_statement_is_polled_until_it_finishes() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 8.5, 20.0);
    fake.set_statement_polls(3);
    let databricks = with_warehouse(&fake, pat(&fake), fake.warehouse_id());

    let usage = databricks.usage(&id).await.unwrap();

    assert_eq!(usage.cpu_percent, Some(8.5));
    assert_eq!(usage.memory_percent, Some(20.0));
    assert_eq!(fake.calls(STATEMENTS), 1);
    assert_eq!(fake.cancelled_statements(), 0);
}

#[tokio::test]
async fn a_statement_that_runs_too_long_is_cancelled_and_usage_goes_on() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    fake.set_utilization(&id, 8.5, 20.0);
    fake.set_statement_polls(1_000);
    let databricks = with_warehouse(&fake, pat(&fake), fake.warehouse_id())
        .with_statement_policy(fast_statements(Duration::from_millis(100)));

    let started = Instant::now();
    let usage = databricks.usage(&id).await.unwrap();

    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(fake.cancelled_statements(), 1);
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let fake = FakeDatabricks::start().await;
    let token = fake.config().token.clone();
    let id = fake.add_cluster(analytics_cluster());
    fake.fail_next(
        GET,
        1,
        Fault::Status {
            status: 401,
            error_code: "UNAUTHENTICATED".to_owned(),
            message: format!("token {token} is not valid here"),
            retry_after: None,
        },
    );
    let databricks = with_pat(&fake);

    let err = databricks.cluster(&id).await.unwrap_err();

    let shown = format!("{err} {err:?} {databricks:?}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

#[tokio::test]
async fn a_terminate_that_timed_out_is_applied_once_even_when_it_lands_late() {
    let fake = FakeDatabricks::start().await;
    let id = fake.add_cluster(analytics_cluster());
    let token = SecretString::from(fake.config().token.clone());
    let databricks = connector(
        &fake,
        DatabricksAuth::Token(token),
        Duration::from_millis(200),
    );
    fake.fail_next(DELETE, 1, Fault::Hang(Duration::from_millis(500)));

    databricks.hibernate(&id).await.unwrap();
    // Let the first, timed-out terminate land: on a terminating cluster it is a no-op.
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(fake.calls(DELETE), 2);
    assert_eq!(fake.terminations(&id), 1);
}

#[tokio::test]
async fn concurrent_calls_share_one_oauth_token() {
    let fake = FakeDatabricks::with_fleet(3).await;
    fake.set_latency(TOKEN, Duration::from_millis(50));
    let databricks = std::sync::Arc::new(with_service_principal(&fake));

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let databricks = databricks.clone();
            tokio::spawn(async move { databricks.check().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(fake.calls(TOKEN), 1);
    assert_eq!(fake.calls(LIST), 8);
}

#[tokio::test]
async fn listing_a_thousand_clusters_at_fifty_milliseconds_a_call() {
    let fake = FakeDatabricks::with_fleet(1000).await;
    fake.set_latency(LIST, Duration::from_millis(50));
    let databricks = with_pat(&fake);

    let started = Instant::now();
    let clusters = databricks.list_clusters().await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(clusters.len(), 1000);
    assert_eq!(fake.calls(LIST), 10);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    println!("listed 1000 clusters at 50 ms/call in {elapsed:?}");
}
