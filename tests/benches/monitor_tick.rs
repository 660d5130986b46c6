//! One monitoring tick over many orgs on fake platforms: the ticker finds every due org, hands it
//! to the scanners (8 at once, as `monitor::local` runs them), and every scan runs to completion.
//! Reports, per size and per tick: the wall time (and the scans' p50/max, also by platform), the
//! upstream calls the scans made (by path), the store's reads and writes (writes by kind, and the
//! time spent in them), the peak memory and the embedded DB's size.
//!
//! The fleet: 1,000 clusters (10 orgs × 100), then 10,000 (100 orgs × 100). Each org has its own
//! platform on its own in-process fake server, as each customer has its own workspace: four orgs
//! in five on a Databricks workspace (with a SQL warehouse for utilisation), the fifth on a
//! Dataproc region. Of each org's clusters 30% run idle (no jobs, CPU 3%), 60% run a job (CPU
//! 60%), 10% are stopped. Half the orgs have `auto_hibernate` on; all have a 10-minute idle
//! threshold. The second tick comes one scan interval (10 minutes) later: Databricks' idle
//! clusters have been quiet for the threshold by then and are hibernated. Dataproc reports its
//! own idle mark (the fake's is 45 minutes old), so its idle clusters go on the first tick, each
//! stop waiting for its operation (one 2-second poll: the fake finishes operations at once).
//!
//! Memory is the whole process's, the fakes included; the Databricks fake keeps every SQL
//! statement it was sent and its answer, which is most of what stays behind after a tick.
//!
//! The org, plan and platform records, the credentials secret and the monitoring record are
//! written with the repos, as registration and `POST /v1/platforms` write them: the API adds
//! nothing a tick reads, and 100 registrations would only time password hashing.
//!
//! `cargo bench -p dtap-tests --bench monitor_tick` (about two minutes of benchmark). Without
//! `--bench` (under `cargo test`) it runs 5 orgs × 4 clusters, and in both modes it checks that
//! every cluster is seen and exactly the idle clusters of automated orgs are hibernated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use dtap_fakes::dataproc::instance_config;
use dtap_fakes::{FakeDatabricks, FakeDataproc};
use dtap_shared::AppState;
use dtap_shared::clock::{Clock, ManualClock};
use dtap_shared::domain::ids::{OrgId, PlatformId};
use dtap_shared::domain::plan::Plan;
use dtap_shared::domain::platform::PlatformKind;
use dtap_shared::domain::slug::OrgSlug;
use dtap_shared::monitor::dispatch::ChannelDispatcher;
use dtap_shared::monitor::{ScanReport, TickReport, scan_org, tick};
use dtap_shared::platforms::parse::{self, EndpointPolicy};
use dtap_shared::runtime::{Adapters, Mode, Settings};
use dtap_shared::store::repos::platforms::{PlatformRecord, PlatformStatus};
use dtap_shared::store::repos::{monitors, orgs, plans, platforms};
use dtap_shared::store::{Condition, Item, Key, Page, Query, StoreResult, Table, WriteOp};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

/// As `monitor::local` (its constant is private).
const SCANS_AT_ONCE: usize = 8;
/// The monitoring config's default scan interval; the second tick comes this much later.
const SCAN_INTERVAL_MINUTES: i64 = 10;
const IDLE_THRESHOLD_MINUTES: u32 = 10;

/// (orgs, clusters per org) per run; `cargo bench` passes `--bench`, `cargo test --all-targets`
/// runs this as a quick smoke test.
fn sizes() -> Vec<(usize, usize)> {
    if std::env::args().any(|arg| arg == "--bench") {
        vec![(10, 100), (100, 100)]
    } else {
        vec![(5, 4)]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Running, no job, low CPU.
    Idle,
    /// Running a job.
    Busy,
    Stopped,
}

/// 30% idle, 60% busy, 10% stopped; the first four cover every role for the smoke test.
const ROLES: [Role; 10] = [
    Role::Idle,
    Role::Busy,
    Role::Stopped,
    Role::Busy,
    Role::Idle,
    Role::Busy,
    Role::Busy,
    Role::Idle,
    Role::Busy,
    Role::Busy,
];

enum Fake {
    Databricks(FakeDatabricks),
    Dataproc(FakeDataproc),
}

struct Org {
    id: OrgId,
    auto_hibernate: bool,
    fake: Fake,
    /// The platform's cluster ids, with what each is doing.
    clusters: Vec<(String, Role)>,
}

impl Fake {
    fn kind(&self) -> &'static str {
        match self {
            Self::Databricks(_) => "databricks",
            Self::Dataproc(_) => "dataproc",
        }
    }

    fn reset_calls(&self) {
        match self {
            Self::Databricks(fake) => fake.reset_calls(),
            Self::Dataproc(fake) => fake.reset_calls(),
        }
    }

    /// Whether the platform was asked to stop the cluster.
    fn stopped_by_us(&self, id: &str) -> bool {
        match self {
            Self::Databricks(fake) => fake.terminations(id) > 0,
            Self::Dataproc(fake) => fake.stops(id) > 0,
        }
    }

    /// The calls received since the last reset, by what they are.
    fn calls(&self, clusters: &[(String, Role)], into: &mut BTreeMap<String, u64>) {
        let mut counted = 0;
        let mut add = |label: String, calls: u64| {
            counted += calls;
            if calls > 0 {
                *into.entry(label).or_default() += calls;
            }
        };
        let total = match self {
            Self::Databricks(fake) => {
                for (path, label) in [
                    ("/oidc/v1/token", "POST token"),
                    ("/api/2.1/clusters/list", "GET clusters/list"),
                    ("/api/2.1/clusters/get", "GET clusters/get"),
                    ("/api/2.2/jobs/runs/list", "GET jobs/runs/list"),
                    ("/api/2.1/clusters/events", "POST clusters/events"),
                    ("/api/2.0/sql/statements", "POST sql/statements"),
                    ("/api/2.1/clusters/delete", "POST clusters/delete"),
                ] {
                    add(format!("databricks {label}"), fake.calls(path));
                }
                fake.total_calls()
            }
            Self::Dataproc(fake) => {
                let clusters_path = fake.clusters_path();
                let config = fake.config();
                let jobs = format!(
                    "/v1/projects/{}/regions/{}/jobs",
                    config.project_id, config.region
                );
                add("dataproc POST token".to_owned(), fake.calls("/token"));
                add(
                    "dataproc GET clusters".to_owned(),
                    fake.calls(&clusters_path),
                );
                let (mut get, mut stop) = (0, 0);
                for (name, _) in clusters {
                    get += fake.calls(&format!("{clusters_path}/{name}"));
                    stop += fake.calls(&format!("{clusters_path}/{name}:stop"));
                }
                add("dataproc GET clusters/{name}".to_owned(), get);
                add("dataproc POST clusters/{name}:stop".to_owned(), stop);
                add("dataproc GET jobs".to_owned(), fake.calls(&jobs));
                add(
                    "dataproc GET timeSeries".to_owned(),
                    fake.calls(&fake.time_series_path()),
                );
                add(
                    "dataproc GET operations/{id}".to_owned(),
                    fake.operation_polls(),
                );
                fake.total_calls()
            }
        };
        if total > counted {
            *into.entry(format!("{} other", self.kind())).or_default() += total - counted;
        }
    }
}

/// Store operations, counted on their way to the embedded table.
#[derive(Clone, Debug, Default)]
struct StoreTally {
    reads: u64,
    /// Items written.
    writes: u64,
    /// Write calls: each is one store transaction (durable, so one fsync, except counters).
    commits: u64,
    /// Time spent in reads and in write calls, summed over concurrent callers.
    read_time: Duration,
    write_time: Duration,
    /// Writes by what they write: the sort key's first segment in an org's partition
    /// (`WATCH`, `ALERT`, …), the partition's otherwise (`METRIC`, `SCANDUE`, …).
    writes_by_kind: BTreeMap<String, u64>,
}

struct CountingTable {
    inner: Arc<dyn Table>,
    tally: Arc<Mutex<StoreTally>>,
}

fn kind_of(key: &Key) -> String {
    let segment = if key.pk.starts_with("ORG#") {
        &key.sk
    } else {
        &key.pk
    };
    segment.split('#').next().unwrap_or_default().to_owned()
}

impl CountingTable {
    fn read<T>(&self, started: Instant, result: T) -> T {
        let mut tally = self.tally.lock().unwrap();
        tally.reads += 1;
        tally.read_time += started.elapsed();
        result
    }

    /// One write call (one store transaction) of these items.
    fn wrote<'a, T>(
        &self,
        started: Instant,
        keys: impl IntoIterator<Item = &'a Key>,
        result: T,
    ) -> T {
        let mut tally = self.tally.lock().unwrap();
        tally.commits += 1;
        tally.write_time += started.elapsed();
        for key in keys {
            tally.writes += 1;
            *tally.writes_by_kind.entry(kind_of(key)).or_default() += 1;
        }
        result
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let started = Instant::now();
        let result = self.inner.get(key).await;
        self.read(started, result)
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<()> {
        let key = item.key.clone();
        let started = Instant::now();
        let result = self.inner.put(item, condition).await;
        self.wrote(started, [&key], result)
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        let started = Instant::now();
        let result = self.inner.delete(key, condition).await;
        self.wrote(started, [key], result)
    }

    async fn update(
        &self,
        key: &Key,
        set: serde_json::Map<String, Value>,
        condition: Condition,
    ) -> StoreResult<()> {
        let started = Instant::now();
        let result = self.inner.update(key, set, condition).await;
        self.wrote(started, [key], result)
    }

    async fn query(&self, query: &Query) -> StoreResult<Page> {
        let started = Instant::now();
        let result = self.inner.query(query).await;
        self.read(started, result)
    }

    async fn add(
        &self,
        key: &Key,
        attribute: &str,
        delta: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        let started = Instant::now();
        let result = self.inner.add(key, attribute, delta, expires_at).await;
        self.wrote(started, [key], result)
    }

    async fn put_all(&self, items: Vec<Item>) -> StoreResult<()> {
        let keys: Vec<Key> = items.iter().map(|item| item.key.clone()).collect();
        let started = Instant::now();
        let result = self.inner.put_all(items).await;
        self.wrote(started, &keys, result)
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let keys: Vec<Key> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Put { item, .. } => Some(item.key.clone()),
                WriteOp::Delete { key, .. } | WriteOp::Update { key, .. } => Some(key.clone()),
                WriteOp::Check { .. } => None,
            })
            .collect();
        let started = Instant::now();
        let result = self.inner.transact(ops).await;
        self.wrote(started, &keys, result)
    }
}

/// `VmRSS` and `VmHWM` of this process, in KiB (Linux; zero elsewhere).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets `VmHWM` to the current RSS, so the next reading is the peak since now. `false` where
/// the kernel does not allow it (then the peak is the process's since it started).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct World {
    state: AppState,
    clock: ManualClock,
    data_dir: tempfile::TempDir,
    tally: Arc<Mutex<StoreTally>>,
    orgs: Vec<Org>,
}

impl World {
    fn db_bytes(&self) -> u64 {
        std::fs::metadata(self.data_dir.path().join("dtap.redb")).map_or(0, |meta| meta.len())
    }

    fn clusters(&self) -> usize {
        self.orgs.iter().map(|org| org.clusters.len()).sum()
    }
}

/// The app's state as `tests/api/helpers.rs` builds it for local mode, its store counted.
async fn app_state() -> (
    AppState,
    ManualClock,
    tempfile::TempDir,
    Arc<Mutex<StoreTally>>,
) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let mut adapters = Adapters::for_mode(&mode).await.expect("local adapters");
    let clock = ManualClock::starting_at(Utc::now());
    adapters.clock = Arc::new(clock.clone());
    let tally = Arc::new(Mutex::new(StoreTally::default()));
    adapters.store = Arc::new(CountingTable {
        inner: adapters.store,
        tally: tally.clone(),
    });
    let settings = Settings {
        allow_local_endpoints: true,
        ..Settings::default()
    };
    let state = AppState::new(adapters, settings).await.expect("state");
    (state, clock, data_dir, tally)
}

fn databricks_spec(i: usize, state: &str) -> Value {
    const NODES: [&str; 4] = ["i3.xlarge", "r5d.2xlarge", "m5d.large", "i3.2xlarge"];
    const TEAMS: [&str; 4] = ["etl", "analytics", "ml-training", "bi"];
    let autotermination = [0, 60, 120][i % 3];
    json!({
        "cluster_name": format!("{}-{i:04}", TEAMS[i % TEAMS.len()]),
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": NODES[i % NODES.len()],
        "num_workers": 2 + i % 7,
        "autotermination_minutes": autotermination,
        "aws_attributes": {"zone_id": "us-east-1a", "availability": "SPOT_WITH_FALLBACK"},
        "custom_tags": {"team": TEAMS[i % TEAMS.len()]},
        "state": state,
    })
}

/// Starts the org's fake platform with its clusters, and the credentials to connect to it.
async fn fake_platform(
    index: usize,
    per_org: usize,
) -> (Fake, Vec<(String, Role)>, PlatformKind, Value) {
    let roles = (0..per_org).map(|i| ROLES[i % ROLES.len()]);
    if index % 5 == 4 {
        let fake = FakeDataproc::start().await;
        let clusters: Vec<(String, Role)> = roles
            .enumerate()
            .map(|(i, role)| {
                let name = format!("dp-{i:04}");
                let state = if role == Role::Stopped {
                    "STOPPED"
                } else {
                    "RUNNING"
                };
                let machine = ["n2-standard-4", "n2-highmem-8"][i % 2];
                fake.add_cluster(
                    &name,
                    instance_config(machine, 2 + (i % 5) as u32, 0),
                    state,
                );
                match role {
                    Role::Idle => fake.set_utilization(&name, 0.03, 20.0),
                    Role::Busy => {
                        fake.add_job(&name);
                        fake.set_utilization(&name, 0.6, 70.0);
                    }
                    Role::Stopped => {}
                }
                (name, role)
            })
            .collect();
        let config = fake.config();
        let credentials = json!({
            "service_account_key": fake.service_account_key(), "project_id": config.project_id,
            "region": config.region, "endpoint_url": fake.url(),
        });
        (
            Fake::Dataproc(fake),
            clusters,
            PlatformKind::Dataproc,
            credentials,
        )
    } else {
        let fake = FakeDatabricks::start().await;
        let clusters: Vec<(String, Role)> = roles
            .enumerate()
            .map(|(i, role)| {
                let state = if role == Role::Stopped {
                    "TERMINATED"
                } else {
                    "RUNNING"
                };
                let id = fake.add_cluster(databricks_spec(i, state));
                match role {
                    Role::Idle => fake.set_utilization(&id, 3.0, 20.0),
                    Role::Busy => {
                        fake.add_run(&id);
                        fake.set_utilization(&id, 60.0, 70.0);
                    }
                    Role::Stopped => {}
                }
                (id, role)
            })
            .collect();
        let credentials = json!({
            "workspace_url": fake.url(), "token": fake.config().token,
            "warehouse_id": fake.warehouse_id(),
        });
        (
            Fake::Databricks(fake),
            clusters,
            PlatformKind::Databricks,
            credentials,
        )
    }
}

/// An org as registration leaves it, with one platform connected as `POST /v1/platforms` stores
/// it, and its monitoring configured.
async fn add_org(state: &AppState, index: usize, per_org: usize) -> Org {
    let store = state.store.as_ref();
    let now = state.clock.now();
    let org = orgs::OrgRecord {
        id: OrgId::generate(),
        slug: format!("bench-org-{index}"),
        name: format!("Bench org {index}"),
        plan: Plan::Growth,
        created_at: now,
        owner_count: Some(1),
    };
    let slug = OrgSlug::parse("org_name", &org.slug).expect("a valid slug");
    let put = |item| WriteOp::Put {
        item,
        condition: Condition::NotExists,
    };
    store
        .transact(vec![
            put(orgs::slug_claim_item(&slug, &org.id).unwrap()),
            put(org.item().unwrap()),
            put(plans::initial_item(&org).unwrap()),
        ])
        .await
        .expect("org stored");

    let (fake, clusters, kind, raw) = fake_platform(index, per_org).await;
    let credentials = parse::parse(
        kind,
        Some(&raw),
        Some("us-east-1"),
        EndpointPolicy::AllowLocal,
    )
    .expect("credentials the API would accept");
    let record = PlatformRecord {
        id: PlatformId::generate(),
        org_id: org.id.clone(),
        kind,
        name: format!("{kind} of org {index}"),
        region: credentials
            .region()
            .map(str::to_owned)
            .or(Some("us-east-1".to_owned())),
        status: PlatformStatus::Connected,
        created_at: now,
        updated_at: now,
        clusters_discovered: per_org as u32,
    };
    state
        .secrets
        .put(&record.secret_name(), &parse::to_secret(&credentials))
        .await
        .expect("secret stored");
    platforms::create(store, &record)
        .await
        .expect("platform stored");
    monitors::ensure(store, &org.id, now)
        .await
        .expect("monitor");
    let auto_hibernate = index.is_multiple_of(2);
    monitors::modify(store, &org.id, now, |monitor| {
        monitor.config.auto_hibernate = auto_hibernate;
        monitor.config.idle_threshold_minutes = IDLE_THRESHOLD_MINUTES;
    })
    .await
    .expect("monitoring configured");
    Org {
        id: org.id,
        auto_hibernate,
        fake,
        clusters,
    }
}

async fn world(orgs: usize, per_org: usize) -> World {
    let (state, clock, data_dir, tally) = app_state().await;
    let mut created = Vec::with_capacity(orgs);
    for index in 0..orgs {
        created.push(add_org(&state, index, per_org).await);
    }
    World {
        state,
        clock,
        data_dir,
        tally,
        orgs: created,
    }
}

struct TickOutcome {
    tick: TickReport,
    /// From the start of `tick` to the end of the last scan.
    wall: Duration,
    /// `tick` alone: finding the due orgs and claiming them.
    ticker: Duration,
    scan_times: Vec<Duration>,
    /// The same, by the org's platform, each sorted.
    scan_times_by_platform: BTreeMap<&'static str, Vec<Duration>>,
    reports: Vec<(OrgId, ScanReport)>,
    calls: BTreeMap<String, u64>,
    store: StoreTally,
    rss_before_kib: u64,
    peak_kib: u64,
    rss_after_kib: u64,
    db_bytes: u64,
}

/// Of sorted samples.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

impl TickOutcome {
    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    fn sum(&self, field: impl Fn(&ScanReport) -> usize) -> usize {
        self.reports.iter().map(|(_, report)| field(report)).sum()
    }

    fn scan_percentile(&self, p: f64) -> Duration {
        percentile(&self.scan_times, p)
    }
}

/// One tick with every dispatched scan run to completion, 8 at once, as `monitor::local` does.
async fn run_tick(world: &World) -> TickOutcome {
    for org in &world.orgs {
        org.fake.reset_calls();
    }
    *world.tally.lock().unwrap() = StoreTally::default();
    reset_peak();
    let (rss_before_kib, _) = memory_kib();

    let (sender, mut receiver) = mpsc::unbounded_channel();
    let dispatcher = ChannelDispatcher(sender);
    let started = Instant::now();
    let runner_state = world.state.clone();
    let runner = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(SCANS_AT_ONCE));
        let mut scans = Vec::new();
        while let Some(org) = receiver.recv().await {
            let slot = slots.clone().acquire_owned().await.expect("slots");
            let state = runner_state.clone();
            scans.push(tokio::spawn(async move {
                let _slot = slot;
                let began = Instant::now();
                let report = scan_org(&state, &org).await;
                (org, began.elapsed(), report)
            }));
        }
        let mut done = Vec::with_capacity(scans.len());
        for scan in scans {
            done.push(scan.await.expect("scan task"));
        }
        done
    });
    let tick = tick(world.state.store.as_ref(), world.clock.now(), &dispatcher)
        .await
        .expect("tick");
    let ticker = started.elapsed();
    drop(dispatcher);
    let scans = runner.await.expect("scan runner");
    let wall = started.elapsed();

    let (rss_after_kib, peak_kib) = memory_kib();
    let store = world.tally.lock().unwrap().clone();
    let mut calls = BTreeMap::new();
    for org in &world.orgs {
        org.fake.calls(&org.clusters, &mut calls);
    }
    let mut scan_times = Vec::with_capacity(scans.len());
    let mut scan_times_by_platform: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut reports = Vec::with_capacity(scans.len());
    for (org, took, report) in scans {
        let report = report.unwrap_or_else(|err| panic!("scan of {org} failed: {err:#}"));
        assert!(
            report.skipped.is_none(),
            "scan of {org} skipped: {:?}",
            report.skipped
        );
        assert_eq!(
            report.failed_platforms, 0,
            "scan of {org}: a platform failed"
        );
        assert_eq!(report.failed, 0, "scan of {org}: a hibernation failed");
        scan_times.push(took);
        let kind = world
            .orgs
            .iter()
            .find(|known| known.id == org)
            .map_or("unknown", |known| known.fake.kind());
        scan_times_by_platform.entry(kind).or_default().push(took);
        reports.push((org, report));
    }
    scan_times.sort_unstable();
    for times in scan_times_by_platform.values_mut() {
        times.sort_unstable();
    }
    TickOutcome {
        tick,
        wall,
        ticker,
        scan_times,
        scan_times_by_platform,
        reports,
        calls,
        store,
        rss_before_kib,
        peak_kib,
        rss_after_kib,
        db_bytes: world.db_bytes(),
    }
}

/// Every cluster seen on the first tick; after the second, exactly the idle clusters of the orgs
/// with `auto_hibernate` on are stopped, and the scans' reports agree.
fn check(world: &World, first: &TickOutcome, second: &TickOutcome) {
    let orgs = world.orgs.len();
    for outcome in [first, second] {
        assert_eq!(outcome.tick.due, orgs, "every org is due");
        assert_eq!(outcome.tick.dispatched, orgs, "every org is dispatched");
        assert_eq!(outcome.reports.len(), orgs, "every org is scanned");
        assert_eq!(
            outcome.sum(|r| r.clusters_seen),
            world.clusters(),
            "every cluster is seen"
        );
    }
    let mut expected = 0;
    for org in &world.orgs {
        let mut expected_here = 0;
        for (id, role) in &org.clusters {
            let should = org.auto_hibernate && *role == Role::Idle;
            expected_here += usize::from(should);
            assert_eq!(
                org.fake.stopped_by_us(id),
                should,
                "{} cluster {id} ({role:?}) of an org with auto_hibernate {}",
                org.fake.kind(),
                org.auto_hibernate
            );
        }
        let reported: usize = [first, second]
            .iter()
            .flat_map(|outcome| &outcome.reports)
            .filter(|(id, _)| *id == org.id)
            .map(|(_, report)| report.hibernated.len())
            .sum();
        assert_eq!(
            reported, expected_here,
            "hibernations reported for org {}",
            org.id
        );
        expected += expected_here;
    }
    let hibernated = first.sum(|r| r.hibernated.len()) + second.sum(|r| r.hibernated.len());
    assert_eq!(
        hibernated, expected,
        "hibernations reported over both ticks"
    );
    let databricks_idle: usize = world
        .orgs
        .iter()
        .filter(|org| matches!(org.fake, Fake::Databricks(_)))
        .map(|org| {
            org.clusters
                .iter()
                .filter(|(_, role)| *role == Role::Idle)
                .count()
        })
        .sum();
    assert!(
        second.sum(|r| r.idle) >= databricks_idle,
        "Databricks' idle clusters are idle by the second tick"
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Run {
    orgs: usize,
    clusters: usize,
    setup: Duration,
    setup_rss_kib: u64,
    setup_db_bytes: u64,
    ticks: [TickOutcome; 2],
}

fn print_summary(runs: &[Run], peak_resets: bool) {
    println!();
    println!(
        "{:<14} {:>4} {:>9} {:>7} {:>8} {:>8} {:>7} {:>6} {:>7} {:>7} {:>6} {:>8} {:>8} {:>5} {:>5}",
        "fleet",
        "tick",
        "wall ms",
        "tick ms",
        "scan p50",
        "scan max",
        "calls",
        "/cl",
        "reads",
        "writes",
        "w/cl",
        "peak +MiB",
        "DB MiB",
        "idle",
        "hib."
    );
    for run in runs {
        for (n, outcome) in run.ticks.iter().enumerate() {
            let clusters = run.clusters as f64;
            println!(
                "{:<14} {:>4} {:>9.0} {:>7.1} {:>8.0} {:>8.0} {:>7} {:>6.2} {:>7} {:>7} {:>6.2} {:>8.1} {:>8.1} {:>5} {:>5}",
                format!("{}×{}={}", run.orgs, run.clusters / run.orgs, run.clusters),
                n + 1,
                ms(outcome.wall),
                ms(outcome.ticker),
                ms(outcome.scan_percentile(0.5)),
                ms(outcome.scan_percentile(1.0)),
                outcome.total_calls(),
                outcome.total_calls() as f64 / clusters,
                outcome.store.reads,
                outcome.store.writes,
                outcome.store.writes as f64 / clusters,
                mib(outcome.peak_kib.saturating_sub(outcome.rss_before_kib)),
                outcome.db_bytes as f64 / (1024.0 * 1024.0),
                outcome.sum(|r| r.idle),
                outcome.sum(|r| r.hibernated.len()),
            );
        }
    }
    println!();
    println!(
        "wall: tick() plus every scan it dispatched, {SCANS_AT_ONCE} at once; tick ms: tick() alone (due query + claims)."
    );
    println!(
        "scan p50/max: one org's scan_org, ms. calls: requests the fake platforms received; /cl per cluster."
    );
    println!(
        "reads/writes: store operations (a transaction's items count one each); w/cl per cluster."
    );
    if peak_resets {
        println!(
            "peak +MiB: VmHWM during the tick minus VmRSS before it (VmHWM reset through /proc/self/clear_refs)."
        );
    } else {
        println!(
            "peak +MiB: VmHWM after the tick minus VmRSS before it (VmHWM could not be reset: a lower bound)."
        );
    }
    println!(
        "memory includes the fake platforms, which run in this process. DB MiB: dtap.redb after the tick."
    );
    for run in runs {
        println!();
        println!(
            "{} orgs × {} clusters: setup {:.1}s, RSS after setup {:.1} MiB (fakes and app), DB {:.2} MiB before the first tick",
            run.orgs,
            run.clusters / run.orgs,
            run.setup.as_secs_f64(),
            mib(run.setup_rss_kib),
            run.setup_db_bytes as f64 / (1024.0 * 1024.0),
        );
        for (n, outcome) in run.ticks.iter().enumerate() {
            println!(
                "  tick {}: RSS {:.1} → peak {:.1} → {:.1} MiB; alerts raised {}; store: {} reads in {:.0} ms, {} write calls in {:.0} ms ({:.2} ms each; {:.1} callers in a write on average over the wall time)",
                n + 1,
                mib(outcome.rss_before_kib),
                mib(outcome.peak_kib),
                mib(outcome.rss_after_kib),
                outcome.sum(|r| r.alerts_raised),
                outcome.store.reads,
                ms(outcome.store.read_time),
                outcome.store.commits,
                ms(outcome.store.write_time),
                ms(outcome.store.write_time) / outcome.store.commits.max(1) as f64,
                outcome.store.write_time.as_secs_f64() / outcome.wall.as_secs_f64(),
            );
            for (kind, times) in &outcome.scan_times_by_platform {
                println!(
                    "    {} scans of {kind} orgs: p50 {:.0} ms, max {:.0} ms",
                    times.len(),
                    ms(percentile(times, 0.5)),
                    ms(percentile(times, 1.0)),
                );
            }
        }
        let labels: std::collections::BTreeSet<&String> = run
            .ticks
            .iter()
            .flat_map(|outcome| outcome.calls.keys())
            .collect();
        println!("  upstream calls by path (per cluster of that platform), tick 1 | tick 2:");
        for label in labels {
            let per = |outcome: &TickOutcome| outcome.calls.get(label).copied().unwrap_or(0);
            let platform_clusters = run_platform_clusters(run, label);
            println!(
                "    {:<40} {:>7} ({:>5.2}) | {:>7} ({:>5.2})",
                label,
                per(&run.ticks[0]),
                per(&run.ticks[0]) as f64 / platform_clusters,
                per(&run.ticks[1]),
                per(&run.ticks[1]) as f64 / platform_clusters,
            );
        }
        let kinds: std::collections::BTreeSet<&String> = run
            .ticks
            .iter()
            .flat_map(|outcome| outcome.store.writes_by_kind.keys())
            .collect();
        println!("  store writes by kind, tick 1 | tick 2:");
        for kind in kinds {
            let per = |outcome: &TickOutcome| {
                outcome.store.writes_by_kind.get(kind).copied().unwrap_or(0)
            };
            println!(
                "    {:<40} {:>7} | {:>7}",
                kind,
                per(&run.ticks[0]),
                per(&run.ticks[1])
            );
        }
    }
    if let [small, large, ..] = runs {
        println!();
        let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { f64::NAN };
        println!(
            "growth {} → {} clusters (×{:.0}):",
            small.clusters,
            large.clusters,
            large.clusters as f64 / small.clusters as f64
        );
        for n in 0..2 {
            let (a, b) = (&small.ticks[n], &large.ticks[n]);
            println!(
                "  tick {}: wall ×{:.1}, scan p50 ×{:.1}, calls ×{:.1}, writes ×{:.1}, peak memory growth ×{:.1}, DB ×{:.1}",
                n + 1,
                ratio(ms(a.wall), ms(b.wall)),
                ratio(ms(a.scan_percentile(0.5)), ms(b.scan_percentile(0.5))),
                ratio(a.total_calls() as f64, b.total_calls() as f64),
                ratio(a.store.writes as f64, b.store.writes as f64),
                ratio(
                    a.peak_kib.saturating_sub(a.rss_before_kib) as f64,
                    b.peak_kib.saturating_sub(b.rss_before_kib) as f64
                ),
                ratio(a.db_bytes as f64, b.db_bytes as f64),
            );
        }
    }
}

/// Clusters on the platform a call label belongs to, to divide by.
fn run_platform_clusters(run: &Run, label: &str) -> f64 {
    let orgs = (0..run.orgs)
        .filter(|index| (index % 5 == 4) == label.starts_with("dataproc"))
        .count();
    (orgs * (run.clusters / run.orgs)).max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let peak_resets = reset_peak();
    let mut runs = Vec::new();
    for (orgs, per_org) in sizes() {
        let started = Instant::now();
        let world = world(orgs, per_org).await;
        let setup = started.elapsed();
        let (setup_rss_kib, _) = memory_kib();
        let setup_db_bytes = world.db_bytes();

        let first = run_tick(&world).await;
        world
            .clock
            .advance(chrono::Duration::minutes(SCAN_INTERVAL_MINUTES));
        let second = run_tick(&world).await;
        check(&world, &first, &second);
        println!(
            "{orgs} orgs × {per_org} clusters: first tick {:.2}s, second {:.2}s",
            first.wall.as_secs_f64(),
            second.wall.as_secs_f64()
        );
        runs.push(Run {
            orgs,
            clusters: world.clusters(),
            setup,
            setup_rss_kib,
            setup_db_bytes,
            ticks: [first, second],
        });
        // The fakes and the data dir go before the next size is built.
        drop(world);
    }
    print_summary(&runs, peak_resets);
}
