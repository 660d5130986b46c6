//! Databricks workspaces through the REST API (Clusters 2.1, Jobs 2.2), with a personal access
//! token or OAuth machine-to-machine credentials.
//!
//! Terminate (`clusters/delete`) and `clusters/start` are idempotent by state on Databricks' side,
//! but they are still never blindly re-sent: when an answer is lost (timeout, 5xx) the cluster is
//! read back first and the action is sent again only if it visibly did not land. `clusters/create`
//! (used when a hibernated cluster was purged) tags the new cluster with the old id, so a lost
//! answer or a second resume finds the cluster already created instead of creating another.
//!
//! Utilisation (CPU and memory of the worker nodes) comes from the system table
//! `system.compute.node_timeline`, queried through the SQL Statement Execution API on the SQL
//! warehouse named in the credentials. It is best effort: without a warehouse, without Unity
//! Catalog's system tables, or without permission to query them, usage reports activity alone.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::credentials::{DatabricksAuth, DatabricksCredentials};
use super::http::{Auth, Body, Replay, Request, Rest, RetryPolicy};
use super::{Access, Platform, PlatformError, PlatformResult, Resumed, Snapshot};
use crate::domain::platform::{ClusterInfo, ClusterState, PlatformKind, UsageSignals};

/// Databricks does not document a maximum for `clusters/list`; 100 is what its UI pages by.
const LIST_PAGE_SIZE: u32 = 100;
/// `jobs/runs/list` documents `limit` as "greater than 0 and less than 25".
const RUNS_PAGE_SIZE: u32 = 24;
/// Stops a platform that hands out the same page token forever.
const MAX_PAGES: usize = 10_000;
/// A cold start provisions VMs from the cloud: typically 3–7 minutes.
const COLD_START_SECONDS: u32 = 300;
/// From an instance pool's idle VMs: typically 1–2 minutes (the runtime still boots).
const POOL_START_SECONDS: u32 = 120;
/// Marks a cluster recreated from a snapshot with the purged cluster's id.
const RESUMED_FROM_TAG: &str = "DigitalTapResumedFrom";
/// Events that mean someone started, resized or reconfigured the cluster, or its autoscaler
/// reacted to load: the closest Databricks comes to "last activity".
const ACTIVITY_EVENTS: [&str; 7] = [
    "CREATING",
    "STARTING",
    "RESTARTING",
    "RUNNING",
    "RESIZING",
    "UPSIZE_COMPLETED",
    "EDITED",
];
/// The statement execution API (`POST` to run, `GET …/{id}` to poll, `POST …/{id}/cancel`).
const STATEMENTS_PATH: &str = "/api/2.0/sql/statements";
/// Worker-node utilisation over the last ten minutes, averaged over every node-minute. The
/// cluster id is bound as the named parameter `:cluster_id`, never written into the text.
const UTILISATION_SQL: &str = "SELECT avg(cpu_user_percent + cpu_system_percent) AS avg_cpu_pct, \
avg(mem_used_percent) AS avg_mem_pct, count(*) AS node_minutes \
FROM system.compute.node_timeline \
WHERE cluster_id = :cluster_id AND driver = false \
AND start_time >= current_timestamp() - INTERVAL 10 MINUTES";
/// Fields of `ClusterDetails` that `clusters/create` accepts, for the rare answer without `spec`.
const SPEC_FIELDS: [&str; 29] = [
    "cluster_name",
    "spark_version",
    "node_type_id",
    "driver_node_type_id",
    "num_workers",
    "autoscale",
    "autotermination_minutes",
    "spark_conf",
    "spark_env_vars",
    "aws_attributes",
    "azure_attributes",
    "gcp_attributes",
    "custom_tags",
    "ssh_public_keys",
    "init_scripts",
    "cluster_log_conf",
    "instance_pool_id",
    "driver_instance_pool_id",
    "policy_id",
    "apply_policy_default_values",
    "enable_elastic_disk",
    "enable_local_disk_encryption",
    "runtime_engine",
    "data_security_mode",
    "single_user_name",
    "docker_image",
    "kind",
    "is_single_node",
    "use_ml_runtime",
];

pub struct Databricks {
    host: String,
    auth: DatabricksAuth,
    warehouse_id: Option<String>,
    rest: Rest,
    statements: StatementPolicy,
    oauth: Mutex<OAuthState>,
}

/// How long the utilisation query may take. A warehouse that is stopped has to start first, which
/// can take minutes; rather than wait (and keep a scan waiting), the statement is cancelled and
/// usage goes without utilisation this time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementPolicy {
    /// How long Databricks holds the first answer while the statement runs (`wait_timeout`:
    /// zero, or 5 to 50 seconds; other values are brought into that range).
    pub wait_timeout: Duration,
    /// Between two polls of a statement still pending or running.
    pub interval: Duration,
    /// After this long the statement is cancelled and no utilisation is reported.
    pub max_wait: Duration,
}

impl Default for StatementPolicy {
    fn default() -> Self {
        Self {
            wait_timeout: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl StatementPolicy {
    fn wait_timeout(&self) -> String {
        match self.wait_timeout.as_secs() {
            0 => "0s".to_owned(),
            seconds => format!("{}s", seconds.clamp(5, 50)),
        }
    }
}

/// Worker utilisation as `node_timeline` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Utilisation {
    cpu_percent: Option<f64>,
    memory_percent: Option<f64>,
}

#[derive(Default)]
struct OAuthState {
    token_endpoint: Option<String>,
    token: Option<(SecretString, Instant)>,
}

impl fmt::Debug for Databricks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Databricks")
            .field("host", &self.host)
            .field("warehouse_id", &self.warehouse_id)
            .finish_non_exhaustive()
    }
}

impl Databricks {
    /// No I/O: the token (OAuth) is fetched on the first call.
    pub fn new(credentials: DatabricksCredentials, http: reqwest::Client) -> Self {
        Self {
            host: credentials.workspace_url.trim_end_matches('/').to_owned(),
            auth: credentials.auth,
            warehouse_id: credentials.warehouse_id,
            rest: Rest::new(http, RetryPolicy::default()),
            statements: StatementPolicy::default(),
            oauth: Mutex::new(OAuthState::default()),
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.rest = self.rest.with_policy(policy);
        self
    }

    pub fn with_statement_policy(mut self, policy: StatementPolicy) -> Self {
        self.statements = policy;
        self
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host)
    }

    async fn token(&self) -> PlatformResult<SecretString> {
        match &self.auth {
            DatabricksAuth::Token(token) => Ok(token.clone()),
            DatabricksAuth::ServicePrincipal {
                client_id,
                client_secret,
            } => self.oauth_token(client_id, client_secret).await,
        }
    }

    /// The lock is held across the grant so that concurrent calls wait for one token instead of
    /// each asking for their own.
    async fn oauth_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
    ) -> PlatformResult<SecretString> {
        let mut state = self.oauth.lock().await;
        if let Some((token, refresh_at)) = &state.token
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let endpoint = match &state.token_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => {
                let endpoint = self.discover_token_endpoint().await?;
                state.token_endpoint = Some(endpoint.clone());
                endpoint
            }
        };
        let request = Request {
            method: reqwest::Method::POST,
            url: endpoint,
            query: Vec::new(),
            body: Body::Form("grant_type=client_credentials&scope=all-apis".to_owned()),
            // A grant changes nothing on the platform: asking twice only issues two tokens.
            replay: Replay::Safe,
        };
        let auth = Auth::Basic {
            user: client_id,
            password: client_secret,
        };
        let grant: TokenGrant = self
            .rest
            .json(&request, auth)
            .await
            .map_err(|err| match err {
                PlatformError::Protocol(message) | PlatformError::NotFound(message) => {
                    PlatformError::Unauthorized(format!("token grant refused: {message}"))
                }
                other => other,
            })?;
        let lifetime = grant.expires_in.unwrap_or(3600);
        // Refresh a little early so a token never expires between the check and the call.
        let margin = (lifetime / 4).min(60);
        let token = SecretString::from(grant.access_token);
        state.token = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime - margin),
        ));
        Ok(token)
    }

    /// The token endpoint from the workspace's OAuth metadata, kept on the workspace's own host so
    /// the client secret never goes anywhere else; `/oidc/v1/token` when there is no metadata.
    async fn discover_token_endpoint(&self) -> PlatformResult<String> {
        let fallback = self.url("/oidc/v1/token");
        let request = Request::get(self.url("/oidc/.well-known/oauth-authorization-server"));
        match self.rest.json::<Discovery>(&request, Auth::None).await {
            Ok(Discovery {
                token_endpoint: Some(endpoint),
            }) if endpoint.starts_with(&format!("{}/", self.host)) => Ok(endpoint),
            Ok(_) => Ok(fallback),
            Err(PlatformError::NotFound(_) | PlatformError::Protocol(_)) => Ok(fallback),
            Err(err) => Err(err),
        }
    }

    async fn forget_token(&self) {
        self.oauth.lock().await.token = None;
    }

    /// One API call with the workspace's credentials. An OAuth token the workspace rejects is
    /// dropped and replaced once, in case it was revoked before it expired.
    pub(super) async fn call<T: DeserializeOwned>(&self, request: Request) -> PlatformResult<T> {
        let token = self.token().await?;
        let result = match self.rest.json(&request, Auth::Bearer(&token)).await {
            Err(PlatformError::Unauthorized(_))
                if matches!(self.auth, DatabricksAuth::ServicePrincipal { .. }) =>
            {
                self.forget_token().await;
                let token = self.token().await?;
                self.rest.json(&request, Auth::Bearer(&token)).await
            }
            other => other,
        };
        result.map_err(|err| match err {
            // `clusters/get` and friends answer an unknown id with 400 INVALID_PARAMETER_VALUE.
            PlatformError::Protocol(message) if message.contains("does not exist") => {
                PlatformError::NotFound(message)
            }
            other => other,
        })
    }

    /// One call with the current token and no second try on 401/403: the statement API answers
    /// 403 for a warehouse the credentials may not use, and a token that works for everything
    /// else must not be thrown away for that.
    async fn call_once<T: DeserializeOwned>(&self, request: Request) -> PlatformResult<T> {
        let token = self.token().await?;
        self.rest.json(&request, Auth::Bearer(&token)).await
    }

    /// Utilisation for usage: never an error, since activity is what idle detection needs and
    /// utilisation only sharpens it. Why it is missing is logged at debug level.
    async fn utilisation(&self, id: &str) -> Utilisation {
        let Some(warehouse_id) = self.warehouse_id.as_deref() else {
            tracing::debug!(cluster_id = %id, "no SQL warehouse configured; no utilisation");
            return Utilisation::default();
        };
        match self.query_utilisation(warehouse_id, id).await {
            Ok(utilisation) => utilisation,
            Err(err) => {
                tracing::debug!(cluster_id = %id, error = %err, "no utilisation from node_timeline");
                Utilisation::default()
            }
        }
    }

    /// Runs [`UTILISATION_SQL`] for the cluster and waits for it within the statement policy.
    async fn query_utilisation(&self, warehouse_id: &str, id: &str) -> PlatformResult<Utilisation> {
        let body = json!({
            "warehouse_id": warehouse_id,
            "statement": UTILISATION_SQL,
            "parameters": [{"name": "cluster_id", "value": id, "type": "STRING"}],
            "wait_timeout": self.statements.wait_timeout(),
            "on_wait_timeout": "CONTINUE",
            "disposition": "INLINE",
            "format": "JSON_ARRAY",
        });
        // A SELECT changes nothing: running it twice only costs the warehouse a little time.
        let request = Request::action(self.url(STATEMENTS_PATH), body).replay(Replay::Safe);
        let mut statement: Statement = self.call_once(request).await?;
        let deadline = Instant::now() + self.statements.max_wait;
        loop {
            match statement.status.state {
                StatementState::Pending | StatementState::Running => {}
                StatementState::Succeeded => return statement.utilisation(),
                state => {
                    let error = statement.status.error.unwrap_or_default();
                    return Err(PlatformError::Protocol(format!(
                        "the utilisation statement ended {state:?}: {}: {}",
                        error.error_code.as_deref().unwrap_or("no error code"),
                        error.message.as_deref().unwrap_or("no message"),
                    )));
                }
            }
            let statement_id = statement
                .statement_id
                .as_deref()
                .filter(|id| is_statement_id(id))
                .ok_or_else(|| {
                    PlatformError::Protocol("the statement has no usable id to poll".to_owned())
                })?
                .to_owned();
            if Instant::now() >= deadline {
                self.cancel_statement(&statement_id).await;
                return Err(PlatformError::Unavailable(format!(
                    "the utilisation statement did not finish within {:?}; cancelled",
                    self.statements.max_wait
                )));
            }
            tokio::time::sleep(self.statements.interval).await;
            let url = self.url(&format!("{STATEMENTS_PATH}/{statement_id}"));
            statement = self.call_once(Request::get(url)).await?;
        }
    }

    /// Best effort: a statement left running only costs warehouse time until it ends.
    async fn cancel_statement(&self, statement_id: &str) {
        let url = self.url(&format!("{STATEMENTS_PATH}/{statement_id}/cancel"));
        let request = Request::action(url, json!({})).replay(Replay::Safe);
        if let Err(err) = self.call_once::<Value>(request).await {
            tracing::debug!(statement_id, error = %err, "could not cancel the utilisation statement");
        }
    }

    pub(super) async fn details(&self, id: &str) -> PlatformResult<Value> {
        self.call(Request::get(self.url("/api/2.1/clusters/get")).query("cluster_id", id))
            .await
    }

    async fn list_details(&self) -> PlatformResult<Vec<Details>> {
        let mut clusters = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request =
                Request::get(self.url("/api/2.1/clusters/list")).query("page_size", LIST_PAGE_SIZE);
            if let Some(token) = &page_token {
                request = request.query("page_token", token);
            }
            let page: ClusterPage = self.call(request).await?;
            clusters.extend(page.clusters);
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) if Some(&next) == page_token.as_ref() => {
                    return Err(PlatformError::Protocol(
                        "clusters/list repeated its page token".to_owned(),
                    ));
                }
                Some(next) => page_token = Some(next),
                None => return Ok(clusters),
            }
        }
        Err(PlatformError::Protocol(
            "clusters/list did not end after 10,000 pages".to_owned(),
        ))
    }

    /// Sends terminate or start. When the answer is lost, the cluster is read back: if the
    /// action landed (`landed(state)`) it is done; if not, it is sent once more.
    async fn act(
        &self,
        path: &str,
        id: &str,
        landed: fn(ClusterState) -> bool,
    ) -> PlatformResult<()> {
        let mut last = None;
        for _ in 0..2 {
            let request = Request::action(self.url(path), json!({ "cluster_id": id }));
            match self.call::<Value>(request).await {
                Ok(_) => return Ok(()),
                Err(PlatformError::Unavailable(message)) => {
                    if landed(self.cluster(id).await?.state) {
                        return Ok(());
                    }
                    last = Some(PlatformError::Unavailable(message));
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| PlatformError::Unavailable(format!("POST {path}"))))
    }

    async fn resumed_from(&self, purged_id: &str) -> PlatformResult<Option<Details>> {
        Ok(self.list_details().await?.into_iter().find(|cluster| {
            cluster
                .custom_tags
                .get(RESUMED_FROM_TAG)
                .map(String::as_str)
                == Some(purged_id)
        }))
    }

    /// Databricks forgets a terminated cluster after 30 days: create it again from the spec.
    async fn recreate(&self, snapshot: &Snapshot) -> PlatformResult<Resumed> {
        let ready = estimated_ready_seconds(&snapshot.definition);
        let resumed = |cluster_id: String| Resumed {
            cluster_id,
            estimated_ready_seconds: ready,
        };
        if let Some(existing) = self.resumed_from(&snapshot.cluster_id).await? {
            if matches!(
                existing.state.into(),
                ClusterState::Stopped | ClusterState::Stopping
            ) {
                self.act("/api/2.1/clusters/start", &existing.cluster_id, started)
                    .await?;
            }
            return Ok(resumed(existing.cluster_id));
        }
        let Value::Object(mut spec) = snapshot.definition.clone() else {
            return Err(PlatformError::Protocol(
                "the snapshot holds no cluster spec to recreate the cluster from".to_owned(),
            ));
        };
        let tags = spec
            .entry("custom_tags")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(tags) = tags {
            tags.insert(
                RESUMED_FROM_TAG.to_owned(),
                Value::String(snapshot.cluster_id.clone()),
            );
        }
        let request = Request::action(self.url("/api/2.1/clusters/create"), Value::Object(spec));
        match self.call::<Created>(request).await {
            Ok(created) => Ok(resumed(created.cluster_id)),
            Err(PlatformError::Unavailable(message)) => {
                match self.resumed_from(&snapshot.cluster_id).await? {
                    Some(created) => Ok(resumed(created.cluster_id)),
                    None => Err(PlatformError::Unavailable(message)),
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn active_runs(&self, id: &str) -> PlatformResult<(u32, Option<i64>)> {
        Ok(runs_on(&self.all_active_runs().await?, id))
    }

    /// Every active run of the workspace: `runs/list` has no cluster filter, so a scan lists
    /// them once and filters per cluster, rather than once per cluster.
    async fn all_active_runs(&self) -> PlatformResult<Vec<Run>> {
        let mut runs = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = Request::get(self.url("/api/2.2/jobs/runs/list"))
                .query("active_only", "true")
                .query("expand_tasks", "true")
                .query("limit", RUNS_PAGE_SIZE);
            if let Some(token) = &page_token {
                request = request.query("page_token", token);
            }
            let page: RunsPage = self.call(request).await?;
            runs.extend(page.runs);
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) if Some(&next) == page_token.as_ref() => {
                    return Err(PlatformError::Protocol(
                        "jobs/runs/list repeated its page token".to_owned(),
                    ));
                }
                Some(next) => page_token = Some(next),
                None => return Ok(runs),
            }
        }
        Err(PlatformError::Protocol(
            "jobs/runs/list did not end after 10,000 pages".to_owned(),
        ))
    }

    async fn last_event(&self, id: &str) -> PlatformResult<Option<i64>> {
        let request = Request::action(
            self.url("/api/2.1/clusters/events"),
            json!({
                "cluster_id": id,
                "order": "DESC",
                "page_size": 1,
                "event_types": ACTIVITY_EVENTS,
            }),
        )
        // Listing events is a read that Databricks happens to take as a POST.
        .replay(Replay::Safe);
        let page: EventsPage = self.call(request).await?;
        Ok(page.events.iter().filter_map(|event| event.timestamp).max())
    }
}

#[async_trait]
impl Platform for Databricks {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Databricks
    }

    /// Listing clusters needs only workspace access, and any user may list; whether the
    /// credentials may also start and terminate shows per cluster (ACLs), which a cheap check
    /// cannot tell. So this reports `read`, what it saw.
    async fn check(&self) -> PlatformResult<Access> {
        let _: ClusterPage = self
            .call(Request::get(self.url("/api/2.1/clusters/list")).query("page_size", 1))
            .await?;
        Ok(Access {
            permissions: vec!["read".to_owned()],
        })
    }

    async fn list_clusters(&self) -> PlatformResult<Vec<ClusterInfo>> {
        Ok(self
            .list_details()
            .await?
            .into_iter()
            .map(Details::into_info)
            .collect())
    }

    async fn cluster(&self, id: &str) -> PlatformResult<ClusterInfo> {
        Ok(parse_details(self.details(id).await?)?.into_info())
    }

    async fn hibernate(&self, id: &str) -> PlatformResult<Snapshot> {
        let raw = self.details(id).await?;
        let details = parse_details(raw.clone())?;
        let state = ClusterState::from(details.state);
        if !matches!(state, ClusterState::Running | ClusterState::Resizing) {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} is not running (state {state:?})"
            )));
        }
        let definition = spec_of(&raw);
        self.act("/api/2.1/clusters/delete", id, stopped).await?;
        Ok(Snapshot {
            kind: PlatformKind::Databricks,
            cluster_id: id.to_owned(),
            taken_at: Utc::now(),
            definition,
        })
    }

    async fn resume(&self, snapshot: &Snapshot) -> PlatformResult<Resumed> {
        if snapshot.kind != PlatformKind::Databricks {
            return Err(PlatformError::InvalidState(format!(
                "a {} snapshot cannot be resumed on Databricks",
                snapshot.kind
            )));
        }
        let id = &snapshot.cluster_id;
        let resumed = Resumed {
            cluster_id: id.clone(),
            estimated_ready_seconds: estimated_ready_seconds(&snapshot.definition),
        };
        match self.act("/api/2.1/clusters/start", id, started).await {
            Ok(()) => Ok(resumed),
            Err(PlatformError::NotFound(_)) => self.recreate(snapshot).await,
            // Databricks refuses to start a cluster that is not terminated: one that is already
            // up (resumed by someone else) is what was asked for.
            Err(PlatformError::InvalidState(message)) => match self.cluster(id).await?.state {
                state if state.is_billing() => Ok(resumed),
                _ => Err(PlatformError::InvalidState(message)),
            },
            Err(err) => Err(err),
        }
    }

    async fn resize(&self, id: &str, workers: u32) -> PlatformResult<()> {
        // Setting an absolute count: sending it twice changes nothing.
        let request = Request::action(
            self.url("/api/2.1/clusters/resize"),
            json!({ "cluster_id": id, "num_workers": workers }),
        )
        .replay(Replay::Safe);
        self.call::<Value>(request).await.map(drop)
    }

    async fn usage(&self, id: &str) -> PlatformResult<UsageSignals> {
        let (active_work, latest_run_start) = self.active_runs(id).await?;
        self.signals(id, active_work, latest_run_start).await
    }

    async fn usage_of_many(&self, ids: &[String]) -> Vec<PlatformResult<UsageSignals>> {
        let runs = match self.all_active_runs().await {
            Ok(runs) => runs,
            Err(err) => {
                let message = err.to_string();
                return ids
                    .iter()
                    .map(|_| Err(PlatformError::Unavailable(message.clone())))
                    .collect();
            }
        };
        use futures::{FutureExt, StreamExt};
        // Built in a loop, not a closure, to keep the `Send` proof of a spawned scan.
        let mut reads = Vec::with_capacity(ids.len());
        for id in ids {
            let (active_work, latest_run_start) = runs_on(&runs, id);
            reads.push(self.signals(id, active_work, latest_run_start).boxed());
        }
        futures::stream::iter(reads)
            .buffered(super::USAGE_READS_AT_ONCE)
            .collect()
            .await
    }
}

impl Databricks {
    /// The rest of a cluster's signals, once its active runs are known.
    async fn signals(
        &self,
        id: &str,
        active_work: u32,
        latest_run_start: Option<i64>,
    ) -> PlatformResult<UsageSignals> {
        let last_event = self.last_event(id).await?;
        let last_activity = if active_work > 0 {
            Some(Utc::now())
        } else {
            last_event.max(latest_run_start).and_then(from_millis)
        };
        let utilisation = self.utilisation(id).await;
        Ok(UsageSignals {
            active_work,
            cpu_percent: utilisation.cpu_percent,
            memory_percent: utilisation.memory_percent,
            last_activity,
            ..UsageSignals::default()
        })
    }
}

/// How many of `runs` use the cluster, and the latest start among them.
fn runs_on(runs: &[Run], id: &str) -> (u32, Option<i64>) {
    let mut active = 0;
    let mut latest_start = None;
    for run in runs.iter().filter(|run| run.uses(id)) {
        active += 1;
        latest_start = latest_start.max(run.start_time);
    }
    (active, latest_start)
}

fn stopped(state: ClusterState) -> bool {
    matches!(state, ClusterState::Stopping | ClusterState::Stopped)
}

fn started(state: ClusterState) -> bool {
    state.is_billing()
}

/// Statement ids are UUID-like (`01ef…-…`): nothing that could leave the statements path.
fn is_statement_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A percentage from a `data_array` cell (every value arrives as a string, or null).
fn percent(cell: Option<&str>) -> Option<f64> {
    cell?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .map(|value| value.clamp(0.0, 100.0))
}

fn estimated_ready_seconds(definition: &Value) -> u32 {
    if definition
        .get("instance_pool_id")
        .is_some_and(Value::is_string)
    {
        POOL_START_SECONDS
    } else {
        COLD_START_SECONDS
    }
}

/// The user's spec as `clusters/get` returns it; else the create fields of the details.
pub(super) fn spec_of(details: &Value) -> Value {
    if let Some(spec @ Value::Object(_)) = details.get("spec") {
        return spec.clone();
    }
    let fields = SPEC_FIELDS
        .iter()
        .filter_map(|field| {
            details
                .get(*field)
                .map(|value| ((*field).to_owned(), value.clone()))
        })
        .collect();
    Value::Object(fields)
}

fn parse_details(raw: Value) -> PlatformResult<Details> {
    serde_path_to_error::deserialize(raw).map_err(|err| {
        PlatformError::Protocol(format!(
            "clusters/get: unexpected answer at {}: {}",
            err.path(),
            err.inner()
        ))
    })
}

fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// `us-west-2a` → `us-west-2`, `us-central1-a` → `us-central1`; `auto` and anything else → None.
fn region_of_zone(zone: &str) -> Option<String> {
    if let Some((region, suffix)) = zone.rsplit_once('-')
        && suffix.len() == 1
        && suffix.chars().all(|c| c.is_ascii_lowercase())
        && region.chars().last().is_some_and(|c| c.is_ascii_digit())
    {
        return Some(region.to_owned());
    }
    let mut chars = zone.chars().rev();
    match (chars.next(), chars.next()) {
        (Some(zone_letter), Some(digit))
            if zone_letter.is_ascii_lowercase() && digit.is_ascii_digit() && zone.contains('-') =>
        {
            Some(zone[..zone.len() - 1].to_owned())
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct TokenGrant {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    cluster_id: String,
}

#[derive(Deserialize)]
struct ClusterPage {
    #[serde(default)]
    clusters: Vec<Details>,
    next_page_token: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum State {
    Pending,
    Running,
    Restarting,
    Resizing,
    Terminating,
    Terminated,
    Error,
    #[default]
    #[serde(other)]
    Unknown,
}

impl From<State> for ClusterState {
    fn from(state: State) -> Self {
        match state {
            State::Pending | State::Restarting => Self::Starting,
            State::Running => Self::Running,
            State::Resizing => Self::Resizing,
            State::Terminating => Self::Stopping,
            State::Terminated => Self::Stopped,
            State::Error => Self::Error,
            State::Unknown => Self::Unknown,
        }
    }
}

#[derive(Deserialize)]
struct Autoscale {
    min_workers: Option<u32>,
}

#[derive(Deserialize)]
struct ZoneAttributes {
    zone_id: Option<String>,
}

#[derive(Deserialize)]
struct Details {
    cluster_id: String,
    #[serde(default)]
    cluster_name: String,
    #[serde(default)]
    state: State,
    node_type_id: Option<String>,
    driver_node_type_id: Option<String>,
    num_workers: Option<u32>,
    autoscale: Option<Autoscale>,
    start_time: Option<i64>,
    last_restarted_time: Option<i64>,
    aws_attributes: Option<ZoneAttributes>,
    gcp_attributes: Option<ZoneAttributes>,
    #[serde(default)]
    custom_tags: HashMap<String, String>,
}

impl Details {
    fn into_info(self) -> ClusterInfo {
        let state = ClusterState::from(self.state);
        let workers = self
            .num_workers
            .or_else(|| self.autoscale.as_ref().and_then(|a| a.min_workers))
            .unwrap_or(0);
        let running = matches!(state, ClusterState::Running | ClusterState::Resizing);
        let started_at = running
            .then(|| self.last_restarted_time.max(self.start_time))
            .flatten()
            .and_then(from_millis);
        let region = [&self.aws_attributes, &self.gcp_attributes]
            .into_iter()
            .flatten()
            .filter_map(|attributes| attributes.zone_id.as_deref())
            .find_map(region_of_zone);
        let driver_instance_type = self
            .driver_node_type_id
            .filter(|driver| Some(driver) != self.node_type_id.as_ref());
        ClusterInfo {
            id: self.cluster_id,
            name: self.cluster_name,
            state,
            instance_type: self.node_type_id,
            driver_instance_type,
            workers,
            region,
            started_at,
        }
    }
}

#[derive(Deserialize)]
struct RunsPage {
    #[serde(default)]
    runs: Vec<Run>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ClusterInstance {
    cluster_id: Option<String>,
}

#[derive(Deserialize)]
struct Task {
    existing_cluster_id: Option<String>,
    cluster_instance: Option<ClusterInstance>,
}

#[derive(Deserialize)]
struct Run {
    start_time: Option<i64>,
    cluster_instance: Option<ClusterInstance>,
    #[serde(default)]
    tasks: Vec<Task>,
}

impl Run {
    fn uses(&self, id: &str) -> bool {
        let on = |instance: &Option<ClusterInstance>| {
            instance.as_ref().and_then(|i| i.cluster_id.as_deref()) == Some(id)
        };
        on(&self.cluster_instance)
            || self.tasks.iter().any(|task| {
                task.existing_cluster_id.as_deref() == Some(id) || on(&task.cluster_instance)
            })
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum StatementState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Closed,
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Default, Deserialize)]
struct StatementError {
    error_code: Option<String>,
    message: Option<String>,
}

#[derive(Default, Deserialize)]
struct StatementStatus {
    #[serde(default)]
    state: StatementState,
    error: Option<StatementError>,
}

#[derive(Deserialize)]
struct Column {
    name: String,
    position: Option<usize>,
}

#[derive(Default, Deserialize)]
struct Schema {
    #[serde(default)]
    columns: Vec<Column>,
}

#[derive(Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    schema: Schema,
}

#[derive(Default, Deserialize)]
struct ResultChunk {
    #[serde(default)]
    data_array: Vec<Vec<Option<String>>>,
}

#[derive(Deserialize)]
struct Statement {
    statement_id: Option<String>,
    #[serde(default)]
    status: StatementStatus,
    manifest: Option<Manifest>,
    result: Option<ResultChunk>,
}

impl Statement {
    /// The first row of a finished statement, read by column name. No row, or no node-minutes
    /// (the cluster had no workers up in the window, or the table lags), is no utilisation.
    fn utilisation(self) -> PlatformResult<Utilisation> {
        let columns = self.manifest.unwrap_or_default().schema.columns;
        let position = |name: &str| {
            columns
                .iter()
                .enumerate()
                .find(|(_, column)| column.name.eq_ignore_ascii_case(name))
                .map(|(index, column)| column.position.unwrap_or(index))
        };
        let (Some(cpu), Some(memory)) = (position("avg_cpu_pct"), position("avg_mem_pct")) else {
            return Err(PlatformError::Protocol(
                "the utilisation statement's answer lacks its columns".to_owned(),
            ));
        };
        let rows = self.result.unwrap_or_default().data_array;
        let Some(row) = rows.first() else {
            return Ok(Utilisation::default());
        };
        let cell = |index: usize| row.get(index).and_then(Option::as_deref);
        let node_minutes = position("node_minutes")
            .and_then(&cell)
            .and_then(|count| count.trim().parse::<f64>().ok());
        if node_minutes == Some(0.0) {
            return Ok(Utilisation::default());
        }
        Ok(Utilisation {
            cpu_percent: percent(cell(cpu)),
            memory_percent: percent(cell(memory)),
        })
    }
}

#[derive(Deserialize)]
struct Event {
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct EventsPage {
    #[serde(default)]
    events: Vec<Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_name_their_region() {
        assert_eq!(region_of_zone("us-west-2a").as_deref(), Some("us-west-2"));
        assert_eq!(
            region_of_zone("us-central1-a").as_deref(),
            Some("us-central1")
        );
        assert_eq!(region_of_zone("auto"), None);
        assert_eq!(region_of_zone("HA"), None);
    }

    #[test]
    fn statement_results_are_read_by_column_name_from_strings() {
        let answer = |rows: Value| -> Statement {
            serde_json::from_value(json!({
                "statement_id": "01ef-abc",
                "status": {"state": "SUCCEEDED"},
                "manifest": {"schema": {"column_count": 3, "columns": [
                    {"name": "node_minutes", "position": 0, "type_name": "LONG"},
                    {"name": "avg_mem_pct", "position": 1, "type_name": "DOUBLE"},
                    {"name": "avg_cpu_pct", "position": 2, "type_name": "DOUBLE"},
                ]}},
                "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": rows},
            }))
            .unwrap()
        };
        let read = answer(json!([["40", "61.5", "12.25"]]))
            .utilisation()
            .unwrap();
        assert_eq!(read.cpu_percent, Some(12.25));
        assert_eq!(read.memory_percent, Some(61.5));
        let empty = answer(json!([["0", null, null]])).utilisation().unwrap();
        assert_eq!(empty, Utilisation::default());
        let none = answer(json!([])).utilisation().unwrap();
        assert_eq!(none, Utilisation::default());
        let odd = answer(json!([["3", "not a number", "250"]]))
            .utilisation()
            .unwrap();
        assert_eq!(odd.memory_percent, None);
        assert_eq!(odd.cpu_percent, Some(100.0));
    }

    #[test]
    fn the_utilisation_query_binds_the_cluster_id() {
        assert!(UTILISATION_SQL.contains("cluster_id = :cluster_id"));
        assert!(UTILISATION_SQL.contains("driver = false"));
        assert!(!UTILISATION_SQL.contains('\''));
        assert!(is_statement_id("01ef7a5c-1b2d-1f3e-8a9b-0c1d2e3f4a5b"));
        assert!(!is_statement_id("../clusters/delete"));
        assert!(!is_statement_id(""));
    }

    #[test]
    fn wait_timeouts_stay_in_the_range_the_api_accepts() {
        let policy = |seconds| StatementPolicy {
            wait_timeout: Duration::from_secs(seconds),
            ..StatementPolicy::default()
        };
        assert_eq!(policy(0).wait_timeout(), "0s");
        assert_eq!(policy(2).wait_timeout(), "5s");
        assert_eq!(policy(10).wait_timeout(), "10s");
        assert_eq!(policy(90).wait_timeout(), "50s");
    }

    #[test]
    fn unknown_states_do_not_fail_the_listing() {
        let details: Details =
            serde_json::from_value(json!({"cluster_id": "a", "state": "HIBERNATING_SOMEDAY"}))
                .unwrap();
        assert_eq!(details.into_info().state, ClusterState::Unknown);
    }

    #[test]
    fn autoscaling_clusters_count_their_minimum_and_runtime_fields_stay_out_of_the_spec() {
        let raw = json!({
            "cluster_id": "a", "state": "RUNNING", "autoscale": {"min_workers": 2, "max_workers": 8},
            "node_type_id": "i3.xlarge", "driver_node_type_id": "i3.xlarge",
            "start_time": 1_700_000_000_000_i64, "executors": [], "spark_version": "15.4.x-scala2.12",
        });
        let spec = spec_of(&raw);
        assert!(spec.get("executors").is_none() && spec.get("state").is_none());
        assert_eq!(spec["spark_version"], "15.4.x-scala2.12");
        let info = parse_details(raw).unwrap().into_info();
        assert_eq!(info.workers, 2);
        assert_eq!(info.driver_instance_type, None);
        assert!(info.started_at.is_some());
    }
}
