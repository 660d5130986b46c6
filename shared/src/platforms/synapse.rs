//! Azure Synapse workspaces through Azure Resource Manager (`Microsoft.Synapse`, api-version
//! 2021-06-01), with an Entra ID service principal (client-credentials grant).
//!
//! A workspace's clusters are its pools, with ids `sql/<pool>` (dedicated SQL pools) and
//! `spark/<pool>` (Apache Spark, "Big Data", pools):
//! - A dedicated SQL pool bills while it is Online and can be paused: hibernate pauses it, resume
//!   resumes it, each a long-running ARM operation followed to its end. The snapshot keeps the
//!   pool resource as it was, for the record: resume needs only the pool's name.
//! - A Spark pool cannot be paused. It is only a definition: compute comes up per session and is
//!   released by the pool's own auto-pause. So hibernate turns auto-pause on with the shortest
//!   delay, and resume puts the previous `autoPause` settings back. The snapshot keeps the pool
//!   resource and, under `autoPause`, the settings to restore; the same settings are also written
//!   to a tag on the pool, so that hibernating twice does not take the shortened delay for the
//!   user's own.
//!
//! Pause and resume are never blindly re-sent: when an answer is lost (timeout, 5xx) the pool is
//! read back first, and the action is sent again only if it visibly did not land. The Spark pool
//! PUT writes absolute values, so sending it twice changes nothing.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::credentials::SynapseCredentials;
use super::http::{Answer, Auth, Body, Replay, Request, Rest, RetryPolicy};
use super::{Access, Platform, PlatformError, PlatformResult, Resumed, Snapshot};
use crate::domain::platform::{ClusterInfo, ClusterState, PlatformKind, UsageSignals};

const API_VERSION: &str = "2021-06-01";
const LOGIN_URL: &str = "https://login.microsoftonline.com";
const MANAGEMENT_URL: &str = "https://management.azure.com";
const SCOPE: &str = "https://management.azure.com/.default";
/// Stops a platform that hands out the same `nextLink` forever.
const MAX_PAGES: usize = 10_000;
/// ARM's rule when an operation gives no `Retry-After`.
const DEFAULT_POLL_SECONDS: u64 = 60;
/// ARM says `Retry-After` stays within 10 s – 10 min; more is not honoured.
const MAX_POLL_SECONDS: u64 = 600;
/// How long an operation is followed. A pause or resume takes minutes; past this the operation
/// is left to ARM and the pool's own status decides whether the action landed.
const MAX_OPERATION_SECONDS: u64 = 900;
/// Resuming a dedicated SQL pool typically takes a few minutes.
const SQL_RESUME_SECONDS: u32 = 300;
/// A Spark pool has nothing to start; the next session acquires nodes in about 3 minutes.
const SPARK_SESSION_SECONDS: u32 = 180;
/// The shortest idle delay before a Spark pool auto-pauses that Synapse accepts.
const HIBERNATE_AUTO_PAUSE_MINUTES: u64 = 5;
/// Synapse Spark pools need 3 nodes at least, the driver included.
const MIN_SPARK_NODES: u32 = 3;
/// Holds the pool's own auto-pause settings while hibernated (JSON).
const PREVIOUS_AUTO_PAUSE_TAG: &str = "DigitalTapPreviousAutoPause";
/// Characters a resource group or pool name may hold that a URL path segment may not.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub struct Synapse {
    login: String,
    management: String,
    tenant_id: String,
    client_id: String,
    client_secret: SecretString,
    /// `/subscriptions/…/resourceGroups/…/providers/Microsoft.Synapse/workspaces/…`
    workspace: String,
    rest: Rest,
    policy: RetryPolicy,
    token: Mutex<Option<(SecretString, Instant)>>,
}

impl fmt::Debug for Synapse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Synapse")
            .field("workspace", &self.workspace)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolKind {
    Sql,
    Spark,
}

impl PoolKind {
    fn collection(self) -> &'static str {
        match self {
            Self::Sql => "sqlPools",
            Self::Spark => "bigDataPools",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::Spark => "spark",
        }
    }
}

/// `sql/<pool>` or `spark/<pool>`; anything else names no pool.
fn pool_of(id: &str) -> PlatformResult<(PoolKind, &str)> {
    let (kind, name) = match id.split_once('/') {
        Some(("sql", name)) => (PoolKind::Sql, name),
        Some(("spark", name)) => (PoolKind::Spark, name),
        _ => {
            return Err(PlatformError::NotFound(format!(
                "{id} is not a Synapse pool id (sql/<pool> or spark/<pool>)"
            )));
        }
    };
    if name.is_empty() || name.contains(['/', '?', '#']) {
        return Err(PlatformError::NotFound(format!(
            "{id} is not a Synapse pool id"
        )));
    }
    Ok((kind, name))
}

impl Synapse {
    /// No I/O: the token is fetched on the first call.
    pub fn new(credentials: SynapseCredentials, http: reqwest::Client) -> Self {
        let base = credentials
            .endpoint_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned());
        let segment = |raw: &str| utf8_percent_encode(raw, SEGMENT).to_string();
        let workspace = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Synapse/workspaces/{}",
            segment(&credentials.subscription_id),
            segment(&credentials.resource_group),
            segment(&credentials.workspace_name),
        );
        let policy = RetryPolicy::default();
        Self {
            login: base.clone().unwrap_or_else(|| LOGIN_URL.to_owned()),
            management: base.unwrap_or_else(|| MANAGEMENT_URL.to_owned()),
            tenant_id: credentials.tenant_id,
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            workspace,
            rest: Rest::new(http, policy.clone()),
            policy,
            token: Mutex::new(None),
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.rest = self.rest.with_policy(policy.clone());
        self.policy = policy;
        self
    }

    fn pool_url(&self, kind: PoolKind, name: Option<&str>) -> String {
        let mut url = format!(
            "{}{}/{}",
            self.management,
            self.workspace,
            kind.collection()
        );
        if let Some(name) = name {
            url.push('/');
            url.push_str(&utf8_percent_encode(name, SEGMENT).to_string());
        }
        url
    }

    fn arm(&self, method: Method, url: String, body: Body, replay: Replay) -> Request {
        Request {
            method,
            url,
            query: vec![("api-version".to_owned(), API_VERSION.to_owned())],
            body,
            replay,
        }
    }

    /// Links ARM hands back (`nextLink`, operation URLs) are followed with the bearer token, so
    /// they must stay on the management host.
    fn own_link(&self, link: &str) -> PlatformResult<()> {
        if link.starts_with(&format!("{}/", self.management)) {
            Ok(())
        } else {
            Err(PlatformError::Protocol(
                "ARM pointed outside the management endpoint".to_owned(),
            ))
        }
    }

    /// The lock is held across the grant so that concurrent calls wait for one token instead of
    /// each asking for their own.
    async fn token(&self) -> PlatformResult<SecretString> {
        let mut cached = self.token.lock().await;
        if let Some((token, refresh_at)) = &*cached
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose_secret())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", SCOPE)
            .finish();
        let request = Request {
            method: Method::POST,
            url: format!("{}/{}/oauth2/v2.0/token", self.login, self.tenant_id),
            query: Vec::new(),
            body: Body::Form(form),
            // A grant changes nothing on the platform: asking twice only issues two tokens.
            replay: Replay::Safe,
        };
        let grant: TokenGrant =
            self.rest
                .json(&request, Auth::None)
                .await
                .map_err(|err| match err {
                    // Entra answers an unknown tenant or client with 400.
                    PlatformError::Protocol(message) | PlatformError::NotFound(message) => {
                        PlatformError::Unauthorized(format!("token grant refused: {message}"))
                    }
                    other => other,
                })?;
        let lifetime = grant.expires_in.unwrap_or(3600);
        // Refresh a little early so a token never expires between the check and the call.
        let margin = (lifetime / 4).min(300);
        let token = SecretString::from(grant.access_token);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime - margin),
        ));
        Ok(token)
    }

    /// One ARM call. A token ARM rejects is dropped and replaced once, in case it was revoked
    /// before it expired. The client secret travels in the grant's body, which Auth does not
    /// know of, so it is scrubbed from every error here.
    async fn call(&self, request: &Request) -> PlatformResult<Answer> {
        let result = async {
            let token = self.token().await?;
            match self.rest.answer(request, Auth::Bearer(&token)).await {
                Err(PlatformError::Unauthorized(_)) => {
                    *self.token.lock().await = None;
                    let token = self.token().await?;
                    self.rest.answer(request, Auth::Bearer(&token)).await
                }
                other => other,
            }
        }
        .await;
        result.map_err(|err| scrub(err, self.client_secret.expose_secret()))
    }

    async fn pool(&self, kind: PoolKind, name: &str) -> PlatformResult<Value> {
        let request = self.arm(
            Method::GET,
            self.pool_url(kind, Some(name)),
            Body::None,
            Replay::Safe,
        );
        Ok(self.call(&request).await?.body)
    }

    async fn pools(&self, kind: PoolKind) -> PlatformResult<Vec<Value>> {
        let mut pools = Vec::new();
        let mut request = self.arm(
            Method::GET,
            self.pool_url(kind, None),
            Body::None,
            Replay::Safe,
        );
        let mut previous: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page: Page = decode(self.call(&request).await?.body, kind.collection())?;
            pools.extend(page.value);
            match page.next_link.filter(|link| !link.is_empty()) {
                Some(next) if Some(&next) == previous.as_ref() => {
                    return Err(PlatformError::Protocol(format!(
                        "{} repeated its nextLink",
                        kind.collection()
                    )));
                }
                Some(next) => {
                    self.own_link(&next)?;
                    // The link carries its own api-version and paging token.
                    request = Request::get(next.clone());
                    previous = Some(next);
                }
                None => return Ok(pools),
            }
        }
        Err(PlatformError::Protocol(format!(
            "{} did not end after 10,000 pages",
            kind.collection()
        )))
    }

    async fn sql_state(&self, name: &str) -> PlatformResult<ClusterState> {
        Ok(info(PoolKind::Sql, self.pool(PoolKind::Sql, name).await?)?.state)
    }

    /// POSTs `pause` or `resume` and follows the operation. When the answer is lost, or ARM
    /// refuses because the pool is busy, the pool is read back: if the action landed
    /// (`landed(state)`) it is done; if not, a lost one is sent once more.
    async fn act(
        &self,
        name: &str,
        action: &str,
        landed: fn(ClusterState) -> bool,
    ) -> PlatformResult<()> {
        let url = format!("{}/{action}", self.pool_url(PoolKind::Sql, Some(name)));
        let mut last = None;
        for _ in 0..2 {
            let request = self.arm(
                Method::POST,
                url.clone(),
                Body::None,
                Replay::OnlyIfNotApplied,
            );
            match self.call(&request).await {
                Ok(answer) => {
                    self.follow(&answer).await?;
                    return self.confirm(name, action, landed).await;
                }
                Err(PlatformError::Unavailable(message)) => {
                    if landed(self.sql_state(name).await?) {
                        return Ok(());
                    }
                    last = Some(PlatformError::Unavailable(message));
                }
                Err(PlatformError::InvalidState(message)) => {
                    return if landed(self.sql_state(name).await?) {
                        Ok(())
                    } else {
                        Err(PlatformError::InvalidState(message))
                    };
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| PlatformError::Unavailable(format!("POST {action}"))))
    }

    /// ARM's advice: once the operation is over, read the pool to see where it is.
    async fn confirm(
        &self,
        name: &str,
        action: &str,
        landed: fn(ClusterState) -> bool,
    ) -> PlatformResult<()> {
        let state = self.sql_state(name).await?;
        if landed(state) {
            Ok(())
        } else {
            Err(PlatformError::Protocol(format!(
                "{action} of SQL pool {name} finished but the pool is {state:?}"
            )))
        }
    }

    /// Follows a long-running operation (a 201/202 naming `Azure-AsyncOperation` or `Location`)
    /// until it ends, waiting `Retry-After` between polls. An operation still running after
    /// [`MAX_OPERATION_SECONDS`] is left to ARM.
    async fn follow(&self, accepted: &Answer) -> PlatformResult<()> {
        if !matches!(accepted.status, StatusCode::CREATED | StatusCode::ACCEPTED) {
            return Ok(());
        }
        let (link, via_location) = match (
            accepted.header("azure-asyncoperation"),
            accepted.header("location"),
        ) {
            (Some(link), _) => (link.to_owned(), false),
            (None, Some(link)) => (link.to_owned(), true),
            (None, None) => return Ok(()),
        };
        self.own_link(&link)?;
        let mut retry_after = accepted.retry_after();
        let mut waited = 0;
        loop {
            let seconds = retry_after
                .unwrap_or(DEFAULT_POLL_SECONDS)
                .clamp(1, MAX_POLL_SECONDS);
            if waited + seconds > MAX_OPERATION_SECONDS {
                tracing::warn!(waited, "ARM operation still running; leaving it to ARM");
                return Ok(());
            }
            tokio::time::sleep(self.policy.unit * u32::try_from(seconds).unwrap_or(1)).await;
            waited += seconds;
            let poll = self.call(&Request::get(link.clone())).await?;
            if via_location {
                if poll.status != StatusCode::ACCEPTED {
                    return Ok(());
                }
            } else {
                let status: Operation = decode(poll.body.clone(), "operation status")?;
                match status.status.as_deref() {
                    Some("Succeeded") => return Ok(()),
                    Some(end @ ("Failed" | "Canceled")) => {
                        let error = status.error.unwrap_or_default();
                        return Err(PlatformError::InvalidState(format!(
                            "the operation ended {end}: {}: {}",
                            error.code.unwrap_or_default(),
                            error.message.unwrap_or_default()
                        )));
                    }
                    _ => {}
                }
            }
            retry_after = poll.retry_after();
        }
    }

    /// Writes the whole Spark pool back (ARM's only way to change `autoPause`, `autoScale` or
    /// `nodeCount`) and follows the operation.
    async fn put_spark(&self, name: &str, mut pool: Value) -> PlatformResult<()> {
        for field in [
            "provisioningState",
            "creationDate",
            "lastSucceededTimestamp",
        ] {
            if let Some(properties) = pool.get_mut("properties").and_then(Value::as_object_mut) {
                properties.remove(field);
            }
        }
        let request = self.arm(
            Method::PUT,
            self.pool_url(PoolKind::Spark, Some(name)),
            Body::Json(pool),
            // Absolute values: sending them twice changes nothing.
            Replay::Safe,
        );
        let answer = self.call(&request).await?;
        self.follow(&answer).await
    }

    async fn hibernate_sql(&self, id: &str, name: &str) -> PlatformResult<Value> {
        let raw = self.pool(PoolKind::Sql, name).await?;
        let state = info(PoolKind::Sql, raw.clone())?.state;
        if state != ClusterState::Running {
            return Err(PlatformError::InvalidState(format!(
                "SQL pool {id} is not online (state {state:?})"
            )));
        }
        self.act(name, "pause", stopped).await?;
        Ok(json!({ "pool": "sql", "resource": raw }))
    }

    async fn hibernate_spark(&self, name: &str) -> PlatformResult<Value> {
        let raw = self.pool(PoolKind::Spark, name).await?;
        let previous = previous_auto_pause(&raw);
        let current = raw.pointer("/properties/autoPause").cloned();
        let tight = current.as_ref().is_some_and(|auto_pause| {
            auto_pause["enabled"] == json!(true)
                && auto_pause["delayInMinutes"]
                    .as_u64()
                    .is_some_and(|delay| delay <= HIBERNATE_AUTO_PAUSE_MINUTES)
        });
        if !tight {
            let mut pool = raw.clone();
            set_property(
                &mut pool,
                "autoPause",
                json!({"enabled": true, "delayInMinutes": HIBERNATE_AUTO_PAUSE_MINUTES}),
            );
            if !pool.get("tags").is_some_and(Value::is_object) {
                pool["tags"] = json!({});
            }
            pool["tags"][PREVIOUS_AUTO_PAUSE_TAG] = Value::String(previous.to_string());
            self.put_spark(name, pool).await?;
        }
        Ok(json!({ "pool": "spark", "resource": raw, "autoPause": previous }))
    }

    async fn resume_spark(&self, name: &str, definition: &Value) -> PlatformResult<()> {
        let previous = definition.get("autoPause").cloned().ok_or_else(|| {
            PlatformError::Protocol("the snapshot holds no auto-pause settings".to_owned())
        })?;
        let mut pool = self.pool(PoolKind::Spark, name).await?;
        let tagged = pool
            .get("tags")
            .and_then(|tags| tags.get(PREVIOUS_AUTO_PAUSE_TAG))
            .is_some();
        if pool.pointer("/properties/autoPause") == Some(&previous) && !tagged {
            return Ok(());
        }
        set_property(&mut pool, "autoPause", previous);
        if let Some(tags) = pool.get_mut("tags").and_then(Value::as_object_mut) {
            tags.remove(PREVIOUS_AUTO_PAUSE_TAG);
        }
        self.put_spark(name, pool).await
    }
}

#[async_trait]
impl Platform for Synapse {
    fn kind(&self) -> PlatformKind {
        PlatformKind::Synapse
    }

    /// Reading the workspace's SQL pools needs only Reader on the workspace; whether pause and
    /// PUT are allowed shows only when tried. So this reports `read`, what it saw.
    async fn check(&self) -> PlatformResult<Access> {
        let request = self.arm(
            Method::GET,
            self.pool_url(PoolKind::Sql, None),
            Body::None,
            Replay::Safe,
        );
        self.call(&request).await?;
        Ok(Access {
            permissions: vec!["read".to_owned()],
        })
    }

    async fn list_clusters(&self) -> PlatformResult<Vec<ClusterInfo>> {
        let mut clusters = Vec::new();
        for kind in [PoolKind::Sql, PoolKind::Spark] {
            for pool in self.pools(kind).await? {
                clusters.push(info(kind, pool)?);
            }
        }
        Ok(clusters)
    }

    async fn cluster(&self, id: &str) -> PlatformResult<ClusterInfo> {
        let (kind, name) = pool_of(id)?;
        info(kind, self.pool(kind, name).await?)
    }

    async fn hibernate(&self, id: &str) -> PlatformResult<Snapshot> {
        let (kind, name) = pool_of(id)?;
        let definition = match kind {
            PoolKind::Sql => self.hibernate_sql(id, name).await?,
            PoolKind::Spark => self.hibernate_spark(name).await?,
        };
        Ok(Snapshot {
            kind: PlatformKind::Synapse,
            cluster_id: id.to_owned(),
            taken_at: Utc::now(),
            definition,
        })
    }

    /// A SQL pool or Spark pool deleted since it was hibernated is not recreated: NotFound.
    async fn resume(&self, snapshot: &Snapshot) -> PlatformResult<Resumed> {
        if snapshot.kind != PlatformKind::Synapse {
            return Err(PlatformError::InvalidState(format!(
                "a {} snapshot cannot be resumed on Synapse",
                snapshot.kind
            )));
        }
        let id = &snapshot.cluster_id;
        let (kind, name) = pool_of(id)?;
        let estimated_ready_seconds = match kind {
            PoolKind::Sql => {
                // One resumed by someone else is what was asked for.
                if !self.sql_state(name).await?.is_billing() {
                    self.act(name, "resume", started).await?;
                }
                SQL_RESUME_SECONDS
            }
            PoolKind::Spark => {
                self.resume_spark(name, &snapshot.definition).await?;
                SPARK_SESSION_SECONDS
            }
        };
        Ok(Resumed {
            cluster_id: id.clone(),
            estimated_ready_seconds,
        })
    }

    /// Spark pools: the node count (workers plus the driver), or the autoscale ceiling when the
    /// pool autoscales. SQL pools scale by service level (DW100c…), which no worker count
    /// translates into, so they refuse.
    async fn resize(&self, id: &str, workers: u32) -> PlatformResult<()> {
        let (kind, name) = pool_of(id)?;
        if kind == PoolKind::Sql {
            return Err(PlatformError::InvalidState(format!(
                "SQL pool {id} scales by service level (DWU), not by workers"
            )));
        }
        let nodes = workers.saturating_add(1);
        if nodes < MIN_SPARK_NODES {
            return Err(PlatformError::InvalidState(format!(
                "Spark pools need at least {} workers",
                MIN_SPARK_NODES - 1
            )));
        }
        let mut pool = self.pool(kind, name).await?;
        let autoscale = pool
            .pointer("/properties/autoScale")
            .filter(|scale| scale["enabled"] == json!(true))
            .cloned();
        match autoscale {
            Some(mut scale) => {
                let min = scale["minNodeCount"].as_u64().unwrap_or(u64::from(nodes));
                scale["minNodeCount"] = json!(min.min(u64::from(nodes)));
                scale["maxNodeCount"] = json!(nodes);
                set_property(&mut pool, "autoScale", scale);
            }
            None => set_property(&mut pool, "nodeCount", json!(nodes)),
        }
        self.put_spark(name, pool).await
    }

    /// ARM offers no activity signal cheaply: a SQL pool's status and a Spark pool's auto-pause
    /// settings are all there is (queries and sessions would need Azure Monitor or the workspace
    /// data plane). So this confirms the pool exists and reports no activity seen.
    ///
    /// CPU and memory stay `None` for both kinds of pool: the ARM resources this connector reads
    /// (`sqlPools`, `bigDataPools`) expose no utilisation, and the reference it follows documents
    /// no metric source for them (Azure Monitor would be a separate API, scope and permission).
    async fn usage(&self, id: &str) -> PlatformResult<UsageSignals> {
        let (kind, name) = pool_of(id)?;
        self.pool(kind, name).await?;
        Ok(UsageSignals::default())
    }
}

fn stopped(state: ClusterState) -> bool {
    matches!(state, ClusterState::Stopping | ClusterState::Stopped)
}

fn started(state: ClusterState) -> bool {
    state.is_billing()
}

fn set_property(pool: &mut Value, name: &str, value: Value) {
    if !pool.get("properties").is_some_and(Value::is_object) {
        pool["properties"] = json!({});
    }
    pool["properties"][name] = value;
}

/// The user's own auto-pause settings: from our tag when the pool is already hibernated, else as
/// the pool has them (off when absent).
fn previous_auto_pause(pool: &Value) -> Value {
    pool.get("tags")
        .and_then(|tags| tags.get(PREVIOUS_AUTO_PAUSE_TAG))
        .and_then(Value::as_str)
        .and_then(|tag| serde_json::from_str::<Value>(tag).ok())
        .filter(Value::is_object)
        .or_else(|| pool.pointer("/properties/autoPause").cloned())
        .unwrap_or_else(|| json!({"enabled": false}))
}

fn scrub(err: PlatformError, secret: &str) -> PlatformError {
    let clean = |message: String| {
        if secret.len() >= 4 {
            message.replace(secret, "[redacted]")
        } else {
            message
        }
    };
    match err {
        PlatformError::Unauthorized(m) => PlatformError::Unauthorized(clean(m)),
        PlatformError::NotFound(m) => PlatformError::NotFound(clean(m)),
        PlatformError::InvalidState(m) => PlatformError::InvalidState(clean(m)),
        PlatformError::Throttled(m) => PlatformError::Throttled(clean(m)),
        PlatformError::Unavailable(m) => PlatformError::Unavailable(clean(m)),
        PlatformError::Protocol(m) => PlatformError::Protocol(clean(m)),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(raw: Value, what: &str) -> PlatformResult<T> {
    serde_path_to_error::deserialize(raw).map_err(|err| {
        PlatformError::Protocol(format!(
            "{what}: unexpected answer at {}: {}",
            err.path(),
            err.inner()
        ))
    })
}

fn info(kind: PoolKind, raw: Value) -> PlatformResult<ClusterInfo> {
    let pool: Pool = decode(raw, kind.collection())?;
    // ARM names child resources `workspace/pool` in some answers.
    let name = pool.name.rsplit('/').next().unwrap_or_default().to_owned();
    let properties = pool.properties;
    let (state, instance_type, workers) = match kind {
        PoolKind::Sql => (
            sql_state(properties.status.as_deref()),
            pool.sku.and_then(|sku| sku.name),
            0,
        ),
        PoolKind::Spark => {
            let nodes = properties
                .auto_scale
                .filter(|scale| scale.enabled == Some(true))
                .and_then(|scale| scale.min_node_count)
                .or(properties.node_count)
                .unwrap_or(0);
            (
                spark_state(properties.provisioning_state.as_deref()),
                properties.node_size,
                // The node count includes the driver.
                nodes.saturating_sub(1),
            )
        }
    };
    Ok(ClusterInfo {
        id: format!("{}/{name}", kind.prefix()),
        name,
        state,
        instance_type,
        driver_instance_type: None,
        workers,
        region: pool.location,
        // ARM does not say when a pool last came online.
        started_at: None,
    })
}

/// `status` is free-form in the spec; only `Online` is documented, the rest observed.
fn sql_state(status: Option<&str>) -> ClusterState {
    match status {
        Some("Online") => ClusterState::Running,
        Some("Paused") => ClusterState::Stopped,
        Some("Pausing") => ClusterState::Stopping,
        Some("Resuming" | "Creating") => ClusterState::Starting,
        Some("Scaling") => ClusterState::Resizing,
        Some("Failed" | "Error") => ClusterState::Error,
        _ => ClusterState::Unknown,
    }
}

/// A provisioned Spark pool reads as Running although it bills only while sessions run:
/// compute comes up per session and the pool's auto-pause releases it.
fn spark_state(provisioning: Option<&str>) -> ClusterState {
    match provisioning {
        Some("Succeeded") => ClusterState::Running,
        Some("Provisioning" | "Creating") => ClusterState::Starting,
        Some("Updating") => ClusterState::Resizing,
        Some("Deleting") => ClusterState::Stopping,
        Some("Failed" | "Canceled") => ClusterState::Error,
        _ => ClusterState::Unknown,
    }
}

#[derive(Deserialize)]
struct TokenGrant {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    value: Vec<Value>,
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct Sku {
    name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutoScale {
    enabled: Option<bool>,
    min_node_count: Option<u32>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Properties {
    status: Option<String>,
    provisioning_state: Option<String>,
    node_count: Option<u32>,
    node_size: Option<String>,
    auto_scale: Option<AutoScale>,
}

#[derive(Deserialize)]
struct Pool {
    name: String,
    location: Option<String>,
    sku: Option<Sku>,
    #[serde(default)]
    properties: Properties,
}

#[derive(Default, Deserialize)]
struct OperationError {
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Operation {
    status: Option<String>,
    error: Option<OperationError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_name_their_kind() {
        assert_eq!(pool_of("sql/dw").unwrap(), (PoolKind::Sql, "dw"));
        assert_eq!(pool_of("spark/small").unwrap(), (PoolKind::Spark, "small"));
        for bad in ["dw", "sql/", "hive/x", "sql/a/b", "spark/a?b"] {
            assert!(
                matches!(pool_of(bad), Err(PlatformError::NotFound(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn states_map_to_the_common_vocabulary() {
        assert_eq!(sql_state(Some("Online")), ClusterState::Running);
        assert_eq!(sql_state(Some("Paused")), ClusterState::Stopped);
        assert_eq!(sql_state(Some("Pausing")), ClusterState::Stopping);
        assert_eq!(sql_state(Some("Resuming")), ClusterState::Starting);
        assert_eq!(sql_state(Some("Scaling")), ClusterState::Resizing);
        assert_eq!(sql_state(Some("Hibernating")), ClusterState::Unknown);
        assert_eq!(spark_state(Some("Succeeded")), ClusterState::Running);
        assert_eq!(spark_state(None), ClusterState::Unknown);
    }

    #[test]
    fn the_previous_auto_pause_prefers_the_tag() {
        let pool = json!({
            "tags": {PREVIOUS_AUTO_PAUSE_TAG: "{\"enabled\":true,\"delayInMinutes\":60}"},
            "properties": {"autoPause": {"enabled": true, "delayInMinutes": 5}},
        });
        assert_eq!(
            previous_auto_pause(&pool),
            json!({"enabled": true, "delayInMinutes": 60})
        );
        assert_eq!(previous_auto_pause(&json!({})), json!({"enabled": false}));
    }
}
