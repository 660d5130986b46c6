//! Google Dataproc clusters of one project and region through the REST API v1, with a
//! service-account JSON key (OAuth 2 JWT-bearer grant, RS256).
//!
//! Hibernate is `clusters.stop` and resume `clusters.start`: Dataproc keeps the cluster, its
//! configuration and its disks, so the snapshot (the cluster's `config`) is a record of what was
//! stopped rather than a recipe to rebuild it. Every action carries a fresh `requestId`, which
//! Dataproc de-duplicates, so a retry after a lost answer gets the first request's operation back
//! instead of acting twice; actions also name the `clusterUuid` that was inspected, so a cluster
//! deleted and recreated under the same name in between is never touched. Long-running operations
//! are polled for a bounded time: one that is still running afterwards is reported as started, and
//! the cluster's state tells the rest.
//!
//! Utilisation comes from Cloud Monitoring (`projects.timeSeries.list`, with the same token: the
//! `cloud-platform` scope covers it, and the service account needs `monitoring.timeSeries.list`,
//! e.g. Monitoring Viewer): memory is YARN's `cluster/yarn/allocated_memory_percentage`, CPU the
//! mean of `compute.googleapis.com/instance/cpu/utilization` over the cluster's worker VMs, both
//! over the last ten minutes. It is best effort: a failure leaves CPU or memory out, never fails
//! usage.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::credentials::DataprocCredentials;
use super::http::{Auth, Body, Replay, Request, Rest, RetryPolicy};
use super::{Access, Platform, PlatformError, PlatformResult, Resumed, Snapshot};
use crate::domain::platform::{ClusterInfo, ClusterState, PlatformKind, UsageSignals};

pub const API_URL: &str = "https://dataproc.googleapis.com";
pub const MONITORING_URL: &str = "https://monitoring.googleapis.com";
/// YARN memory allocated, in percent, per cluster (`cloud_dataproc_cluster`).
const MEMORY_METRIC: &str = "dataproc.googleapis.com/cluster/yarn/allocated_memory_percentage";
/// A VM's CPU utilisation, as a fraction from 0 to 1, per instance (`gce_instance`).
const CPU_METRIC: &str = "compute.googleapis.com/instance/cpu/utilization";
/// The window utilisation is averaged over, and the alignment period that makes it one point.
const UTILISATION_WINDOW_SECS: i64 = 600;
/// At most this many VMs are named in one CPU filter (filters are bounded in length); a larger
/// cluster's CPU is the mean over its first workers.
const MAX_CPU_INSTANCES: usize = 100;
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's maximum assertion lifetime, and the client libraries' default.
const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// Dataproc does not document a maximum page size; 100 keeps pages small enough to time out
/// rarely and large enough that a big fleet is a handful of calls.
const LIST_PAGE_SIZE: u32 = 100;
/// Stops a platform that hands out the same page token forever.
const MAX_PAGES: usize = 10_000;
/// A stopped cluster's VMs boot again and rejoin: typically 1–3 minutes.
const START_SECONDS: u32 = 150;

/// How long actions wait for their long-running operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationPolicy {
    /// Between two polls of the operation.
    pub interval: Duration,
    /// After this long the action is reported as started and the operation is left running.
    pub max_wait: Duration,
}

impl Default for OperationPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            max_wait: Duration::from_secs(20),
        }
    }
}

pub struct Dataproc {
    project: String,
    region: String,
    base: String,
    monitoring: String,
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_uri: String,
    rest: Rest,
    operations: OperationPolicy,
    token: Mutex<Option<(SecretString, Instant)>>,
}

impl fmt::Debug for Dataproc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataproc")
            .field("project", &self.project)
            .field("region", &self.region)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ServiceAccountKey {
    client_email: String,
    private_key: SecretString,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl Dataproc {
    /// Reads the service-account key; no I/O (the token is granted on the first call). A key
    /// that cannot sign is refused here, naming the field and never quoting it.
    pub fn new(credentials: DataprocCredentials, http: reqwest::Client) -> PlatformResult<Self> {
        let key: ServiceAccountKey = serde_json::from_str(
            credentials.service_account_key.expose_secret(),
        )
        .map_err(|_| {
            PlatformError::Unauthorized(
                "service_account_key is not a service account's JSON key".to_owned(),
            )
        })?;
        let unusable = || {
            PlatformError::Unauthorized(
                "service_account_key.private_key is not a usable RSA private key".to_owned(),
            )
        };
        let signing_key = EncodingKey::from_rsa_pem(key.private_key.expose_secret().as_bytes())
            .map_err(|_| unusable())?;
        // The PEM is only decoded above; signing once proves it is an RSA key ring accepts.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &json!({}), &signing_key)
            .map_err(|_| unusable())?;
        let base = credentials
            .endpoint_url
            .as_deref()
            .unwrap_or(API_URL)
            .trim_end_matches('/')
            .to_owned();
        // An endpoint override is a fake that serves Cloud Monitoring next to Dataproc.
        let monitoring = credentials
            .endpoint_url
            .as_deref()
            .unwrap_or(MONITORING_URL)
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            project: credentials.project_id,
            region: credentials.region,
            base,
            monitoring,
            client_email: key.client_email,
            key_id: key.private_key_id,
            key: signing_key,
            token_uri: key
                .token_uri
                .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            rest: Rest::new(http, RetryPolicy::default()),
            operations: OperationPolicy::default(),
            token: Mutex::new(None),
        })
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.rest = self.rest.with_policy(policy);
        self
    }

    pub fn with_operation_policy(mut self, policy: OperationPolicy) -> Self {
        self.operations = policy;
        self
    }

    /// Cloud Monitoring's base URL in place of `https://monitoring.googleapis.com` (or of the
    /// endpoint override).
    pub fn with_monitoring_url(mut self, url: &str) -> Self {
        self.monitoring = url.trim_end_matches('/').to_owned();
        self
    }

    fn clusters_url(&self) -> String {
        format!(
            "{}/v1/projects/{}/regions/{}/clusters",
            self.base, self.project, self.region
        )
    }

    /// The cluster's URL (with `suffix` such as `:stop`). Names are checked first so that an id
    /// can never steer the call to another path on the API.
    fn cluster_url(&self, name: &str, suffix: &str) -> PlatformResult<String> {
        if !is_cluster_name(name) {
            return Err(PlatformError::NotFound(format!(
                "no Dataproc cluster is named {name:?}"
            )));
        }
        Ok(format!("{}/{name}{suffix}", self.clusters_url()))
    }

    /// The lock is held across the grant so that concurrent calls wait for one token instead of
    /// each asking for their own.
    async fn token(&self) -> PlatformResult<SecretString> {
        let mut cached = self.token.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|_| {
            PlatformError::Unauthorized("the service account key could not sign".to_owned())
        })?;
        let request = Request {
            method: reqwest::Method::POST,
            url: self.token_uri.clone(),
            query: Vec::new(),
            body: Body::Form(format!(
                "grant_type={}&assertion={assertion}",
                utf8_percent_encode(JWT_BEARER, NON_ALPHANUMERIC)
            )),
            // A grant changes nothing on the platform: asking twice only issues two tokens.
            replay: Replay::Safe,
        };
        let grant: TokenGrant = self.rest.json(&request, Auth::None).await.map_err(|err| {
            let err = match err {
                PlatformError::Protocol(message) | PlatformError::NotFound(message) => {
                    PlatformError::Unauthorized(format!("token grant refused: {message}"))
                }
                other => other,
            };
            // The assertion is good for an hour: it must not reach an error either.
            scrub(err, &assertion)
        })?;
        let lifetime = grant.expires_in.unwrap_or(3600).max(1);
        // Refresh a little early so a token never expires between the check and the call.
        let margin = (lifetime / 4).min(60);
        let token = SecretString::from(grant.access_token);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime - margin),
        ));
        Ok(token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// One API call. A token Google rejects is dropped and replaced once, in case it was revoked
    /// before it expired.
    async fn call<T: DeserializeOwned>(&self, request: Request) -> PlatformResult<T> {
        let token = self.token().await?;
        let result = match self.rest.json(&request, Auth::Bearer(&token)).await {
            Err(PlatformError::Unauthorized(_)) => {
                self.forget_token().await;
                let token = self.token().await?;
                self.rest.json(&request, Auth::Bearer(&token)).await
            }
            other => other,
        };
        result.map_err(|err| match err {
            // Stop/start/update in the wrong state: 400 FAILED_PRECONDITION.
            PlatformError::Protocol(message) if message.contains("FAILED_PRECONDITION") => {
                PlatformError::InvalidState(message)
            }
            other => other,
        })
    }

    async fn raw_cluster(&self, name: &str) -> PlatformResult<Value> {
        self.call(Request::get(self.cluster_url(name, "")?)).await
    }

    async fn list_raw(&self, page_size: u32, all: bool) -> PlatformResult<Vec<Cluster>> {
        let mut clusters = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = Request::get(self.clusters_url()).query("pageSize", page_size);
            if let Some(token) = &page_token {
                request = request.query("pageToken", token);
            }
            let page: ClusterPage = self.call(request).await?;
            clusters.extend(page.clusters);
            match page
                .next_page_token
                .filter(|token| !token.is_empty() && all)
            {
                Some(next) if Some(&next) == page_token.as_ref() => {
                    return Err(PlatformError::Protocol(
                        "clusters.list repeated its page token".to_owned(),
                    ));
                }
                Some(next) => page_token = Some(next),
                None => return Ok(clusters),
            }
        }
        Err(PlatformError::Protocol(
            "clusters.list did not end after 10,000 pages".to_owned(),
        ))
    }

    /// Sends stop or start for the cluster as it was inspected (`uuid`). The `requestId` makes the
    /// helper's retries safe; when every answer was lost, the cluster is read back and the action
    /// counts as done if it visibly landed.
    async fn act(
        &self,
        name: &str,
        uuid: Option<&str>,
        verb: &str,
        landed: fn(ClusterState) -> bool,
    ) -> PlatformResult<()> {
        let mut body = json!({ "requestId": request_id() });
        if let Some(uuid) = uuid {
            body["clusterUuid"] = json!(uuid);
        }
        let request = Request::action(self.cluster_url(name, &format!(":{verb}"))?, body)
            .replay(Replay::Safe);
        match self.call::<Operation>(request).await {
            Ok(operation) => self.wait(operation).await,
            Err(PlatformError::Unavailable(message)) => {
                if landed(self.cluster(name).await?.state) {
                    Ok(())
                } else {
                    Err(PlatformError::Unavailable(message))
                }
            }
            Err(err) => Err(err),
        }
    }

    /// Polls the operation until it is done or the policy's time is up; its `error` becomes
    /// the call's.
    async fn wait(&self, mut operation: Operation) -> PlatformResult<()> {
        let deadline = Instant::now() + self.operations.max_wait;
        loop {
            if operation.done {
                return match operation.error {
                    Some(status) => Err(status.into_error()),
                    None => Ok(()),
                };
            }
            if Instant::now() >= deadline {
                tracing::info!(operation = %operation.name, "operation still running; not waiting longer");
                return Ok(());
            }
            if !is_operation_name(&operation.name) {
                return Err(PlatformError::Protocol(
                    "the operation has no usable name to poll".to_owned(),
                ));
            }
            tokio::time::sleep(self.operations.interval).await;
            let url = format!("{}/v1/{}", self.base, operation.name);
            operation = self.call(Request::get(url)).await?;
        }
    }

    async fn active_jobs(&self, name: &str) -> PlatformResult<u32> {
        let url = format!(
            "{}/v1/projects/{}/regions/{}/jobs",
            self.base, self.project, self.region
        );
        let mut active = 0;
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request = Request::get(url.as_str())
                .query("clusterName", name)
                .query("jobStateMatcher", "ACTIVE")
                .query("pageSize", LIST_PAGE_SIZE);
            if let Some(token) = &page_token {
                request = request.query("pageToken", token);
            }
            let page: JobsPage = self.call(request).await?;
            active += page.jobs.len() as u32;
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) if Some(&next) == page_token.as_ref() => {
                    return Err(PlatformError::Protocol(
                        "jobs.list repeated its page token".to_owned(),
                    ));
                }
                Some(next) => page_token = Some(next),
                None => return Ok(active),
            }
        }
        Err(PlatformError::Protocol(
            "jobs.list did not end after 10,000 pages".to_owned(),
        ))
    }

    fn info(&self, cluster: Cluster) -> ClusterInfo {
        cluster.into_info(&self.region)
    }

    /// CPU and memory in percent, each None when Cloud Monitoring has nothing or fails (logged
    /// at debug level): utilisation sharpens idle detection but is not needed for it.
    async fn utilisation(&self, cluster: &Cluster) -> (Option<f64>, Option<f64>) {
        let name = &cluster.cluster_name;
        let cpu = async {
            let Some(filter) = cpu_filter(cluster) else {
                tracing::debug!(cluster_id = %name, "no worker VM names; no CPU utilisation");
                return None;
            };
            self.metric_mean(&filter)
                .await
                .map(|fraction| fraction.map(|f| (f * 100.0).clamp(0.0, 100.0)))
                .unwrap_or_else(|err| {
                    tracing::debug!(cluster_id = %name, error = %err, "no CPU utilisation from Cloud Monitoring");
                    None
                })
        };
        let memory = async {
            self.metric_mean(&memory_filter(cluster))
                .await
                .map(|percent| percent.map(|p| p.clamp(0.0, 100.0)))
                .unwrap_or_else(|err| {
                    tracing::debug!(cluster_id = %name, error = %err, "no memory utilisation from Cloud Monitoring");
                    None
                })
        };
        futures::join!(cpu, memory)
    }

    /// The mean over the window of every series the filter selects, reduced to one point by
    /// Cloud Monitoring (and averaged here too, should it answer per series).
    async fn metric_mean(&self, filter: &str) -> PlatformResult<Option<f64>> {
        let end = Utc::now();
        let start = end - chrono::Duration::seconds(UTILISATION_WINDOW_SECS);
        let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let url = format!(
            "{}/v3/projects/{}/timeSeries",
            self.monitoring, self.project
        );
        let request = Request::get(url)
            .query("filter", filter)
            .query("interval.startTime", stamp(start))
            .query("interval.endTime", stamp(end))
            .query(
                "aggregation.alignmentPeriod",
                format!("{UTILISATION_WINDOW_SECS}s"),
            )
            .query("aggregation.perSeriesAligner", "ALIGN_MEAN")
            .query("aggregation.crossSeriesReducer", "REDUCE_MEAN");
        // The current token, and no second grant on 403: a service account without Monitoring
        // Viewer is refused here every time, which must not cost a token per scan.
        let token = self.token().await?;
        let page: TimeSeriesPage = self.rest.json(&request, Auth::Bearer(&token)).await?;
        let newest: Vec<f64> = page
            .time_series
            .iter()
            .filter_map(|series| series.points.first())
            .filter_map(|point| point.value.number())
            .filter(|value| value.is_finite())
            .collect();
        if newest.is_empty() {
            return Ok(None);
        }
        Ok(Some(newest.iter().sum::<f64>() / newest.len() as f64))
    }
}

/// Cloud Monitoring filters quote values; only names that cannot close the quote get in.
fn is_label_value(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// YARN memory of this cluster: by name (checked when it was fetched) and, when known, by the
/// UUID of this incarnation of it.
fn memory_filter(cluster: &Cluster) -> String {
    let mut filter = format!(
        "metric.type=\"{MEMORY_METRIC}\" AND resource.type=\"cloud_dataproc_cluster\" \
         AND resource.labels.cluster_name=\"{}\"",
        cluster.cluster_name
    );
    if let Some(uuid) = cluster
        .cluster_uuid
        .as_deref()
        .filter(|u| is_label_value(u))
    {
        filter.push_str(&format!(" AND resource.labels.cluster_uuid=\"{uuid}\""));
    }
    filter
}

/// CPU of the cluster's worker VMs (primary and secondary), by instance name, in its zone when
/// the cluster names one. None when the cluster lists no worker VMs.
fn cpu_filter(cluster: &Cluster) -> Option<String> {
    let names: Vec<String> = [
        &cluster.config.worker_config,
        &cluster.config.secondary_worker_config,
    ]
    .into_iter()
    .flatten()
    .flat_map(|group| group.instance_names.iter())
    .filter(|name| is_label_value(name))
    .take(MAX_CPU_INSTANCES)
    .map(|name| format!("\"{name}\""))
    .collect();
    if names.is_empty() {
        return None;
    }
    let mut filter = format!(
        "metric.type=\"{CPU_METRIC}\" AND resource.type=\"gce_instance\" \
         AND metric.labels.instance_name=one_of({})",
        names.join(",")
    );
    let zone = cluster
        .config
        .gce_cluster_config
        .as_ref()
        .and_then(|gce| gce.zone_uri.as_deref())
        .map(|uri| uri.rsplit('/').next().unwrap_or(uri))
        .filter(|zone| is_label_value(zone));
    if let Some(zone) = zone {
        filter.push_str(&format!(" AND resource.labels.zone=\"{zone}\""));
    }
    Some(filter)
}

#[async_trait]
impl Platform for Dataproc {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Dataproc
    }

    /// Listing needs `dataproc.clusters.list`; whether stop and start are allowed too shows only
    /// when they are tried, so this reports `read`, what it saw.
    async fn check(&self) -> PlatformResult<Access> {
        self.list_raw(1, false).await?;
        Ok(Access {
            permissions: vec!["read".to_owned()],
        })
    }

    async fn list_clusters(&self) -> PlatformResult<Vec<ClusterInfo>> {
        Ok(self
            .list_raw(LIST_PAGE_SIZE, true)
            .await?
            .into_iter()
            .map(|cluster| self.info(cluster))
            .collect())
    }

    async fn cluster(&self, id: &str) -> PlatformResult<ClusterInfo> {
        Ok(self.info(parse_cluster(self.raw_cluster(id).await?)?))
    }

    async fn hibernate(&self, id: &str) -> PlatformResult<Snapshot> {
        let raw = self.raw_cluster(id).await?;
        let cluster = parse_cluster(raw.clone())?;
        let state = cluster.state();
        if state != ClusterState::Running {
            return Err(PlatformError::InvalidState(format!(
                "cluster {id} is not running (state {state:?})"
            )));
        }
        let definition = raw.get("config").cloned().unwrap_or_else(|| json!({}));
        self.act(id, cluster.cluster_uuid.as_deref(), "stop", stopped)
            .await?;
        Ok(Snapshot {
            kind: PlatformKind::Dataproc,
            cluster_id: id.to_owned(),
            taken_at: Utc::now(),
            definition,
        })
    }

    async fn resume(&self, snapshot: &Snapshot) -> PlatformResult<Resumed> {
        if snapshot.kind != PlatformKind::Dataproc {
            return Err(PlatformError::InvalidState(format!(
                "a {} snapshot cannot be resumed on Dataproc",
                snapshot.kind
            )));
        }
        let name = &snapshot.cluster_id;
        let resumed = Resumed {
            cluster_id: name.clone(),
            estimated_ready_seconds: START_SECONDS,
        };
        let cluster = parse_cluster(self.raw_cluster(name).await?)?;
        match cluster.state() {
            ClusterState::Stopped => {
                self.act(name, cluster.cluster_uuid.as_deref(), "start", started)
                    .await?;
                Ok(resumed)
            }
            // Someone (or an earlier, interrupted resume) already brought it back.
            state if started(state) => Ok(resumed),
            state => Err(PlatformError::InvalidState(format!(
                "cluster {name} cannot be started now (state {state:?})"
            ))),
        }
    }

    async fn resize(&self, id: &str, workers: u32) -> PlatformResult<()> {
        let request = Request {
            method: reqwest::Method::PATCH,
            url: self.cluster_url(id, "")?,
            query: vec![
                (
                    "updateMask".to_owned(),
                    "config.worker_config.num_instances".to_owned(),
                ),
                ("requestId".to_owned(), request_id()),
            ],
            body: Body::Json(json!({"config": {"workerConfig": {"numInstances": workers}}})),
            // An absolute count under one requestId: sending it again changes nothing.
            replay: Replay::Safe,
        };
        let operation: Operation = self.call(request).await?;
        self.wait(operation).await
    }

    async fn usage(&self, id: &str) -> PlatformResult<UsageSignals> {
        let cluster = parse_cluster(self.raw_cluster(id).await?)?;
        let active_work = self.active_jobs(id).await?;
        let idle_start = cluster
            .config
            .lifecycle_config
            .as_ref()
            .and_then(|lifecycle| lifecycle.idle_start_time);
        let (idle_since, last_activity) = if active_work > 0 {
            (None, Some(Utc::now()))
        } else {
            (idle_start, idle_start)
        };
        let (cpu_percent, memory_percent) = self.utilisation(&cluster).await;
        Ok(UsageSignals {
            active_work,
            cpu_percent,
            memory_percent,
            idle_since,
            last_activity,
        })
    }
}

fn stopped(state: ClusterState) -> bool {
    matches!(state, ClusterState::Stopping | ClusterState::Stopped)
}

fn started(state: ClusterState) -> bool {
    matches!(
        state,
        ClusterState::Starting | ClusterState::Running | ClusterState::Resizing
    )
}

/// Dataproc's rule: a lower-case letter, then up to 51 lower-case letters, digits and hyphens.
fn is_cluster_name(name: &str) -> bool {
    name.len() <= 52
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `projects/*/regions/*/operations/*`, nothing that could leave that path.
fn is_operation_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 6
        && parts[0] == "projects"
        && parts[2] == "regions"
        && parts[4] == "operations"
        && parts.iter().all(|part| {
            !part.is_empty()
                && *part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Dataproc accepts `[A-Za-z0-9_-]`, at most 40 characters: a ULID fits.
fn request_id() -> String {
    ulid::Ulid::new().to_string()
}

fn scrub(err: PlatformError, secret: &str) -> PlatformError {
    let clean = |message: String| message.replace(secret, "[redacted]");
    match err {
        PlatformError::Unauthorized(m) => PlatformError::Unauthorized(clean(m)),
        PlatformError::NotFound(m) => PlatformError::NotFound(clean(m)),
        PlatformError::InvalidState(m) => PlatformError::InvalidState(clean(m)),
        PlatformError::Throttled(m) => PlatformError::Throttled(clean(m)),
        PlatformError::Unavailable(m) => PlatformError::Unavailable(clean(m)),
        PlatformError::Protocol(m) => PlatformError::Protocol(clean(m)),
    }
}

fn parse_cluster(raw: Value) -> PlatformResult<Cluster> {
    serde_path_to_error::deserialize(raw).map_err(|err| {
        PlatformError::Protocol(format!(
            "clusters.get: unexpected answer at {}: {}",
            err.path(),
            err.inner()
        ))
    })
}

/// The last segment of a machine type URI (`…/machineTypes/n2-standard-4` → `n2-standard-4`).
fn machine_type(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

#[derive(Deserialize)]
struct TokenGrant {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterPage {
    #[serde(default)]
    clusters: Vec<Cluster>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobsPage {
    #[serde(default)]
    jobs: Vec<Value>,
    next_page_token: Option<String>,
}

/// `google.rpc.Status`, as an operation's `error`.
#[derive(Deserialize)]
struct RpcStatus {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

impl RpcStatus {
    /// gRPC codes to the API's classes.
    fn into_error(self) -> PlatformError {
        let message = format!("operation failed: {} (code {})", self.message, self.code);
        match self.code {
            5 => PlatformError::NotFound(message),
            7 | 16 => PlatformError::Unauthorized(message),
            8 => PlatformError::Throttled(message),
            6 | 9 | 10 => PlatformError::InvalidState(message),
            4 | 13 | 14 => PlatformError::Unavailable(message),
            _ => PlatformError::Protocol(message),
        }
    }
}

#[derive(Deserialize)]
struct Operation {
    #[serde(default)]
    name: String,
    #[serde(default)]
    done: bool,
    error: Option<RpcStatus>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum State {
    Creating,
    Starting,
    Running,
    Updating,
    Stopping,
    Deleting,
    Stopped,
    Error,
    ErrorDueToUpdate,
    #[default]
    #[serde(other)]
    Unknown,
}

impl From<State> for ClusterState {
    fn from(state: State) -> Self {
        match state {
            State::Creating | State::Starting => Self::Starting,
            State::Running => Self::Running,
            State::Updating => Self::Resizing,
            State::Stopping | State::Deleting => Self::Stopping,
            State::Stopped => Self::Stopped,
            State::Error | State::ErrorDueToUpdate => Self::Error,
            State::Unknown => Self::Unknown,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    state: State,
    state_start_time: Option<DateTime<Utc>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceGroup {
    num_instances: Option<u32>,
    machine_type_uri: Option<String>,
    #[serde(default)]
    instance_names: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GceClusterConfig {
    zone_uri: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeSeriesPage {
    #[serde(default)]
    time_series: Vec<TimeSeries>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeSeries {
    /// Newest first.
    #[serde(default)]
    points: Vec<Point>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Point {
    #[serde(default)]
    value: TypedValue,
}

/// `TypedValue`: a double, or an int64 (a string in JSON).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedValue {
    double_value: Option<f64>,
    int64_value: Option<Value>,
}

impl TypedValue {
    fn number(&self) -> Option<f64> {
        self.double_value.or_else(|| match &self.int64_value {
            Some(Value::String(raw)) => raw.parse().ok(),
            Some(Value::Number(number)) => number.as_f64(),
            _ => None,
        })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lifecycle {
    idle_start_time: Option<DateTime<Utc>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    gce_cluster_config: Option<GceClusterConfig>,
    master_config: Option<InstanceGroup>,
    worker_config: Option<InstanceGroup>,
    secondary_worker_config: Option<InstanceGroup>,
    lifecycle_config: Option<Lifecycle>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    cluster_name: String,
    cluster_uuid: Option<String>,
    #[serde(default)]
    config: Config,
    #[serde(default)]
    status: Status,
    #[serde(default)]
    labels: HashMap<String, String>,
}

impl Cluster {
    fn state(&self) -> ClusterState {
        self.status.state.into()
    }

    fn into_info(self, region: &str) -> ClusterInfo {
        let state = self.state();
        let machine = |group: &Option<InstanceGroup>| {
            group
                .as_ref()
                .and_then(|group| group.machine_type_uri.as_deref())
                .map(|uri| machine_type(uri).to_owned())
        };
        let count = |group: &Option<InstanceGroup>| {
            group
                .as_ref()
                .and_then(|group| group.num_instances)
                .unwrap_or(0)
        };
        let instance_type = machine(&self.config.worker_config);
        let driver_instance_type = machine(&self.config.master_config)
            .filter(|master| Some(master) != instance_type.as_ref());
        let workers =
            count(&self.config.worker_config) + count(&self.config.secondary_worker_config);
        let started_at = matches!(state, ClusterState::Running | ClusterState::Resizing)
            .then_some(self.status.state_start_time)
            .flatten();
        let region = self
            .labels
            .get("goog-dataproc-location")
            .cloned()
            .unwrap_or_else(|| region.to_owned());
        ClusterInfo {
            id: self.cluster_name.clone(),
            name: self.cluster_name,
            state,
            instance_type,
            driver_instance_type,
            workers,
            region: Some(region),
            started_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_the_common_vocabulary() {
        let state =
            |raw: &str| ClusterState::from(serde_json::from_value::<State>(json!(raw)).unwrap());
        assert_eq!(state("CREATING"), ClusterState::Starting);
        assert_eq!(state("UPDATING"), ClusterState::Resizing);
        assert_eq!(state("DELETING"), ClusterState::Stopping);
        assert_eq!(state("ERROR_DUE_TO_UPDATE"), ClusterState::Error);
        assert_eq!(state("REPAIRING"), ClusterState::Unknown);
        assert_eq!(state("SOMETHING_NEW"), ClusterState::Unknown);
    }

    #[test]
    fn workers_count_secondaries_and_machine_types_drop_their_path() {
        let raw = json!({
            "clusterName": "etl", "status": {"state": "RUNNING", "stateStartTime": "2026-12-04T10:00:00.123456Z"},
            "config": {
                "masterConfig": {"numInstances": 1, "machineTypeUri": "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/n2-standard-4"},
                "workerConfig": {"numInstances": 4, "machineTypeUri": "n2-highmem-8"},
                "secondaryWorkerConfig": {"numInstances": 2},
            },
        });
        let info = parse_cluster(raw).unwrap().into_info("us-central1");
        assert_eq!(info.workers, 6);
        assert_eq!(info.instance_type.as_deref(), Some("n2-highmem-8"));
        assert_eq!(info.driver_instance_type.as_deref(), Some("n2-standard-4"));
        assert!(info.started_at.is_some());
        assert_eq!(info.region.as_deref(), Some("us-central1"));
    }

    #[test]
    fn utilisation_filters_name_the_cluster_and_its_workers_only() {
        let cluster = parse_cluster(json!({
            "clusterName": "etl", "clusterUuid": "5f1c0000-0000-4000-8000-000000000001",
            "config": {
                "gceClusterConfig": {"zoneUri": "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a"},
                "masterConfig": {"numInstances": 1, "instanceNames": ["etl-m"]},
                "workerConfig": {"numInstances": 2, "instanceNames": ["etl-w-0", "etl-w-1"]},
                "secondaryWorkerConfig": {"numInstances": 2, "instanceNames": ["etl-sw-ab12", "x\" OR \"y"]},
            },
        }))
        .unwrap();
        assert_eq!(
            memory_filter(&cluster),
            "metric.type=\"dataproc.googleapis.com/cluster/yarn/allocated_memory_percentage\" \
             AND resource.type=\"cloud_dataproc_cluster\" AND resource.labels.cluster_name=\"etl\" \
             AND resource.labels.cluster_uuid=\"5f1c0000-0000-4000-8000-000000000001\""
        );
        assert_eq!(
            cpu_filter(&cluster).unwrap(),
            "metric.type=\"compute.googleapis.com/instance/cpu/utilization\" \
             AND resource.type=\"gce_instance\" \
             AND metric.labels.instance_name=one_of(\"etl-w-0\",\"etl-w-1\",\"etl-sw-ab12\") \
             AND resource.labels.zone=\"us-central1-a\""
        );
        let bare = parse_cluster(json!({"clusterName": "etl"})).unwrap();
        assert_eq!(cpu_filter(&bare), None);
    }

    #[test]
    fn time_series_values_are_doubles_or_int64_strings() {
        let page: TimeSeriesPage = serde_json::from_value(json!({"timeSeries": [
            {"points": [{"value": {"doubleValue": 0.5}}, {"value": {"doubleValue": 0.9}}]},
            {"points": [{"value": {"int64Value": "1"}}]},
        ]}))
        .unwrap();
        let newest: Vec<f64> = page
            .time_series
            .iter()
            .filter_map(|series| series.points.first()?.value.number())
            .collect();
        assert_eq!(newest, vec![0.5, 1.0]);
    }

    #[test]
    fn names_that_could_leave_the_path_are_refused() {
        assert!(is_cluster_name("etl-00001"));
        for name in ["", "../x", "a/b", "a:stop", "Upper", "1abc", "a?b"] {
            assert!(!is_cluster_name(name), "{name}");
        }
        assert!(is_operation_name(
            "projects/p-1/regions/us-central1/operations/abc-123"
        ));
        assert!(!is_operation_name(
            "projects/p/regions/r/operations/../../x"
        ));
        assert!(!is_operation_name("https://elsewhere/x"));
    }
}
