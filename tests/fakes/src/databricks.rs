//! A fake Databricks workspace: Clusters API 2.1 (list, get, delete, start, create, resize,
//! events), Jobs runs list 2.2, PAT and OAuth M2M auth, with the cluster state machine, the
//! 30-day purge, error and latency injection, and per-path call counters.
//!
//! It also runs SQL statements (`POST /api/2.0/sql/statements`, `GET …/{id}`, `POST …/{id}/cancel`)
//! on one SQL warehouse, [`FakeDatabricks::warehouse_id`], as far as utilisation needs: a
//! statement on `system.compute.node_timeline` that binds `:cluster_id` as a named parameter is
//! answered with the aggregates it names (`avg_cpu_pct`, `p95_cpu_pct`, `avg_mem_pct`,
//! `node_minutes`, `cluster_id`) from what [`FakeDatabricks::set_utilization`] set for that cluster.
//! Anything else ends FAILED, with HTTP 200, as Databricks reports statement failures.
//!
//! Instance pools 2.0 (`/api/2.0/instance-pools/{create,get,list,edit,delete}`) are kept per
//! workspace with unique names and `stats` that tests set ([`FakeDatabricks::set_pool_stats`]);
//! `clusters/edit` replaces a cluster's spec (a running cluster restarts, as on Databricks), and
//! [`FakeDatabricks::add_event`] adds events of any type at any time (pool claims, lost nodes).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::loopback::{self, LoopbackServer};

const MAX_LIST_PAGE: usize = 100;
const MAX_RUNS_PAGE: usize = 25;
const MAX_EVENTS_PAGE: usize = 500;
/// The SQL warehouse every fake workspace has.
const WAREHOUSE_ID: &str = "fa4e0123456789ab";
/// The aggregate columns a utilisation statement may name, and their SQL types.
const UTILIZATION_COLUMNS: [(&str, &str); 5] = [
    ("cluster_id", "STRING"),
    ("avg_cpu_pct", "DOUBLE"),
    ("p95_cpu_pct", "DOUBLE"),
    ("avg_mem_pct", "DOUBLE"),
    ("node_minutes", "LONG"),
];

#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The personal access token the workspace accepts.
    pub token: String,
    /// The service principal the token endpoint accepts.
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of the OAuth tokens it issues (whole seconds on the wire).
    pub token_ttl: Duration,
    /// How long TERMINATING, PENDING and RESIZING last; zero: until the next request.
    pub transition_delay: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            token: "dapi-fake-personal-token-0123456789".to_owned(),
            client_id: "fake-service-principal".to_owned(),
            client_secret: "dose-fake-client-secret-9876543210".to_owned(),
            token_ttl: Duration::from_secs(3600),
            transition_delay: Duration::ZERO,
        }
    }
}

/// What an injected failure does to a request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers with this status and a Databricks error body, without acting.
    Status {
        status: u16,
        error_code: String,
        message: String,
        retry_after: Option<u64>,
    },
    /// Acts, then answers with this status: the client cannot tell whether it was applied.
    AfterApplying(u16),
    /// Holds the request this long, then handles it normally (the client has likely given up).
    Hang(Duration),
}

impl Fault {
    /// A failure with Databricks' usual error code for the status.
    pub fn status(status: u16) -> Self {
        let error_code = match status {
            400 => "INVALID_PARAMETER_VALUE",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "RESOURCE_DOES_NOT_EXIST",
            409 => "RESOURCE_CONFLICT",
            429 => "REQUEST_LIMIT_EXCEEDED",
            503 => "TEMPORARILY_UNAVAILABLE",
            _ => "INTERNAL_ERROR",
        };
        Self::Status {
            status,
            error_code: error_code.to_owned(),
            message: format!("injected failure {status}"),
            retry_after: None,
        }
    }

    pub fn throttled(retry_after: u64) -> Self {
        Self::Status {
            status: 429,
            error_code: "REQUEST_LIMIT_EXCEEDED".to_owned(),
            message: "injected throttling".to_owned(),
            retry_after: Some(retry_after),
        }
    }
}

/// A running fake workspace; it stops when dropped.
pub struct FakeDatabricks {
    server: LoopbackServer,
    config: FakeConfig,
    state: Arc<Mutex<Workspace>>,
}

impl FakeDatabricks {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        let (listener, url) = loopback::bind("the fake Databricks workspace").await;
        let state = Arc::new(Mutex::new(Workspace::new(url.clone(), config.clone())));
        let server = LoopbackServer::serve(listener, url, router(state.clone()));
        Self {
            server,
            config,
            state,
        }
    }

    /// `http://127.0.0.1:<port>`, the workspace URL to connect to.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Workspace> {
        lock(&self.state)
    }

    /// Adds a cluster from a create spec (`cluster_name`, `node_type_id`, `num_workers` or
    /// `autoscale`, …); an extra `"state"` (default `RUNNING`) sets where it starts.
    pub fn add_cluster(&self, mut spec: Value) -> String {
        let state = spec
            .as_object_mut()
            .and_then(|fields| fields.remove("state"))
            .and_then(|state| state.as_str().map(str::to_owned))
            .unwrap_or_else(|| "RUNNING".to_owned());
        self.lock().insert(spec, &state)
    }

    /// Seeds a realistic fleet of `n` clusters (mixed teams, node types, sizes and states) and
    /// returns their ids, in listing order.
    pub fn fleet(&self, n: usize) -> Vec<String> {
        const TEAMS: [&str; 8] = [
            "etl",
            "analytics",
            "ml-training",
            "bi",
            "data-science",
            "streaming",
            "adhoc",
            "reporting",
        ];
        const NODES: [&str; 5] = [
            "i3.xlarge",
            "r5d.2xlarge",
            "m5d.large",
            "i3.2xlarge",
            "r5d.4xlarge",
        ];
        const ZONES: [&str; 4] = ["us-east-1a", "us-east-1b", "us-west-2a", "eu-west-1c"];
        const STATES: [&str; 20] = [
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "RUNNING",
            "TERMINATED",
            "TERMINATED",
            "TERMINATED",
            "TERMINATED",
            "TERMINATED",
            "TERMINATED",
            "PENDING",
            "RESIZING",
            "ERROR",
        ];
        let mut seed: u64 = 0x5eed_da7a;
        let mut next = move |bound: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % bound
        };
        (0..n)
            .map(|i| {
                let team = TEAMS[next(TEAMS.len())];
                let node = NODES[next(NODES.len())];
                let workers = 1 + next(16);
                let autotermination = [0, 30, 60, 120][next(4)];
                let zone = ZONES[next(ZONES.len())];
                let mut spec = json!({
                    "cluster_name": format!("{team}-{i:04}"),
                    "spark_version": "15.4.x-scala2.12",
                    "node_type_id": node,
                    "driver_node_type_id": if next(4) == 0 { "r5d.2xlarge" } else { node },
                    "autotermination_minutes": autotermination,
                    "aws_attributes": {"zone_id": zone, "availability": "SPOT_WITH_FALLBACK"},
                    "custom_tags": {"team": team},
                    "state": STATES[next(STATES.len())],
                });
                if next(5) == 0 {
                    spec["autoscale"] =
                        json!({"min_workers": workers.min(4), "max_workers": workers.max(4) + 4});
                } else {
                    spec["num_workers"] = json!(workers);
                }
                self.add_cluster(spec)
            })
            .collect()
    }

    /// Starts a fake with `n` clusters seeded by [`Self::fleet`].
    pub async fn with_fleet(n: usize) -> Self {
        let fake = Self::start().await;
        fake.fleet(n);
        fake
    }

    /// Forgets the cluster, as Databricks does 30 days after it terminated.
    pub fn purge(&self, cluster_id: &str) {
        self.lock().clusters.remove(cluster_id);
    }

    /// The next `times` requests to `path` (e.g. `/api/2.1/clusters/delete`) fail with `fault`.
    pub fn fail_next(&self, path: &str, times: usize, fault: Fault) {
        let mut workspace = self.lock();
        let queue = workspace.faults.entry(path.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Drops the failures still queued for every path.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every request to `path` waits this long before it is handled.
    pub fn set_latency(&self, path: &str, latency: Duration) {
        self.lock().latency.insert(path.to_owned(), latency);
    }

    /// Requests received for `path` (whatever their outcome, injected failures included).
    pub fn calls(&self, path: &str) -> u64 {
        self.lock().calls.get(path).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> u64 {
        self.lock().calls.values().sum()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// How many times the cluster was actually moved from running to terminating.
    pub fn terminations(&self, cluster_id: &str) -> u32 {
        self.lock()
            .clusters
            .get(cluster_id)
            .map_or(0, |cluster| cluster.terminations)
    }

    /// How many times the cluster was actually started from terminated.
    pub fn starts(&self, cluster_id: &str) -> u32 {
        self.lock()
            .clusters
            .get(cluster_id)
            .map_or(0, |cluster| cluster.starts)
    }

    /// Clusters created through `clusters/create`.
    pub fn creations(&self) -> u32 {
        self.lock().creations
    }

    /// The cluster as `clusters/get` describes it now.
    pub fn cluster(&self, cluster_id: &str) -> Option<Value> {
        let mut workspace = self.lock();
        workspace.settle();
        workspace
            .clusters
            .get(cluster_id)
            .map(|cluster| cluster.describe(true))
    }

    /// Starts a job run with one task on the existing cluster; returns the run id.
    pub fn add_run(&self, cluster_id: &str) -> u64 {
        let mut workspace = self.lock();
        workspace.next_run += 1;
        let run_id = workspace.next_run;
        workspace.runs.push(FakeRun {
            run_id,
            cluster_id: cluster_id.to_owned(),
            start_time: now_ms(),
            active: true,
        });
        run_id
    }

    pub fn finish_run(&self, run_id: u64) {
        if let Some(run) = self.lock().runs.iter_mut().find(|run| run.run_id == run_id) {
            run.active = false;
        }
    }

    /// The id of the workspace's SQL warehouse; statements on any other warehouse end FAILED.
    /// Adds an event to a cluster's history (`type` as Databricks names it, `at_ms` epoch ms);
    /// events list in time order.
    pub fn add_event(&self, cluster_id: &str, at_ms: i64, kind: &'static str) {
        if let Some(cluster) = self.lock().clusters.get_mut(cluster_id) {
            cluster.events.push((at_ms, kind));
            cluster.events.sort_by_key(|(at, _)| *at);
        }
    }

    /// Sets the `stats` of an instance pool (used, idle, pending used, pending idle).
    pub fn set_pool_stats(
        &self,
        pool_id: &str,
        used: u32,
        idle: u32,
        pending_used: u32,
        pending_idle: u32,
    ) {
        if let Some(pool) = self.lock().pools.get_mut(pool_id) {
            pool.insert(
                "stats".to_owned(),
                json!({"used_count": used, "idle_count": idle,
                       "pending_used_count": pending_used, "pending_idle_count": pending_idle}),
            );
        }
    }

    /// An instance pool as `instance-pools/get` answers it; `None` once deleted.
    pub fn pool(&self, pool_id: &str) -> Option<Value> {
        self.lock().pools.get(pool_id).cloned().map(Value::Object)
    }

    /// Instance pools that exist.
    pub fn pool_count(&self) -> usize {
        self.lock().pools.len()
    }

    /// How many times `clusters/edit` changed the cluster.
    pub fn edits(&self, cluster_id: &str) -> u32 {
        self.lock().edits.get(cluster_id).copied().unwrap_or(0)
    }

    pub fn warehouse_id(&self) -> &str {
        WAREHOUSE_ID
    }

    /// What `system.compute.node_timeline` shows for the cluster's workers over the last minutes:
    /// CPU (user + system) and memory in use, in percent. Until this is set the table has no rows
    /// for the cluster.
    pub fn set_utilization(&self, cluster_id: &str, cpu_percent: f64, mem_percent: f64) {
        self.lock()
            .utilization
            .insert(cluster_id.to_owned(), (cpu_percent, mem_percent));
    }

    /// The next statements stay PENDING when submitted and RUNNING for `polls` polls before they
    /// finish; zero (the default) finishes them on submission.
    pub fn set_statement_polls(&self, polls: u32) {
        self.lock().statement_polls = polls;
    }

    /// The bodies of every `POST /api/2.0/sql/statements` received, oldest first.
    pub fn statements(&self) -> Vec<Value> {
        self.lock().statement_log.clone()
    }

    /// Statements cancelled through `POST /api/2.0/sql/statements/{id}/cancel`.
    pub fn cancelled_statements(&self) -> u32 {
        self.lock().cancellations
    }
}

struct Workspace {
    url: String,
    config: FakeConfig,
    clusters: BTreeMap<String, FakeCluster>,
    next_cluster: u64,
    creations: u32,
    runs: Vec<FakeRun>,
    next_run: u64,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    faults: HashMap<String, VecDeque<Fault>>,
    latency: HashMap<String, Duration>,
    calls: HashMap<String, u64>,
    warehouses: HashSet<String>,
    utilization: HashMap<String, (f64, f64)>,
    statement_polls: u32,
    statements: HashMap<String, FakeStatement>,
    next_statement: u64,
    statement_log: Vec<Value>,
    cancellations: u32,
    pools: BTreeMap<String, Map<String, Value>>,
    next_pool: u64,
    edits: HashMap<String, u32>,
}

struct FakeStatement {
    /// Polls left that answer RUNNING.
    polls_left: u32,
    /// The answer once it has finished.
    finished: Value,
    cancelled: bool,
}

struct FakeCluster {
    id: String,
    spec: Map<String, Value>,
    state: &'static str,
    /// The state it moves to, and when.
    next: Option<(&'static str, Instant)>,
    start_time: i64,
    last_restarted_time: Option<i64>,
    terminated_time: Option<i64>,
    events: Vec<(i64, &'static str)>,
    terminations: u32,
    starts: u32,
}

struct FakeRun {
    run_id: u64,
    cluster_id: String,
    start_time: i64,
    active: bool,
}

fn lock(state: &Mutex<Workspace>) -> MutexGuard<'_, Workspace> {
    // A panicking test thread must not take every later assertion down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn state_name(raw: &str) -> &'static str {
    match raw {
        "PENDING" => "PENDING",
        "RESTARTING" => "RESTARTING",
        "RESIZING" => "RESIZING",
        "TERMINATING" => "TERMINATING",
        "TERMINATED" => "TERMINATED",
        "ERROR" => "ERROR",
        "UNKNOWN" => "UNKNOWN",
        _ => "RUNNING",
    }
}

impl Workspace {
    fn new(url: String, config: FakeConfig) -> Self {
        Self {
            url,
            config,
            clusters: BTreeMap::new(),
            next_cluster: 0,
            creations: 0,
            runs: Vec::new(),
            next_run: 0,
            tokens: HashMap::new(),
            next_token: 0,
            faults: HashMap::new(),
            latency: HashMap::new(),
            calls: HashMap::new(),
            warehouses: HashSet::from([WAREHOUSE_ID.to_owned()]),
            utilization: HashMap::new(),
            statement_polls: 0,
            statements: HashMap::new(),
            next_statement: 0,
            statement_log: Vec::new(),
            cancellations: 0,
            pools: BTreeMap::new(),
            next_pool: 0,
            edits: HashMap::new(),
        }
    }

    fn insert(&mut self, spec: Value, state: &str) -> String {
        self.next_cluster += 1;
        // Databricks ids look like `0923-164208-meows279`; zero-padding keeps listing order.
        let id = format!(
            "1204-{:06}-fake{:04}",
            self.next_cluster,
            self.next_cluster % 10_000
        );
        let Value::Object(mut spec) = spec else {
            return id;
        };
        if !spec.contains_key("driver_node_type_id")
            && let Some(node) = spec.get("node_type_id").cloned()
        {
            spec.insert("driver_node_type_id".to_owned(), node);
        }
        let now = now_ms();
        let state = state_name(state);
        let mut cluster = FakeCluster {
            id: id.clone(),
            spec,
            state,
            next: None,
            start_time: now - 3_600_000 * (self.next_cluster as i64 % 48 + 1),
            last_restarted_time: None,
            terminated_time: (state == "TERMINATED").then_some(now - 3_600_000),
            events: Vec::new(),
            terminations: 0,
            starts: 0,
        };
        cluster.events.push((cluster.start_time, "CREATING"));
        if state != "PENDING" {
            cluster
                .events
                .push((cluster.start_time + 300_000, "RUNNING"));
        }
        self.clusters.insert(id.clone(), cluster);
        id
    }

    fn settle(&mut self) {
        let now = Instant::now();
        for cluster in self.clusters.values_mut() {
            if let Some((state, at)) = cluster.next
                && at <= now
            {
                cluster.enter(state, None);
            }
        }
    }

    fn accepts(&self, token: &str) -> bool {
        token == self.config.token
            || self
                .tokens
                .get(token)
                .is_some_and(|expires| Instant::now() < *expires)
    }
}

impl FakeCluster {
    fn enter(&mut self, state: &'static str, then: Option<(&'static str, Duration)>) {
        let now = now_ms();
        self.state = state;
        self.next = then.map(|(state, delay)| (state, Instant::now() + delay));
        match state {
            "TERMINATED" => self.terminated_time = Some(now),
            "RUNNING" => self.terminated_time = None,
            _ => {}
        }
        let event = match state {
            "PENDING" => "STARTING",
            "RUNNING" => "RUNNING",
            "RESIZING" => "RESIZING",
            "TERMINATING" => "TERMINATING",
            "TERMINATED" => "TERMINATED",
            _ => "UNKNOWN",
        };
        self.events.push((now, event));
    }

    fn describe(&self, with_spec: bool) -> Value {
        let mut details = self.spec.clone();
        let name = self
            .spec
            .get("cluster_name")
            .cloned()
            .unwrap_or(Value::String(String::new()));
        let mut extra = json!({
            "cluster_id": self.id,
            "cluster_name": name,
            "state": self.state,
            "state_message": "",
            "start_time": self.start_time,
            "cluster_source": "UI",
            "creator_user_name": "someone@example.com",
            "default_tags": {
                "Vendor": "Databricks",
                "Creator": "someone@example.com",
                "ClusterName": name,
                "ClusterId": self.id,
            },
            "executors": [],
        });
        if let Some(at) = self.last_restarted_time {
            extra["last_restarted_time"] = json!(at);
        }
        if let Some(at) = self.terminated_time {
            extra["terminated_time"] = json!(at);
            extra["termination_reason"] = json!({"code": "USER_REQUEST", "type": "SUCCESS"});
        }
        if with_spec {
            extra["spec"] = Value::Object(self.spec.clone());
        }
        if let Value::Object(extra) = extra {
            details.extend(extra);
        }
        Value::Object(details)
    }
}

fn router(state: Arc<Mutex<Workspace>>) -> Router {
    Router::new()
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(discovery),
        )
        .route("/oidc/v1/token", post(token))
        .route("/api/2.1/clusters/list", get(list))
        .route("/api/2.1/clusters/get", get(get_cluster))
        .route("/api/2.1/clusters/delete", post(delete))
        .route("/api/2.1/clusters/start", post(start))
        .route("/api/2.1/clusters/create", post(create))
        .route("/api/2.1/clusters/resize", post(resize))
        .route("/api/2.1/clusters/events", post(events))
        .route("/api/2.1/clusters/edit", post(edit))
        .route("/api/2.0/instance-pools/create", post(create_pool))
        .route("/api/2.0/instance-pools/get", get(get_pool))
        .route("/api/2.0/instance-pools/list", get(list_pools))
        .route("/api/2.0/instance-pools/edit", post(edit_pool))
        .route("/api/2.0/instance-pools/delete", post(delete_pool))
        .route("/api/2.2/jobs/runs/list", get(runs))
        .route("/api/2.0/sql/statements", post(execute_statement))
        .route("/api/2.0/sql/statements/{statement_id}", get(get_statement))
        .route(
            "/api/2.0/sql/statements/{statement_id}/cancel",
            post(cancel_statement),
        )
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

type Shared = State<Arc<Mutex<Workspace>>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

fn no_such_cluster(id: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        &format!("Cluster {id} does not exist"),
    )
}

/// Counts, delays, injects failures and checks credentials before any handler runs.
async fn gate(State(state): Shared, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let (latency, fault, authorized) = {
        let mut workspace = lock(&state);
        *workspace.calls.entry(path.clone()).or_default() += 1;
        let latency = workspace.latency.get(&path).copied();
        let fault = workspace
            .faults
            .get_mut(&path)
            .and_then(VecDeque::pop_front);
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let authorized = path.starts_with("/oidc/") || bearer.is_some_and(|t| workspace.accepts(t));
        workspace.settle();
        (latency, fault, authorized)
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Status {
            status,
            error_code,
            message,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(status, &error_code, &message);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
        Some(Fault::Hang(duration)) => tokio::time::sleep(duration).await,
        Some(Fault::AfterApplying(_)) | None => {}
    }
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Invalid access token.",
        );
    }
    let response = next.run(request).await;
    match fault {
        Some(Fault::AfterApplying(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, "INTERNAL_ERROR", "the answer was lost")
        }
        _ => response,
    }
}

async fn discovery(State(state): Shared) -> Response {
    let url = lock(&state).url.clone();
    axum::Json(json!({
        "issuer": format!("{url}/oidc"),
        "authorization_endpoint": format!("{url}/oidc/v1/authorize"),
        "token_endpoint": format!("{url}/oidc/v1/token"),
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
    }))
    .into_response()
}

async fn token(State(state): Shared, headers: HeaderMap, body: String) -> Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let mut workspace = lock(&state);
    let expected = format!(
        "{}:{}",
        workspace.config.client_id, workspace.config.client_secret
    );
    if credentials.as_deref() != Some(expected.as_str()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let form: HashMap<&str, &str> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    if form.get("grant_type") != Some(&"client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if form.get("scope") != Some(&"all-apis") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope must be all-apis",
        );
    }
    workspace.next_token += 1;
    let access_token = format!("fake-oauth-token-{:08}", workspace.next_token);
    let ttl = workspace.config.token_ttl;
    workspace
        .tokens
        .insert(access_token.clone(), Instant::now() + ttl);
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs().max(1),
        "scope": "all-apis",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<usize>,
    page_token: Option<String>,
}

fn page_offset(token: Option<&str>) -> Option<usize> {
    match token {
        None | Some("") => Some(0),
        Some(token) => token.strip_prefix("offset-")?.parse().ok(),
    }
}

async fn list(State(state): Shared, Query(query): Query<ListQuery>) -> Response {
    let Some(offset) = page_offset(query.page_token.as_deref()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "bad page_token",
        );
    };
    let size = query
        .page_size
        .filter(|size| *size > 0)
        .unwrap_or(MAX_LIST_PAGE)
        .min(MAX_LIST_PAGE);
    let workspace = lock(&state);
    let clusters: Vec<Value> = workspace
        .clusters
        .values()
        .skip(offset)
        .take(size)
        .map(|cluster| cluster.describe(false))
        .collect();
    let mut body = json!({ "clusters": clusters });
    if offset + size < workspace.clusters.len() {
        body["next_page_token"] = json!(format!("offset-{}", offset + size));
    }
    if offset > 0 {
        body["prev_page_token"] = json!(format!("offset-{}", offset.saturating_sub(size)));
    }
    axum::Json(body).into_response()
}

#[derive(Deserialize)]
struct ClusterQuery {
    cluster_id: String,
}

async fn get_cluster(State(state): Shared, Query(query): Query<ClusterQuery>) -> Response {
    let workspace = lock(&state);
    match workspace.clusters.get(&query.cluster_id) {
        Some(cluster) => axum::Json(cluster.describe(true)).into_response(),
        None => no_such_cluster(&query.cluster_id),
    }
}

fn cluster_id_of(body: &Value) -> Option<String> {
    body.get("cluster_id")?.as_str().map(str::to_owned)
}

fn missing_cluster_id() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        "Missing required field: cluster_id",
    )
}

fn purged(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Cluster {id} does not exist"),
    )
}

async fn delete(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(id) = cluster_id_of(&body) else {
        return missing_cluster_id();
    };
    let mut workspace = lock(&state);
    let delay = workspace.config.transition_delay;
    let Some(cluster) = workspace.clusters.get_mut(&id) else {
        return purged(&id);
    };
    // Terminating a terminating or terminated cluster is a no-op, as on Databricks.
    if !matches!(cluster.state, "TERMINATING" | "TERMINATED") {
        cluster.terminations += 1;
        cluster.enter("TERMINATING", Some(("TERMINATED", delay)));
    }
    axum::Json(json!({})).into_response()
}

async fn start(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(id) = cluster_id_of(&body) else {
        return missing_cluster_id();
    };
    let mut workspace = lock(&state);
    let delay = workspace.config.transition_delay;
    let Some(cluster) = workspace.clusters.get_mut(&id) else {
        return purged(&id);
    };
    if cluster.state != "TERMINATED" {
        let message = format!("Cluster {id} is in unexpected state {}.", cluster.state);
        return error(StatusCode::BAD_REQUEST, "INVALID_STATE", &message);
    }
    cluster.starts += 1;
    cluster.last_restarted_time = Some(now_ms());
    cluster.enter("PENDING", Some(("RUNNING", delay)));
    axum::Json(json!({})).into_response()
}

async fn create(State(state): Shared, axum::Json(spec): axum::Json<Value>) -> Response {
    if spec.get("spark_version").and_then(Value::as_str).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Missing required field: spark_version",
        );
    }
    let mut workspace = lock(&state);
    let delay = workspace.config.transition_delay;
    let id = workspace.insert(spec, "PENDING");
    workspace.creations += 1;
    if let Some(cluster) = workspace.clusters.get_mut(&id) {
        cluster.start_time = now_ms();
        cluster.next = Some(("RUNNING", Instant::now() + delay));
    }
    axum::Json(json!({ "cluster_id": id })).into_response()
}

async fn resize(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(id) = cluster_id_of(&body) else {
        return missing_cluster_id();
    };
    let mut workspace = lock(&state);
    let delay = workspace.config.transition_delay;
    let Some(cluster) = workspace.clusters.get_mut(&id) else {
        return purged(&id);
    };
    if cluster.state != "RUNNING" {
        let message = format!(
            "Cluster {id} is in unexpected state {}; resize needs RUNNING.",
            cluster.state
        );
        return error(StatusCode::BAD_REQUEST, "INVALID_STATE", &message);
    }
    match (body.get("num_workers"), body.get("autoscale")) {
        (Some(workers @ Value::Number(_)), _) => {
            cluster.spec.remove("autoscale");
            cluster
                .spec
                .insert("num_workers".to_owned(), workers.clone());
        }
        (None, Some(autoscale @ Value::Object(_))) => {
            cluster.spec.remove("num_workers");
            cluster
                .spec
                .insert("autoscale".to_owned(), autoscale.clone());
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "Either num_workers or autoscale must be given",
            );
        }
    }
    cluster.enter("RESIZING", Some(("RUNNING", delay)));
    axum::Json(json!({})).into_response()
}

#[derive(Deserialize)]
struct EventsRequest {
    cluster_id: String,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    event_types: Vec<String>,
}

async fn events(State(state): Shared, axum::Json(request): axum::Json<EventsRequest>) -> Response {
    let workspace = lock(&state);
    let Some(cluster) = workspace.clusters.get(&request.cluster_id) else {
        return no_such_cluster(&request.cluster_id);
    };
    let Some(offset) = page_offset(request.page_token.as_deref()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "bad page_token",
        );
    };
    let mut events: Vec<&(i64, &str)> = cluster
        .events
        .iter()
        .filter(|(_, kind)| {
            request.event_types.is_empty() || request.event_types.iter().any(|t| t == kind)
        })
        .collect();
    if request.order.as_deref() != Some("ASC") {
        events.reverse();
    }
    let size = request
        .page_size
        .filter(|size| *size > 0)
        .unwrap_or(50)
        .min(MAX_EVENTS_PAGE);
    let total = events.len();
    let page: Vec<Value> = events
        .into_iter()
        .skip(offset)
        .take(size)
        .map(|(timestamp, kind)| {
            json!({"cluster_id": cluster.id, "timestamp": timestamp, "type": kind, "details": {}})
        })
        .collect();
    let mut body = json!({ "events": page, "total_count": 0 });
    if offset + size < total {
        body["next_page_token"] = json!(format!("offset-{}", offset + size));
    }
    axum::Json(body).into_response()
}

/// `clusters/edit`: the body is the cluster's whole new spec. A terminated cluster stays
/// terminated; a running one restarts.
async fn edit(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(id) = cluster_id_of(&body) else {
        return missing_cluster_id();
    };
    let Value::Object(mut spec) = body else {
        return missing_cluster_id();
    };
    spec.remove("cluster_id");
    if !spec.contains_key("node_type_id") || !spec.contains_key("spark_version") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "edit needs the whole spec: node_type_id and spark_version are required",
        );
    }
    let mut workspace = lock(&state);
    let Some(cluster) = workspace.clusters.get_mut(&id) else {
        return purged(&id);
    };
    if !matches!(cluster.state, "RUNNING" | "TERMINATED") {
        let message = format!("Cluster {id} is in unexpected state {}.", cluster.state);
        return error(StatusCode::BAD_REQUEST, "INVALID_STATE", &message);
    }
    cluster.spec = spec;
    cluster.events.push((now_ms(), "EDITED"));
    if cluster.state == "RUNNING" {
        cluster.enter("RESTARTING", None);
        cluster.enter("RUNNING", None);
    }
    *workspace.edits.entry(id).or_default() += 1;
    axum::Json(json!({})).into_response()
}

fn pool_fields(body: &Value) -> Result<Map<String, Value>, Box<Response>> {
    let Value::Object(fields) = body else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "body must be an object",
        )));
    };
    let name = fields
        .get("instance_pool_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() || name.len() > 100 {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "instance_pool_name must be 1-100 characters",
        )));
    }
    if fields.get("node_type_id").and_then(Value::as_str).is_none() {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "node_type_id is required",
        )));
    }
    let min = fields
        .get("min_idle_instances")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if let Some(max) = fields.get("max_capacity").and_then(Value::as_u64)
        && min > max
    {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "min_idle_instances must not exceed max_capacity",
        )));
    }
    Ok(fields.clone())
}

fn no_such_pool(id: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER_VALUE",
        &format!("Instance pool {id} does not exist"),
    )
}

async fn create_pool(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let mut fields = match pool_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let mut workspace = lock(&state);
    let name = fields["instance_pool_name"].clone();
    if workspace
        .pools
        .values()
        .any(|pool| pool["instance_pool_name"] == name)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            "an instance pool with this name already exists",
        );
    }
    workspace.next_pool += 1;
    let id = format!(
        "1204-{:06}-pool{:04}",
        workspace.next_pool,
        workspace.next_pool % 10_000
    );
    fields.insert("instance_pool_id".to_owned(), json!(id));
    fields.insert("state".to_owned(), json!("ACTIVE"));
    fields.entry("min_idle_instances").or_insert(json!(0));
    fields.insert(
        "stats".to_owned(),
        json!({"used_count": 0, "idle_count": 0, "pending_used_count": 0, "pending_idle_count": 0}),
    );
    workspace.pools.insert(id.clone(), fields);
    axum::Json(json!({ "instance_pool_id": id })).into_response()
}

#[derive(Deserialize)]
struct PoolQuery {
    instance_pool_id: String,
}

async fn get_pool(State(state): Shared, Query(query): Query<PoolQuery>) -> Response {
    match lock(&state).pools.get(&query.instance_pool_id) {
        Some(pool) => axum::Json(Value::Object(pool.clone())).into_response(),
        None => no_such_pool(&query.instance_pool_id),
    }
}

async fn list_pools(State(state): Shared) -> Response {
    let pools: Vec<Value> = lock(&state)
        .pools
        .values()
        .cloned()
        .map(Value::Object)
        .collect();
    axum::Json(json!({ "instance_pools": pools })).into_response()
}

async fn edit_pool(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let fields = match pool_fields(&body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let Some(id) = fields
        .get("instance_pool_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "instance_pool_id is required",
        );
    };
    let mut workspace = lock(&state);
    let Some(pool) = workspace.pools.get_mut(&id) else {
        return no_such_pool(&id);
    };
    if pool.get("node_type_id") != fields.get("node_type_id") {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "node_type_id of an instance pool cannot be changed",
        );
    }
    for (key, value) in fields {
        if key != "stats" && key != "state" {
            pool.insert(key, value);
        }
    }
    axum::Json(json!({})).into_response()
}

async fn delete_pool(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let Some(id) = body.get("instance_pool_id").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "instance_pool_id is required",
        );
    };
    match lock(&state).pools.remove(id) {
        Some(_) => axum::Json(json!({})).into_response(),
        None => no_such_pool(id),
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    active_only: Option<bool>,
    expand_tasks: Option<bool>,
    limit: Option<usize>,
    page_token: Option<String>,
}

async fn runs(State(state): Shared, Query(query): Query<RunsQuery>) -> Response {
    let limit = query.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_RUNS_PAGE {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "limit must be between 1 and 25",
        );
    }
    let Some(offset) = page_offset(query.page_token.as_deref()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "bad page_token",
        );
    };
    let workspace = lock(&state);
    let active_only = query.active_only.unwrap_or(false);
    let expand = query.expand_tasks.unwrap_or(false);
    let matching: Vec<&FakeRun> = workspace
        .runs
        .iter()
        .rev()
        .filter(|run| !active_only || run.active)
        .collect();
    let runs: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|run| {
            let life_cycle = if run.active { "RUNNING" } else { "TERMINATED" };
            let mut value = json!({
                "run_id": run.run_id,
                "job_id": 1000 + run.run_id,
                "start_time": run.start_time,
                "state": {"life_cycle_state": life_cycle},
                "run_type": "JOB_RUN",
            });
            // A multi-task run names its cluster only in its tasks, which need expand_tasks.
            if expand {
                value["tasks"] = json!([{
                    "task_key": "main",
                    "run_id": run.run_id * 10,
                    "existing_cluster_id": run.cluster_id,
                    "cluster_instance": {"cluster_id": run.cluster_id},
                }]);
            }
            value
        })
        .collect();
    let has_more = offset + limit < matching.len();
    let mut body = json!({ "runs": runs, "has_more": has_more });
    if has_more {
        body["next_page_token"] = json!(format!("offset-{}", offset + limit));
    }
    axum::Json(body).into_response()
}

/// A statement's answer once it has ended FAILED (which Databricks reports with HTTP 200).
fn failed_statement(id: &str, code: &str, message: &str) -> Value {
    json!({
        "statement_id": id,
        "status": {"state": "FAILED", "error": {"error_code": code, "message": message}},
    })
}

/// The named parameter markers (`:name`) of a statement, in order.
fn parameter_markers(statement: &str) -> Vec<String> {
    let mut markers = Vec::new();
    let mut chars = statement.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != ':' {
            continue;
        }
        let mut name = String::new();
        while let Some((_, next)) = chars.peek() {
            if next.is_ascii_alphanumeric() || *next == '_' {
                name.push(*next);
                chars.next();
            } else {
                break;
            }
        }
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            markers.push(name);
        }
    }
    markers
}

/// The answer a statement ends with: the utilisation aggregates for the cluster bound to
/// `:cluster_id`, in the order the statement names them.
fn run_statement(workspace: &Workspace, id: &str, body: &Value) -> Value {
    let warehouse = body.get("warehouse_id").and_then(Value::as_str);
    if !warehouse.is_some_and(|warehouse| workspace.warehouses.contains(warehouse)) {
        return failed_statement(
            id,
            "NOT_FOUND",
            &format!("SQL warehouse {} does not exist.", warehouse.unwrap_or("")),
        );
    }
    let statement = body
        .get("statement")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !statement.contains("system.compute.node_timeline") {
        return failed_statement(
            id,
            "BAD_REQUEST",
            "The fake warehouse only answers utilisation queries on system.compute.node_timeline.",
        );
    }
    let parameters: HashMap<&str, &str> = body
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|parameter| {
            Some((
                parameter.get("name")?.as_str()?,
                parameter.get("value")?.as_str()?,
            ))
        })
        .collect();
    for marker in parameter_markers(statement) {
        if !parameters.contains_key(marker.as_str()) {
            return failed_statement(
                id,
                "BAD_REQUEST",
                &format!("[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {marker}."),
            );
        }
    }
    let Some(cluster_id) = parameters.get("cluster_id").copied() else {
        return failed_statement(
            id,
            "BAD_REQUEST",
            "The fake warehouse needs the cluster bound as the named parameter :cluster_id.",
        );
    };
    let mut named: Vec<(usize, &str, &str)> = UTILIZATION_COLUMNS
        .iter()
        .filter_map(|(name, kind)| {
            statement
                .find(&format!("AS {name}"))
                .or_else(|| statement.find(&format!("as {name}")))
                .map(|at| (at, *name, *kind))
        })
        .collect();
    named.sort_unstable();
    if named.is_empty() {
        return failed_statement(
            id,
            "BAD_REQUEST",
            "The fake warehouse answers only the aggregates avg_cpu_pct, p95_cpu_pct, avg_mem_pct and node_minutes.",
        );
    }
    let workers = workspace
        .clusters
        .get(cluster_id)
        .and_then(|cluster| cluster.spec.get("num_workers"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let utilization = workspace.utilization.get(cluster_id).copied();
    let row: Vec<Value> = named
        .iter()
        .map(|(_, name, _)| match (*name, utilization) {
            ("cluster_id", Some(_)) => json!(cluster_id),
            ("avg_cpu_pct" | "p95_cpu_pct", Some((cpu, _))) => json!(cpu.to_string()),
            ("avg_mem_pct", Some((_, memory))) => json!(memory.to_string()),
            ("node_minutes", Some(_)) => json!((workers * 10).to_string()),
            ("node_minutes", None) => json!("0"),
            _ => Value::Null,
        })
        .collect();
    let columns: Vec<Value> = named
        .iter()
        .enumerate()
        .map(|(position, (_, name, kind))| {
            json!({"name": name, "position": position, "type_name": kind, "type_text": kind.to_lowercase()})
        })
        .collect();
    json!({
        "statement_id": id,
        "status": {"state": "SUCCEEDED"},
        "manifest": {
            "format": "JSON_ARRAY",
            "schema": {"column_count": columns.len(), "columns": columns},
            "total_chunk_count": 1,
            "total_row_count": 1,
            "truncated": false,
        },
        "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": [row]},
    })
}

async fn execute_statement(State(state): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    let missing = |field: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            &format!("Missing required field: {field}"),
        )
    };
    if body.get("warehouse_id").and_then(Value::as_str).is_none() {
        return missing("warehouse_id");
    }
    if body.get("statement").and_then(Value::as_str).is_none() {
        return missing("statement");
    }
    if body
        .get("disposition")
        .and_then(Value::as_str)
        .is_some_and(|disposition| disposition != "INLINE")
        || body
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|format| format != "JSON_ARRAY")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "The fake warehouse answers INLINE JSON_ARRAY results only.",
        );
    }
    let mut workspace = lock(&state);
    workspace.statement_log.push(body.clone());
    workspace.next_statement += 1;
    let id = format!("01ef0000-0000-4000-8000-{:012}", workspace.next_statement);
    let finished = run_statement(&workspace, &id, &body);
    let polls = workspace.statement_polls;
    workspace.statements.insert(
        id.clone(),
        FakeStatement {
            polls_left: polls,
            finished: finished.clone(),
            cancelled: false,
        },
    );
    if polls > 0 {
        return axum::Json(json!({"statement_id": id, "status": {"state": "PENDING"}}))
            .into_response();
    }
    axum::Json(finished).into_response()
}

fn no_such_statement(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Statement {id} does not exist."),
    )
}

async fn get_statement(State(state): Shared, Path(id): Path<String>) -> Response {
    let mut workspace = lock(&state);
    let Some(statement) = workspace.statements.get_mut(&id) else {
        return no_such_statement(&id);
    };
    if statement.cancelled {
        return axum::Json(json!({"statement_id": id, "status": {"state": "CANCELED"}}))
            .into_response();
    }
    if statement.polls_left > 0 {
        statement.polls_left -= 1;
        return axum::Json(json!({"statement_id": id, "status": {"state": "RUNNING"}}))
            .into_response();
    }
    axum::Json(statement.finished.clone()).into_response()
}

async fn cancel_statement(State(state): Shared, Path(id): Path<String>) -> Response {
    let mut workspace = lock(&state);
    let Some(statement) = workspace.statements.get_mut(&id) else {
        return no_such_statement(&id);
    };
    if statement.polls_left > 0 && !statement.cancelled {
        statement.cancelled = true;
        workspace.cancellations += 1;
    }
    axum::Json(json!({})).into_response()
}
