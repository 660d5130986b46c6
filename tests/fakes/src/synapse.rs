//! A fake Azure Synapse workspace behind fake Entra ID and ARM endpoints: the client-credentials
//! token grant, dedicated SQL pools (list, get, pause, resume) with their status machine driven by
//! long-running operations (`Azure-AsyncOperation` and `Location`), Spark (Big Data) pools (list,
//! get, full PUT) with `autoPause`, `nextLink` pagination, error and latency injection, and call
//! counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};

use crate::loopback::{self, LoopbackServer};

const API_VERSION: &str = "2021-06-01";
const SCOPE: &str = "https://management.azure.com/.default";
/// The smallest auto-pause delay Synapse accepts.
const MIN_AUTO_PAUSE_MINUTES: u64 = 5;
const MIN_SPARK_NODES: u64 = 3;

#[derive(Clone, Debug)]
pub struct SynapseConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    pub location: String,
    /// Lifetime of the tokens it issues (whole seconds on the wire).
    pub token_ttl: Duration,
    /// Pools per page of a listing.
    pub page_size: usize,
    /// Polls an operation answers "in progress" before it succeeds; zero: actions finish at once
    /// and answer 200.
    pub operation_polls: u32,
    /// `Retry-After` on accepted operations and their polls; `None` leaves it out.
    pub retry_after: Option<u64>,
}

impl Default for SynapseConfig {
    fn default() -> Self {
        Self {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned(),
            client_id: "0f0e0d0c-0b0a-0908-0706-050403020100".to_owned(),
            client_secret: "fake~synapse~client~secret~0123456789".to_owned(),
            subscription_id: "11111111-2222-3333-4444-555555555555".to_owned(),
            resource_group: "analytics-rg".to_owned(),
            workspace_name: "acme-synapse".to_owned(),
            location: "westeurope".to_owned(),
            token_ttl: Duration::from_secs(3600),
            page_size: 10,
            operation_polls: 1,
            retry_after: Some(1),
        }
    }
}

/// What an injected failure does to a request.
#[derive(Clone, Debug)]
pub enum SynapseFault {
    /// Answers with this status and an ARM error body, without acting.
    Status {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<u64>,
    },
    /// Acts, then answers with this status: the client cannot tell whether it was applied.
    AfterApplying(u16),
    /// Holds the request this long, then handles it normally (the client has likely given up).
    Hang(Duration),
}

impl SynapseFault {
    /// A failure with ARM's usual error code for the status.
    pub fn status(status: u16) -> Self {
        let code = match status {
            400 => "InvalidRequestContent",
            401 => "InvalidAuthenticationToken",
            403 => "AuthorizationFailed",
            404 => "ResourceNotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            _ => "InternalServerError",
        };
        Self::Status {
            status,
            code: code.to_owned(),
            message: format!("injected failure {status}"),
            retry_after: None,
        }
    }

    pub fn throttled(retry_after: u64) -> Self {
        Self::Status {
            status: 429,
            code: "TooManyRequests".to_owned(),
            message: "injected throttling".to_owned(),
            retry_after: Some(retry_after),
        }
    }
}

/// A running fake; it stops when dropped.
pub struct FakeSynapse {
    server: LoopbackServer,
    config: SynapseConfig,
    state: Arc<Mutex<Workspace>>,
}

impl FakeSynapse {
    pub async fn start() -> Self {
        Self::start_with(SynapseConfig::default()).await
    }

    pub async fn start_with(config: SynapseConfig) -> Self {
        let (listener, url) = loopback::bind("the fake Synapse workspace").await;
        let state = Arc::new(Mutex::new(Workspace::new(url.clone(), config.clone())));
        let server = LoopbackServer::serve(listener, url, router(state.clone()));
        Self {
            server,
            config,
            state,
        }
    }

    /// `http://127.0.0.1:<port>`: both the login and the management endpoint.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn config(&self) -> &SynapseConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Workspace> {
        lock(&self.state)
    }

    /// `/subscriptions/…/workspaces/<name>`, the prefix of every pool path.
    pub fn workspace_path(&self) -> String {
        workspace_path(&self.config)
    }

    /// The path of the token endpoint, for call counts.
    pub fn token_path(&self) -> String {
        format!("/{}/oauth2/v2.0/token", self.config.tenant_id)
    }

    /// Adds a dedicated SQL pool with this service level (`DW100c`) and status (`Online`,
    /// `Paused`, …).
    pub fn add_sql_pool(&self, name: &str, sku: &str, status: &str) {
        self.lock().sql.insert(
            name.to_owned(),
            SqlPool {
                sku: sku.to_owned(),
                status: status.to_owned(),
                pauses: 0,
                resumes: 0,
            },
        );
    }

    /// Adds a Spark pool; `properties` override the defaults (3 Medium nodes, auto-pause after
    /// 15 minutes, no autoscale).
    pub fn add_spark_pool(&self, name: &str, properties: Value) {
        let mut defaults = json!({
            "provisioningState": "Succeeded",
            "autoScale": {"enabled": false, "minNodeCount": 3, "maxNodeCount": 10},
            "autoPause": {"enabled": true, "delayInMinutes": 15},
            "nodeCount": 3,
            "nodeSize": "Medium",
            "nodeSizeFamily": "MemoryOptimized",
            "sparkVersion": "3.4",
            "isComputeIsolationEnabled": false,
            "sessionLevelPackagesEnabled": false,
            "dynamicExecutorAllocation": {"enabled": false},
            "creationDate": "2024-03-01T09:00:00Z",
        });
        if let (Some(defaults), Value::Object(properties)) = (defaults.as_object_mut(), properties)
        {
            defaults.extend(properties);
        }
        let mut workspace = self.lock();
        let resource = json!({
            "id": format!("{}/bigDataPools/{name}", workspace_path(&workspace.config)),
            "name": name,
            "type": "Microsoft.Synapse/workspaces/bigDataPools",
            "location": workspace.config.location,
            "tags": {},
            "properties": defaults,
        });
        workspace
            .spark
            .insert(name.to_owned(), SparkPool { resource, puts: 0 });
    }

    /// The SQL pool's status now (`Online`, `Pausing`, `Paused`, `Resuming`, …).
    pub fn sql_status(&self, name: &str) -> Option<String> {
        self.lock().sql.get(name).map(|pool| pool.status.clone())
    }

    /// How many times the pool was actually moved from Online to Pausing.
    pub fn pauses(&self, name: &str) -> u32 {
        self.lock().sql.get(name).map_or(0, |pool| pool.pauses)
    }

    /// How many times the pool was actually moved from Paused to Resuming.
    pub fn resumes(&self, name: &str) -> u32 {
        self.lock().sql.get(name).map_or(0, |pool| pool.resumes)
    }

    /// The Spark pool resource as ARM describes it now.
    pub fn spark_pool(&self, name: &str) -> Option<Value> {
        self.lock()
            .spark
            .get(name)
            .map(|pool| pool.resource.clone())
    }

    /// Accepted PUTs of the Spark pool.
    pub fn spark_puts(&self, name: &str) -> u32 {
        self.lock().spark.get(name).map_or(0, |pool| pool.puts)
    }

    /// Deletes a pool of either kind.
    pub fn remove_pool(&self, name: &str) {
        let mut workspace = self.lock();
        workspace.sql.remove(name);
        workspace.spark.remove(name);
    }

    /// Tokens issued by the token endpoint.
    pub fn token_grants(&self) -> u64 {
        self.lock().next_token
    }

    /// Every token issued so far stops being accepted, as when a secret is rotated.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Operations started from now end `Failed` and leave the pool where it was.
    pub fn fail_operations(&self, fail: bool) {
        self.lock().fail_operations = fail;
    }

    /// The next `times` requests to `path`, whatever their method, fail with `fault`.
    pub fn fail_next(&self, path: &str, times: usize, fault: SynapseFault) {
        self.queue(None, path, times, fault);
    }

    /// The next `times` `method` requests to `path` fail with `fault`.
    pub fn fail_next_method(&self, method: &str, path: &str, times: usize, fault: SynapseFault) {
        self.queue(Some(method), path, times, fault);
    }

    fn queue(&self, method: Option<&str>, path: &str, times: usize, fault: SynapseFault) {
        let key = fault_key(method, path);
        let mut workspace = self.lock();
        let queue = workspace.faults.entry(key).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every request to `path` waits this long before it is handled.
    pub fn set_latency(&self, path: &str, latency: Duration) {
        self.lock().latency.insert(path.to_owned(), latency);
    }

    /// Requests received for `path` (whatever their method and outcome).
    pub fn calls(&self, path: &str) -> u64 {
        self.lock().calls.get(path).copied().unwrap_or(0)
    }

    /// Requests received for `path` with `method`.
    pub fn calls_with(&self, method: &str, path: &str) -> u64 {
        let key = fault_key(Some(method), path);
        self.lock().calls.get(&key).copied().unwrap_or(0)
    }

    /// Requests to operation status or result URLs.
    pub fn operation_polls(&self) -> u64 {
        self.lock().operation_polls
    }

    pub fn total_calls(&self) -> u64 {
        self.lock()
            .calls
            .iter()
            .filter(|(key, _)| key.starts_with('/'))
            .map(|(_, count)| count)
            .sum()
    }

    pub fn reset_calls(&self) {
        let mut workspace = self.lock();
        workspace.calls.clear();
        workspace.operation_polls = 0;
    }
}

struct SqlPool {
    sku: String,
    status: String,
    pauses: u32,
    resumes: u32,
}

struct SparkPool {
    resource: Value,
    puts: u32,
}

/// What a finished operation leaves behind.
enum Outcome {
    SqlStatus {
        pool: String,
        done: String,
        undo: String,
    },
    SparkProvisioned {
        pool: String,
    },
}

struct Operation {
    remaining: u32,
    failed: bool,
    outcome: Option<Outcome>,
    status: &'static str,
}

struct Workspace {
    url: String,
    config: SynapseConfig,
    sql: BTreeMap<String, SqlPool>,
    spark: BTreeMap<String, SparkPool>,
    operations: HashMap<String, Operation>,
    next_operation: u64,
    fail_operations: bool,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    faults: HashMap<String, VecDeque<SynapseFault>>,
    latency: HashMap<String, Duration>,
    calls: HashMap<String, u64>,
    operation_polls: u64,
}

fn lock(state: &Mutex<Workspace>) -> MutexGuard<'_, Workspace> {
    // A panicking test thread must not take every later assertion down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn workspace_path(config: &SynapseConfig) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Synapse/workspaces/{}",
        config.subscription_id, config.resource_group, config.workspace_name
    )
}

fn fault_key(method: Option<&str>, path: &str) -> String {
    match method {
        Some(method) => format!("{} {path}", method.to_ascii_uppercase()),
        None => path.to_owned(),
    }
}

impl Workspace {
    fn new(url: String, config: SynapseConfig) -> Self {
        Self {
            url,
            config,
            sql: BTreeMap::new(),
            spark: BTreeMap::new(),
            operations: HashMap::new(),
            next_operation: 0,
            fail_operations: false,
            tokens: HashMap::new(),
            next_token: 0,
            faults: HashMap::new(),
            latency: HashMap::new(),
            calls: HashMap::new(),
            operation_polls: 0,
        }
    }

    fn accepts(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    fn describe_sql(&self, name: &str, pool: &SqlPool) -> Value {
        json!({
            "id": format!("{}/sqlPools/{name}", workspace_path(&self.config)),
            "name": name,
            "type": "Microsoft.Synapse/workspaces/sqlPools",
            "location": self.config.location,
            "sku": {"name": pool.sku, "tier": "DataWarehouse", "capacity": 0},
            "properties": {
                "status": pool.status,
                "provisioningState": "Succeeded",
                "maxSizeBytes": 263_882_790_666_240_u64,
                "collation": "SQL_Latin1_General_CP1_CI_AS",
                "creationDate": "2024-03-01T09:00:00Z",
                "storageAccountType": "GRS",
            },
        })
    }

    /// Starts an operation; with `operation_polls` zero it finishes at once and `None` says so.
    fn start_operation(&mut self, outcome: Outcome) -> Option<String> {
        let failed = self.fail_operations;
        if self.config.operation_polls == 0 {
            self.finish(outcome, failed);
            return None;
        }
        self.next_operation += 1;
        let id = format!("fake-op-{:08}", self.next_operation);
        self.operations.insert(
            id.clone(),
            Operation {
                remaining: self.config.operation_polls,
                failed,
                outcome: Some(outcome),
                status: "InProgress",
            },
        );
        Some(id)
    }

    fn finish(&mut self, outcome: Outcome, failed: bool) {
        match outcome {
            Outcome::SqlStatus { pool, done, undo } => {
                if let Some(pool) = self.sql.get_mut(&pool) {
                    pool.status = if failed { undo } else { done };
                }
            }
            Outcome::SparkProvisioned { pool } => {
                if let Some(pool) = self.spark.get_mut(&pool) {
                    pool.resource["properties"]["provisioningState"] =
                        json!(if failed { "Failed" } else { "Succeeded" });
                }
            }
        }
    }

    /// One poll: in progress until the operation's polls run out, then its end.
    fn poll(&mut self, id: &str) -> Option<&'static str> {
        self.operation_polls += 1;
        let operation = self.operations.get_mut(id)?;
        if operation.remaining > 0 {
            operation.remaining -= 1;
            return Some("InProgress");
        }
        if let Some(outcome) = operation.outcome.take() {
            operation.status = if operation.failed {
                "Failed"
            } else {
                "Succeeded"
            };
            let failed = operation.failed;
            self.finish(outcome, failed);
        }
        self.operations.get(id).map(|operation| operation.status)
    }

    fn operation_links(&self, id: &str) -> (String, String) {
        let base = format!(
            "{}/subscriptions/{}/providers/Microsoft.Synapse/locations/{}",
            self.url, self.config.subscription_id, self.config.location
        );
        (
            format!("{base}/operationStatuses/{id}?api-version={API_VERSION}"),
            format!("{base}/operationResults/{id}?api-version={API_VERSION}"),
        )
    }

    /// 202 with the operation's links, or 200 with `body` when it already finished.
    fn accepted(&self, operation: Option<String>, body: Value) -> Response {
        let Some(id) = operation else {
            return axum::Json(body).into_response();
        };
        let (status, result) = self.operation_links(&id);
        let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&status) {
            headers.insert("azure-asyncoperation", value);
        }
        if let Ok(value) = HeaderValue::from_str(&result) {
            headers.insert(header::LOCATION, value);
        }
        if let Some(seconds) = self.config.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    fn page(&self, collection: &str, items: Vec<Value>, skip: usize) -> Value {
        let size = self.config.page_size.max(1);
        let total = items.len();
        let value: Vec<Value> = items.into_iter().skip(skip).take(size).collect();
        let mut body = json!({ "value": value });
        if skip + size < total {
            body["nextLink"] = json!(format!(
                "{}{}/{collection}?api-version={API_VERSION}&$skipToken={}",
                self.url,
                workspace_path(&self.config),
                skip + size
            ));
        }
        body
    }
}

type Shared = State<Arc<Mutex<Workspace>>>;

fn router(state: Arc<Mutex<Workspace>>) -> Router {
    let workspace =
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Synapse/workspaces/{ws}";
    let operations = "/subscriptions/{sub}/providers/Microsoft.Synapse/locations/{loc}";
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(&format!("{workspace}/sqlPools"), get(list_sql))
        .route(&format!("{workspace}/sqlPools/{{pool}}"), get(get_sql))
        .route(&format!("{workspace}/sqlPools/{{pool}}/pause"), post(pause))
        .route(
            &format!("{workspace}/sqlPools/{{pool}}/resume"),
            post(resume),
        )
        .route(&format!("{workspace}/bigDataPools"), get(list_spark))
        .route(
            &format!("{workspace}/bigDataPools/{{pool}}"),
            get(get_spark).put(put_spark),
        )
        .route(
            &format!("{operations}/operationStatuses/{{op}}"),
            get(operation_status),
        )
        .route(
            &format!("{operations}/operationResults/{{op}}"),
            get(operation_result),
        )
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message, "details": []}})),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource '{what}' was not found."),
    )
}

/// Counts, delays, injects failures and checks the token, the workspace and the api-version
/// before any handler runs.
async fn gate(State(state): Shared, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let is_token = path.ends_with("/oauth2/v2.0/token");
    let api_version_ok = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "api-version=2021-06-01")
    });
    let (latency, fault, authorized, own_workspace) = {
        let mut workspace = lock(&state);
        *workspace.calls.entry(path.clone()).or_default() += 1;
        *workspace
            .calls
            .entry(fault_key(Some(method.as_str()), &path))
            .or_default() += 1;
        let latency = workspace.latency.get(&path).copied();
        let fault = workspace
            .faults
            .get_mut(&fault_key(Some(method.as_str()), &path))
            .and_then(VecDeque::pop_front)
            .or_else(|| {
                workspace
                    .faults
                    .get_mut(&path)
                    .and_then(VecDeque::pop_front)
            });
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let authorized = is_token || bearer.is_some_and(|token| workspace.accepts(token));
        let subscription = format!("/subscriptions/{}/", workspace.config.subscription_id);
        let own_workspace = is_token
            || path.starts_with(&workspace_path(&workspace.config))
            || (path.starts_with(&subscription) && path.contains("/locations/"));
        (latency, fault, authorized, own_workspace)
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(SynapseFault::Status {
            status,
            code,
            message,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error(status, &code, &message);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            return response;
        }
        Some(SynapseFault::Hang(duration)) => tokio::time::sleep(duration).await,
        Some(SynapseFault::AfterApplying(_)) | None => {}
    }
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    if !own_workspace {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The workspace was not found.",
        );
    }
    if !is_token && !api_version_ok {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            "The api-version query parameter is missing or not supported (2021-06-01).",
        );
    }
    let response = next.run(request).await;
    match fault {
        Some(SynapseFault::AfterApplying(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, "InternalServerError", "the answer was lost")
        }
        _ => response,
    }
}

async fn token(
    State(state): Shared,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let mut workspace = lock(&state);
    if tenant != workspace.config.tenant_id {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: grant_type must be client_credentials.",
        );
    }
    if field("client_id") != Some(workspace.config.client_id.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if field("client_secret") != Some(workspace.config.client_secret.as_str()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if field("scope") != Some(SCOPE) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    workspace.next_token += 1;
    let access_token = format!("fake-arm-token-{:08}", workspace.next_token);
    let ttl = workspace.config.token_ttl;
    workspace
        .tokens
        .insert(access_token.clone(), Instant::now() + ttl);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": ttl.as_secs().max(1),
        "ext_expires_in": ttl.as_secs().max(1),
        "access_token": access_token,
    }))
    .into_response()
}

fn skip_of(query: &HashMap<String, String>) -> usize {
    query
        .get("$skipToken")
        .and_then(|token| token.parse().ok())
        .unwrap_or(0)
}

async fn list_sql(State(state): Shared, Query(query): Query<HashMap<String, String>>) -> Response {
    let workspace = lock(&state);
    let items = workspace
        .sql
        .iter()
        .map(|(name, pool)| workspace.describe_sql(name, pool))
        .collect();
    axum::Json(workspace.page("sqlPools", items, skip_of(&query))).into_response()
}

async fn list_spark(
    State(state): Shared,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let workspace = lock(&state);
    let items = workspace
        .spark
        .values()
        .map(|pool| pool.resource.clone())
        .collect();
    axum::Json(workspace.page("bigDataPools", items, skip_of(&query))).into_response()
}

type PoolPath = Path<(String, String, String, String)>;

async fn get_sql(State(state): Shared, Path((_, _, _, name)): PoolPath) -> Response {
    let workspace = lock(&state);
    match workspace.sql.get(&name) {
        Some(pool) => axum::Json(workspace.describe_sql(&name, pool)).into_response(),
        None => not_found(&format!("Microsoft.Synapse/workspaces/sqlPools/{name}")),
    }
}

/// Online → Pausing → Paused; anything but Online is refused with 409, as ARM does.
async fn pause(State(state): Shared, Path((_, _, _, name)): PoolPath) -> Response {
    transition(&state, &name, "Online", "Pausing", "Paused", true)
}

/// Paused → Resuming → Online.
async fn resume(State(state): Shared, Path((_, _, _, name)): PoolPath) -> Response {
    transition(&state, &name, "Paused", "Resuming", "Online", false)
}

fn transition(
    state: &Mutex<Workspace>,
    name: &str,
    from: &str,
    during: &str,
    to: &str,
    pausing: bool,
) -> Response {
    let mut workspace = lock(state);
    let Some(pool) = workspace.sql.get_mut(name) else {
        return not_found(&format!("Microsoft.Synapse/workspaces/sqlPools/{name}"));
    };
    if pool.status != from {
        let message = format!(
            "Cannot {} SQL pool '{name}' while it is {}.",
            if pausing { "pause" } else { "resume" },
            pool.status
        );
        return error(StatusCode::CONFLICT, "Conflict", &message);
    }
    if pausing {
        pool.pauses += 1;
    } else {
        pool.resumes += 1;
    }
    pool.status = during.to_owned();
    let operation = workspace.start_operation(Outcome::SqlStatus {
        pool: name.to_owned(),
        done: to.to_owned(),
        undo: from.to_owned(),
    });
    let body = workspace
        .sql
        .get(name)
        .map(|pool| workspace.describe_sql(name, pool))
        .unwrap_or_default();
    workspace.accepted(operation, body)
}

async fn get_spark(State(state): Shared, Path((_, _, _, name)): PoolPath) -> Response {
    match lock(&state).spark.get(&name) {
        Some(pool) => axum::Json(pool.resource.clone()).into_response(),
        None => not_found(&format!("Microsoft.Synapse/workspaces/bigDataPools/{name}")),
    }
}

/// A full update (or create) of the pool, validated the way Synapse does the fields it checks.
async fn put_spark(
    State(state): Shared,
    Path((_, _, _, name)): PoolPath,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "ValidationFailed", message);
    if body.get("location").and_then(Value::as_str).is_none() {
        return bad("The location property is required.");
    }
    let Some(properties) = body.get("properties").and_then(Value::as_object) else {
        return bad("The properties are required.");
    };
    if let Some(auto_pause) = properties.get("autoPause")
        && auto_pause["enabled"] == json!(true)
        && auto_pause["delayInMinutes"]
            .as_u64()
            .is_none_or(|delay| delay < MIN_AUTO_PAUSE_MINUTES)
    {
        return bad("autoPause.delayInMinutes must be at least 5.");
    }
    let autoscaling = properties
        .get("autoScale")
        .is_some_and(|scale| scale["enabled"] == json!(true));
    if !autoscaling
        && properties
            .get("nodeCount")
            .and_then(Value::as_u64)
            .is_some_and(|nodes| nodes < MIN_SPARK_NODES)
    {
        return bad("nodeCount must be at least 3.");
    }
    let mut workspace = lock(&state);
    let path = format!("{}/bigDataPools/{name}", workspace_path(&workspace.config));
    let created = !workspace.spark.contains_key(&name);
    let creation_date = workspace
        .spark
        .get(&name)
        .and_then(|pool| pool.resource.pointer("/properties/creationDate").cloned())
        .unwrap_or_else(|| json!("2024-03-01T09:00:00Z"));
    let mut resource = json!({
        "id": path,
        "name": name,
        "type": "Microsoft.Synapse/workspaces/bigDataPools",
        "location": body["location"],
        "tags": body.get("tags").cloned().unwrap_or_else(|| json!({})),
        "properties": properties,
    });
    resource["properties"]["creationDate"] = creation_date;
    resource["properties"]["provisioningState"] = json!("Updating");
    let pool = workspace.spark.entry(name.clone()).or_insert(SparkPool {
        resource: Value::Null,
        puts: 0,
    });
    pool.resource = resource;
    pool.puts += 1;
    let operation = workspace.start_operation(Outcome::SparkProvisioned { pool: name.clone() });
    let body = workspace
        .spark
        .get(&name)
        .map(|pool| pool.resource.clone())
        .unwrap_or_default();
    let mut response = workspace.accepted(operation, body);
    if created && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
}

type OperationPath = Path<(String, String, String)>;

async fn operation_status(State(state): Shared, Path((_, _, id)): OperationPath) -> Response {
    let mut workspace = lock(&state);
    let Some(status) = workspace.poll(&id) else {
        return not_found(&format!("operationStatuses/{id}"));
    };
    let (link, _) = workspace.operation_links(&id);
    let mut body = json!({
        "id": link.split('?').next().unwrap_or_default(),
        "name": id,
        "status": status,
        "startTime": "2024-03-01T09:00:00Z",
    });
    if status == "Failed" {
        body["error"] = json!({"code": "OperationFailed", "message": "injected operation failure"});
    }
    let mut response = axum::Json(body).into_response();
    if status == "InProgress"
        && let Some(seconds) = workspace.config.retry_after
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// 202 without a body while in progress, then 204 (or the ARM error when it failed).
async fn operation_result(State(state): Shared, Path((_, _, id)): OperationPath) -> Response {
    let mut workspace = lock(&state);
    match workspace.poll(&id) {
        None => not_found(&format!("operationResults/{id}")),
        Some("InProgress") => {
            let (_, result) = workspace.operation_links(&id);
            let mut response = StatusCode::ACCEPTED.into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&result) {
                headers.insert(header::LOCATION, value);
            }
            if let Some(seconds) = workspace.config.retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Some("Failed") => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "OperationFailed",
            "injected operation failure",
        ),
        Some(_) => StatusCode::NO_CONTENT.into_response(),
    }
}
