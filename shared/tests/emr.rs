//! The EMR connector against moto's server, through the real SDK client.
//!
//! Each test assumes a role in an AWS account of its own (moto switches to the account in the
//! role's ARN), so tests running in parallel never see each other's clusters.

mod support;

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_emr::Client;
use aws_sdk_emr::config::SharedCredentialsProvider;
use aws_sdk_emr::types::{
    Application, BootstrapActionConfig, Configuration, HadoopJarStepConfig, InstanceGroupConfig,
    InstanceRoleType, JobFlowInstancesConfig, MarketType, ScriptBootstrapActionConfig, StepConfig,
    Tag,
};
use dtap_shared::domain::platform::{ClusterState, PlatformKind};
use dtap_shared::platforms::credentials::{AwsAuth, EmrCredentials};
use dtap_shared::platforms::emr::{ESTIMATED_READY_SECONDS, Emr};
use dtap_shared::platforms::{Platform, PlatformError};
use secrecy::SecretString;

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
    format!("{:012}", 100_000_000_000 + n)
}

fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/digital-tap-access")
}

fn assume_role(account: &str) -> EmrCredentials {
    EmrCredentials {
        region: "us-east-1".into(),
        auth: AwsAuth::AssumeRole {
            role_arn: role_arn(account),
            external_id: Some("dtap-external-id".into()),
        },
        endpoint_url: Some(support::moto_url()),
    }
}

/// The connector and, beside it, a plain EMR client in the same account to set up clusters
/// and to look at what the connector did.
async fn connect() -> (Emr, Client) {
    let (emr, client, _) = connect_with_metrics().await;
    (emr, client)
}

/// As [`connect`], with a CloudWatch client in the same account to publish EMR's metrics.
async fn connect_with_metrics() -> (Emr, Client, aws_sdk_cloudwatch::Client) {
    let account = fresh_account();
    let emr = Emr::connect(&assume_role(&account)).await.expect("connect");
    let base = support::moto_config().await;
    let provider = AssumeRoleProvider::builder(role_arn(&account))
        .session_name("dtap-tests")
        .configure(&base)
        .build()
        .await;
    let config = base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    (
        emr,
        Client::new(&config),
        aws_sdk_cloudwatch::Client::new(&config),
    )
}

/// Publishes `metric` for the cluster as EMR would: one datapoint per `(minutes ago, value)`.
async fn publish(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    cluster_id: &str,
    metric: &str,
    points: &[(i64, f64)],
) {
    let now = chrono::Utc::now().timestamp();
    let mut request = cloudwatch
        .put_metric_data()
        .namespace("AWS/ElasticMapReduce");
    for (minutes_ago, value) in points {
        request = request.metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("JobFlowId")
                        .value(cluster_id)
                        .build(),
                )
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                    now - minutes_ago * 60,
                ))
                .value(*value)
                .build(),
        );
    }
    request.send().await.expect("PutMetricData");
}

fn minutes_ago(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::minutes(minutes)
}

fn group(role: InstanceRoleType, instance_type: &str, count: i32) -> InstanceGroupConfig {
    InstanceGroupConfig::builder()
        .name(format!("{}-group", role.as_str().to_lowercase()))
        .instance_role(role)
        .instance_type(instance_type)
        .instance_count(count)
        .market(MarketType::OnDemand)
        .build()
}

/// A long-running cluster: one master, `core` core nodes, `task` task nodes.
async fn run_cluster(client: &Client, name: &str, core: i32, task: i32) -> String {
    let mut groups = vec![
        group(InstanceRoleType::Master, "m5.xlarge", 1),
        group(InstanceRoleType::Core, "r5.2xlarge", core),
    ];
    if task > 0 {
        groups.push(group(InstanceRoleType::Task, "r5.xlarge", task));
    }
    client
        .run_job_flow()
        .name(name)
        .release_label("emr-6.15.0")
        .service_role("EMR_DefaultRole")
        .job_flow_role("EMR_EC2_DefaultRole")
        .instances(
            JobFlowInstancesConfig::builder()
                .keep_job_flow_alive_when_no_steps(true)
                .set_instance_groups(Some(groups))
                .build(),
        )
        .send()
        .await
        .expect("RunJobFlow")
        .job_flow_id
        .expect("a cluster id")
}

async fn state_of(client: &Client, id: &str) -> String {
    client
        .describe_cluster()
        .cluster_id(id)
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .status
        .unwrap()
        .state
        .unwrap()
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn check_reads_with_assumed_role_credentials() {
    let (emr, _) = connect().await;
    let access = emr.check().await.expect("check");
    assert_eq!(access.permissions, vec!["read".to_owned()]);
    assert_eq!(emr.kind(), PlatformKind::Emr);
}

#[tokio::test]
async fn access_keys_reach_the_same_clusters_as_the_sdk() {
    // Static keys land in moto's default account, where other tests may also be: look only for
    // this test's own cluster.
    let emr = Emr::connect(&EmrCredentials {
        region: "us-east-1".into(),
        auth: AwsAuth::AccessKeys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        },
        endpoint_url: Some(support::moto_url()),
    })
    .await
    .expect("connect");
    let client = Client::new(&support::moto_config().await);
    let name = support::unique_name("keys");
    let id = run_cluster(&client, &name, 1, 0).await;

    emr.check().await.expect("check");
    let listed = emr.list_clusters().await.expect("list");
    let mine = listed
        .iter()
        .find(|c| c.id == id)
        .expect("own cluster listed");
    assert_eq!(mine.name, name);
}

#[tokio::test]
async fn listing_follows_the_marker_past_a_page() {
    // moto pages ListClusters at 100 (AWS at 50): 105 clusters need a second page.
    let (emr, client) = connect().await;
    let mut ids = Vec::new();
    for n in 0..105 {
        ids.push(run_cluster(&client, &format!("fleet-{n}"), 2, 0).await);
    }
    let first_page = client.list_clusters().send().await.unwrap();
    assert!(
        first_page.marker.is_some(),
        "moto should paginate ListClusters"
    );

    let mut listed = emr.list_clusters().await.expect("list");
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    ids.sort();
    assert_eq!(listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids);
    for cluster in &listed {
        assert_eq!(cluster.state, ClusterState::Running);
        assert_eq!(cluster.workers, 2);
        assert_eq!(cluster.instance_type.as_deref(), Some("r5.2xlarge"));
    }
}

#[tokio::test]
async fn listing_leaves_out_terminated_clusters() {
    let (emr, client) = connect().await;
    let kept = run_cluster(&client, "kept", 1, 0).await;
    let gone = run_cluster(&client, "gone", 1, 0).await;
    client
        .terminate_job_flows()
        .job_flow_ids(&gone)
        .send()
        .await
        .unwrap();
    let listed = emr.list_clusters().await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![kept.as_str()]
    );
}

#[tokio::test]
async fn cluster_reports_instance_types_workers_and_state() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "analytics", 2, 3).await;

    let info = emr.cluster(&id).await.expect("cluster");
    assert_eq!(info.id, id);
    assert_eq!(info.name, "analytics");
    assert_eq!(info.state, ClusterState::Running);
    assert_eq!(info.instance_type.as_deref(), Some("r5.2xlarge"));
    assert_eq!(info.driver_instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(info.workers, 5, "core and task nodes are workers");
    assert_eq!(info.region.as_deref(), Some("us-east-1"));
    assert!(info.started_at.is_some());
}

#[tokio::test]
async fn unknown_clusters_are_not_found() {
    let (emr, _) = connect().await;
    let err = emr.cluster("j-DOESNOTEXIST1").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    let err = emr.hibernate("j-DOESNOTEXIST1").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
    let err = emr.usage("j-DOESNOTEXIST1").await.unwrap_err();
    assert!(matches!(err, PlatformError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn hibernate_then_resume_recreates_the_same_cluster_under_a_new_id() {
    let (emr, client) = connect().await;
    let id = client
        .run_job_flow()
        .name("nightly-etl")
        .release_label("emr-6.15.0")
        .log_uri("s3://logs-bucket/emr/")
        .service_role("EMR_DefaultRole")
        .job_flow_role("EMR_EC2_DefaultRole")
        .visible_to_all_users(true)
        .applications(Application::builder().name("Spark").build())
        .applications(Application::builder().name("Hive").build())
        .configurations(
            Configuration::builder()
                .classification("spark-defaults")
                .properties("spark.executor.memory", "4g")
                .build(),
        )
        .bootstrap_actions(
            BootstrapActionConfig::builder()
                .name("install-deps")
                .script_bootstrap_action(
                    ScriptBootstrapActionConfig::builder()
                        .path("s3://scripts-bucket/bootstrap.sh")
                        .args("--fast")
                        .build(),
                )
                .build(),
        )
        .tags(Tag::builder().key("team").value("data").build())
        .tags(Tag::builder().key("cost-center").value("42").build())
        .instances(
            JobFlowInstancesConfig::builder()
                .keep_job_flow_alive_when_no_steps(true)
                .ec2_key_name("ops-key")
                .instance_groups(group(InstanceRoleType::Master, "m5.xlarge", 1))
                .instance_groups(group(InstanceRoleType::Core, "r5.2xlarge", 2))
                .instance_groups(group(InstanceRoleType::Task, "r5.xlarge", 3))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_flow_id
        .unwrap();

    let snapshot = emr.hibernate(&id).await.expect("hibernate");
    assert_eq!(snapshot.kind, PlatformKind::Emr);
    assert_eq!(snapshot.cluster_id, id);
    assert_eq!(state_of(&client, &id).await, "TERMINATED");
    assert_eq!(emr.cluster(&id).await.unwrap().state, ClusterState::Stopped);

    // The snapshot survives a trip through the store as JSON.
    let stored = serde_json::to_string(&snapshot).unwrap();
    let snapshot = serde_json::from_str(&stored).unwrap();
    let resumed = emr.resume(&snapshot).await.expect("resume");
    assert_ne!(resumed.cluster_id, id);
    assert!(resumed.cluster_id.starts_with("j-"));
    assert_eq!(resumed.estimated_ready_seconds, ESTIMATED_READY_SECONDS);

    let clone = client
        .describe_cluster()
        .cluster_id(&resumed.cluster_id)
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(clone.name(), Some("nightly-etl"));
    assert_eq!(clone.release_label(), Some("emr-6.15.0"));
    assert_eq!(clone.log_uri(), Some("s3://logs-bucket/emr/"));
    assert_eq!(clone.service_role(), Some("EMR_DefaultRole"));
    assert_eq!(clone.auto_terminate(), Some(false), "the clone stays alive");
    assert_eq!(
        clone
            .ec2_instance_attributes()
            .and_then(|e| e.iam_instance_profile()),
        Some("EMR_EC2_DefaultRole")
    );
    assert_eq!(
        clone
            .ec2_instance_attributes()
            .and_then(|e| e.ec2_key_name()),
        Some("ops-key")
    );
    let mut apps: Vec<_> = clone
        .applications()
        .iter()
        .filter_map(|a| a.name())
        .collect();
    apps.sort();
    assert_eq!(apps, vec!["Hive", "Spark"]);
    let mut tags: Vec<_> = clone
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    tags.sort();
    assert_eq!(tags, vec![("cost-center", "42"), ("team", "data")]);
    let config = &clone.configurations()[0];
    assert_eq!(config.classification(), Some("spark-defaults"));
    assert_eq!(
        config
            .properties()
            .unwrap()
            .get("spark.executor.memory")
            .map(String::as_str),
        Some("4g")
    );

    let mut groups: Vec<_> = client
        .list_instance_groups()
        .cluster_id(&resumed.cluster_id)
        .send()
        .await
        .unwrap()
        .instance_groups()
        .iter()
        .map(|g| {
            (
                g.instance_group_type().unwrap().as_str().to_owned(),
                g.instance_type().unwrap().to_owned(),
                g.requested_instance_count().unwrap(),
                g.market().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        vec![
            ("CORE".into(), "r5.2xlarge".into(), 2, "ON_DEMAND".into()),
            ("MASTER".into(), "m5.xlarge".into(), 1, "ON_DEMAND".into()),
            ("TASK".into(), "r5.xlarge".into(), 3, "ON_DEMAND".into()),
        ]
    );

    let actions = client
        .list_bootstrap_actions()
        .cluster_id(&resumed.cluster_id)
        .send()
        .await
        .unwrap();
    let action = &actions.bootstrap_actions()[0];
    assert_eq!(action.name(), Some("install-deps"));
    assert_eq!(
        action.script_path(),
        Some("s3://scripts-bucket/bootstrap.sh")
    );
    assert_eq!(action.args(), ["--fast".to_owned()]);

    let info = emr.cluster(&resumed.cluster_id).await.unwrap();
    assert_eq!(info.workers, 5);
    assert_eq!(info.state, ClusterState::Running);
}

#[tokio::test]
async fn hibernate_is_refused_while_a_step_runs() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "busy", 1, 0).await;
    client
        .add_job_flow_steps()
        .job_flow_id(&id)
        .steps(
            StepConfig::builder()
                .name("long-job")
                .hadoop_jar_step(
                    HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("spark-submit")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let err = emr.hibernate(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert_ne!(state_of(&client, &id).await, "TERMINATED");

    let usage = emr.usage(&id).await.expect("usage");
    assert_eq!(usage.active_work, 1);
    assert_eq!(usage.idle_since, None);
}

#[tokio::test]
async fn hibernate_is_refused_under_termination_protection() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "protected", 1, 0).await;
    client
        .set_termination_protection()
        .job_flow_ids(&id)
        .termination_protected(true)
        .send()
        .await
        .unwrap();

    let err = emr.hibernate(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
    assert_ne!(state_of(&client, &id).await, "TERMINATED");
}

#[tokio::test]
async fn hibernating_a_terminated_cluster_is_refused() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "ended", 1, 0).await;
    emr.hibernate(&id).await.expect("first hibernate");
    let err = emr.hibernate(&id).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
}

#[tokio::test]
async fn resize_sets_the_core_group_so_core_and_task_make_the_workers() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "elastic", 2, 1).await;

    emr.resize(&id, 6).await.expect("resize");
    let info = emr.cluster(&id).await.unwrap();
    assert_eq!(info.workers, 6);
    let core = client
        .list_instance_groups()
        .cluster_id(&id)
        .send()
        .await
        .unwrap()
        .instance_groups()
        .iter()
        .find(|g| g.instance_group_type().map(|t| t.as_str()) == Some("CORE"))
        .and_then(|g| g.requested_instance_count());
    assert_eq!(core, Some(5));

    let err = emr.resize(&id, 1).await.unwrap_err();
    assert!(matches!(err, PlatformError::InvalidState(_)), "{err:?}");
}

#[tokio::test]
async fn an_idle_waiting_cluster_reports_since_when() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "idle", 1, 0).await;
    let usage = emr.usage(&id).await.expect("usage");
    assert_eq!(usage.active_work, 0);
    assert!(usage.idle_since.is_some(), "{usage:?}");
    // No metrics published: nothing is made up.
    assert_eq!(usage.cpu_percent, None);
    assert_eq!(usage.memory_percent, None);
}

#[tokio::test]
async fn usage_reads_yarn_memory_and_idleness_from_cloudwatch() {
    let (emr, client, cloudwatch) = connect_with_metrics().await;
    let id = run_cluster(&client, "metered", 2, 0).await;
    let other = run_cluster(&client, "neighbour", 2, 0).await;
    publish(
        &cloudwatch,
        &id,
        "IsIdle",
        &[
            (27, 0.0),
            (22, 1.0),
            (17, 1.0),
            (12, 1.0),
            (7, 1.0),
            (2, 1.0),
        ],
    )
    .await;
    publish(
        &cloudwatch,
        &id,
        "YARNMemoryAvailablePercentage",
        &[(7, 60.0), (2, 72.5)],
    )
    .await;
    publish(
        &cloudwatch,
        &other,
        "YARNMemoryAvailablePercentage",
        &[(2, 5.0)],
    )
    .await;

    let usage = emr.usage(&id).await.expect("usage");

    assert_eq!(usage.active_work, 0);
    assert_eq!(usage.memory_percent, Some(27.5), "100 - available, newest");
    assert_eq!(usage.cpu_percent, None, "EMR publishes no host CPU");
    assert!(usage.idle_since.is_some(), "{usage:?}");
    let last = usage
        .last_activity
        .expect("the last busy period dates activity");
    assert!(
        last > minutes_ago(28) && last < minutes_ago(21),
        "{last} should end the period that held the 0 at 27 minutes ago"
    );
}

#[tokio::test]
async fn yarn_work_outside_steps_keeps_a_waiting_cluster_busy() {
    let (emr, client, cloudwatch) = connect_with_metrics().await;
    let id = run_cluster(&client, "notebooks", 1, 0).await;
    publish(
        &cloudwatch,
        &id,
        "IsIdle",
        &[(17, 1.0), (12, 1.0), (7, 1.0), (2, 0.0)],
    )
    .await;

    let usage = emr.usage(&id).await.expect("usage");

    assert_eq!(usage.active_work, 0, "no steps");
    assert_eq!(usage.idle_since, None, "YARN ran something 2 minutes ago");
    let last = usage.last_activity.expect("dated by IsIdle");
    assert!(last > minutes_ago(8), "{last}");
}

#[tokio::test]
async fn a_cluster_idle_too_briefly_is_not_idle_yet() {
    let (emr, client, cloudwatch) = connect_with_metrics().await;
    let id = run_cluster(&client, "between-jobs", 1, 0).await;
    publish(&cloudwatch, &id, "IsIdle", &[(12, 0.0), (7, 1.0), (2, 1.0)]).await;

    let usage = emr.usage(&id).await.expect("usage");

    assert_eq!(usage.idle_since, None, "{usage:?}");
    assert!(usage.last_activity.is_some());
}

#[tokio::test]
async fn without_cloudwatch_usage_reports_what_the_emr_api_says() {
    let (emr, client, cloudwatch) = connect_with_metrics().await;
    let id = run_cluster(&client, "unmetered", 1, 0).await;
    publish(
        &cloudwatch,
        &id,
        "YARNMemoryAvailablePercentage",
        &[(2, 50.0)],
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = aws_sdk_cloudwatch::Client::new(
        &support::moto_config()
            .await
            .into_builder()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .build(),
    );
    let emr = emr.with_cloudwatch(unreachable);

    let usage = emr.usage(&id).await.expect("usage");

    assert_eq!(usage.active_work, 0);
    assert!(usage.idle_since.is_some(), "{usage:?}");
    assert_eq!(usage.memory_percent, None);
    assert_eq!(usage.cpu_percent, None);
}

#[tokio::test]
async fn a_snapshot_of_another_platform_is_not_resumed() {
    let (emr, client) = connect().await;
    let id = run_cluster(&client, "source", 1, 0).await;
    let mut snapshot = emr.hibernate(&id).await.unwrap();
    snapshot.kind = PlatformKind::Databricks;
    let err = emr.resume(&snapshot).await.unwrap_err();
    assert!(matches!(err, PlatformError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_not_unauthorized() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let keys = EmrCredentials {
        region: "us-east-1".into(),
        auth: AwsAuth::AccessKeys {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretString::from("not-a-real-secret"),
        },
        endpoint_url: Some(endpoint.clone()),
    };
    // STS is behind the same endpoint, so the role cannot even be assumed.
    let role = EmrCredentials {
        endpoint_url: Some(endpoint),
        ..assume_role(&fresh_account())
    };
    for credentials in [keys, role] {
        let emr = Emr::connect(&credentials).await.expect("connect");
        let err = emr.check().await.unwrap_err();
        assert!(matches!(err, PlatformError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("not-a-real-secret"));
    }
}
