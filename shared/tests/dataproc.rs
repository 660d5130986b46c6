//! The Dataproc connector against the fake region (dtap-fakes): the JWT-bearer grant, pagination,
//! the stop/start cycle through operations, resize, retries and error mapping, counted in
//! upstream calls.

use std::time::{Duration, Instant};

use dtap_fakes::dataproc::instance_config;
use dtap_fakes::dataproc_keys::{TEST_PRIVATE_KEY_PEM, UNTRUSTED_PRIVATE_KEY_PEM};
use dtap_fakes::{DataprocConfig, DataprocFault, FakeDataproc};
use dtap_shared::domain::platform::ClusterState;
use dtap_shared::platforms::credentials::DataprocCredentials;
use dtap_shared::platforms::dataproc::{Dataproc, OperationPolicy};
use dtap_shared::platforms::http::RetryPolicy;
use dtap_shared::platforms::{Platform, PlatformError};
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "/token";

/// One policy second is 10 ms here, so `Retry-After: 5` waits 50 ms.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        unit: Duration::from_millis(10),
        max_retry_after: 30,
    }
}

fn fast_polls() -> OperationPolicy {
    OperationPolicy {
        interval: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
    }
}

fn http(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .build()
        .unwrap()
}

fn credentials_with(fake: &FakeDataproc, key: Value) -> DataprocCredentials {
    DataprocCredentials {
        project_id: fake.config().project_id.clone(),
        region: fake.config().region.clone(),
        service_account_key: SecretString::from(key.to_string()),
        endpoint_url: Some(fake.url().to_owned()),
    }
}

fn connector_with(fake: &FakeDataproc, timeout: Duration) -> Dataproc {
    Dataproc::new(
        credentials_with(fake, fake.service_account_key()),
        http(timeout),
    )
    .unwrap()
    .with_retry_policy(fast_retries())
    .with_operation_policy(fast_polls())
}

fn connector(fake: &FakeDataproc) -> Dataproc {
    connector_with(fake, Duration::from_secs(5))
}

fn path(fake: &FakeDataproc, suffix: &str) -> String {
    format!("{}{suffix}", fake.clusters_path())
}

/// Everything an error can show: its text and its debug form.
fn shown(err: &PlatformError) -> String {
    format!("{err} {err:?}")
}

fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}

#[tokio::test]
async fn one_token_is_granted_and_reused_across_calls() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);

    dataproc.check().await.unwrap();
    dataproc.cluster("etl").await.unwrap();
    dataproc.list_clusters().await.unwrap();

    assert_eq!(fake.calls(TOKEN), 1);
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);

    let calls = (0..8).map(|_| dataproc.cluster("etl"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }

    assert_eq!(fake.calls(TOKEN), 1);
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_it_lapses() {
    let fake = FakeDataproc::start_with(DataprocConfig {
        token_ttl: Duration::from_secs(1),
        ..DataprocConfig::default()
    })
    .await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);

    dataproc.cluster("etl").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    dataproc.cluster("etl").await.unwrap();

    assert_eq!(fake.calls(TOKEN), 2);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);
    dataproc.cluster("etl").await.unwrap();

    fake.revoke_tokens();
    dataproc.cluster("etl").await.unwrap();

    assert_eq!(fake.calls(TOKEN), 2);
    assert_eq!(fake.calls(&path(&fake, "/etl")), 3);
}

#[tokio::test]
async fn a_key_the_platform_does_not_trust_is_unauthorized_and_never_shown() {
    let fake = FakeDataproc::start().await;
    let mut key = fake.service_account_key();
    key["private_key"] = json!(UNTRUSTED_PRIVATE_KEY_PEM);
    let dataproc = Dataproc::new(credentials_with(&fake, key), http(Duration::from_secs(5)))
        .unwrap()
        .with_retry_policy(fast_retries());

    let err = dataproc.list_clusters().await.unwrap_err();

    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("Invalid JWT Signature"), "{err}");
    let body = pem_body(UNTRUSTED_PRIVATE_KEY_PEM);
    for shown in [shown(&err), format!("{dataproc:?}")] {
        assert!(!shown.contains(&body[..40]), "{shown}");
        assert!(!shown.contains("eyJ"), "no assertion or token: {shown}");
    }
}

#[tokio::test]
async fn an_unusable_private_key_is_refused_without_a_call_and_without_quoting_it() {
    let fake = FakeDataproc::start().await;
    let mut key = fake.service_account_key();
    let broken = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n";
    key["private_key"] = json!(broken);

    let err =
        Dataproc::new(credentials_with(&fake, key), http(Duration::from_secs(5))).unwrap_err();

    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");
    assert!(!shown(&err).contains("MIIBVQ"));
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test]
async fn listing_follows_every_page_to_the_end() {
    let fake = FakeDataproc::with_fleet(250).await;
    let dataproc = connector(&fake);

    let clusters = dataproc.list_clusters().await.unwrap();

    assert_eq!(clusters.len(), 250);
    assert_eq!(fake.calls(&fake.clusters_path()), 3);
    assert_eq!(fake.total_calls(), 4, "3 pages and one token");
    let mut ids: Vec<_> = clusters.iter().map(|c| c.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    for state in [
        ClusterState::Running,
        ClusterState::Stopped,
        ClusterState::Starting,
        ClusterState::Error,
    ] {
        assert!(clusters.iter().any(|c| c.state == state), "{state:?}");
    }
    assert!(
        clusters
            .iter()
            .all(|c| c.region.as_deref() == Some("us-central1"))
    );
}

#[tokio::test]
async fn listing_a_thousand_clusters_takes_ten_calls_and_one_token() {
    let fake = FakeDataproc::with_fleet(1000).await;
    let dataproc = connector(&fake);

    let started = Instant::now();
    let clusters = dataproc.list_clusters().await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(clusters.len(), 1000);
    assert_eq!(fake.calls(&fake.clusters_path()), 10);
    assert_eq!(fake.calls(TOKEN), 1);
    println!(
        "listed 1000 Dataproc clusters in {elapsed:?} with {} calls",
        fake.total_calls()
    );
}

#[tokio::test]
async fn a_cluster_is_described_in_the_common_vocabulary() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster(
        "analytics",
        instance_config("n2-highmem-8", 4, 2),
        "RUNNING",
    );
    fake.add_cluster("nightly", instance_config("n2-standard-4", 3, 0), "STOPPED");
    let dataproc = connector(&fake);

    let cluster = dataproc.cluster("analytics").await.unwrap();
    assert_eq!(cluster.id, "analytics");
    assert_eq!(cluster.name, "analytics");
    assert_eq!(cluster.state, ClusterState::Running);
    assert_eq!(cluster.instance_type.as_deref(), Some("n2-highmem-8"));
    assert_eq!(
        cluster.driver_instance_type.as_deref(),
        Some("n2-standard-4")
    );
    assert_eq!(cluster.workers, 6, "4 primary and 2 secondary workers");
    assert!(cluster.started_at.is_some());

    let stopped = dataproc.cluster("nightly").await.unwrap();
    assert_eq!(stopped.state, ClusterState::Stopped);
    assert_eq!(
        stopped.driver_instance_type, None,
        "same machine as workers"
    );
    assert_eq!(stopped.started_at, None);
}

#[tokio::test]
async fn stop_then_start_goes_through_operations_and_keeps_the_configuration() {
    let fake = FakeDataproc::start_with(DataprocConfig {
        transition_delay: Duration::from_millis(100),
        ..DataprocConfig::default()
    })
    .await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 5, 1), "RUNNING");
    let dataproc = connector(&fake);
    let before = fake.cluster("etl").unwrap();

    let snapshot = dataproc.hibernate("etl").await.unwrap();

    assert_eq!(snapshot.cluster_id, "etl");
    assert_eq!(snapshot.definition, before["config"]);
    assert_eq!(
        dataproc.cluster("etl").await.unwrap().state,
        ClusterState::Stopped
    );
    assert_eq!(fake.stops("etl"), 1);
    let polls_after_stop = fake.operation_polls();
    assert!(polls_after_stop >= 1, "the stop operation was polled");

    let resumed = dataproc.resume(&snapshot).await.unwrap();

    assert_eq!(resumed.cluster_id, "etl");
    assert!(resumed.estimated_ready_seconds > 0);
    let after = fake.cluster("etl").unwrap();
    assert_eq!(after["status"]["state"], "RUNNING");
    assert_eq!(fake.starts("etl"), 1);
    assert!(fake.operation_polls() > polls_after_stop);
    for group in ["masterConfig", "workerConfig", "secondaryWorkerConfig"] {
        assert_eq!(
            after["config"][group], snapshot.definition[group],
            "{group}"
        );
    }
    println!(
        "stop + start round trip: {} calls ({} operation polls)",
        fake.total_calls(),
        fake.operation_polls()
    );
}

#[tokio::test]
async fn hibernating_a_stopped_cluster_is_an_invalid_state_and_sends_no_stop() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("nightly", instance_config("n2-standard-4", 3, 0), "STOPPED");
    let dataproc = connector(&fake);

    let err = dataproc.hibernate("nightly").await.unwrap_err();

    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert_eq!(fake.calls(&path(&fake, "/nightly:stop")), 0);
}

#[tokio::test]
async fn resuming_a_cluster_that_is_already_running_sends_no_start() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);
    let snapshot = dataproc.hibernate("etl").await.unwrap();
    dataproc.resume(&snapshot).await.unwrap();

    dataproc.resume(&snapshot).await.unwrap();

    assert_eq!(fake.starts("etl"), 1);
}

#[tokio::test]
async fn a_failed_operation_is_reported_with_its_class() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    fake.fail_next_operation(9, "Cannot stop a cluster with local SSDs");
    let dataproc = connector(&fake);

    let err = dataproc.hibernate("etl").await.unwrap_err();

    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert!(err.to_string().contains("local SSDs"), "{err}");
    assert_eq!(
        dataproc.cluster("etl").await.unwrap().state,
        ClusterState::Running
    );
}

#[tokio::test]
async fn a_stop_whose_answer_was_lost_is_retried_under_the_same_request_id_and_applied_once() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let stop = path(&fake, "/etl:stop");
    fake.fail_next(&stop, 2, DataprocFault::AfterApplying(500));
    let dataproc = connector(&fake);

    dataproc.hibernate("etl").await.unwrap();

    assert_eq!(fake.calls(&stop), 3);
    assert_eq!(fake.stops("etl"), 1);
    assert_eq!(
        dataproc.cluster("etl").await.unwrap().state,
        ClusterState::Stopped
    );
}

#[tokio::test]
async fn a_stop_that_timed_out_is_applied_once_even_when_it_lands_late() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let stop = path(&fake, "/etl:stop");
    fake.fail_next(&stop, 1, DataprocFault::Hang(Duration::from_millis(600)));
    let dataproc = connector_with(&fake, Duration::from_millis(300));

    dataproc.hibernate("etl").await.unwrap();
    // Let the first, hung request land after the retry did.
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert!(fake.calls(&stop) >= 2);
    assert_eq!(fake.stops("etl"), 1);
}

#[tokio::test]
async fn a_stop_answered_429_is_retried_after_the_delay_and_applied_once() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let stop = path(&fake, "/etl:stop");
    fake.fail_next(&stop, 1, DataprocFault::throttled(5));
    let dataproc = connector(&fake);

    let started = Instant::now();
    dataproc.hibernate("etl").await.unwrap();

    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(fake.calls(&stop), 2);
    assert_eq!(fake.stops("etl"), 1);
}

#[tokio::test]
async fn resize_patches_the_worker_count_and_waits_for_the_update() {
    let fake = FakeDataproc::start_with(DataprocConfig {
        transition_delay: Duration::from_millis(50),
        ..DataprocConfig::default()
    })
    .await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 1), "RUNNING");
    let dataproc = connector(&fake);

    dataproc.resize("etl", 7).await.unwrap();

    let cluster = dataproc.cluster("etl").await.unwrap();
    assert_eq!(cluster.state, ClusterState::Running);
    assert_eq!(cluster.workers, 8, "7 primary and the 1 secondary worker");
    assert_eq!(fake.calls(&path(&fake, "/etl")), 2, "one PATCH and one GET");
}

#[tokio::test]
async fn resizing_a_stopped_cluster_is_an_invalid_state() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("nightly", instance_config("n2-standard-4", 2, 0), "STOPPED");
    let dataproc = connector(&fake);

    let err = dataproc.resize("nightly", 4).await.unwrap_err();

    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert!(err.to_string().contains("FAILED_PRECONDITION"), "{err}");
}

#[tokio::test]
async fn usage_counts_active_jobs_and_reports_the_idle_start() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    fake.add_cluster("adhoc", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);

    let idle = dataproc.usage("etl").await.unwrap();
    assert_eq!(idle.active_work, 0);
    assert!(idle.idle_since.is_some());
    assert_eq!(idle.last_activity, idle.idle_since);

    let first = fake.add_job("etl");
    fake.add_job("etl");
    fake.add_job("adhoc");
    let busy = dataproc.usage("etl").await.unwrap();
    assert_eq!(busy.active_work, 2);
    assert_eq!(busy.idle_since, None);
    assert!(busy.last_activity.is_some());

    fake.finish_job(&first);
    assert_eq!(dataproc.usage("etl").await.unwrap().active_work, 1);
}

#[tokio::test]
async fn usage_reports_yarn_memory_and_worker_cpu_from_cloud_monitoring() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 1), "RUNNING");
    fake.add_cluster("adhoc", instance_config("n2-standard-4", 2, 0), "RUNNING");
    fake.set_utilization("etl", 0.375, 61.5);
    fake.set_utilization("adhoc", 0.875, 99.0);
    fake.add_job("etl");
    let dataproc = connector(&fake);

    let usage = dataproc.usage("etl").await.unwrap();

    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.cpu_percent, Some(37.5), "a 0..1 fraction, in percent");
    assert_eq!(usage.memory_percent, Some(61.5));
    assert_eq!(fake.calls(&fake.time_series_path()), 2);
    let filters = fake.time_series_filters().join("\n");
    assert!(
        filters.contains("resource.labels.cluster_name=\"etl\""),
        "{filters}"
    );
    assert!(
        filters.contains("one_of(\"etl-w-0\",\"etl-w-1\",\"etl-sw-0000\")"),
        "the workers' VMs, not the master: {filters}"
    );
    assert!(!filters.contains("adhoc"), "{filters}");
}

#[tokio::test]
async fn a_cluster_without_monitoring_points_has_no_utilisation() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);

    let usage = dataproc.usage("etl").await.unwrap();

    assert_eq!(usage.cpu_percent, None);
    assert_eq!(usage.memory_percent, None);
    assert!(usage.idle_since.is_some(), "activity is still reported");
}

#[tokio::test]
async fn a_failing_monitoring_api_leaves_utilisation_out_and_usage_still_works() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    fake.set_utilization("etl", 0.5, 40.0);
    fake.add_job("etl");
    let dataproc = connector(&fake);
    let time_series = fake.time_series_path();

    // A service account without Monitoring Viewer: 403 on both metrics.
    fake.fail_next(&time_series, 2, DataprocFault::status(403));
    let usage = dataproc.usage("etl").await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!((usage.cpu_percent, usage.memory_percent), (None, None));
    assert_eq!(
        fake.calls(TOKEN),
        1,
        "a refused metric does not cost the token"
    );

    // Cloud Monitoring down: retried, then left out.
    fake.fail_next(&time_series, 8, DataprocFault::status(500));
    let usage = dataproc.usage("etl").await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!((usage.cpu_percent, usage.memory_percent), (None, None));

    // Cloud Monitoring out of reach.
    let unreachable = connector(&fake).with_monitoring_url("http://127.0.0.1:9");
    let usage = unreachable.usage("etl").await.unwrap();
    assert_eq!(usage.active_work, 1);
    assert_eq!((usage.cpu_percent, usage.memory_percent), (None, None));

    // Back to normal.
    let usage = dataproc.usage("etl").await.unwrap();
    assert_eq!(usage.cpu_percent, Some(50.0));
    assert_eq!(usage.memory_percent, Some(40.0));
}

#[tokio::test]
async fn upstream_failures_map_to_their_class() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);
    let get = path(&fake, "/etl");

    let err = dataproc.cluster("missing").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("NOT_FOUND"), "{err}");

    fake.fail_next(&get, 2, DataprocFault::status(401));
    let err = dataproc.cluster("etl").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(&get, 2, DataprocFault::status(403));
    let err = dataproc.cluster("etl").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(&get, 4, DataprocFault::throttled(1));
    let err = dataproc.cluster("etl").await.unwrap_err();
    assert!(matches!(err, PlatformError::Throttled(_)), "{err:?}");

    fake.fail_next(&get, 4, DataprocFault::status(500));
    let err = dataproc.cluster("etl").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");

    fake.fail_next(&get, 3, DataprocFault::status(503));
    assert!(
        dataproc.cluster("etl").await.is_ok(),
        "the fourth try works"
    );
}

#[tokio::test]
async fn reads_that_time_out_are_retried_then_unavailable() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let get = path(&fake, "/etl");
    fake.fail_next(&get, 10, DataprocFault::Hang(Duration::from_secs(2)));
    let dataproc = connector_with(&fake, Duration::from_millis(200));

    let err = dataproc.cluster("etl").await.unwrap_err();

    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(fake.calls(&get), 4);
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_unavailable() {
    let fake = FakeDataproc::start().await;
    let mut key = fake.service_account_key();
    key["token_uri"] = json!("http://127.0.0.1:9/token");
    let dataproc = Dataproc::new(credentials_with(&fake, key), http(Duration::from_secs(5)))
        .unwrap()
        .with_retry_policy(fast_retries());

    let err = dataproc.check().await.unwrap_err();

    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn ids_that_are_not_cluster_names_never_reach_the_platform() {
    let fake = FakeDataproc::start().await;
    let dataproc = connector(&fake);

    for id in ["../../operations/x", "etl:start", "a/b"] {
        let err = dataproc.hibernate(id).await.unwrap_err();
        assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    }
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test]
async fn no_error_shows_the_private_key_or_a_token() {
    let fake = FakeDataproc::start().await;
    fake.add_cluster("etl", instance_config("n2-standard-4", 2, 0), "RUNNING");
    let dataproc = connector(&fake);
    let get = path(&fake, "/etl");
    let mut errors = Vec::new();
    for status in [400, 401, 404, 429, 500] {
        fake.fail_next(&get, 4, DataprocFault::status(status));
        errors.push(dataproc.cluster("etl").await.unwrap_err());
    }
    fake.fail_next(TOKEN, 4, DataprocFault::status(400));
    fake.revoke_tokens();
    errors.push(dataproc.cluster("etl").await.unwrap_err());

    let key_body = pem_body(TEST_PRIVATE_KEY_PEM);
    for err in &errors {
        let shown = shown(err);
        for line in key_body.as_bytes().chunks(40) {
            assert!(
                !shown.contains(std::str::from_utf8(line).unwrap()),
                "{shown}"
            );
        }
        assert!(!shown.contains("ya29."), "{shown}");
        assert!(!shown.contains("eyJ"), "{shown}");
    }
    assert!(!format!("{dataproc:?}").contains(&key_body[..40]));
}
