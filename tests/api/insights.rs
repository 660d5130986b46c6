//! Insights, right-sizing, predictions and recommendations over a known week of readings written
//! straight into the metrics history (not hundreds of scans), on a fake Databricks workspace
//! whose clusters give the node types: every figure is checked against its hand computation.
//! Also: too little history says so, tenancy, and the automation (`auto_rightsize`,
//! `auto_spot_failover`) with its guards: pause, exclusions, running clusters, the dry run.

use chrono::{DateTime, Duration, Timelike, Utc};
use dtap_fakes::FakeDatabricks;
use dtap_shared::clock::Clock;
use dtap_shared::domain::idle::Watch;
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::insights;
use dtap_shared::monitor::{observe_org, rule_of};
use dtap_shared::store::repos::actions::{self, ActionStatus, ActionType};
use dtap_shared::store::repos::metrics::{self, MetricPoint};
use dtap_shared::store::repos::watches::{self, WatchRecord};
use dtap_shared::store::repos::{monitors, orgs};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, call, get, post, spawn_app};

/// The app's clock on the next whole hour (within the hour of real time, which the fake's event
/// timestamps follow), so the readings' hours of the day are whole.
fn on_the_hour(app: &TestApp) -> DateTime<Utc> {
    let now = app.clock.now();
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
        + Duration::hours(1);
    app.clock.set(hour);
    hour
}

async fn connect(app: &TestApp, session: &Session, fake: &FakeDatabricks) -> PlatformId {
    let reply = post(
        app,
        "/v1/platforms",
        &session.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    PlatformId::parse(reply.body["data"]["id"].as_str().unwrap()).unwrap()
}

async fn org_of(app: &TestApp, session: &Session) -> OrgId {
    let listed = get(app, "/v1/orgs", &session.token).await;
    let slug = listed.body["data"][0]["slug"].as_str().unwrap().to_owned();
    orgs::find_by_slug(
        app.state.store.as_ref(),
        &OrgSlug::parse("slug", &slug).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id
}

fn seed(fake: &FakeDatabricks, name: &str, extra: Value) -> String {
    let mut spec = json!({
        "cluster_name": name,
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.2xlarge",
        "num_workers": 4,
        "aws_attributes": {"zone_id": "us-east-1a"},
    });
    if let (Value::Object(spec), Value::Object(extra)) = (&mut spec, extra) {
        spec.extend(extra);
    }
    fake.add_cluster(spec)
}

type Shape = fn(u32) -> (&'static str, u32, Option<f64>, Option<f64>);

/// A watch record and a reading every 10 minutes for `days` days up to `now` (exclusive), each
/// from `shape(hour of day)`: (status, active work, CPU %, memory %); 4 workers at $3.12/h
/// (5 × i3.2xlarge at $0.624) while up.
async fn history(
    app: &TestApp,
    (org, platform): (&OrgId, &PlatformId),
    cluster_id: &str,
    name: &str,
    now: DateTime<Utc>,
    days: i64,
    shape: Shape,
) {
    let store = app.state.store.as_ref();
    watches::put(
        store,
        &WatchRecord {
            org_id: org.clone(),
            platform_id: platform.clone(),
            kind: PlatformKind::Databricks,
            cluster_id: cluster_id.to_owned(),
            name: name.to_owned(),
            watch: Watch::default(),
            last_seen_at: now,
            status: "running".to_owned(),
        },
    )
    .await
    .unwrap();
    let start = now - Duration::days(days);
    for step in 0..days * 144 {
        let at = start + Duration::minutes(10 * step);
        let (status, active_work, cpu, memory) = shape(at.hour());
        let up = matches!(status, "running" | "idle");
        let point = MetricPoint {
            timestamp: at,
            cpu_util: cpu,
            memory_util: memory,
            workers: if up { 4 } else { 0 },
            idle_minutes: 0,
            cost_per_hour: Some(if up { 3.12 } else { 0.0 }),
            status: status.to_owned(),
            active_work,
            platform_id: None,
        };
        metrics::record(store, org, platform, cluster_id, &point)
            .await
            .unwrap();
    }
}

/// Idle (CPU 5%, no jobs) 00-06, busy 06-24 at CPU 10% (30% 20-22), memory 20% (30% 20-22).
fn etl_week(hour: u32) -> (&'static str, u32, Option<f64>, Option<f64>) {
    match hour {
        0..6 => ("idle", 0, Some(5.0), Some(20.0)),
        20..22 => ("running", 1, Some(30.0), Some(30.0)),
        _ => ("running", 1, Some(10.0), Some(20.0)),
    }
}

fn close(actual: &Value, expected: f64) {
    let value = actual
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {actual}"));
    assert!((value - expected).abs() < 1e-6, "{value} != {expected}");
}

#[tokio::test]
async fn insights_figures_equal_their_hand_computation_for_a_known_week() {
    let app = spawn_app().await;
    let now = on_the_hour(&app);
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "Prod ETL", json!({}));
    let fresh = seed(&fake, "New cluster", json!({}));
    let platform = connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    history(&app, (&org, &platform), &etl, "Prod ETL", now, 7, etl_week).await;
    history(
        &app,
        (&org, &platform),
        &fresh,
        "New cluster",
        now,
        1,
        etl_week,
    )
    .await;

    // Right-sizing. 1008 readings, 84 (8.3%) at the 20-22 peak: p95 CPU 30%, memory 30%. Needs
    // 0.3 × 8 = 2.4 vCPU and 0.3 × 61 = 18.3 GiB; i3.xlarge (70% of 4 vCPU = 2.8, of 30.5 GiB
    // = 21.35) is the cheapest fit. Mean CPU (5 × 6 + 10 × 16 + 30 × 2) / 24 = 10.42% → 0.10.
    // Saving (0.624 − 0.312) × 5 nodes × 730 h (up all week) = 1138.80.
    let sizing = get(&app, "/v1/insights/rightsizing", &jane.token).await;
    assert_eq!(sizing.status, StatusCode::OK, "{}", sizing.body);
    let rows = sizing.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["cluster_id"], etl.as_str());
    assert_eq!(rows[0]["current_type"], "i3.2xlarge");
    assert_eq!(rows[0]["recommended_type"], "i3.xlarge");
    close(&rows[0]["avg_cpu_utilization"], 0.10);
    close(&rows[0]["p95_cpu_pct"], 30.0);
    close(&rows[0]["savings_monthly"], 1138.80);
    assert_eq!(rows[1]["cluster_id"], fresh.as_str());
    assert_eq!(rows[1]["recommended_type"], Value::Null);
    close(&rows[1]["savings_monthly"], 0.0);
    assert!(
        rows[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("too little history: 24.0 of the 48"),
        "{}",
        rows[1]
    );

    // Insights. Idle 6 h/day × 7 × $3.12 = $131.04 over 168 h → × 730/168 = $569.40 a month;
    // spend 168 h × $3.12 → $2,277.60. Score 100 × (1 − (569.40 + 1138.80) / 2277.60) = 25.
    let insights = get(&app, "/v1/insights", &jane.token).await;
    assert_eq!(insights.status, StatusCode::OK, "{}", insights.body);
    let data = &insights.body["data"];
    close(&data["total_waste_monthly"], 569.40);
    close(&data["spend_monthly"], 2277.60);
    assert_eq!(data["optimization_score"], 25);
    assert_eq!(
        data["top_opportunity"],
        "Right-size Prod ETL from i3.2xlarge to i3.xlarge to save $1,139/mo"
    );
    assert_eq!(data["clusters_analyzed"], 1);
    assert_eq!(data["clusters_without_enough_history"], 1);

    // Predictions from the next whole hour (now, on the hour): busy 06-24 every day → mean
    // 18/24 = 0.75 → high; every day alike and a full week → confidence 1; the first busy hour
    // of the horizon is the peak (ties keep the earliest).
    let predictions = get(&app, "/v1/clusters/predictions", &jane.token).await;
    assert_eq!(predictions.status, StatusCode::OK, "{}", predictions.body);
    assert_eq!(predictions.body["data"]["horizon"], "24h");
    let list = predictions.body["data"]["predictions"].as_array().unwrap();
    let etl_prediction = list
        .iter()
        .find(|p| p["cluster_id"] == etl.as_str())
        .unwrap();
    assert_eq!(etl_prediction["predicted_usage"], "high");
    close(&etl_prediction["confidence"], 1.0);
    let first_busy = if now.hour() >= 6 { now.hour() } else { 6 };
    assert_eq!(etl_prediction["peak_hour"], first_busy);
    close(&etl_prediction["expected_busy_hours"], 18.0);
    let fresh_prediction = list
        .iter()
        .find(|p| p["cluster_id"] == fresh.as_str())
        .unwrap();
    assert_eq!(fresh_prediction["predicted_usage"], Value::Null);
    close(&fresh_prediction["confidence"], 0.0);
    assert_eq!(fresh_prediction["peak_hour"], Value::Null);
    assert!(
        fresh_prediction["reason"]
            .as_str()
            .unwrap()
            .starts_with("too little history")
    );

    // Recommendations. Downsize: p95 load 0.3 × 4 = 1.2 workers → ceil(1.2 / 0.7) = 2; 2 fewer
    // × $0.624 × 730 = $911.04. Auto-termination: the idle $569.40. Schedule: 00-06 never busy,
    // up there 6 h a day: $131.04 in the week → $569.40. Workers never change: no spot mix.
    let recommended = get(
        &app,
        &format!("/v1/clusters/databricks/{etl}/recommendations"),
        &jane.token,
    )
    .await;
    assert_eq!(recommended.status, StatusCode::OK, "{}", recommended.body);
    let recs = recommended.body["data"].as_array().unwrap();
    let kinds: Vec<&str> = recs.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["downsize", "auto_termination", "schedule"]);
    assert!(
        recs[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("Reduce from 4 to 2 workers")
    );
    close(&recs[0]["savings_monthly"], 911.04);
    close(&recs[1]["savings_monthly"], 569.40);
    assert!(
        recs[1]["detail"]
            .as_str()
            .unwrap()
            .contains("42.0 hours over the last 7.0 days")
    );
    close(&recs[2]["savings_monthly"], 569.40);
    assert_eq!(recs[2]["hibernate_cron"], "0 0 * * *");
    assert_eq!(recs[2]["resume_cron"], "0 6 * * *");
    // By platform id too.
    let by_id = get(
        &app,
        &format!("/v1/clusters/{platform}/{etl}/recommendations"),
        &jane.token,
    )
    .await;
    assert_eq!(by_id.body["data"], recommended.body["data"]);

    // Too little history: nothing recommended, and the answer says why.
    let young = get(
        &app,
        &format!("/v1/clusters/databricks/{fresh}/recommendations"),
        &jane.token,
    )
    .await;
    assert_eq!(young.status, StatusCode::OK, "{}", young.body);
    assert_eq!(young.body["data"], json!([]));
    assert!(
        young.body["meta"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("too little history")
    );
    close(&young.body["meta"]["history_hours"], 24.0);
}

#[tokio::test]
async fn recommendations_are_404_for_unknown_or_foreign_clusters_and_400_for_bad_ids() {
    let app = spawn_app().await;
    let now = on_the_hour(&app);
    let jane = app.signed_up("jane@acme.com").await;
    let bob = app.signed_up("bob@other.com").await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "Prod ETL", json!({}));
    let platform = connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    history(&app, (&org, &platform), &etl, "Prod ETL", now, 3, etl_week).await;
    let path = format!("/v1/clusters/databricks/{etl}/recommendations");
    assert_eq!(get(&app, &path, &jane.token).await.status, StatusCode::OK);
    get(&app, &path, &bob.token)
        .await
        .assert_error(404, "NOT_FOUND");
    get(
        &app,
        "/v1/clusters/databricks/no-such/recommendations",
        &jane.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    get(
        &app,
        &format!("/v1/clusters/emr/{etl}/recommendations"),
        &jane.token,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    get(
        &app,
        "/v1/clusters/databricks/bad%20id/recommendations",
        &jane.token,
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    // Another org sees none of it.
    let theirs = get(&app, "/v1/insights/rightsizing", &bob.token).await;
    assert_eq!(theirs.body["data"], json!([]));
    let insights = get(&app, "/v1/insights", &bob.token).await;
    assert_eq!(insights.body["data"]["optimization_score"], Value::Null);
    assert!(
        insights.body["data"]["top_opportunity"]
            .as_str()
            .unwrap()
            .starts_with("Not enough history yet")
    );
    let predictions = get(&app, "/v1/clusters/predictions", &bob.token).await;
    assert_eq!(predictions.body["data"]["predictions"], json!([]));
}

/// CPU 10% and memory 20% all week, running with jobs: right-sizing i3.2xlarge → i3.large would
/// need 0.1 × 8 = 0.8 vCPU (≤ 1.4) and 0.2 × 61 = 12.2 GiB (> 0.7 × 15.25 = 10.7): i3.xlarge.
fn quiet_week(_: u32) -> (&'static str, u32, Option<f64>, Option<f64>) {
    ("running", 1, Some(10.0), Some(20.0))
}

#[tokio::test]
async fn automation_rightsizes_and_falls_back_from_spot_only_where_it_may() {
    let app = spawn_app().await;
    let now = on_the_hour(&app);
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let stopped = seed(&fake, "Stopped", json!({"state": "TERMINATED"}));
    let running = seed(&fake, "Running", json!({}));
    let excluded = seed(&fake, "Excluded", json!({"state": "TERMINATED"}));
    let spot = seed(
        &fake,
        "Spot",
        json!({"state": "TERMINATED", "node_type_id": "i3.large",
               "aws_attributes": {"zone_id": "us-east-1a", "availability": "SPOT"}}),
    );
    let now_ms = now.timestamp_millis().min(Utc::now().timestamp_millis());
    fake.add_event(&spot, now_ms - 3_600_000, "NODES_LOST");
    let platform = connect(&app, &jane, &fake).await;
    let org = org_of(&app, &jane).await;
    for (id, name) in [
        (&stopped, "Stopped"),
        (&running, "Running"),
        (&excluded, "Excluded"),
    ] {
        history(&app, (&org, &platform), id, name, now, 7, quiet_week).await;
    }
    let configured = call(
        &app,
        Method::PUT,
        "/v1/monitoring/config",
        &jane.token,
        Some(json!({"auto_rightsize": true, "auto_spot_failover": true,
                    "exclude_clusters": [excluded]})),
    )
    .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);

    let store = app.state.store.as_ref();
    let monitor = monitors::get(store, &org).await.unwrap().unwrap();
    let observation = observe_org(&app.state, &org, &rule_of(&monitor.config))
        .await
        .unwrap();

    // The dry run: what would happen, and nothing happens.
    let planned = insights::plan(&app.state, &org, &observation, &monitor)
        .await
        .unwrap();
    let summary: Vec<(String, ActionType, bool)> = planned
        .iter()
        .map(|p| (p.cluster_id.clone(), p.action, p.refused.is_none()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (stopped.clone(), ActionType::Rightsize, true),
            (running.clone(), ActionType::Rightsize, false),
            (spot.clone(), ActionType::SpotFailover, true),
        ]
    );
    assert!(
        planned[1]
            .refused
            .as_deref()
            .unwrap()
            .contains("restarts a running")
    );
    assert_eq!(fake.edits(&stopped) + fake.edits(&spot), 0);
    let mut recorded = Vec::new();
    actions::for_each(store, &org, |action| recorded.push(action))
        .await
        .unwrap();
    assert!(recorded.is_empty());

    // Paused: nothing at all.
    let paused = post(&app, "/v1/monitoring/pause", &jane.token, json!({})).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    let monitor = monitors::get(store, &org).await.unwrap().unwrap();
    let report = insights::automate(&app.state, &org, &observation, &monitor)
        .await
        .unwrap();
    assert!(report.planned.is_empty() && report.acted.is_empty());
    assert_eq!(fake.edits(&stopped), 0);
    post(&app, "/v1/monitoring/resume", &jane.token, json!({})).await;

    // On: the terminated clusters are edited through the action path; the running one is not.
    let monitor = monitors::get(store, &org).await.unwrap().unwrap();
    let report = insights::automate(&app.state, &org, &observation, &monitor)
        .await
        .unwrap();
    assert_eq!((report.acted.len(), report.failed), (2, 0));
    let edited = fake.cluster(&stopped).unwrap();
    assert_eq!(edited["node_type_id"], "i3.xlarge");
    assert_eq!(edited["driver_node_type_id"], "i3.xlarge");
    assert_eq!(edited["state"], "TERMINATED");
    assert_eq!(
        fake.cluster(&spot).unwrap()["aws_attributes"]["availability"],
        "SPOT_WITH_FALLBACK"
    );
    assert_eq!(fake.edits(&running), 0);
    assert_eq!(fake.edits(&excluded), 0);
    assert_eq!(
        fake.cluster(&running).unwrap()["node_type_id"],
        "i3.2xlarge"
    );
    let mut recorded = Vec::new();
    actions::for_each(store, &org, |action| recorded.push(action))
        .await
        .unwrap();
    let mut kinds: Vec<(String, ActionType, ActionStatus)> = recorded
        .iter()
        .map(|a| (a.cluster_id.clone(), a.action_type, a.status))
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (
            stopped.clone(),
            ActionType::Rightsize,
            ActionStatus::Completed,
        ),
        (
            spot.clone(),
            ActionType::SpotFailover,
            ActionStatus::Completed,
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(kinds, expected);
    assert!(
        recorded
            .iter()
            .all(|a| a.initiator.as_deref() == Some("monitor"))
    );
    // The feed shows them under their types.
    let feed = get(
        &app,
        "/v1/monitoring/actions?action_type=rightsize",
        &jane.token,
    )
    .await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
}
