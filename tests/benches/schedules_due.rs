//! 10,000 time schedules due in the same minute: how long one schedule tick takes to find them
//! (range queries on the sharded due index) and start them (per schedule, one transaction that
//! moves the next run on and records the execution, then the hand-off to the runner).
//!
//! `cargo bench -p dtap-tests --bench schedules_due` measures the embedded store; under
//! `scripts/test --with-moto` it also measures DynamoDB on moto (with fewer schedules: moto is a
//! Python emulator, its numbers say nothing about DynamoDB's latency, only about the call count).
//! `cargo test --all-targets` runs it small, as a smoke test.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dtap_shared::domain::ids::{OrgId, PlatformId, ScheduleId};
use dtap_shared::domain::schedule::{ScheduleBody, ScheduleSpec};
use dtap_shared::monitor::dispatch::{ScheduleDispatcher, ScheduleRun};
use dtap_shared::schedules::tick_schedules;
use dtap_shared::store::Table;
use dtap_shared::store::keys::SCHEDULE_DUE_SHARDS;
use dtap_shared::store::repos::schedules::{self, ScheduleCluster, ScheduleRecord};
use futures::StreamExt;

/// Schedules due on the embedded store and on moto. `cargo bench` passes `--bench`.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|arg| arg == "--bench") {
        (10_000, 1_000)
    } else {
        (200, 50)
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<ScheduleRun>>);

#[async_trait]
impl ScheduleDispatcher for Collect {
    async fn dispatch_runs(&self, runs: Vec<ScheduleRun>) -> anyhow::Result<()> {
        self.0.lock().unwrap().extend(runs);
        Ok(())
    }
}

fn spec() -> ScheduleSpec {
    ScheduleSpec::parse(&ScheduleBody {
        name: Some("Night Hibernate".into()),
        kind: Some("time".into()),
        cluster_ids: Some(vec!["0301-prod-etl".into()]),
        action: Some("hibernate".into()),
        cron: Some("0 22 * * *".into()),
        ..ScheduleBody::default()
    })
    .expect("a valid schedule")
}

/// `n` schedules over 100 orgs, all due at `due`.
async fn seed(store: &dyn Table, n: usize, due: DateTime<Utc>) {
    let orgs: Vec<OrgId> = (0..100).map(|_| OrgId::generate()).collect();
    let platform = PlatformId::generate();
    let spec = spec();
    let records: Vec<ScheduleRecord> = (0..n)
        .map(|i| ScheduleRecord {
            id: ScheduleId::generate(),
            org_id: orgs[i % orgs.len()].clone(),
            spec: spec.clone(),
            clusters: vec![ScheduleCluster {
                cluster_id: "0301-prod-etl".into(),
                platform_id: platform.clone(),
            }],
            next_run_at: Some(due),
            last_run_at: None,
            created_by: None,
            created_at: due - Duration::days(1),
            updated_at: due - Duration::days(1),
            version: 1,
        })
        .collect();
    futures::stream::iter(
        records
            .iter()
            .map(|record| schedules::create(store, record)),
    )
    .buffer_unordered(32)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .expect("seeding");
}

/// Finding alone: one range query per shard, paged.
async fn find_only(store: &dyn Table, now: DateTime<Utc>) -> usize {
    let mut found = 0;
    for shard in 0..SCHEDULE_DUE_SHARDS {
        let mut cursor = None;
        loop {
            let (page, next) = schedules::due(store, shard, now, 1000, cursor)
                .await
                .unwrap();
            found += page.len();
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    found
}

async fn measure(label: &str, store: &dyn Table, n: usize) {
    let due: DateTime<Utc> = "2031-06-02T22:00:00Z".parse().unwrap();
    let started = Instant::now();
    seed(store, n, due).await;
    let seeded = started.elapsed();
    let now = due + Duration::seconds(5);

    let started = Instant::now();
    let found = find_only(store, now).await;
    let find = started.elapsed();
    assert_eq!(found, n);

    let collected = Collect::default();
    let started = Instant::now();
    let report = tick_schedules(store, now, &collected).await.unwrap();
    let tick = started.elapsed();
    assert_eq!((report.due, report.started), (n, n), "{report:?}");
    assert_eq!(collected.0.lock().unwrap().len(), n);

    let started = Instant::now();
    let idle = tick_schedules(store, now + Duration::seconds(60), &collected)
        .await
        .unwrap();
    let empty = started.elapsed();
    assert_eq!(idle.due, 0);

    println!(
        "{label}: {n} schedules due in one minute | seed {:.2} s | find (16 range queries) {:.1} ms | \
         tick (find + claim + record + hand off) {:.1} ms = {:.0} schedules/s, {:.3} ms each | \
         next tick, nothing due {:.2} ms",
        seeded.as_secs_f64(),
        find.as_secs_f64() * 1e3,
        tick.as_secs_f64() * 1e3,
        n as f64 / tick.as_secs_f64(),
        tick.as_secs_f64() * 1e3 / n as f64,
        empty.as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let (embedded, on_moto) = sizes();
    let app = helpers::spawn_app().await;
    measure("embedded (redb)", app.state.store.as_ref(), embedded).await;
    if std::env::var("DTAP_TEST_MOTO_URL").is_ok() {
        let app = helpers::spawn_app_on_moto().await;
        measure("DynamoDB on moto", app.state.store.as_ref(), on_moto).await;
    } else {
        println!("DynamoDB on moto: skipped (run under scripts/test --with-moto)");
    }
}
