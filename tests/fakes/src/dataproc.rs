//! A fake Google Dataproc region: the service-account token endpoint (JWT-bearer grant, RS256
//! assertions verified against the test key), clusters list/get/patch/stop/start, operations and
//! the active-jobs list, with the cluster state machine, `requestId` de-duplication, error and
//! latency injection, and per-path call counters.
//!
//! It also serves Cloud Monitoring's `projects.timeSeries.list` (`GET /v3/projects/{p}/timeSeries`)
//! for the two utilisation metrics, from what [`FakeDataproc::set_utilization`] set:
//! `dataproc.googleapis.com/cluster/yarn/allocated_memory_percentage` for the cluster named by
//! `resource.labels.cluster_name="…"`, and `compute.googleapis.com/instance/cpu/utilization` for
//! the VMs named by `metric.labels.instance_name=one_of("…", …)` (the `instanceNames` its clusters
//! list). Points are the mean over the requested interval, one per series, or one in all when a
//! `crossSeriesReducer` is asked for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::loopback::{self, LoopbackServer};

use crate::dataproc_keys::{TEST_PRIVATE_KEY_PEM, TEST_PUBLIC_KEY_PEM};

const MAX_LIST_PAGE: usize = 100;
const MAX_JOBS_PAGE: usize = 100;
const MEMORY_METRIC: &str = "dataproc.googleapis.com/cluster/yarn/allocated_memory_percentage";
const CPU_METRIC: &str = "compute.googleapis.com/instance/cpu/utilization";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Clone, Debug)]
pub struct DataprocConfig {
    pub project_id: String,
    pub region: String,
    /// The service account whose assertions the token endpoint accepts.
    pub client_email: String,
    /// Lifetime of the access tokens it issues (whole seconds on the wire).
    pub token_ttl: Duration,
    /// How long STOPPING, STARTING and UPDATING last (and so their operations); zero: until the
    /// next request.
    pub transition_delay: Duration,
}

impl Default for DataprocConfig {
    fn default() -> Self {
        Self {
            project_id: "dtap-fake-project".to_owned(),
            region: "us-central1".to_owned(),
            client_email: "dtap-scanner@dtap-fake-project.iam.gserviceaccount.com".to_owned(),
            token_ttl: Duration::from_secs(3600),
            transition_delay: Duration::ZERO,
        }
    }
}

/// What an injected failure does to a request.
#[derive(Clone, Debug)]
pub enum DataprocFault {
    /// Answers with this status and a Google error body, without acting.
    Status {
        status: u16,
        message: String,
        retry_after: Option<u64>,
    },
    /// Acts, then answers with this status: the client cannot tell whether it was applied.
    AfterApplying(u16),
    /// Holds the request this long, then handles it normally (the client has likely given up).
    Hang(Duration),
}

impl DataprocFault {
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            message: format!("injected failure {status}"),
            retry_after: None,
        }
    }

    pub fn throttled(retry_after: u64) -> Self {
        Self::Status {
            status: 429,
            message: "injected throttling".to_owned(),
            retry_after: Some(retry_after),
        }
    }
}

/// A running fake Dataproc; it stops when dropped.
pub struct FakeDataproc {
    server: LoopbackServer,
    config: DataprocConfig,
    state: Arc<Mutex<Region>>,
}

impl FakeDataproc {
    pub async fn start() -> Self {
        Self::start_with(DataprocConfig::default()).await
    }

    pub async fn start_with(config: DataprocConfig) -> Self {
        let (listener, url) = loopback::bind("the fake Dataproc").await;
        let state = Arc::new(Mutex::new(Region::new(url.clone(), config.clone())));
        let server = LoopbackServer::serve(listener, url, router(state.clone()));
        Self {
            server,
            config,
            state,
        }
    }

    /// Starts a fake with `n` clusters seeded by [`Self::fleet`].
    pub async fn with_fleet(n: usize) -> Self {
        let fake = Self::start().await;
        fake.fleet(n);
        fake
    }

    /// `http://127.0.0.1:<port>`: the API base URL, in place of `https://dataproc.googleapis.com`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.url())
    }

    pub fn config(&self) -> &DataprocConfig {
        &self.config
    }

    /// `/v1/projects/{project}/regions/{region}/clusters`, to name paths in counters and faults.
    pub fn clusters_path(&self) -> String {
        format!(
            "/v1/projects/{}/regions/{}/clusters",
            self.config.project_id, self.config.region
        )
    }

    /// A service-account JSON key the fake accepts, signed with the test-only key pair.
    pub fn service_account_key(&self) -> Value {
        json!({
            "type": "service_account",
            "project_id": self.config.project_id,
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": TEST_PRIVATE_KEY_PEM,
            "client_email": self.config.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Region> {
        lock(&self.state)
    }

    /// Adds a cluster named `name` with this `config` (the Cluster resource's `config`, e.g.
    /// `{"workerConfig": {"numInstances": 2, "machineTypeUri": "…/n2-standard-4"}}`), in `state`
    /// (`RUNNING`, `STOPPED`, `ERROR`, …).
    pub fn add_cluster(&self, name: &str, config: Value, state: &str) {
        self.lock().insert(name, config, state);
    }

    /// Seeds `n` clusters of mixed machine types, sizes and states; returns their names, in
    /// listing (alphabetical) order.
    pub fn fleet(&self, n: usize) -> Vec<String> {
        const TEAMS: [&str; 6] = ["etl", "analytics", "ml", "bi", "streaming", "adhoc"];
        const MACHINES: [&str; 4] = [
            "n2-standard-4",
            "n2-highmem-8",
            "e2-standard-8",
            "n1-standard-16",
        ];
        const STATES: [&str; 10] = [
            "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "STOPPED", "STOPPED", "STOPPED",
            "CREATING", "ERROR",
        ];
        let mut names: Vec<String> = (0..n)
            .map(|i| {
                let name = format!("{}-{i:05}", TEAMS[i % TEAMS.len()]);
                let machine = MACHINES[(i / 3) % MACHINES.len()];
                let config = instance_config(machine, 2 + (i % 7) as u32, (i % 4 == 0) as u32);
                self.add_cluster(&name, config, STATES[(i * 7) % STATES.len()]);
                name
            })
            .collect();
        names.sort();
        names
    }

    /// The next `times` requests to `path` fail with `fault`.
    pub fn fail_next(&self, path: &str, times: usize, fault: DataprocFault) {
        let mut region = self.lock();
        let queue = region.faults.entry(path.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// The next operation started (stop, start or update) ends with this `google.rpc.Status`
    /// error (`code` as in gRPC: 9 FAILED_PRECONDITION, 13 INTERNAL, …) and leaves the cluster
    /// as it was.
    pub fn fail_next_operation(&self, code: i32, message: &str) {
        self.lock()
            .operation_faults
            .push_back((code, message.to_owned()));
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

    /// Requests for any operation (`GET /v1/…/operations/…`).
    pub fn operation_polls(&self) -> u64 {
        self.lock()
            .calls
            .iter()
            .filter(|(path, _)| path.contains("/operations/"))
            .map(|(_, calls)| *calls)
            .sum()
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().next_token
    }

    /// Forgets every issued token, as a revocation would.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// How many times the cluster was actually moved from RUNNING to STOPPING.
    pub fn stops(&self, name: &str) -> u32 {
        self.lock().clusters.get(name).map_or(0, |c| c.stops)
    }

    /// How many times the cluster was actually moved from STOPPED to STARTING.
    pub fn starts(&self, name: &str) -> u32 {
        self.lock().clusters.get(name).map_or(0, |c| c.starts)
    }

    /// The cluster as `GET …/clusters/{name}` describes it now.
    pub fn cluster(&self, name: &str) -> Option<Value> {
        let mut region = self.lock();
        region.settle();
        let project = region.config.project_id.clone();
        region
            .clusters
            .get(name)
            .map(|cluster| cluster.describe(&project))
    }

    /// What Cloud Monitoring reports for the cluster: each of its VMs' CPU utilisation as a
    /// fraction from 0 to 1 (as `compute.googleapis.com/instance/cpu/utilization` has it), and
    /// YARN's allocated memory in percent. Until this is set there are no points for it.
    pub fn set_utilization(&self, cluster: &str, cpu_fraction: f64, mem_percent: f64) {
        self.lock()
            .utilization
            .insert(cluster.to_owned(), (cpu_fraction, mem_percent));
    }

    /// `/v3/projects/{project}/timeSeries`, to name Cloud Monitoring's path in counters and
    /// faults.
    pub fn time_series_path(&self) -> String {
        format!("/v3/projects/{}/timeSeries", self.config.project_id)
    }

    /// The `filter` of every `timeSeries` request received, oldest first.
    pub fn time_series_filters(&self) -> Vec<String> {
        self.lock().time_series_filters.clone()
    }

    /// Submits a running job to the cluster; returns its id.
    pub fn add_job(&self, cluster: &str) -> String {
        let mut region = self.lock();
        region.next_job += 1;
        let id = format!("job-{:06}", region.next_job);
        region.jobs.push(FakeJob {
            id: id.clone(),
            cluster: cluster.to_owned(),
            started: Utc::now(),
            active: true,
        });
        if let Some(cluster) = region.clusters.get_mut(cluster) {
            cluster.idle_since = None;
        }
        id
    }

    pub fn finish_job(&self, id: &str) {
        let mut region = self.lock();
        let Some(job) = region.jobs.iter_mut().find(|job| job.id == id) else {
            return;
        };
        job.active = false;
        let cluster = job.cluster.clone();
        let still_busy = region
            .jobs
            .iter()
            .any(|job| job.active && job.cluster == cluster);
        if !still_busy && let Some(cluster) = region.clusters.get_mut(&cluster) {
            cluster.idle_since = Some(Utc::now());
        }
    }
}

/// A cluster `config` with a master, `workers` primary workers and `secondary` preemptible
/// secondary workers of `machine`.
pub fn instance_config(machine: &str, workers: u32, secondary: u32) -> Value {
    let machine_uri = |machine: &str| {
        format!(
            "https://www.googleapis.com/compute/v1/projects/dtap-fake-project/zones/us-central1-a/machineTypes/{machine}"
        )
    };
    let mut config = json!({
        "configBucket": "dataproc-staging-us-central1-fake",
        "gceClusterConfig": {
            "zoneUri": "https://www.googleapis.com/compute/v1/projects/dtap-fake-project/zones/us-central1-a",
            "serviceAccountScopes": [SCOPE],
        },
        "masterConfig": {"numInstances": 1, "machineTypeUri": machine_uri("n2-standard-4"), "preemptibility": "NON_PREEMPTIBLE"},
        "workerConfig": {"numInstances": workers, "machineTypeUri": machine_uri(machine), "diskConfig": {"bootDiskSizeGb": 500}},
        "softwareConfig": {"imageVersion": "2.2.26-debian12", "properties": {"spark:spark.executor.cores": "4"}},
        "lifecycleConfig": {"idleStopTtl": "3600s"},
    });
    if secondary > 0 {
        config["secondaryWorkerConfig"] = json!({
            "numInstances": secondary, "machineTypeUri": machine_uri(machine),
            "isPreemptible": true, "preemptibility": "SPOT",
        });
    }
    config
}

struct Region {
    url: String,
    config: DataprocConfig,
    clusters: BTreeMap<String, FakeCluster>,
    operations: HashMap<String, FakeOperation>,
    next_operation: u64,
    request_ids: HashMap<String, String>,
    jobs: Vec<FakeJob>,
    next_job: u64,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    faults: HashMap<String, VecDeque<DataprocFault>>,
    operation_faults: VecDeque<(i32, String)>,
    latency: HashMap<String, Duration>,
    calls: HashMap<String, u64>,
    /// Per cluster: CPU utilisation (fraction) of each VM, YARN memory allocated (percent).
    utilization: HashMap<String, (f64, f64)>,
    time_series_filters: Vec<String>,
}

struct FakeCluster {
    name: String,
    uuid: String,
    config: Value,
    state: &'static str,
    state_since: DateTime<Utc>,
    /// The state it moves to, when, and the operation that completes then (with its error).
    next: Option<Transition>,
    idle_since: Option<DateTime<Utc>>,
    stops: u32,
    starts: u32,
}

struct Transition {
    to: &'static str,
    at: Instant,
    operation: String,
    error: Option<(i32, String)>,
}

struct FakeOperation {
    name: String,
    cluster: String,
    cluster_uuid: String,
    kind: &'static str,
    done: bool,
    error: Option<(i32, String)>,
}

struct FakeJob {
    id: String,
    cluster: String,
    started: DateTime<Utc>,
    active: bool,
}

fn lock(state: &Mutex<Region>) -> MutexGuard<'_, Region> {
    // A panicking test thread must not take every later assertion down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn state_name(raw: &str) -> &'static str {
    match raw {
        "CREATING" => "CREATING",
        "STARTING" => "STARTING",
        "UPDATING" => "UPDATING",
        "STOPPING" => "STOPPING",
        "STOPPED" => "STOPPED",
        "DELETING" => "DELETING",
        "ERROR" => "ERROR",
        "ERROR_DUE_TO_UPDATE" => "ERROR_DUE_TO_UPDATE",
        "REPAIRING" => "REPAIRING",
        "UNKNOWN" => "UNKNOWN",
        _ => "RUNNING",
    }
}

impl Region {
    fn new(url: String, config: DataprocConfig) -> Self {
        Self {
            url,
            config,
            clusters: BTreeMap::new(),
            operations: HashMap::new(),
            next_operation: 0,
            request_ids: HashMap::new(),
            jobs: Vec::new(),
            next_job: 0,
            tokens: HashMap::new(),
            next_token: 0,
            faults: HashMap::new(),
            operation_faults: VecDeque::new(),
            latency: HashMap::new(),
            calls: HashMap::new(),
            utilization: HashMap::new(),
            time_series_filters: Vec::new(),
        }
    }

    fn insert(&mut self, name: &str, config: Value, state: &str) {
        let index = self.clusters.len() as u64 + 1;
        let now = Utc::now();
        let state = state_name(state);
        self.clusters.insert(
            name.to_owned(),
            FakeCluster {
                name: name.to_owned(),
                uuid: format!("5f1c0000-0000-4000-8000-{index:012}"),
                config,
                state,
                state_since: now - chrono::Duration::hours(index as i64 % 48 + 1),
                next: None,
                idle_since: (state == "RUNNING").then(|| now - chrono::Duration::minutes(45)),
                stops: 0,
                starts: 0,
            },
        );
    }

    fn settle(&mut self) {
        let now = Instant::now();
        let mut finished = Vec::new();
        for cluster in self.clusters.values_mut() {
            if cluster.next.as_ref().is_some_and(|next| next.at <= now)
                && let Some(next) = cluster.next.take()
            {
                cluster.enter(next.to);
                finished.push((next.operation, next.error));
            }
        }
        for (name, error) in finished {
            if let Some(operation) = self.operations.get_mut(&name) {
                operation.done = true;
                operation.error = error;
            }
        }
    }

    fn accepts(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    /// Starts an operation moving the cluster to `during`, then `to` (or back to where it was,
    /// when an operation failure was injected).
    fn begin(
        &mut self,
        name: &str,
        kind: &'static str,
        during: &'static str,
        to: &'static str,
    ) -> String {
        self.next_operation += 1;
        let operation = format!(
            "projects/{}/regions/{}/operations/0a1b2c3d-0000-4000-8000-{:012}",
            self.config.project_id, self.config.region, self.next_operation
        );
        let error = self.operation_faults.pop_front();
        let delay = self.config.transition_delay;
        let Some(cluster) = self.clusters.get_mut(name) else {
            return operation;
        };
        let to = if error.is_some() { cluster.state } else { to };
        cluster.enter(during);
        cluster.next = Some(Transition {
            to,
            at: Instant::now() + delay,
            operation: operation.clone(),
            error,
        });
        self.operations.insert(
            operation.clone(),
            FakeOperation {
                name: operation.clone(),
                cluster: name.to_owned(),
                cluster_uuid: cluster.uuid.clone(),
                kind,
                done: false,
                error: None,
            },
        );
        operation
    }

    fn describe_operation(&self, name: &str) -> Option<Value> {
        let operation = self.operations.get(name)?;
        let mut body = json!({
            "name": operation.name,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.dataproc.v1.ClusterOperationMetadata",
                "clusterName": operation.cluster,
                "clusterUuid": operation.cluster_uuid,
                "operationType": operation.kind,
                "status": {"state": if operation.done { "DONE" } else { "RUNNING" }},
            },
            "done": operation.done,
        });
        match (&operation.error, operation.done) {
            (Some((code, message)), true) => {
                body["error"] = json!({"code": code, "message": message});
            }
            (None, true) => {
                if let Some(cluster) = self.clusters.get(&operation.cluster) {
                    body["response"] = cluster.describe(&self.config.project_id);
                }
            }
            _ => {}
        }
        Some(body)
    }
}

impl FakeCluster {
    fn enter(&mut self, state: &'static str) {
        self.state = state;
        self.state_since = Utc::now();
    }

    /// The VMs of an instance group as Dataproc names them: `{cluster}-m`, `{cluster}-w-{n}`,
    /// `{cluster}-sw-{n}`.
    fn instance_names(&self, group: &str) -> Vec<String> {
        let count = self
            .config
            .get(group)
            .and_then(|group| group.get("numInstances"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let name = &self.name;
        (0..count)
            .map(|n| match group {
                "masterConfig" if count == 1 => format!("{name}-m"),
                "masterConfig" => format!("{name}-m-{n}"),
                "workerConfig" => format!("{name}-w-{n}"),
                _ => format!("{name}-sw-{n:04x}"),
            })
            .collect()
    }

    fn describe(&self, project: &str) -> Value {
        let mut config = self.config.clone();
        for group in ["masterConfig", "workerConfig", "secondaryWorkerConfig"] {
            let names = self.instance_names(group);
            if let Some(fields) = config.get_mut(group).and_then(Value::as_object_mut)
                && !fields.contains_key("instanceNames")
                && !names.is_empty()
            {
                fields.insert("instanceNames".to_owned(), json!(names));
            }
        }
        if self.state == "RUNNING"
            && let Some(idle) = self.idle_since
            && let Some(fields) = config.as_object_mut()
        {
            let lifecycle = fields.entry("lifecycleConfig").or_insert_with(|| json!({}));
            lifecycle["idleStartTime"] = json!(timestamp(idle));
        }
        json!({
            "projectId": project,
            "clusterName": self.name,
            "clusterUuid": self.uuid,
            "config": config,
            "labels": {"goog-dataproc-cluster-name": self.name, "goog-dataproc-cluster-uuid": self.uuid, "goog-dataproc-location": "us-central1"},
            "status": {"state": self.state, "stateStartTime": timestamp(self.state_since)},
            "statusHistory": [{"state": "CREATING", "stateStartTime": timestamp(self.state_since - chrono::Duration::minutes(3))}],
        })
    }
}

fn router(state: Arc<Mutex<Region>>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route(
            "/v1/projects/{project}/regions/{region}/clusters",
            get(list),
        )
        .route(
            "/v1/projects/{project}/regions/{region}/clusters/{cluster}",
            get(get_cluster).patch(patch_cluster).post(act),
        )
        .route(
            "/v1/projects/{project}/regions/{region}/operations/{operation}",
            get(get_operation),
        )
        .route("/v1/projects/{project}/regions/{region}/jobs", get(jobs))
        .route("/v3/projects/{project}/timeSeries", get(time_series))
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

type Shared = State<Arc<Mutex<Region>>>;

/// Google's error shape: `{"error": {"code", "message", "status"}}`.
fn error(status: StatusCode, message: &str) -> Response {
    let name = match status.as_u16() {
        400 => "FAILED_PRECONDITION",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": name}});
    (status, axum::Json(body)).into_response()
}

fn invalid_argument(message: &str) -> Response {
    let body = json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn not_found(project: &str, region: &str, what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Not found: projects/{project}/regions/{region}/{what}"),
    )
}

/// Counts, delays, injects failures and checks the bearer token before any handler runs.
async fn gate(State(state): Shared, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let (latency, fault, authorized) = {
        let mut region = lock(&state);
        *region.calls.entry(path.clone()).or_default() += 1;
        let latency = region.latency.get(&path).copied();
        let fault = region.faults.get_mut(&path).and_then(VecDeque::pop_front);
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let authorized = path == "/token" || bearer.is_some_and(|t| region.accepts(t));
        region.settle();
        (latency, fault, authorized)
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(DataprocFault::Status {
            status,
            message,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(status, &message);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
        Some(DataprocFault::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            // Time has passed: transitions due meanwhile happen before the handler looks.
            lock(&state).settle();
        }
        Some(DataprocFault::AfterApplying(_)) | None => {}
    }
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let response = next.run(request).await;
    match fault {
        Some(DataprocFault::AfterApplying(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, "the answer was lost")
        }
        _ => response,
    }
}

#[derive(Deserialize)]
struct Claims {
    scope: String,
    iat: u64,
    exp: u64,
}

async fn token(
    State(state): Shared,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let refuse = |error: &str, description: &str| {
        let body = json!({"error": error, "error_description": description});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
        return refuse("unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("invalid_request", "Missing required parameter: assertion");
    };
    let mut region = lock(&state);
    let token_uri = format!("{}/token", region.url);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[token_uri]);
    validation.set_issuer(&[region.config.client_email.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY_PEM.as_bytes())
        .expect("the fake's test public key is valid PEM");
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(err) => {
            let description = match err.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.",
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
                }
                _ => "Invalid JWT assertion.",
            };
            return refuse("invalid_grant", description);
        }
    };
    if claims.exp.saturating_sub(claims.iat) > 3600 {
        return refuse(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    if !claims.scope.split(' ').any(|scope| scope == SCOPE) {
        return refuse(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    region.next_token += 1;
    let access_token = format!("ya29.fake-access-token-{:08}", region.next_token);
    let ttl = region.config.token_ttl;
    region
        .tokens
        .insert(access_token.clone(), Instant::now() + ttl);
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": ttl.as_secs().max(1),
        "token_type": "Bearer",
    }))
    .into_response()
}

fn known_region(region: &Region, project: &str, location: &str) -> bool {
    region.config.project_id == project && region.config.region == location
}

fn page_offset(token: Option<&str>) -> Option<usize> {
    match token {
        None | Some("") => Some(0),
        Some(token) => token.strip_prefix("offset-")?.parse().ok(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn list(
    State(state): Shared,
    Path((project, location)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Response {
    let region = lock(&state);
    if !known_region(&region, &project, &location) {
        return error(
            StatusCode::FORBIDDEN,
            &format!(
                "Permission 'dataproc.clusters.list' denied on resource 'projects/{project}/regions/{location}'"
            ),
        );
    }
    let Some(offset) = page_offset(query.page_token.as_deref()) else {
        return invalid_argument("Invalid page token.");
    };
    let size = query
        .page_size
        .filter(|size| *size > 0)
        .unwrap_or(MAX_LIST_PAGE)
        .min(MAX_LIST_PAGE);
    let clusters: Vec<Value> = region
        .clusters
        .values()
        .skip(offset)
        .take(size)
        .map(|cluster| cluster.describe(&project))
        .collect();
    let mut body = json!({});
    if !clusters.is_empty() {
        body["clusters"] = json!(clusters);
    }
    if offset + size < region.clusters.len() {
        body["nextPageToken"] = json!(format!("offset-{}", offset + size));
    }
    axum::Json(body).into_response()
}

async fn get_cluster(
    State(state): Shared,
    Path((project, location, name)): Path<(String, String, String)>,
) -> Response {
    let region = lock(&state);
    match region.clusters.get(&name) {
        Some(cluster) if known_region(&region, &project, &location) => {
            axum::Json(cluster.describe(&project)).into_response()
        }
        _ => not_found(&project, &location, &format!("clusters/{name}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchQuery {
    update_mask: Option<String>,
    request_id: Option<String>,
}

async fn patch_cluster(
    State(state): Shared,
    Path((project, location, name)): Path<(String, String, String)>,
    Query(query): Query<PatchQuery>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut region = lock(&state);
    if let Some(existing) = query
        .request_id
        .as_ref()
        .and_then(|id| region.request_ids.get(id))
        && let Some(operation) = region.describe_operation(existing)
    {
        return axum::Json(operation).into_response();
    }
    if !known_region(&region, &project, &location) || !region.clusters.contains_key(&name) {
        return not_found(&project, &location, &format!("clusters/{name}"));
    }
    if query.update_mask.as_deref() != Some("config.worker_config.num_instances") {
        return invalid_argument("The fake only updates config.worker_config.num_instances.");
    }
    let Some(workers) = body
        .pointer("/config/workerConfig/numInstances")
        .and_then(Value::as_u64)
    else {
        return invalid_argument(
            "config.workerConfig.numInstances is required by the update mask.",
        );
    };
    let Some(cluster) = region.clusters.get_mut(&name) else {
        return not_found(&project, &location, &format!("clusters/{name}"));
    };
    if cluster.state != "RUNNING" {
        let message = format!(
            "Cluster {name} is in state {} and cannot be updated; it must be RUNNING.",
            cluster.state
        );
        return error(StatusCode::BAD_REQUEST, &message);
    }
    cluster.config["workerConfig"]["numInstances"] = json!(workers);
    let operation = region.begin(&name, "UPDATE", "UPDATING", "RUNNING");
    if let Some(id) = query.request_id {
        region.request_ids.insert(id, operation.clone());
    }
    let described = region.describe_operation(&operation).unwrap_or_default();
    axum::Json(described).into_response()
}

/// `POST …/clusters/{name}:stop` and `:start`.
async fn act(
    State(state): Shared,
    Path((project, location, target)): Path<(String, String, String)>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let Some((name, verb)) = target.rsplit_once(':') else {
        return error(StatusCode::NOT_FOUND, "Unknown method.");
    };
    let request_id = body
        .as_ref()
        .and_then(|axum::Json(body)| body.get("requestId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut region = lock(&state);
    // A repeated requestId gets the first request's operation, and nothing is done twice.
    if let Some(existing) = request_id
        .as_ref()
        .and_then(|id| region.request_ids.get(id))
        && let Some(operation) = region.describe_operation(existing)
    {
        return axum::Json(operation).into_response();
    }
    if !known_region(&region, &project, &location) {
        return not_found(&project, &location, &format!("clusters/{name}"));
    }
    let Some(cluster) = region.clusters.get_mut(name) else {
        return not_found(&project, &location, &format!("clusters/{name}"));
    };
    let (kind, from, during, to) = match verb {
        "stop" => ("STOP", "RUNNING", "STOPPING", "STOPPED"),
        "start" => ("START", "STOPPED", "STARTING", "RUNNING"),
        _ => return error(StatusCode::NOT_FOUND, "Unknown method."),
    };
    if cluster.state != from {
        let message = format!(
            "Cluster {name} is in state {} and cannot be {}; it must be {from}.",
            cluster.state,
            if verb == "stop" { "stopped" } else { "started" }
        );
        return error(StatusCode::BAD_REQUEST, &message);
    }
    match verb {
        "stop" => cluster.stops += 1,
        _ => cluster.starts += 1,
    }
    let operation = region.begin(name, kind, during, to);
    if let Some(id) = request_id {
        region.request_ids.insert(id, operation.clone());
    }
    let described = region.describe_operation(&operation).unwrap_or_default();
    axum::Json(described).into_response()
}

async fn get_operation(
    State(state): Shared,
    Path((project, location, id)): Path<(String, String, String)>,
) -> Response {
    let region = lock(&state);
    let name = format!("projects/{project}/regions/{location}/operations/{id}");
    match region.describe_operation(&name) {
        Some(operation) => axum::Json(operation).into_response(),
        None => not_found(&project, &location, &format!("operations/{id}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobsQuery {
    cluster_name: Option<String>,
    job_state_matcher: Option<String>,
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn jobs(
    State(state): Shared,
    Path((project, location)): Path<(String, String)>,
    Query(query): Query<JobsQuery>,
) -> Response {
    let region = lock(&state);
    if !known_region(&region, &project, &location) {
        return not_found(&project, &location, "jobs");
    }
    let Some(offset) = page_offset(query.page_token.as_deref()) else {
        return invalid_argument("Invalid page token.");
    };
    let active_only = match query.job_state_matcher.as_deref() {
        None | Some("ALL") => false,
        Some("ACTIVE") => true,
        Some("NON_ACTIVE") => {
            return axum::Json(json!({})).into_response();
        }
        Some(_) => return invalid_argument("Invalid jobStateMatcher."),
    };
    let size = query
        .page_size
        .filter(|size| *size > 0)
        .unwrap_or(MAX_JOBS_PAGE)
        .min(MAX_JOBS_PAGE);
    let matching: Vec<&FakeJob> = region
        .jobs
        .iter()
        .filter(|job| !active_only || job.active)
        .filter(|job| {
            query
                .cluster_name
                .as_deref()
                .is_none_or(|c| c == job.cluster)
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|job| {
            json!({
                "reference": {"projectId": project, "jobId": job.id},
                "placement": {"clusterName": job.cluster},
                "status": {
                    "state": if job.active { "RUNNING" } else { "DONE" },
                    "stateStartTime": timestamp(job.started),
                },
                "sparkJob": {"mainClass": "org.example.Etl"},
            })
        })
        .collect();
    let mut body = json!({});
    if !page.is_empty() {
        body["jobs"] = json!(page);
    }
    if offset + size < matching.len() {
        body["nextPageToken"] = json!(format!("offset-{}", offset + size));
    }
    axum::Json(body).into_response()
}

/// The quoted value after `key` in a Cloud Monitoring filter (`key="value"`).
fn filter_value<'a>(filter: &'a str, key: &str) -> Option<&'a str> {
    let rest = &filter[filter.find(&format!("{key}=\""))? + key.len() + 2..];
    Some(&rest[..rest.find('"')?])
}

/// The quoted values of `key=one_of("a","b",…)` in a Cloud Monitoring filter.
fn filter_one_of(filter: &str, key: &str) -> Vec<String> {
    let Some(at) = filter.find(&format!("{key}=one_of(")) else {
        return Vec::new();
    };
    let rest = &filter[at + key.len() + "=one_of(".len()..];
    let Some(end) = rest.find(')') else {
        return Vec::new();
    };
    rest[..end]
        .split(',')
        .map(|value| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

#[derive(Deserialize)]
struct TimeSeriesQuery {
    filter: Option<String>,
    #[serde(rename = "interval.startTime")]
    start_time: Option<String>,
    #[serde(rename = "interval.endTime")]
    end_time: Option<String>,
    #[serde(rename = "aggregation.crossSeriesReducer")]
    cross_series_reducer: Option<String>,
}

async fn time_series(
    State(state): Shared,
    Path(project): Path<String>,
    Query(query): Query<TimeSeriesQuery>,
) -> Response {
    let mut region = lock(&state);
    if region.config.project_id != project {
        return error(
            StatusCode::FORBIDDEN,
            &format!(
                "Permission monitoring.timeSeries.list denied (or the resource may not exist): projects/{project}"
            ),
        );
    }
    let Some(filter) = query.filter else {
        return invalid_argument("Field filter had an invalid value: a filter is required.");
    };
    let interval = (
        query
            .start_time
            .as_deref()
            .map(DateTime::parse_from_rfc3339),
        query.end_time.as_deref().map(DateTime::parse_from_rfc3339),
    );
    let (start, end) = match interval {
        (Some(Ok(start)), Some(Ok(end))) if start <= end => {
            (start.with_timezone(&Utc), end.with_timezone(&Utc))
        }
        (None, Some(Ok(end))) => (end.with_timezone(&Utc), end.with_timezone(&Utc)),
        _ => {
            return invalid_argument(
                "Field interval.endTime had an invalid value: an RFC 3339 time is required.",
            );
        }
    };
    region.time_series_filters.push(filter.clone());
    let point = |value: f64| {
        json!({
            "interval": {"startTime": timestamp(start), "endTime": timestamp(end)},
            "value": {"doubleValue": value},
        })
    };
    let mut series: Vec<Value> = Vec::new();
    match filter_value(&filter, "metric.type") {
        Some(MEMORY_METRIC) => {
            let cluster = filter_value(&filter, "resource.labels.cluster_name").unwrap_or("");
            let uuid = filter_value(&filter, "resource.labels.cluster_uuid");
            let known = region
                .clusters
                .get(cluster)
                .filter(|c| c.state == "RUNNING" && uuid.is_none_or(|uuid| uuid == c.uuid));
            if let (Some(known), Some((_, memory))) = (known, region.utilization.get(cluster)) {
                series.push(json!({
                    "metric": {"type": MEMORY_METRIC},
                    "resource": {"type": "cloud_dataproc_cluster", "labels": {
                        "project_id": project, "cluster_name": cluster,
                        "cluster_uuid": known.uuid, "region": region.config.region,
                    }},
                    "metricKind": "GAUGE",
                    "valueType": "DOUBLE",
                    "points": [point(*memory)],
                }));
            }
        }
        Some(CPU_METRIC) => {
            for instance in filter_one_of(&filter, "metric.labels.instance_name") {
                let owner = region.clusters.values().find(|cluster| {
                    cluster.state == "RUNNING"
                        && ["masterConfig", "workerConfig", "secondaryWorkerConfig"]
                            .iter()
                            .any(|group| cluster.instance_names(group).contains(&instance))
                });
                let Some(owner) = owner else { continue };
                let Some((cpu, _)) = region.utilization.get(&owner.name) else {
                    continue;
                };
                series.push(json!({
                    "metric": {"type": CPU_METRIC, "labels": {"instance_name": instance}},
                    "resource": {"type": "gce_instance", "labels": {
                        "project_id": project, "zone": "us-central1-a",
                    }},
                    "metricKind": "GAUGE",
                    "valueType": "DOUBLE",
                    "points": [point(*cpu)],
                }));
            }
        }
        _ => {}
    }
    if query.cross_series_reducer.is_some() && !series.is_empty() {
        let values: Vec<f64> = series
            .iter()
            .filter_map(|s| s.pointer("/points/0/value/doubleValue")?.as_f64())
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let metric_type = series[0]["metric"]["type"].clone();
        let resource_type = series[0]["resource"]["type"].clone();
        series = vec![json!({
            "metric": {"type": metric_type},
            "resource": {"type": resource_type, "labels": {"project_id": project}},
            "metricKind": "GAUGE",
            "valueType": "DOUBLE",
            "points": [point(mean)],
        })];
    }
    let mut body = json!({});
    if !series.is_empty() {
        body["timeSeries"] = json!(series);
    }
    axum::Json(body).into_response()
}
