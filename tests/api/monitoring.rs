//! Monitoring end to end on fake Databricks workspaces, with the app's clock under the test's
//! control: the scanner run the way the ticker runs it, idle detection and automatic
//! hibernation with its guards (running jobs, exclusions, pause, a job starting at the last
//! moment, concurrent scans, platform failures), the bare monitoring endpoints and their input
//! checks, analyze and optimize, and tenancy.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Duration;
use dtap_fakes::{FakeDatabricks, Fault};
use dtap_shared::domain::ids::OrgId;
use dtap_shared::monitor::dispatch::ScanDispatcher;
use dtap_shared::monitor::{ScanReport, scan_org, tick};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Reply, Session, TestApp, call, connect_databricks as connect, get, invited_member, login,
    org_id_of as org_of, post, seed_cluster as seed, slug_of, spawn_app,
};

async fn put_config(app: &TestApp, session: &Session, body: Value) -> Reply {
    call(
        app,
        Method::PUT,
        "/v1/monitoring/config",
        &session.token,
        Some(body),
    )
    .await
}

/// Collects what a tick hands out, so the test runs the scans itself.
#[derive(Default)]
struct Collect(Mutex<Vec<OrgId>>);

#[async_trait]
impl ScanDispatcher for Collect {
    async fn dispatch(&self, orgs: Vec<OrgId>) -> anyhow::Result<()> {
        self.0.lock().unwrap().extend(orgs);
        Ok(())
    }
}

/// One tick at the app's current time, and the scans it dispatched, as the runner does them.
async fn tick_and_scan(app: &TestApp) -> Vec<ScanReport> {
    let collected = Collect::default();
    tick(
        app.state.store.as_ref(),
        dtap_shared::clock::Clock::now(&app.clock),
        &collected,
    )
    .await
    .unwrap();
    let orgs = collected.0.lock().unwrap().clone();
    let mut reports = Vec::new();
    for org in orgs {
        reports.push(scan_org(&app.state, &org).await.unwrap());
    }
    reports
}

fn minutes(app: &TestApp, by: i64) {
    app.clock.advance(Duration::minutes(by));
}

async fn alerts_about(app: &TestApp, session: &Session, name: &str, kind: &str) -> usize {
    let alerts = get(app, "/v1/account/alerts?limit=200", &session.token).await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    alerts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["type"] == kind && alert["message"].as_str().unwrap().contains(name))
        .count()
}

#[tokio::test]
async fn idle_clusters_are_hibernated_within_the_threshold_plus_one_interval_and_no_others() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let idle = seed(&fake, "Idle ETL");
    let busy = seed(&fake, "Busy ETL");
    let excluded = seed(&fake, "Excluded ETL");
    let later = seed(&fake, "Later ETL");
    fake.add_run(&busy);
    let later_run = fake.add_run(&later);
    connect(&app, &jane, &fake).await;
    // The scanner has not seen the clusters yet, so excluding one checks the platform.
    let configured = put_config(
        &app,
        &jane,
        json!({"auto_hibernate": true, "idle_threshold_minutes": 20, "scan_interval_minutes": 5,
               "exclude_clusters": [excluded]}),
    )
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    assert_eq!(configured.body["config"]["idle_threshold_minutes"], 20);
    assert!(
        configured.body.get("success").is_none(),
        "monitoring answers are bare"
    );

    let mut hibernated_at = std::collections::HashMap::new();
    for minute in (0..=60).step_by(5) {
        if minute == 15 {
            // The job ends between the scans at 10 and 15: quiet from the scan at 15.
            fake.finish_run(later_run);
        }
        let reports = tick_and_scan(&app).await;
        assert_eq!(
            reports.len(),
            1,
            "one org is due every 5 minutes (minute {minute})"
        );
        for (name, id) in [("idle", &idle), ("later", &later)] {
            if fake.terminations(id) > 0 {
                hibernated_at.entry(name).or_insert(minute);
            }
        }
        minutes(&app, 5);
    }
    // An hour has passed on the app's clock: the first JWT has expired.
    let jane = login(&app, "jane@acme.com").await;
    // Quiet from the first scan (0): idle for 20 minutes at the scan at 20.
    assert_eq!(hibernated_at.get("idle"), Some(&20));
    // Quiet from the scan at 15 (its job ended at most one interval before): hibernated at 35.
    assert_eq!(hibernated_at.get("later"), Some(&35));
    assert_eq!(
        fake.terminations(&idle),
        1,
        "hibernated once, not once per scan"
    );
    assert_eq!(
        fake.terminations(&busy),
        0,
        "a running job keeps a cluster up"
    );
    assert_eq!(
        fake.terminations(&excluded),
        0,
        "excluded clusters are left alone"
    );

    assert_eq!(
        alerts_about(&app, &jane, "Idle ETL", "idle_cluster").await,
        1
    );
    assert_eq!(
        alerts_about(&app, &jane, "Excluded ETL", "idle_cluster").await,
        1
    );
    assert_eq!(
        alerts_about(&app, &jane, "Busy ETL", "idle_cluster").await,
        0
    );
    assert_eq!(
        alerts_about(&app, &jane, "Idle ETL", "cluster_hibernated").await,
        1
    );

    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    assert_eq!(actions.status, StatusCode::OK, "{}", actions.body);
    let list = actions.body["actions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", actions.body);
    for action in list {
        assert_eq!(action["action_type"], "hibernate");
        assert_eq!(action["status"], "completed");
        assert_eq!(action["platform_type"], "databricks");
        assert_eq!(action["initiator"], "monitor");
        assert!(
            action["reason"].as_str().unwrap().starts_with("Idle for"),
            "{action}"
        );
    }
    // Newest first: `later` went down after `idle`.
    assert_eq!(list[0]["cluster_id"], json!(later));
    assert_eq!(actions.body["limit"], 50);
    assert_eq!(actions.body["offset"], 0);

    let usage = get(&app, "/v1/account/usage", &jane.token).await;
    assert_eq!(
        usage.body["data"]["hibernations_triggered"], 2,
        "{}",
        usage.body
    );
    assert_eq!(
        usage.body["data"]["clusters_optimized"], 2,
        "{}",
        usage.body
    );

    let status = get(&app, "/v1/monitoring/status", &jane.token).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["enabled"], true);
    assert_eq!(status.body["platforms_connected"], 1);
    assert_eq!(status.body["clusters_monitored"], 4);
    assert_eq!(status.body["actions_last_24h"], 2);
    assert_eq!(status.body["config"]["scan_interval_minutes"], 5);
    assert_eq!(status.body["config"]["exclude_clusters"], json!([excluded]));

    // The list shows what the scanner found: quiet since the first scan, 65 minutes ago.
    let listed = get(&app, "/v1/clusters", &jane.token).await;
    let find = |id: &str| {
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|cluster| cluster["cluster_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&excluded)["state"], "idle", "{}", listed.body);
    assert_eq!(find(&excluded)["idle_minutes"], 65);
    assert_eq!(find(&busy)["state"], "running");
    assert_eq!(find(&busy)["idle_minutes"], 0);
    assert_eq!(find(&idle)["state"], "hibernated");

    // Thirteen scans, one point each; the busy cluster was running throughout.
    let metrics = get(&app, &format!("/v1/monitoring/metrics/{busy}"), &jane.token).await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.body);
    assert_eq!(metrics.body["data_points"], 13, "{}", metrics.body);
    assert_eq!(metrics.body["hours"], 24);
    let point = &metrics.body["metrics"][0];
    assert_eq!(point["status"], "running");
    assert_eq!(point["workers"], 2);
    assert_eq!(point["idle_minutes"], 0);
    assert!((point["cost_per_hour"].as_f64().unwrap() - 0.936).abs() < 1e-9);
    let idle_points = get(&app, &format!("/v1/monitoring/metrics/{idle}"), &jane.token).await;
    let statuses: Vec<&str> = idle_points.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|point| point["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        &statuses[..5],
        ["running", "running", "running", "running", "idle"]
    );
    assert!(
        statuses[5..].iter().all(|status| *status == "hibernated"),
        "{statuses:?}"
    );
    let last_hour = get(
        &app,
        &format!("/v1/monitoring/metrics/{busy}?hours=1"),
        &jane.token,
    )
    .await;
    assert_eq!(last_hour.body["data_points"], 12, "{}", last_hour.body);
}

#[tokio::test]
async fn nothing_is_touched_while_paused_and_members_can_still_act_by_hand() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let first = seed(&fake, "First");
    let second = seed(&fake, "Second");
    connect(&app, &jane, &fake).await;
    let configured = put_config(
        &app,
        &jane,
        json!({"auto_hibernate": true, "idle_threshold_minutes": 10, "scan_interval_minutes": 5}),
    )
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    let paused = post(&app, "/v1/monitoring/pause", &jane.token, json!({})).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(
        paused.body,
        json!({"message": "Monitoring paused", "enabled": false})
    );
    for _ in 0..8 {
        tick_and_scan(&app).await;
        minutes(&app, 5);
    }
    assert_eq!(fake.terminations(&first) + fake.terminations(&second), 0);
    let status = get(&app, "/v1/monitoring/status", &jane.token).await;
    assert_eq!(status.body["enabled"], false);
    assert_eq!(
        status.body["clusters_monitored"], 2,
        "paused scans still watch"
    );

    let bob = invited_member(
        &app,
        &jane,
        &slug_of(&app, &jane).await,
        "bob@acme.com",
        "member",
    )
    .await;
    let by_hand = post(
        &app,
        &format!("/v1/clusters/databricks/{first}/hibernate"),
        &bob.token,
        json!({}),
    )
    .await;
    assert_eq!(by_hand.status, StatusCode::OK, "{}", by_hand.body);

    let resumed = post(&app, "/v1/monitoring/resume", &jane.token, json!({})).await;
    assert_eq!(
        resumed.body,
        json!({"message": "Monitoring resumed", "enabled": true})
    );
    minutes(&app, 1);
    tick_and_scan(&app).await;
    assert_eq!(
        fake.terminations(&second),
        1,
        "idle all along: hibernated at the first scan after resume"
    );
    assert_eq!(
        fake.terminations(&first),
        1,
        "already down by hand; not hibernated twice"
    );
}

#[tokio::test]
async fn a_job_started_after_the_reading_stops_the_hibernation() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Nightly");
    connect(&app, &jane, &fake).await;
    put_config(
        &app,
        &jane,
        json!({"auto_hibernate": true, "idle_threshold_minutes": 10, "scan_interval_minutes": 5}),
    )
    .await;
    let org = org_of(&app, &jane).await;
    for _ in 0..2 {
        scan_org(&app.state, &org).await.unwrap();
        minutes(&app, 5);
    }
    // The next scan reads the cluster idle past the threshold; while its hibernation reads the
    // cluster (held up by the fake), a job starts.
    fake.set_latency(
        "/api/2.1/clusters/get",
        std::time::Duration::from_millis(300),
    );
    let scan = tokio::spawn({
        let state = app.state.clone();
        let org = org.clone();
        async move { scan_org(&state, &org).await.unwrap() }
    });
    while fake.calls("/api/2.1/clusters/get") == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    fake.add_run(&cluster);
    let report = scan.await.unwrap();
    assert_eq!(report.idle, 1, "the scan's reading was idle");
    assert!(report.hibernated.is_empty());
    assert_eq!(fake.terminations(&cluster), 0, "the fresh read saw the job");
    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    assert_eq!(actions.body["actions"], json!([]), "nothing was recorded");
}

#[tokio::test]
async fn two_scans_at_once_act_once_and_a_failed_hibernation_is_retried_without_doubling() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let first = seed(&fake, "First");
    let second = seed(&fake, "Second");
    connect(&app, &jane, &fake).await;
    put_config(
        &app,
        &jane,
        json!({"auto_hibernate": true, "idle_threshold_minutes": 10, "scan_interval_minutes": 5}),
    )
    .await;
    let org = org_of(&app, &jane).await;
    for _ in 0..2 {
        scan_org(&app.state, &org).await.unwrap();
        minutes(&app, 5);
    }
    let (one, two) = tokio::join!(scan_org(&app.state, &org), scan_org(&app.state, &org));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        one.hibernated.len() + two.hibernated.len(),
        2,
        "{one:?} {two:?}"
    );
    assert_eq!(fake.terminations(&first), 1);
    assert_eq!(fake.terminations(&second), 1);

    // A new cluster goes idle; its hibernation fails on every attempt the connector makes.
    let flaky = seed(&fake, "Flaky");
    for _ in 0..2 {
        minutes(&app, 5);
        scan_org(&app.state, &org).await.unwrap();
    }
    fake.fail_next("/api/2.1/clusters/delete", 4, Fault::status(500));
    minutes(&app, 5);
    let failing = scan_org(&app.state, &org).await.unwrap();
    assert_eq!(
        (failing.hibernated.len(), failing.failed),
        (0, 1),
        "{failing:?}"
    );
    assert_eq!(fake.terminations(&flaky), 0);
    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    let newest = &actions.body["actions"][0];
    assert_eq!(newest["cluster_id"], json!(flaky));
    assert_eq!(newest["status"], "failed");
    assert!(
        newest["error"]
            .as_str()
            .unwrap()
            .contains("injected failure"),
        "{newest}"
    );
    assert_eq!(alerts_about(&app, &jane, "Flaky", "action_failed").await, 1);

    fake.clear_faults();
    minutes(&app, 5);
    let retry = scan_org(&app.state, &org).await.unwrap();
    assert_eq!(retry.hibernated.len(), 1, "{retry:?}");
    minutes(&app, 5);
    let after = scan_org(&app.state, &org).await.unwrap();
    assert!(
        after.hibernated.is_empty() && after.failed == 0,
        "{after:?}"
    );
    assert_eq!(fake.terminations(&flaky), 1);
    assert_eq!(fake.terminations(&first), 1);
    let actions = get(
        &app,
        "/v1/monitoring/actions?action_type=hibernate",
        &jane.token,
    )
    .await;
    let statuses: Vec<&str> = actions.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "failed", "completed", "completed"]);
}

#[tokio::test]
async fn savings_are_hourly_cost_times_hours_hibernated() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Reports");
    connect(&app, &jane, &fake).await;
    let path = format!("/v1/clusters/databricks/{cluster}");
    assert_eq!(
        post(&app, &format!("{path}/hibernate"), &jane.token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(Duration::hours(3));
    let jane = login(&app, "jane@acme.com").await;
    assert_eq!(
        post(&app, &format!("{path}/resume"), &jane.token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(Duration::hours(2));
    let jane = login(&app, "jane@acme.com").await;
    // The fake brings the cluster up on the next request.
    get(&app, &path, &jane.token).await;
    assert_eq!(
        post(&app, &format!("{path}/hibernate"), &jane.token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    app.clock.advance(Duration::minutes(90));
    let jane = login(&app, "jane@acme.com").await;

    // 3 h + 1.5 h (still down) at 3 × i3.xlarge = 0.936 USD/h.
    let savings = get(&app, "/v1/account/savings", &jane.token).await;
    assert_eq!(savings.status, StatusCode::OK, "{}", savings.body);
    assert_eq!(savings.body["data"]["total_saved_usd"], json!(4.21));
    assert_eq!(savings.body["data"]["idle_hours_eliminated"], json!(4.5));
    // Water: 3 nodes × 0.020436 kWh × 0.12 L/kWh / 3.785411784 L/gal per hour, × 4.5 h.
    let water: f64 = 3.0 * 0.020436 * 0.12 / 3.785411784 * 4.5;
    let reported = savings.body["data"]["water_saved_gallons"]
        .as_f64()
        .unwrap();
    assert!(
        (reported - (water * 100.0).round() / 100.0).abs() < 1e-9,
        "{reported} vs {water}"
    );

    let actions = get(
        &app,
        "/v1/monitoring/actions?action_type=hibernate",
        &jane.token,
    )
    .await;
    let saved: Vec<f64> = actions.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["savings_usd"].as_f64().unwrap())
        .collect();
    assert_eq!(saved, vec![1.4, 2.81], "newest first: 1.5 h then 3 h");
    let resumes = get(
        &app,
        "/v1/monitoring/actions?action_type=resume",
        &jane.token,
    )
    .await;
    assert_eq!(resumes.body["actions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn analyze_reads_and_optimize_dry_run_changes_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let idle = seed(&fake, "Idle");
    let busy = seed(&fake, "Busy");
    fake.add_run(&busy);
    connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    for _ in 0..5 {
        scan_org(&app.state, &org).await.unwrap();
        minutes(&app, 10);
    }
    // Idle for 40 minutes by the last scan, 50 by now; auto_hibernate is off by default.
    let analysis = post(&app, "/v1/clusters/analyze", &jane.token, json!({})).await;
    assert_eq!(analysis.status, StatusCode::OK, "{}", analysis.body);
    let data = &analysis.body["data"];
    assert_eq!(data["total_clusters"], 2);
    assert_eq!(data["idle_clusters"], 1);
    assert_eq!(data["recommendations"], 1);
    // Idle in 2 of the 5 scans and now: share 3/6, × 0.936 × 730.
    let expected = ((0.936 * 730.0 * 0.5) * 100.0_f64).round() / 100.0;
    assert_eq!(data["potential_savings_monthly"], json!(expected), "{data}");

    let calls_before = fake.calls("/api/2.1/clusters/delete");
    let preview = post(
        &app,
        "/v1/clusters/optimize",
        &jane.token,
        json!({"idle_threshold_minutes": 45, "dry_run": true}),
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(preview.body["data"]["dry_run"], true);
    let planned = preview.body["data"]["actions"].as_array().unwrap();
    assert_eq!(planned.len(), 1, "{}", preview.body);
    assert_eq!(planned[0]["cluster"], json!(idle));
    assert_eq!(planned[0]["action"], "hibernate");
    assert_eq!(planned[0]["reason"], "Idle 50 min");
    assert_eq!(preview.body["data"]["total_hourly_savings"], json!(0.936));
    assert_eq!(fake.calls("/api/2.1/clusters/delete"), calls_before);
    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    assert_eq!(actions.body["actions"], json!([]));
    let usage = get(&app, "/v1/account/usage", &jane.token).await;
    assert_eq!(usage.body["data"]["hibernations_triggered"], 0);

    let strict = post(
        &app,
        "/v1/clusters/optimize",
        &jane.token,
        json!({"idle_threshold_minutes": 60, "dry_run": true}),
    )
    .await;
    assert_eq!(strict.body["data"]["actions"], json!([]));

    let done = post(
        &app,
        "/v1/clusters/optimize",
        &jane.token,
        json!({"idle_threshold_minutes": 45}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["data"]["dry_run"], false);
    assert_eq!(done.body["data"]["actions"][0]["status"], "completed");
    assert_eq!(fake.terminations(&idle), 1);
    assert_eq!(fake.terminations(&busy), 0);
    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    assert_eq!(actions.body["actions"][0]["initiator"], "user");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Known");
    connect(&app, &jane, &fake).await;
    let before = get(&app, "/v1/monitoring/status", &jane.token).await.body["config"].clone();
    for (body, field) in [
        (json!({"scan_interval_minutes": 0}), "scan_interval_minutes"),
        (
            json!({"scan_interval_minutes": -1}),
            "scan_interval_minutes",
        ),
        (json!({"idle_threshold_pct": -5}), "idle_threshold_pct"),
        (json!({"idle_threshold_pct": 101}), "idle_threshold_pct"),
        (
            json!({"idle_threshold_minutes": -10}),
            "idle_threshold_minutes",
        ),
        (
            json!({"idle_threshold_minutes": 0}),
            "idle_threshold_minutes",
        ),
        (
            json!({"auto_hibernate": true, "exclude_clusters": ["no-such-cluster"]}),
            "exclude_clusters[0]",
        ),
        (json!({"auto_hibernate": "yes"}), "auto_hibernate"),
        (
            json!({"auto_hibernate": true, "scan_every": 5}),
            "scan_every",
        ),
    ] {
        let reply = put_config(&app, &jane, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().contains(field),
            "{body}: {}",
            reply.body
        );
    }
    minutes(&app, 1);
    assert_eq!(
        get(&app, "/v1/monitoring/status", &jane.token).await.body["config"],
        before
    );
    let ok = put_config(&app, &jane, json!({"exclude_clusters": [cluster]})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    for path in [
        "/v1/monitoring/actions?limit=0",
        "/v1/monitoring/actions?limit=201",
        "/v1/monitoring/actions?offset=-1",
        "/v1/monitoring/actions?action_type=delete",
        "/v1/monitoring/actions?action_type=",
        "/v1/monitoring/metrics/abc?hours=0",
        "/v1/monitoring/metrics/abc?hours=169",
        "/v1/monitoring/metrics/abc?hours=two",
    ] {
        get(&app, path, &jane.token)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let boundary = get(
        &app,
        "/v1/monitoring/actions?limit=200&offset=0&action_type=rightsize",
        &jane.token,
    )
    .await;
    assert_eq!(boundary.status, StatusCode::OK, "{}", boundary.body);
    assert_eq!(boundary.body["limit"], 200);
    get(&app, "/v1/monitoring/metrics/no-such-cluster", &jane.token)
        .await
        .assert_error(404, "NOT_FOUND");

    minutes(&app, 1);
    for body in [
        json!({"idle_threshold_minutes": 0}),
        json!({"idle_threshold_minutes": -5}),
        json!({"idle_threshold_minutes": 2.5}),
        json!({"dry_run": "no"}),
    ] {
        post(&app, "/v1/clusters/optimize", &jane.token, body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn roles_and_tenancy() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Jane's");
    connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    scan_org(&app.state, &org).await.unwrap();
    let viewer = invited_member(
        &app,
        &jane,
        &slug_of(&app, &jane).await,
        "vic@acme.com",
        "viewer",
    )
    .await;
    let member = invited_member(
        &app,
        &jane,
        &slug_of(&app, &jane).await,
        "mel@acme.com",
        "member",
    )
    .await;
    minutes(&app, 1);

    for path in [
        "/v1/monitoring/status",
        "/v1/monitoring/actions",
        &format!("/v1/monitoring/metrics/{cluster}"),
    ] {
        assert_eq!(
            get(&app, path, &viewer.token).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    for session in [&viewer, &member] {
        put_config(&app, session, json!({"auto_hibernate": true}))
            .await
            .assert_error(403, "FORBIDDEN");
        post(&app, "/v1/monitoring/pause", &session.token, json!({}))
            .await
            .assert_error(403, "FORBIDDEN");
        post(&app, "/v1/monitoring/resume", &session.token, json!({}))
            .await
            .assert_error(403, "FORBIDDEN");
    }
    post(&app, "/v1/clusters/analyze", &viewer.token, json!({}))
        .await
        .assert_error(403, "FORBIDDEN");
    post(
        &app,
        "/v1/clusters/optimize",
        &viewer.token,
        json!({"dry_run": true}),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    assert_eq!(
        post(&app, "/v1/clusters/analyze", &member.token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        post(
            &app,
            "/v1/clusters/optimize",
            &member.token,
            json!({"dry_run": true})
        )
        .await
        .status,
        StatusCode::OK
    );
    let status = get(&app, "/v1/monitoring/status", &jane.token).await;
    assert_eq!(
        status.body["config"]["auto_hibernate"], false,
        "refused changes left nothing"
    );

    // Another org sees none of it.
    let other = app.signed_up("omar@other.com").await;
    get(
        &app,
        &format!("/v1/monitoring/metrics/{cluster}"),
        &other.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let theirs = get(&app, "/v1/monitoring/status", &other.token).await;
    assert_eq!(theirs.body["clusters_monitored"], 0);
    assert_eq!(theirs.body["platforms_connected"], 0);
    put_config(&app, &other, json!({"exclude_clusters": [cluster]}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let paused = post(&app, "/v1/monitoring/pause", &other.token, json!({})).await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/v1/monitoring/status", &jane.token).await.body["enabled"],
        true,
        "a pause is per org"
    );
    post(
        &app,
        &format!("/v1/clusters/databricks/{cluster}/hibernate"),
        &jane.token,
        json!({}),
    )
    .await;
    assert_eq!(
        get(&app, "/v1/monitoring/actions", &other.token).await.body["actions"],
        json!([])
    );
    let analysis = post(&app, "/v1/clusters/analyze", &other.token, json!({})).await;
    assert_eq!(analysis.body["data"]["total_clusters"], 0);
}

#[tokio::test]
async fn the_scanner_runs_the_same_on_dynamodb() {
    let app = crate::helpers::spawn_app_on_moto().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let idle = seed(&fake, "Idle on Dynamo");
    let busy = seed(&fake, "Busy on Dynamo");
    fake.add_run(&busy);
    connect(&app, &jane, &fake).await;
    let configured = put_config(
        &app,
        &jane,
        json!({"auto_hibernate": true, "idle_threshold_minutes": 10, "scan_interval_minutes": 5}),
    )
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    for step in 0..3 {
        let reports = tick_and_scan(&app).await;
        assert_eq!(reports.len(), 1, "due through the index at step {step}");
        // Not due again until the interval has passed.
        assert!(tick_and_scan(&app).await.is_empty());
        minutes(&app, 5);
    }
    assert_eq!(fake.terminations(&idle), 1);
    assert_eq!(fake.terminations(&busy), 0);
    let metrics = get(&app, &format!("/v1/monitoring/metrics/{busy}"), &jane.token).await;
    assert_eq!(metrics.body["data_points"], 3, "{}", metrics.body);
    let status = get(&app, "/v1/monitoring/status", &jane.token).await;
    assert_eq!(status.body["clusters_monitored"], 2);
    assert_eq!(status.body["actions_last_24h"], 1);
    assert_eq!(
        alerts_about(&app, &jane, "Idle on Dynamo", "idle_cluster").await,
        1
    );
}

#[tokio::test]
async fn the_local_runner_ticks_and_scans_by_itself() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    seed(&fake, "Watched");
    connect(&app, &jane, &fake).await;
    let runner =
        dtap_shared::monitor::local::spawn(app.state.clone(), std::time::Duration::from_millis(20));
    let org = org_of(&app, &jane).await;
    let store = app.state.store.clone();
    let mut scanned = false;
    // Read the store, not the API: polling the API would run into the org's rate limit.
    for _ in 0..500 {
        let monitor = dtap_shared::store::repos::monitors::get(store.as_ref(), &org)
            .await
            .unwrap();
        if monitor.is_some_and(|monitor| monitor.last_scan_at.is_some()) {
            scanned = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    runner.abort();
    assert!(
        scanned,
        "the in-process ticker dispatched a scan and it ran"
    );
}

#[tokio::test]
async fn an_action_abandoned_midway_is_given_back_by_the_next_scan() {
    use dtap_shared::clock::Clock;
    use dtap_shared::domain::ids::{ActionId, PlatformId};
    use dtap_shared::domain::platform::PlatformKind;
    use dtap_shared::store::repos::actions::{self, ActionRecord, ActionStatus, ActionType};
    use dtap_shared::store::repos::clusters::{self as managed, ClusterRecord, ManagedState};

    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Orphaned");
    let platform = PlatformId::parse(&connect(&app, &jane, &fake).await).unwrap();
    let org = org_of(&app, &jane).await;
    let store = app.state.store.as_ref();
    // What a process that died between its claim and the platform's answer leaves behind.
    let now = app.clock.now();
    let claim = ClusterRecord {
        org_id: org.clone(),
        platform_id: platform.clone(),
        kind: PlatformKind::Databricks,
        cluster_id: cluster.clone(),
        current_cluster_id: cluster.clone(),
        name: "Orphaned".into(),
        state: ManagedState::Hibernating,
        snapshot: None,
        hibernation_action: None,
        rates: None,
        hibernated_at: None,
        resumed_at: None,
        updated_at: now,
    };
    managed::transition(store, &claim, None).await.unwrap();
    let pending = ActionRecord {
        id: ActionId::generate(),
        org_id: org.clone(),
        platform_id: platform.to_string(),
        cluster_id: cluster.clone(),
        action_type: ActionType::Hibernate,
        status: ActionStatus::Pending,
        created_at: now,
        completed_at: None,
        rates: None,
        resumed_at: None,
        requested_by: None,
        reason: Some("manual".into()),
        error: None,
        initiator: Some("user".into()),
    };
    actions::create(store, &pending).await.unwrap();
    let path = format!("/v1/clusters/databricks/{cluster}/hibernate");
    post(&app, &path, &jane.token, json!({}))
        .await
        .assert_error(409, "CONFLICT");

    // Too recent to be abandoned: left alone.
    minutes(&app, 5);
    scan_org(&app.state, &org).await.unwrap();
    assert!(
        managed::get(store, &org, &platform, &cluster)
            .await
            .unwrap()
            .is_some()
    );

    minutes(&app, 11);
    scan_org(&app.state, &org).await.unwrap();
    assert!(
        managed::get(store, &org, &platform, &cluster)
            .await
            .unwrap()
            .is_none()
    );
    let swept = actions::get(store, &org, &pending.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(swept.status, ActionStatus::Failed);
    assert!(swept.error.unwrap().contains("interrupted"));
    let retried = post(&app, &path, &jane.token, json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(fake.terminations(&cluster), 1);
}

#[tokio::test]
async fn a_schedule_run_left_running_is_settled_by_a_later_scan() {
    use dtap_shared::clock::Clock;
    use dtap_shared::domain::ids::ScheduleId;
    use dtap_shared::store::repos::executions::{self, ExecutionRecord, ExecutionStatus, Trigger};

    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Nightly");
    connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    scan_org(&app.state, &org).await.unwrap();
    let created = post(
        &app,
        "/v1/schedules",
        &jane.token,
        json!({"name": "Night", "type": "time", "cron": "0 22 * * *", "cluster_ids": [cluster],
               "action": "hibernate"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let schedule = ScheduleId::parse(created.body["data"]["id"].as_str().unwrap()).unwrap();
    // What a runner that died midway leaves behind.
    let stuck = ExecutionRecord::new(
        &org,
        &schedule,
        Trigger::Manual,
        ExecutionStatus::Running,
        app.clock.now(),
    );
    let store = app.state.store.as_ref();
    executions::create(store, &stuck).await.unwrap();

    minutes(&app, 30);
    scan_org(&app.state, &org).await.unwrap();
    let run = executions::get(store, &org, &schedule, &stuck.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        run.status,
        ExecutionStatus::Running,
        "too recent to be abandoned"
    );

    minutes(&app, 31);
    scan_org(&app.state, &org).await.unwrap();
    let run = executions::get(store, &org, &schedule, &stuck.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    assert!(run.reason.unwrap().contains("interrupted"));
    assert!(run.finished_at.is_some());
}

#[tokio::test]
async fn a_scan_lists_a_workspaces_active_runs_once_not_once_per_cluster() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let clusters: Vec<String> = (0..6).map(|n| seed(&fake, &format!("ETL {n}"))).collect();
    fake.add_run(&clusters[1]);
    fake.add_run(&clusters[1]);
    fake.add_run(&clusters[4]);
    connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    fake.reset_calls();
    scan_org(&app.state, &org).await.unwrap();
    assert_eq!(fake.calls("/api/2.2/jobs/runs/list"), 1);
    let active: Vec<u64> = futures::future::join_all(clusters.iter().map(|id| {
        let app = &app;
        let jane = &jane;
        async move {
            let metrics = get(app, &format!("/v1/monitoring/metrics/{id}"), &jane.token).await;
            metrics.body["metrics"][0]["active_work"].as_u64().unwrap()
        }
    }))
    .await;
    assert_eq!(
        active,
        vec![0, 2, 0, 0, 1, 0],
        "each cluster gets its own runs"
    );
}
