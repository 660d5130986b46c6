//! The Synapse connector against the fake workspace (dtap-fakes): the token grant, pagination of
//! both pool kinds, SQL pool pause and resume through long-running operations, Spark auto-pause,
//! retries and error mapping, counted in upstream calls.

use std::time::Duration;

use dtap_fakes::{FakeSynapse, SynapseConfig, SynapseFault};
use dtap_shared::domain::platform::ClusterState;
use dtap_shared::platforms::credentials::SynapseCredentials;
use dtap_shared::platforms::http::RetryPolicy;
use dtap_shared::platforms::synapse::Synapse;
use dtap_shared::platforms::{Platform, PlatformError};
use secrecy::SecretString;
use serde_json::json;

/// One policy second is 10 ms here, so `Retry-After: 1` waits 10 ms.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        unit: Duration::from_millis(10),
        max_retry_after: 30,
    }
}

fn connector_with(fake: &FakeSynapse, secret: &str, timeout: Duration) -> Synapse {
    let config = fake.config();
    let credentials = SynapseCredentials {
        tenant_id: config.tenant_id.clone(),
        client_id: config.client_id.clone(),
        client_secret: SecretString::from(secret.to_owned()),
        subscription_id: config.subscription_id.clone(),
        resource_group: config.resource_group.clone(),
        workspace_name: config.workspace_name.clone(),
        endpoint_url: Some(fake.url().to_owned()),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .build()
        .unwrap();
    Synapse::new(credentials, http).with_retry_policy(fast_retries())
}

fn connector(fake: &FakeSynapse) -> Synapse {
    connector_with(
        fake,
        &fake.config().client_secret.clone(),
        Duration::from_secs(5),
    )
}

fn sql_path(fake: &FakeSynapse, suffix: &str) -> String {
    format!("{}/sqlPools{suffix}", fake.workspace_path())
}

fn spark_path(fake: &FakeSynapse, suffix: &str) -> String {
    format!("{}/bigDataPools{suffix}", fake.workspace_path())
}

#[tokio::test]
async fn one_token_is_granted_and_reused_across_calls() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    synapse.check().await.unwrap();
    synapse.list_clusters().await.unwrap();
    synapse.cluster("sql/dw").await.unwrap();

    assert_eq!(fake.token_grants(), 1);
    assert_eq!(fake.calls(&fake.token_path()), 1);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);
    synapse.cluster("sql/dw").await.unwrap();

    fake.revoke_tokens();
    let cluster = synapse.cluster("sql/dw").await.unwrap();

    assert_eq!(cluster.state, ClusterState::Running);
    assert_eq!(fake.token_grants(), 2);
    assert_eq!(fake.calls(&sql_path(&fake, "/dw")), 3);
}

#[tokio::test]
async fn concurrent_callers_share_one_token() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let calls = (0..8).map(|_| synapse.cluster("sql/dw"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }

    assert_eq!(fake.token_grants(), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_unauthorized_and_never_quoted() {
    let fake = FakeSynapse::start().await;
    let secret = "wrong~secret~value~42";
    let err = connector_with(&fake, secret, Duration::from_secs(5))
        .check()
        .await
        .unwrap_err();

    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
    assert!(!err.to_string().contains(secret));
    assert!(!format!("{err:?}").contains(secret));
}

#[tokio::test]
async fn listing_follows_next_link_for_both_pool_kinds() {
    let fake = FakeSynapse::start_with(SynapseConfig {
        page_size: 2,
        ..SynapseConfig::default()
    })
    .await;
    for i in 0..5 {
        fake.add_sql_pool(&format!("dw{i}"), "DW200c", "Online");
    }
    for i in 0..3 {
        fake.add_spark_pool(&format!("spark{i}"), json!({}));
    }
    let synapse = connector(&fake);

    let clusters = synapse.list_clusters().await.unwrap();

    let ids: Vec<_> = clusters.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "sql/dw0",
            "sql/dw1",
            "sql/dw2",
            "sql/dw3",
            "sql/dw4",
            "spark/spark0",
            "spark/spark1",
            "spark/spark2"
        ]
    );
    assert_eq!(fake.calls(&sql_path(&fake, "")), 3);
    assert_eq!(fake.calls(&spark_path(&fake, "")), 2);
    assert_eq!(fake.total_calls(), 6, "one token grant and five pages");
}

#[tokio::test]
async fn pools_are_described_in_the_common_vocabulary() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW1000c", "Online");
    fake.add_sql_pool("paused", "DW100c", "Paused");
    fake.add_spark_pool("big", json!({"nodeCount": 10, "nodeSize": "Large"}));
    fake.add_spark_pool(
        "auto",
        json!({"autoScale": {"enabled": true, "minNodeCount": 4, "maxNodeCount": 12}}),
    );
    let synapse = connector(&fake);

    let dw = synapse.cluster("sql/dw").await.unwrap();
    assert_eq!(dw.name, "dw");
    assert_eq!(dw.state, ClusterState::Running);
    assert_eq!(dw.instance_type.as_deref(), Some("DW1000c"));
    assert_eq!(dw.region.as_deref(), Some("westeurope"));
    assert_eq!(
        synapse.cluster("sql/paused").await.unwrap().state,
        ClusterState::Stopped
    );

    let big = synapse.cluster("spark/big").await.unwrap();
    assert_eq!(big.state, ClusterState::Running);
    assert_eq!(big.instance_type.as_deref(), Some("Large"));
    assert_eq!(big.workers, 9, "ten nodes, one of them the driver");
    assert_eq!(synapse.cluster("spark/auto").await.unwrap().workers, 3);
}

#[tokio::test]
async fn unknown_and_malformed_pool_ids_are_not_found() {
    let fake = FakeSynapse::start().await;
    let synapse = connector(&fake);

    let err = synapse.cluster("sql/nothere").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");

    fake.reset_calls();
    for id in ["nothere", "hive/x", "sql/", "spark/a/b"] {
        let err = synapse.cluster(id).await.unwrap_err();
        assert!(matches!(err, PlatformError::NotFound(_)), "{id}: {err:?}");
    }
    assert_eq!(fake.total_calls(), 0, "malformed ids never reach ARM");
}

#[tokio::test]
async fn a_sql_pool_pauses_and_resumes_through_polled_operations() {
    let fake = FakeSynapse::start_with(SynapseConfig {
        operation_polls: 2,
        ..SynapseConfig::default()
    })
    .await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let snapshot = synapse.hibernate("sql/dw").await.unwrap();

    assert_eq!(fake.sql_status("dw").as_deref(), Some("Paused"));
    assert_eq!(fake.pauses("dw"), 1);
    assert_eq!(fake.operation_polls(), 3, "two in progress, then succeeded");
    assert_eq!(snapshot.cluster_id, "sql/dw");
    assert_eq!(snapshot.definition["pool"], "sql");
    assert_eq!(snapshot.definition["resource"]["sku"]["name"], "DW100c");
    assert_eq!(
        synapse.cluster("sql/dw").await.unwrap().state,
        ClusterState::Stopped
    );

    let resumed = synapse.resume(&snapshot).await.unwrap();

    assert_eq!(resumed.cluster_id, "sql/dw");
    assert!(resumed.estimated_ready_seconds > 0);
    assert_eq!(fake.sql_status("dw").as_deref(), Some("Online"));
    assert_eq!(fake.resumes("dw"), 1);
    assert_eq!(fake.operation_polls(), 6);
}

#[tokio::test]
async fn without_retry_after_operations_are_polled_at_the_default_interval() {
    let fake = FakeSynapse::start_with(SynapseConfig {
        retry_after: None,
        ..SynapseConfig::default()
    })
    .await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let started = std::time::Instant::now();
    synapse.hibernate("sql/dw").await.unwrap();

    // 60 policy seconds of 10 ms before each of the two polls.
    assert!(started.elapsed() >= Duration::from_millis(1200));
    assert_eq!(fake.sql_status("dw").as_deref(), Some("Paused"));
}

#[tokio::test]
async fn actions_that_finish_at_once_need_no_polling() {
    let fake = FakeSynapse::start_with(SynapseConfig {
        operation_polls: 0,
        ..SynapseConfig::default()
    })
    .await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let snapshot = synapse.hibernate("sql/dw").await.unwrap();
    synapse.resume(&snapshot).await.unwrap();

    assert_eq!(fake.operation_polls(), 0);
    assert_eq!((fake.pauses("dw"), fake.resumes("dw")), (1, 1));
}

#[tokio::test]
async fn a_paused_pool_is_not_hibernated_again_and_an_online_one_not_resumed() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("paused", "DW100c", "Paused");
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let err = synapse.hibernate("sql/paused").await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert_eq!(fake.calls(&sql_path(&fake, "/paused/pause")), 0);

    let snapshot = synapse.hibernate("sql/dw").await.unwrap();
    fake.add_sql_pool("dw", "DW100c", "Online");
    synapse.resume(&snapshot).await.unwrap();
    assert_eq!(fake.calls(&sql_path(&fake, "/dw/resume")), 0);
}

#[tokio::test]
async fn a_failed_operation_is_reported_and_leaves_the_pool_online() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    fake.fail_operations(true);
    let synapse = connector(&fake);

    let err = synapse.hibernate("sql/dw").await.unwrap_err();

    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert!(err.to_string().contains("OperationFailed"), "{err}");
    assert_eq!(fake.sql_status("dw").as_deref(), Some("Online"));
}

#[tokio::test]
async fn a_lost_pause_answer_is_not_sent_again_when_the_pause_landed() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let pause = sql_path(&fake, "/dw/pause");
    fake.fail_next(&pause, 1, SynapseFault::AfterApplying(500));
    let synapse = connector(&fake);

    synapse.hibernate("sql/dw").await.unwrap();

    assert_eq!(fake.calls(&pause), 1);
    assert_eq!(fake.pauses("dw"), 1);
    assert!(matches!(
        fake.sql_status("dw").as_deref(),
        Some("Pausing" | "Paused")
    ));
}

#[tokio::test]
async fn a_timed_out_pause_landing_late_is_applied_once() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let pause = sql_path(&fake, "/dw/pause");
    fake.fail_next(&pause, 1, SynapseFault::Hang(Duration::from_millis(700)));
    let synapse = connector_with(
        &fake,
        &fake.config().client_secret.clone(),
        Duration::from_millis(300),
    );

    let result = synapse.hibernate("sql/dw").await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(fake.pauses("dw"), 1);
    assert_eq!(fake.calls(&pause), 2, "sent again only after reading back");
}

#[tokio::test]
async fn a_throttled_or_unavailable_pause_is_retried_without_pausing_twice() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let pause = sql_path(&fake, "/dw/pause");
    fake.fail_next(&pause, 1, SynapseFault::throttled(2));
    fake.fail_next(&pause, 1, SynapseFault::status(503));
    let synapse = connector(&fake);

    synapse.hibernate("sql/dw").await.unwrap();

    assert_eq!(fake.calls(&pause), 3);
    assert_eq!(fake.pauses("dw"), 1);
}

#[tokio::test]
async fn a_spark_pool_hibernates_by_tightening_auto_pause_and_resume_restores_it() {
    let fake = FakeSynapse::start().await;
    fake.add_spark_pool(
        "etl",
        json!({"autoPause": {"enabled": true, "delayInMinutes": 60}}),
    );
    let synapse = connector(&fake);

    let snapshot = synapse.hibernate("spark/etl").await.unwrap();

    let pool = fake.spark_pool("etl").unwrap();
    assert_eq!(
        pool["properties"]["autoPause"],
        json!({"enabled": true, "delayInMinutes": 5})
    );
    assert_eq!(pool["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        snapshot.definition["autoPause"],
        json!({"enabled": true, "delayInMinutes": 60})
    );
    assert_eq!(fake.spark_puts("etl"), 1);

    // Hibernating again must not take the shortened delay for the user's own.
    let again = synapse.hibernate("spark/etl").await.unwrap();
    assert_eq!(
        again.definition["autoPause"],
        snapshot.definition["autoPause"]
    );

    synapse.resume(&again).await.unwrap();

    let pool = fake.spark_pool("etl").unwrap();
    assert_eq!(
        pool["properties"]["autoPause"],
        json!({"enabled": true, "delayInMinutes": 60})
    );
    assert!(pool["tags"].get("DigitalTapPreviousAutoPause").is_none());
    assert_eq!(
        pool["properties"]["nodeCount"], 3,
        "the rest of the pool kept"
    );
    assert_eq!(fake.spark_puts("etl"), 2);
}

#[tokio::test]
async fn a_spark_pool_without_auto_pause_gets_it_back_off() {
    let fake = FakeSynapse::start().await;
    fake.add_spark_pool("adhoc", json!({"autoPause": {"enabled": false}}));
    let synapse = connector(&fake);

    let snapshot = synapse.hibernate("spark/adhoc").await.unwrap();
    assert_eq!(
        fake.spark_pool("adhoc").unwrap()["properties"]["autoPause"]["enabled"],
        true
    );
    let resumed = synapse.resume(&snapshot).await.unwrap();

    assert_eq!(resumed.cluster_id, "spark/adhoc");
    assert_eq!(
        fake.spark_pool("adhoc").unwrap()["properties"]["autoPause"],
        json!({"enabled": false})
    );
}

#[tokio::test]
async fn a_lost_spark_put_is_simply_sent_again() {
    let fake = FakeSynapse::start().await;
    fake.add_spark_pool("etl", json!({}));
    let path = spark_path(&fake, "/etl");
    fake.fail_next_method("PUT", &path, 1, SynapseFault::AfterApplying(500));
    let synapse = connector(&fake);

    synapse.hibernate("spark/etl").await.unwrap();

    assert_eq!(fake.calls_with("PUT", &path), 2);
    assert_eq!(
        fake.spark_pool("etl").unwrap()["properties"]["autoPause"]["delayInMinutes"],
        5
    );
}

#[tokio::test]
async fn spark_pools_resize_by_node_count_and_sql_pools_refuse() {
    let fake = FakeSynapse::start().await;
    fake.add_spark_pool("etl", json!({}));
    fake.add_spark_pool(
        "auto",
        json!({"autoScale": {"enabled": true, "minNodeCount": 3, "maxNodeCount": 10}}),
    );
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    synapse.resize("spark/etl", 5).await.unwrap();
    assert_eq!(
        fake.spark_pool("etl").unwrap()["properties"]["nodeCount"],
        6
    );
    synapse.resize("spark/auto", 7).await.unwrap();
    assert_eq!(
        fake.spark_pool("auto").unwrap()["properties"]["autoScale"]["maxNodeCount"],
        8
    );

    let err = synapse.resize("spark/etl", 1).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    let err = synapse.resize("sql/dw", 4).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
}

#[tokio::test]
async fn usage_confirms_the_pool_and_reports_no_activity() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);

    let usage = synapse.usage("sql/dw").await.unwrap();
    assert_eq!(usage.active_work, 0);
    assert!(matches!(
        synapse.usage("spark/gone").await.unwrap_err(),
        PlatformError::NotFound(_)
    ));
}

#[tokio::test]
async fn upstream_failures_are_mapped_after_the_retries() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector(&fake);
    synapse.check().await.unwrap();
    let get = sql_path(&fake, "/dw");

    // 401 twice: the token is replaced once, then the refusal stands.
    fake.fail_next(&get, 2, SynapseFault::status(401));
    let err = synapse.cluster("sql/dw").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(&get, 1, SynapseFault::status(403));
    fake.fail_next(&get, 1, SynapseFault::status(403));
    let err = synapse.cluster("sql/dw").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unauthorized(_)), "{err:?}");

    fake.fail_next(&get, 1, SynapseFault::status(404));
    let err = synapse.cluster("sql/dw").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");

    fake.reset_calls();
    fake.fail_next(&get, 4, SynapseFault::throttled(1));
    let err = synapse.cluster("sql/dw").await.unwrap_err();
    assert!(matches!(err, PlatformError::Throttled(_)), "{err:?}");
    assert_eq!(fake.calls(&get), 4);

    fake.fail_next(&get, 4, SynapseFault::status(500));
    let err = synapse.cluster("sql/dw").await.unwrap_err();
    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");

    fake.fail_next(&get, 2, SynapseFault::status(500));
    fake.fail_next(&get, 1, SynapseFault::throttled(1));
    assert_eq!(
        synapse.cluster("sql/dw").await.unwrap().state,
        ClusterState::Running
    );
}

#[tokio::test]
async fn a_slow_platform_times_out_as_unavailable() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let synapse = connector_with(
        &fake,
        &fake.config().client_secret.clone(),
        Duration::from_millis(200),
    );
    synapse.check().await.unwrap();
    fake.set_latency(&sql_path(&fake, "/dw"), Duration::from_millis(500));

    let err = synapse.cluster("sql/dw").await.unwrap_err();

    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(fake.calls(&sql_path(&fake, "/dw")), 4, "reads are retried");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    let fake = FakeSynapse::start().await;
    let mut credentials_fake = connector(&fake);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    credentials_fake = credentials_fake.with_retry_policy(RetryPolicy {
        attempts: 2,
        ..fast_retries()
    });

    let err = credentials_fake.check().await.unwrap_err();
    assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn credentials_appear_in_no_error_and_no_debug_output() {
    let fake = FakeSynapse::start().await;
    fake.add_sql_pool("dw", "DW100c", "Online");
    let secret = fake.config().client_secret.clone();
    let synapse = connector(&fake);
    let mut texts = vec![format!("{synapse:?}")];

    for status in [400, 401, 404, 409, 429, 500, 503] {
        fake.fail_next(&sql_path(&fake, "/dw"), 8, SynapseFault::status(status));
        let err = synapse.cluster("sql/dw").await.unwrap_err();
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
        fake.clear_faults();
    }
    // A platform that echoes the secret back in its message.
    fake.fail_next(
        &fake.token_path(),
        1,
        SynapseFault::Status {
            status: 400,
            code: "invalid_request".to_owned(),
            message: format!("client_secret={secret} is not valid here"),
            retry_after: None,
        },
    );
    fake.revoke_tokens();
    let fresh = connector(&fake);
    let err = fresh.check().await.unwrap_err();
    texts.push(err.to_string());
    texts.push(format!("{err:?}"));

    let token = format!("fake-arm-token-{:08}", 1);
    for text in &texts {
        assert!(!text.contains(&secret), "{text}");
        assert!(!text.contains(&token), "{text}");
    }
    assert!(texts.iter().any(|text| text.contains("[redacted]")));
}
