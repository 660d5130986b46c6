//! `GET /v1/clusters` over 1,000 clusters on four platforms at once: 250 on a fake Databricks
//! workspace, 250 on a fake Dataproc project, 250 pools on a fake Synapse workspace and 250 EMR
//! clusters on moto. Reports the wall time of the listing and the upstream calls it made.
//!
//! Needs moto: `scripts/test --with-moto cargo bench -p dtap-tests --bench list_clusters`.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use aws_sdk_emr::types::{InstanceGroupConfig, InstanceRoleType, JobFlowInstancesConfig};
use dtap_fakes::{FakeDatabricks, FakeDataproc, FakeSynapse};
use helpers::{Session, TestApp, get, post, spawn_app};
use serde_json::{Value, json};

/// Clusters per platform and listings measured. `cargo bench` passes `--bench`; `cargo test
/// --all-targets` runs this as a quick smoke test.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|arg| arg == "--bench") {
        (250, 5)
    } else {
        (10, 1)
    }
}

async fn connect(app: &TestApp, session: &Session, body: Value) {
    app.clock.advance(chrono::Duration::seconds(60));
    let reply = post(app, "/v1/platforms", &session.token, body).await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
}

async fn emr_fleet(moto: &str, n: usize) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIAIOSFODNN7BENCHXX",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .load()
        .await;
    let client = aws_sdk_emr::Client::new(&config);
    let group = |role, kind: &str, count| {
        InstanceGroupConfig::builder()
            .instance_role(role)
            .instance_type(kind)
            .instance_count(count)
            .build()
    };
    for i in 0..n {
        client
            .run_job_flow()
            .name(format!("emr-bench-{i}"))
            .release_label("emr-6.15.0")
            .service_role("EMR_DefaultRole")
            .job_flow_role("EMR_EC2_DefaultRole")
            .instances(
                JobFlowInstancesConfig::builder()
                    .keep_job_flow_alive_when_no_steps(true)
                    .instance_groups(group(InstanceRoleType::Master, "m5.xlarge", 1))
                    .instance_groups(group(InstanceRoleType::Core, "r5.2xlarge", 4))
                    .build(),
            )
            .send()
            .await
            .expect("RunJobFlow on moto");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moto = std::env::var("DTAP_TEST_MOTO_URL")
        .expect("DTAP_TEST_MOTO_URL is not set: run through scripts/test --with-moto");
    let (per_platform, runs) = sizes();
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;

    let databricks = FakeDatabricks::with_fleet(per_platform).await;
    let dataproc = FakeDataproc::start().await;
    dataproc.fleet(per_platform);
    let synapse = FakeSynapse::start().await;
    for i in 0..per_platform / 2 {
        synapse.add_sql_pool(&format!("dw{i}"), "DW100c", "Online");
        synapse.add_spark_pool(&format!("spark{i}"), json!({}));
    }
    emr_fleet(&moto, per_platform).await;

    connect(
        &app,
        &jane,
        json!({"type": "databricks", "name": "Databricks", "region": "us-east-1",
        "credentials": {"workspace_url": databricks.url(), "token": databricks.config().token}}),
    )
    .await;
    connect(&app, &jane, json!({"type": "dataproc", "name": "Dataproc", "credentials": {
        "service_account_key": dataproc.service_account_key(), "project_id": dataproc.config().project_id,
        "region": dataproc.config().region, "endpoint_url": dataproc.url()}})).await;
    let config = synapse.config();
    connect(&app, &jane, json!({"type": "synapse", "name": "Synapse", "credentials": {
        "tenant_id": config.tenant_id, "client_id": config.client_id, "client_secret": config.client_secret,
        "subscription_id": config.subscription_id, "resource_group": config.resource_group,
        "workspace_name": config.workspace_name, "endpoint_url": synapse.url()}})).await;
    connect(&app, &jane, json!({"type": "emr", "name": "EMR", "region": "us-east-1", "credentials": {
        "access_key_id": "AKIAIOSFODNN7BENCHXX", "secret_access_key": "bench-secret", "endpoint_url": moto}})).await;

    let mut times: Vec<Duration> = Vec::new();
    let mut fake_calls = Vec::new();
    for _ in 0..runs {
        app.clock.advance(chrono::Duration::seconds(60));
        databricks.reset_calls();
        dataproc.reset_calls();
        synapse.reset_calls();
        let started = Instant::now();
        let listed = get(&app, "/v1/clusters", &jane.token).await;
        times.push(started.elapsed());
        assert_eq!(listed.status.as_u16(), 200, "{}", listed.body);
        let count = listed.body["data"].as_array().map_or(0, Vec::len);
        assert!(
            count >= 4 * per_platform,
            "listed {count} clusters: {}",
            listed.body["meta"]
        );
        fake_calls.push((
            databricks.total_calls(),
            dataproc.total_calls(),
            synapse.total_calls(),
        ));
    }
    times.sort_unstable();
    let (d, p, s) = fake_calls[0];
    println!(
        "GET /v1/clusters over {} clusters on 4 platforms, {runs} runs",
        4 * per_platform
    );
    println!(
        "  wall time: min {:.1?}, median {:.1?}, max {:.1?}",
        times[0],
        times[runs / 2],
        times[runs - 1]
    );
    println!(
        "  upstream calls per listing: databricks {d}, dataproc {p}, synapse {s} (each including token grants when due)"
    );
    println!(
        "  emr (moto, not counted by moto): ListClusters pages of 100 = {}, plus one ListInstanceGroups per cluster = {per_platform}",
        per_platform.div_ceil(100)
    );
}
