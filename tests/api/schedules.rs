//! Schedules end to end on fake Databricks workspaces with the app's clock under the test's
//! control: the documentation's Night Hibernate (`0 22 * * 1-5`) in New York across the spring
//! DST change, a resume schedule, disabled and deleted schedules, the grace period, pause and
//! exclusions against manual runs, idle and cost rules run by the scanner, bad input, tenancy,
//! and the same on DynamoDB.

use std::sync::Mutex;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use dtap_fakes::{FakeDatabricks, Fault};
use dtap_shared::clock::Clock;
use dtap_shared::domain::ids::OrgId;
use dtap_shared::monitor::dispatch::{ScanDispatcher, ScheduleDispatcher, ScheduleRun};
use dtap_shared::monitor::{scan_org, tick};
use dtap_shared::schedules::{ScheduleTickReport, run_execution, tick_schedules};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Reply, Session, TestApp, call, connect_databricks as connect, get, invited_member, login, post,
    seed_cluster as seed, spawn_app, spawn_app_on_moto,
};

/// Collects what a tick hands out, so the test carries the runs out itself.
#[derive(Default)]
struct Collect {
    runs: Mutex<Vec<ScheduleRun>>,
    orgs: Mutex<Vec<OrgId>>,
}

#[async_trait]
impl ScheduleDispatcher for Collect {
    async fn dispatch_runs(&self, runs: Vec<ScheduleRun>) -> anyhow::Result<()> {
        self.runs.lock().unwrap().extend(runs);
        Ok(())
    }
}

#[async_trait]
impl ScanDispatcher for Collect {
    async fn dispatch(&self, orgs: Vec<OrgId>) -> anyhow::Result<()> {
        self.orgs.lock().unwrap().extend(orgs);
        Ok(())
    }
}

/// One schedule tick at the app's time, and the runs it started, carried out as the runner does.
async fn tick_and_run(app: &TestApp) -> (ScheduleTickReport, Vec<Value>) {
    let collected = Collect::default();
    let report = tick_schedules(app.state.store.as_ref(), app.clock.now(), &collected)
        .await
        .unwrap();
    let runs = collected.runs.lock().unwrap().clone();
    let mut done = Vec::new();
    for run in runs {
        let execution = run_execution(&app.state, &run).await.unwrap().unwrap();
        done.push(serde_json::to_value(&execution).unwrap());
    }
    (report, done)
}

/// One monitoring tick and the scans it dispatched (where idle and cost rules are evaluated).
async fn tick_and_scan(app: &TestApp) -> usize {
    let collected = Collect::default();
    tick(app.state.store.as_ref(), app.clock.now(), &collected)
        .await
        .unwrap();
    let orgs = collected.orgs.lock().unwrap().clone();
    let mut runs = 0;
    for org in orgs {
        runs += scan_org(&app.state, &org)
            .await
            .unwrap()
            .schedule_runs
            .len();
    }
    runs
}

async fn create(app: &TestApp, session: &Session, body: Value) -> String {
    let reply = post(app, "/v1/schedules", &session.token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn schedule(app: &TestApp, session: &Session, id: &str) -> Value {
    let reply = get(app, &format!("/v1/schedules/{id}"), &session.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].clone()
}

async fn executions(app: &TestApp, session: &Session, id: &str) -> Vec<Value> {
    let reply = get(
        app,
        &format!("/v1/schedules/{id}/executions"),
        &session.token,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The API writes times with microseconds; compare instants, not strings.
fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

/// The Friday before the next US spring-forward Sunday (the second Sunday of March) that is
/// still ahead of the real clock: New York is on EST (UTC-5) that Friday and on EDT (UTC-4) from
/// the Sunday. The test's clock must run ahead of the wall clock, which the store's expiry uses.
fn friday_before_dst() -> NaiveDate {
    let today = Utc::now().date_naive();
    (today.year()..)
        .map(|year| {
            let first = NaiveDate::from_ymd_opt(year, 3, 1).unwrap();
            let first_sunday =
                first + Duration::days(i64::from((7 - first.weekday().num_days_from_sunday()) % 7));
            first_sunday + Duration::days(7) - Duration::days(2)
        })
        .find(|friday| *friday > today + Duration::days(1))
        .unwrap()
}

/// New York wall-clock time `hh:mm` on `date`, with the offset the test knows applies.
fn new_york(date: NaiveDate, hour: u32, minute: u32, offset_hours: i64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(hour, minute, 0).unwrap())
        + Duration::hours(offset_hours)
}

#[tokio::test]
async fn night_hibernate_runs_at_22_new_york_time_on_weekdays_only_across_dst_and_a_resume_schedule_brings_the_clusters_back()
 {
    let friday = friday_before_dst();
    assert_eq!(friday.weekday(), Weekday::Fri);
    let app = spawn_app().await;
    // Friday 21:50 EST.
    app.clock.set(new_york(friday, 21, 50, 5));
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "Nightly ETL");
    let ml = seed(&fake, "ML Training");
    connect(&app, &jane, &fake).await;

    let created = post(
        &app,
        "/api/schedules",
        &jane.token,
        json!({"name": "Night Hibernate", "type": "time", "cron": "0 22 * * 1-5",
               "timezone": "America/New_York", "action": "hibernate", "cluster_ids": [etl, ml]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    assert!(data["id"].as_str().unwrap().starts_with("sch_"));
    assert_eq!(data["name"], "Night Hibernate");
    assert_eq!(data["type"], "time");
    assert_eq!(data["cron"], "0 22 * * 1-5");
    assert_eq!(data["action"], "hibernate");
    assert_eq!(data["enabled"], true);
    assert_eq!(data["timezone"], "America/New_York");
    assert_eq!(instant(&data["next_run_at"]), new_york(friday, 22, 0, 5));
    let night = data["id"].as_str().unwrap().to_owned();
    let morning = create(
        &app,
        &jane,
        json!({"name": "Morning Resume", "type": "time", "cron": "0 7 * * MON-FRI",
               "timezone": "America/New_York", "action": "resume", "cluster_ids": [etl, ml]}),
    )
    .await;
    let listed = get(&app, "/v1/schedules", &jane.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [night.as_str(), morning.as_str()]);

    // 21:59: nothing is due yet.
    app.clock.set(new_york(friday, 21, 59, 5));
    let (report, runs) = tick_and_run(&app).await;
    assert_eq!((report.due, runs.len()), (0, 0));
    assert_eq!(fake.terminations(&etl), 0);

    // 22:00 EST: both clusters are hibernated, through the action path.
    app.clock
        .set(new_york(friday, 22, 0, 5) + Duration::seconds(20));
    let (report, runs) = tick_and_run(&app).await;
    assert_eq!((report.due, report.started, runs.len()), (1, 1, 1));
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(fake.terminations(&etl), 1);
    assert_eq!(fake.terminations(&ml), 1);
    let (_, again) = tick_and_run(&app).await;
    assert!(again.is_empty(), "one run per time, not one per tick");

    let jane = login(&app, "jane@acme.com").await;
    let runs = executions(&app, &jane, &night).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["trigger"], "time");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(instant(&runs[0]["due_at"]), new_york(friday, 22, 0, 5));
    for outcome in runs[0]["clusters"].as_array().unwrap() {
        assert_eq!(outcome["status"], "completed", "{outcome}");
        assert!(outcome["action_id"].as_str().unwrap().starts_with("act_"));
    }
    let actions = get(&app, "/v1/monitoring/actions", &jane.token).await;
    let initiators: Vec<String> = actions.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["initiator"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        initiators,
        [format!("schedule:{night}"), format!("schedule:{night}")]
    );
    let cluster = get(&app, &format!("/v1/clusters/databricks/{etl}"), &jane.token).await;
    assert_eq!(
        cluster.body["data"]["state"], "hibernated",
        "{}",
        cluster.body
    );

    // The next run is Monday 22:00 New York time, which is EDT by then: 02:00Z, not 03:00Z.
    let monday = friday + Duration::days(3);
    let night_view = schedule(&app, &jane, &night).await;
    assert_eq!(
        instant(&night_view["next_run_at"]),
        new_york(monday, 22, 0, 4)
    );
    assert_eq!(
        instant(&schedule(&app, &jane, &morning).await["next_run_at"]),
        new_york(monday, 7, 0, 4)
    );

    // Saturday and Sunday 22:00: nothing runs.
    for day in [1, 2] {
        let weekend = friday + Duration::days(day);
        app.clock
            .set(new_york(weekend, 22, 0, 4) + Duration::seconds(5));
        let (report, runs) = tick_and_run(&app).await;
        assert_eq!((report.due, runs.len()), (0, 0), "weekend day {day}");
    }
    assert_eq!(fake.terminations(&etl), 1);

    // Monday 07:00 EDT: the resume schedule brings both back.
    app.clock
        .set(new_york(monday, 7, 0, 4) + Duration::seconds(10));
    let (_, runs) = tick_and_run(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(fake.starts(&etl), 1);
    assert_eq!(fake.starts(&ml), 1);

    // Monday 22:00 EDT: hibernated again.
    app.clock
        .set(new_york(monday, 22, 0, 4) + Duration::seconds(10));
    let (_, runs) = tick_and_run(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(fake.terminations(&etl), 2);
}

#[tokio::test]
async fn disabled_and_deleted_schedules_do_nothing() {
    let app = spawn_app().await;
    let start = at("2031-06-02T21:30:00Z");
    app.clock.set(start);
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let kept = seed(&fake, "Kept");
    let gone = seed(&fake, "Gone");
    let paused = seed(&fake, "Paused");
    connect(&app, &jane, &fake).await;
    let disabled = create(
        &app,
        &jane,
        json!({"name": "Off", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [kept], "enabled": false}),
    )
    .await;
    assert_eq!(
        schedule(&app, &jane, &disabled).await["next_run_at"],
        Value::Null
    );
    let deleted = create(
        &app,
        &jane,
        json!({"name": "Deleted", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [gone]}),
    )
    .await;
    let switched_off = create(
        &app,
        &jane,
        json!({"name": "Switched off", "type": "time", "cron": "0 22 * * *",
               "action": "hibernate", "cluster_ids": [paused]}),
    )
    .await;
    let removed = call(
        &app,
        Method::DELETE,
        &format!("/v1/schedules/{deleted}"),
        &jane.token,
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["data"]["message"], "Schedule deleted");
    let updated = call(
        &app,
        Method::PUT,
        &format!("/v1/schedules/{switched_off}"),
        &jane.token,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["data"],
        json!({"id": switched_off, "updated": true})
    );

    for hours in 0..3 {
        app.clock
            .set(at("2031-06-02T22:00:05Z") + Duration::hours(24 * hours));
        let (report, runs) = tick_and_run(&app).await;
        assert_eq!((report.due, runs.len()), (0, 0));
    }
    for id in [&kept, &gone, &paused] {
        assert_eq!(fake.terminations(id), 0);
    }
    let jane = login(&app, "jane@acme.com").await;
    assert_eq!(
        get(&app, &format!("/v1/schedules/{deleted}"), &jane.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Enabled again, it runs at its next time.
    let updated = call(
        &app,
        Method::PUT,
        &format!("/v1/schedules/{switched_off}"),
        &jane.token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    app.clock.set(at("2031-06-05T22:00:05Z"));
    let (_, runs) = tick_and_run(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(fake.terminations(&paused), 1);
}

#[tokio::test]
async fn a_run_missed_within_the_grace_period_runs_once_and_an_older_one_is_recorded_as_skipped() {
    let app = spawn_app().await;
    app.clock.set(at("2031-06-02T21:00:00Z"));
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let late = seed(&fake, "Late");
    let missed = seed(&fake, "Missed");
    connect(&app, &jane, &fake).await;
    let late_schedule = create(
        &app,
        &jane,
        json!({"name": "Late", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [late]}),
    )
    .await;
    let missed_schedule = create(
        &app,
        &jane,
        json!({"name": "Missed", "type": "time", "cron": "30 21 * * *", "action": "hibernate",
               "cluster_ids": [missed]}),
    )
    .await;
    // The ticker was down from 21:00 to 22:14: the 22:00 run is 14 minutes late, the 21:30 run 44.
    app.clock.set(at("2031-06-02T22:14:00Z"));
    let (report, runs) = tick_and_run(&app).await;
    assert_eq!((report.due, report.started, report.skipped), (2, 1, 1));
    assert_eq!(runs.len(), 1);
    assert_eq!(fake.terminations(&late), 1);
    assert_eq!(
        fake.terminations(&missed),
        0,
        "no catch-up beyond the grace period"
    );
    let (_, again) = tick_and_run(&app).await;
    assert!(again.is_empty());

    let jane = login(&app, "jane@acme.com").await;
    let skipped = executions(&app, &jane, &missed_schedule).await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["status"], "skipped");
    assert_eq!(instant(&skipped[0]["due_at"]), at("2031-06-02T21:30:00Z"));
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("grace period"),
        "{}",
        skipped[0]
    );
    assert_eq!(
        instant(&schedule(&app, &jane, &missed_schedule).await["next_run_at"]),
        at("2031-06-03T21:30:00Z")
    );
    assert_eq!(
        executions(&app, &jane, &late_schedule).await[0]["status"],
        "completed"
    );
}

#[tokio::test]
async fn pause_and_exclusions_stop_automated_runs_but_a_member_can_still_run_a_schedule_now() {
    let app = spawn_app().await;
    app.clock.set(at("2031-06-02T21:00:00Z"));
    let jane = app.signed_up("jane@acme.com").await;
    invited_member(
        &app,
        &jane,
        "org-of-jane-acme-com",
        "max@acme.com",
        "member",
    )
    .await;
    let fake = FakeDatabricks::start().await;
    let first = seed(&fake, "First");
    let excluded = seed(&fake, "Excluded");
    connect(&app, &jane, &fake).await;
    let id = create(
        &app,
        &jane,
        json!({"name": "Nightly", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [first, excluded]}),
    )
    .await;
    let paused = post(&app, "/v1/monitoring/pause", &jane.token, json!({})).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);

    app.clock.set(at("2031-06-02T22:00:00Z"));
    let (_, runs) = tick_and_run(&app).await;
    assert_eq!(runs[0]["status"], "skipped", "{}", runs[0]);
    for outcome in runs[0]["clusters"].as_array().unwrap() {
        assert_eq!(outcome["status"], "skipped");
        assert_eq!(outcome["error"], "skipped: monitoring is paused");
    }
    assert_eq!(fake.terminations(&first), 0);

    // A member runs it now: a person's call works while paused.
    let jane = login(&app, "jane@acme.com").await;
    let max = login(&app, "max@acme.com").await;
    let started = post(
        &app,
        &format!("/v1/schedules/{id}/run"),
        &max.token,
        json!({}),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["data"]["status"], "running");
    let execution = started.body["data"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(execution.starts_with("exec_"));
    let finished = wait_for(&app, &jane, &id, &execution).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["trigger"], "manual");
    assert!(
        finished["requested_by"]
            .as_str()
            .unwrap()
            .starts_with("usr_")
    );
    assert_eq!(fake.terminations(&first), 1);
    assert_eq!(fake.terminations(&excluded), 1);

    // Resumed, with one cluster excluded: the next automated run leaves it alone.
    for path in [
        format!("/v1/clusters/databricks/{first}/resume"),
        format!("/v1/clusters/databricks/{excluded}/resume"),
    ] {
        let resumed = post(&app, &path, &jane.token, json!({})).await;
        assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    }
    assert_eq!(
        post(&app, "/v1/monitoring/resume", &jane.token, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    let excluding = call(
        &app,
        Method::PUT,
        "/v1/monitoring/config",
        &jane.token,
        Some(json!({"exclude_clusters": [excluded]})),
    )
    .await;
    assert_eq!(excluding.status, StatusCode::OK, "{}", excluding.body);
    app.clock.set(at("2031-06-03T22:00:00Z"));
    let (_, runs) = tick_and_run(&app).await;
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    let outcomes = runs[0]["clusters"].as_array().unwrap();
    let of = |cluster: &str| {
        outcomes
            .iter()
            .find(|o| o["cluster_id"] == cluster)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&first)["status"], "completed");
    assert_eq!(of(&excluded)["status"], "skipped");
    assert_eq!(
        of(&excluded)["error"],
        "skipped: the cluster is excluded from automation"
    );
    assert_eq!(fake.terminations(&first), 2);
    assert_eq!(fake.terminations(&excluded), 1);
}

/// Polls a manual run until it finishes.
async fn wait_for(app: &TestApp, session: &Session, schedule: &str, execution: &str) -> Value {
    for _ in 0..200 {
        let runs = executions(app, session, schedule).await;
        if let Some(run) = runs.iter().find(|run| run["id"] == execution)
            && run["status"] != "running"
        {
            return run.clone();
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    panic!("the run {execution} did not finish");
}

#[tokio::test]
async fn a_run_that_fails_on_some_clusters_is_partial_and_a_resize_schedule_resizes() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let ok = seed(&fake, "Fine");
    let broken = seed(&fake, "Broken");
    connect(&app, &jane, &fake).await;
    let id = create(
        &app,
        &jane,
        json!({"name": "Both", "type": "time", "cron": "0 3 * * *", "action": "hibernate",
               "cluster_ids": [ok, broken]}),
    )
    .await;
    let started = post(
        &app,
        &format!("/v1/schedules/{id}/run"),
        &jane.token,
        json!({}),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let execution = started.body["data"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_for(&app, &jane, &id, &execution).await;
    assert_eq!(done["status"], "completed", "{done}");

    let resize = create(
        &app,
        &jane,
        json!({"name": "Shrink", "type": "time", "cron": "0 3 * * *", "action": "resize",
               "target_nodes": 1, "cluster_ids": [ok, broken]}),
    )
    .await;
    // Both are hibernated now: a resize leaves clusters we hibernated alone.
    let started = post(
        &app,
        &format!("/v1/schedules/{resize}/run"),
        &jane.token,
        json!({}),
    )
    .await;
    let execution = started.body["data"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_for(&app, &jane, &resize, &execution).await;
    assert_eq!(done["status"], "skipped", "{done}");

    let third = seed(&fake, "Third");
    let fourth = seed(&fake, "Fourth");
    let shrink = create(
        &app,
        &jane,
        json!({"name": "Shrink more", "type": "time", "cron": "0 3 * * *", "action": "resize",
               "target_nodes": 1, "cluster_ids": [third, fourth]}),
    )
    .await;
    fake.fail_next(
        "/api/2.1/clusters/resize",
        1,
        Fault::Status {
            status: 400,
            error_code: "INVALID_STATE".into(),
            message: "Cluster cannot be resized now".into(),
            retry_after: None,
        },
    );
    let started = post(
        &app,
        &format!("/v1/schedules/{shrink}/run"),
        &jane.token,
        json!({}),
    )
    .await;
    let execution = started.body["data"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_for(&app, &jane, &shrink, &execution).await;
    assert_eq!(done["status"], "partial", "{done}");
    // The two resizes run at once: either may be the one the fake refuses.
    let outcomes = done["clusters"].as_array().unwrap();
    let failed = outcomes.iter().find(|o| o["status"] == "failed").unwrap();
    let resized = outcomes
        .iter()
        .find(|o| o["status"] == "completed")
        .unwrap();
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("cannot be resized"),
        "{done}"
    );
    assert!(resized["action_id"].as_str().unwrap().starts_with("act_"));
    let resized_id = resized["cluster_id"].as_str().unwrap();
    assert!([third.as_str(), fourth.as_str()].contains(&resized_id));
    assert_eq!(fake.cluster(resized_id).unwrap()["num_workers"], 1);
    let actions = get(
        &app,
        "/v1/monitoring/actions?action_type=resize",
        &jane.token,
    )
    .await;
    let statuses: Vec<&str> = actions.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2, "{}", actions.body);
    assert!(statuses.contains(&"failed") && statuses.contains(&"completed"));
}

#[tokio::test]
async fn an_idle_rule_hibernates_a_quiet_cluster_once_per_idle_episode_and_a_cost_rule_acts_over_its_limit()
 {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let quiet = seed(&fake, "Quiet");
    let busy = seed(&fake, "Busy");
    let pricey = seed(&fake, "Pricey");
    let cheap = seed(&fake, "Cheap");
    fake.add_run(&busy);
    connect(&app, &jane, &fake).await;
    let idle = create(
        &app,
        &jane,
        json!({"name": "Idle 20", "type": "idle", "action": "hibernate",
               "threshold": {"idle_minutes": 20, "cpu_pct": 10}, "cluster_ids": [quiet, busy]}),
    )
    .await;
    // i3.xlarge: 3 nodes at $0.312 = $0.936 an hour.
    let cost = create(
        &app,
        &jane,
        json!({"name": "Over 50 cents", "type": "cost", "action": "hibernate",
               "threshold": {"hourly_usd": 0.5}, "cluster_ids": [pricey]}),
    )
    .await;
    let under = create(
        &app,
        &jane,
        json!({"name": "Under budget", "type": "cost", "action": "hibernate",
               "threshold": {"daily_usd": 100, "scope": "set"}, "cluster_ids": [cheap, busy]}),
    )
    .await;
    // The time ticker never runs idle and cost rules.
    let (report, _) = tick_and_run(&app).await;
    assert_eq!(report.due, 0);

    let mut idle_hibernated_at = None;
    for minute in (0..=40).step_by(10) {
        tick_and_scan(&app).await;
        if idle_hibernated_at.is_none() && fake.terminations(&quiet) > 0 {
            idle_hibernated_at = Some(minute);
        }
        app.clock.advance(Duration::minutes(10));
    }
    assert_eq!(idle_hibernated_at, Some(20), "quiet from the scan at 0");
    assert_eq!(fake.terminations(&quiet), 1, "once per idle episode");
    assert_eq!(fake.terminations(&busy), 0);
    assert_eq!(
        fake.terminations(&pricey),
        1,
        "over its limit at the first scan"
    );
    assert_eq!(
        fake.terminations(&cheap),
        0,
        "two clusters at $22.46 a day is under $100"
    );

    let jane = login(&app, "jane@acme.com").await;
    let runs = executions(&app, &jane, &idle).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "idle");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["clusters"][0]["cluster_id"], quiet);
    let runs = executions(&app, &jane, &cost).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "cost");
    assert!(executions(&app, &jane, &under).await.is_empty());
}

#[tokio::test]
async fn bad_schedules_are_400_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "ETL");
    connect(&app, &jane, &fake).await;
    let good = json!({"name": "Night", "type": "time", "cron": "0 22 * * 1-5",
                      "action": "hibernate", "cluster_ids": [etl]});
    let with = |changes: Value| {
        let mut body = good.clone();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let cases = [
        (
            with(json!({"cron": "0 22 * * 1-8"})),
            "cron: day-of-week field",
        ),
        (
            with(json!({"cron": "every night"})),
            "cron: must have 5 fields",
        ),
        (with(json!({"timezone": "Europe/Atlantis"})), "timezone:"),
        (
            with(json!({"cron": null})),
            "cron: is required for time schedules",
        ),
        (
            with(json!({"exclude_dates": ["2031-12-25", "25/12/2031"]})),
            "exclude_dates[1]:",
        ),
        (
            with(json!({"type": "idle", "cron": null})),
            "threshold: is required for idle schedules",
        ),
        (
            with(json!({"type": "cost", "cron": null})),
            "threshold: is required for cost schedules",
        ),
        (
            with(json!({"type": "idle", "cron": null, "threshold": {"cpu_pct": 5}})),
            "threshold.idle_minutes: is required",
        ),
        (
            with(json!({"type": "cost", "cron": null, "threshold": {"hourly_usd": 0}})),
            "threshold.hourly_usd:",
        ),
        (
            with(json!({"action": "resize"})),
            "target_nodes: is required for resize",
        ),
        (with(json!({"action": "reboot"})), "action: must be one of"),
        (with(json!({"type": "weekly"})), "type: must be one of"),
        (with(json!({"name": null})), "name: is required"),
        (with(json!({"cluster_ids": []})), "cluster_ids: must list"),
        (
            with(json!({"cluster_ids": [etl, "0000-000000-nothere"]})),
            "cluster_ids[1]: no cluster 0000-000000-nothere",
        ),
        (with(json!({"cluster_ids": ["bad id"]})), "cluster_ids[0]:"),
        (
            with(json!({"target_nodes": 3})),
            "target_nodes: is only for resize",
        ),
        (with(json!({"crons": "0 1 * * *"})), "crons"),
    ];
    for (index, (body, message)) in cases.into_iter().enumerate() {
        if index % 10 == 9 {
            app.clock.advance(Duration::seconds(60));
        }
        let reply = post(&app, "/v1/schedules", &jane.token, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(message)
                || (message == "crons" && reply.error_message().contains(message)),
            "{body}: {}",
            reply.error_message()
        );
    }
    app.clock.advance(Duration::seconds(60));
    let listed = get(&app, "/v1/schedules", &jane.token).await;
    assert_eq!(listed.body["data"], json!([]), "nothing stored");

    // An update is validated as a whole, and a bad one changes nothing.
    let id = create(&app, &jane, good.clone()).await;
    for (body, message) in [
        (json!({"cron": "61 * * * *"}), "cron: minute field"),
        (
            json!({"type": "cost"}),
            "threshold: is required for cost schedules",
        ),
        (json!({"timezone": "Nowhere"}), "timezone:"),
    ] {
        let reply = call(
            &app,
            Method::PUT,
            &format!("/v1/schedules/{id}"),
            &jane.token,
            Some(body.clone()),
        )
        .await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert!(
            reply.error_message().starts_with(message),
            "{body}: {}",
            reply.error_message()
        );
    }
    let stored = schedule(&app, &jane, &id).await;
    assert_eq!(stored["cron"], "0 22 * * 1-5");
    assert_eq!(stored["timezone"], "UTC");
    let limit = get(
        &app,
        &format!("/v1/schedules/{id}/executions?limit=0"),
        &jane.token,
    )
    .await;
    limit.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn another_orgs_schedule_is_404_on_every_route_and_roles_are_enforced() {
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let oscar = app.signed_up("oscar@other.com").await;
    let viewer = invited_member(
        &app,
        &jane,
        "org-of-jane-acme-com",
        "vic@acme.com",
        "viewer",
    )
    .await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "ETL");
    connect(&app, &jane, &fake).await;
    app.clock.advance(Duration::seconds(60));
    let id = create(
        &app,
        &jane,
        json!({"name": "Night", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [etl]}),
    )
    .await;
    let probes: [(Method, String, Option<Value>); 6] = [
        (Method::GET, format!("/v1/schedules/{id}"), None),
        (
            Method::PUT,
            format!("/v1/schedules/{id}"),
            Some(json!({"name": "Mine"})),
        ),
        (Method::DELETE, format!("/v1/schedules/{id}"), None),
        (
            Method::POST,
            format!("/v1/schedules/{id}/run"),
            Some(json!({})),
        ),
        (Method::GET, format!("/v1/schedules/{id}/executions"), None),
        (Method::GET, "/v1/schedules/sch_notanid".to_owned(), None),
    ];
    for (method, path, body) in probes {
        let reply = call(&app, method.clone(), &path, &oscar.token, body).await;
        reply.assert_error(404, "NOT_FOUND");
    }
    let theirs = get(&app, "/v1/schedules", &oscar.token).await;
    assert_eq!(theirs.body["data"], json!([]));
    // Oscar cannot name Jane's clusters either.
    let reply = post(
        &app,
        "/v1/schedules",
        &oscar.token,
        json!({"name": "Night", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "cluster_ids": [etl]}),
    )
    .await;
    reply.assert_error(400, "VALIDATION_ERROR");

    app.clock.advance(Duration::seconds(60));
    let read: Reply = get(&app, &format!("/v1/schedules/{id}"), &viewer.token).await;
    assert_eq!(read.status, StatusCode::OK);
    let run = post(
        &app,
        &format!("/v1/schedules/{id}/run"),
        &viewer.token,
        json!({}),
    )
    .await;
    run.assert_error(403, "FORBIDDEN");
    assert_eq!(schedule(&app, &jane, &id).await["name"], "Night");
    assert!(executions(&app, &jane, &id).await.is_empty());
}

#[tokio::test]
async fn schedules_run_on_dynamodb() {
    let app = spawn_app_on_moto().await;
    app.clock.set(at("2031-06-02T21:00:00Z"));
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let etl = seed(&fake, "ETL");
    connect(&app, &jane, &fake).await;
    let id = create(
        &app,
        &jane,
        json!({"name": "Night", "type": "time", "cron": "0 22 * * *", "action": "hibernate",
               "timezone": "Europe/Paris", "exclude_dates": ["2031-06-03"], "cluster_ids": [etl]}),
    )
    .await;
    // 22:00 in Paris (CEST) is 20:00Z; 3 June is a holiday.
    assert_eq!(
        instant(&schedule(&app, &jane, &id).await["next_run_at"]),
        at("2031-06-02T20:00:00Z") + Duration::days(1) + Duration::days(1)
    );
    app.clock.set(at("2031-06-04T20:00:30Z"));
    let (report, runs) = tick_and_run(&app).await;
    assert_eq!((report.started, runs.len()), (1, 1));
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(fake.terminations(&etl), 1);
    let jane = login(&app, "jane@acme.com").await;
    let runs = executions(&app, &jane, &id).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        stamp(instant(&schedule(&app, &jane, &id).await["next_run_at"])),
        "2031-06-05T20:00:00Z"
    );
    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/v1/schedules/{id}"),
        &jane.token,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    app.clock.set(at("2031-06-05T20:00:30Z"));
    let (report, _) = tick_and_run(&app).await;
    assert_eq!(report.due, 0);
}

#[test]
fn the_sample_schedule_due_event_is_a_schedule_run() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/eventbridge-schedule-due.json"
    ))
    .unwrap();
    let event: Value = serde_json::from_str(&raw).unwrap();
    let run = ScheduleRun::from_event(&event).expect("a ScheduleDue event");
    assert_eq!(run.schedule_id.as_str(), "sch_01jnp8w3f5k2m7q9r4t6v8x0za");
    assert_eq!(run.execution_id.as_str(), "exec_01jnpb2c7d9e1f3g5h7j9k1m3n");
    assert_eq!(run.due_at, Some(at("2026-03-03T22:00:00Z")));
    // A scan request is not a schedule run, and the other way round.
    assert!(dtap_shared::monitor::dispatch::ScanRequest::from_event(&event).is_none());
    let mut scan = event.clone();
    scan["detail-type"] = json!("ScanRequested");
    assert!(ScheduleRun::from_event(&scan).is_none());
}

#[tokio::test]
async fn an_org_holds_at_most_500_schedules() {
    use dtap_shared::domain::ids::ScheduleId;
    use dtap_shared::store::repos::schedules;

    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let cluster = seed(&fake, "Nightly");
    connect(&app, &jane, &fake).await;
    let body = json!({"name": "Night", "type": "time", "cron": "0 22 * * *",
                      "cluster_ids": [cluster], "action": "hibernate"});
    let first = create(&app, &jane, body.clone()).await;
    let store = app.state.store.as_ref();
    let listed = get(&app, "/v1/orgs", &jane.token).await;
    let slug = listed.body["data"][0]["slug"].as_str().unwrap().to_owned();
    let org = dtap_shared::store::repos::orgs::find_by_slug(
        store,
        &dtap_shared::domain::slug::OrgSlug::parse("slug", &slug).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id;
    let template = schedules::get(store, &org, &ScheduleId::parse(&first).unwrap())
        .await
        .unwrap()
        .unwrap();
    for _ in 1..500 {
        let mut copy = template.clone();
        copy.id = ScheduleId::generate();
        schedules::create(store, &copy).await.unwrap();
    }
    post(&app, "/v1/schedules", &jane.token, body)
        .await
        .assert_error(409, "CONFLICT");
}
