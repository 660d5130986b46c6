//! `GET /v1/insights`, `GET /v1/insights/rightsizing` and `GET /v1/clusters/predictions` for an
//! org with 1,000 clusters on a fake Databricks workspace, each with 7 days of readings at the
//! 10-minute scan interval (1,008 points, 1,008,000 in all) in the embedded store. Reports the
//! wall time of each call (store reads, the platform listing and the computation).
//!
//! `cargo bench -p dtap-tests --bench insights` for the full size; `cargo test` runs it small.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use chrono::{Duration as Span, Timelike};
use dtap_fakes::FakeDatabricks;
use dtap_shared::clock::Clock;
use dtap_shared::domain::idle::Watch;
use dtap_shared::domain::ids::PlatformId;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::store::repos::metrics::{self, MetricPoint};
use dtap_shared::store::repos::orgs;
use dtap_shared::store::repos::watches::{self, WatchRecord};
use helpers::{get, post, spawn_app};
use serde_json::json;

/// Clusters and calls measured per endpoint. `cargo bench` passes `--bench`.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|arg| arg == "--bench") {
        (1000, 3)
    } else {
        (20, 1)
    }
}

#[tokio::main]
async fn main() {
    let (clusters, rounds) = sizes();
    let app = spawn_app().await;
    let jane = app.signed_up("jane@acme.com").await;
    let fake = FakeDatabricks::start().await;
    let ids = fake.fleet(clusters);
    let reply = post(
        &app,
        "/v1/platforms",
        &jane.token,
        json!({"type": "databricks", "name": "Prod", "region": "us-east-1",
               "credentials": {"workspace_url": fake.url(), "token": fake.config().token}}),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 201, "{}", reply.body);
    let platform = PlatformId::parse(reply.body["data"]["id"].as_str().unwrap()).unwrap();
    let slug = get(&app, "/v1/orgs", &jane.token).await.body["data"][0]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let org = orgs::find_by_slug(
        app.state.store.as_ref(),
        &OrgSlug::parse("slug", &slug).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id;

    let seeding = Instant::now();
    let now = app.clock.now();
    let store = app.state.store.as_ref();
    for (index, id) in ids.iter().enumerate() {
        watches::put(
            store,
            &WatchRecord {
                org_id: org.clone(),
                platform_id: platform.clone(),
                kind: PlatformKind::Databricks,
                cluster_id: id.clone(),
                name: format!("cluster-{index}"),
                watch: Watch::default(),
                last_seen_at: now,
                status: "running".to_owned(),
            },
        )
        .await
        .unwrap();
        // Office hours, idle evenings, stopped nights; CPU varies with the hour and the cluster.
        let points: Vec<MetricPoint> = (0..1008)
            .map(|step| {
                let at = now - Span::days(7) + Span::minutes(10 * step);
                let hour = at.hour();
                let (status, work) = match hour {
                    8..18 => ("running", 1),
                    18..22 => ("idle", 0),
                    _ => ("stopped", 0),
                };
                let up = status != "stopped";
                MetricPoint {
                    timestamp: at,
                    cpu_util: up.then(|| 5.0 + ((hour as usize * 7 + index) % 40) as f64),
                    memory_util: up.then_some(20.0 + (index % 30) as f64),
                    workers: if up { 4 } else { 0 },
                    idle_minutes: 0,
                    cost_per_hour: Some(if up { 3.12 } else { 0.0 }),
                    status: status.to_owned(),
                    active_work: work,
                    platform_id: None,
                }
            })
            .collect();
        metrics::record_batch(store, &org, &platform, id, &points)
            .await
            .unwrap();
    }
    println!(
        "seeded {clusters} clusters × 1,008 points in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    for path in [
        "/v1/insights",
        "/v1/insights/rightsizing",
        "/v1/clusters/predictions",
    ] {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..rounds {
            app.clock.advance(Span::seconds(61));
            let started = Instant::now();
            let reply = get(&app, path, &jane.token).await;
            times.push(started.elapsed());
            assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
            if path == "/v1/insights" {
                assert_eq!(reply.body["data"]["clusters_analyzed"], clusters);
            }
        }
        times.sort();
        println!(
            "{path}: {clusters} clusters, 7 days each: median {:.0} ms, best {:.0} ms ({rounds} calls)",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
    }
}
