//! Databricks instance pools (REST 2.0, `instance-pools/{create,get,list,edit,delete}`), the
//! warm pools of `/v1/warm-pools`, and the cluster edits automation makes (`clusters/edit`: node
//! type, spot fallback). Same REST helper as the rest of the connector: retries, error mapping,
//! credentials never in errors.
//!
//! `create` is not idempotent, so a lost answer is never answered by sending it again: the pool
//! is looked up by its name (unique in a workspace, and ours carry the warm pool's `wp_…` id).
//! `edit` and `delete` set absolute states and may be sent twice.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::PlatformError;
use super::PlatformResult;
use super::databricks::{Databricks, spec_of};
use super::http::{Replay, Request};

const POOLS: &str = "/api/2.0/instance-pools";
/// Stops a platform that hands out the same page token forever.
const MAX_PAGES: usize = 10_000;
/// Events that start getting nodes (from the pool, for a pool-backed cluster) and the events that
/// say the nodes arrived: a claim is the time from the first to the next second.
const CLAIM_EVENTS: [&str; 6] = [
    "CREATING",
    "STARTING",
    "RESTARTING",
    "RUNNING",
    "RESIZING",
    "UPSIZE_COMPLETED",
];

/// What we ask a pool to be.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    pub name: String,
    pub node_type_id: String,
    pub min_idle_instances: u32,
    pub max_capacity: u32,
    pub custom_tags: HashMap<String, String>,
}

impl PoolSpec {
    fn body(&self) -> Value {
        json!({
            "instance_pool_name": self.name,
            "node_type_id": self.node_type_id,
            "min_idle_instances": self.min_idle_instances,
            "max_capacity": self.max_capacity,
            "custom_tags": self.custom_tags,
        })
    }
}

/// `stats` of a pool: instances in clusters (used), waiting in the pool (idle), and on their way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct PoolStats {
    #[serde(default)]
    pub used_count: u32,
    #[serde(default)]
    pub idle_count: u32,
    #[serde(default)]
    pub pending_used_count: u32,
    #[serde(default)]
    pub pending_idle_count: u32,
}

/// A pool as Databricks describes it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PoolInfo {
    pub instance_pool_id: String,
    #[serde(default)]
    pub instance_pool_name: String,
    pub node_type_id: Option<String>,
    #[serde(default)]
    pub min_idle_instances: u32,
    pub max_capacity: Option<u32>,
    /// ACTIVE | STOPPED | DELETED
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub stats: PoolStats,
}

#[derive(Deserialize)]
struct PoolCreated {
    instance_pool_id: String,
}

#[derive(Deserialize)]
struct PoolList {
    #[serde(default)]
    instance_pools: Vec<PoolInfo>,
}

#[derive(Deserialize)]
struct RawClusterPage {
    #[serde(default)]
    clusters: Vec<Value>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    timestamp: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct EventsPage {
    #[serde(default)]
    events: Vec<Event>,
    next_page_token: Option<String>,
}

impl Databricks {
    pub async fn create_pool(&self, spec: &PoolSpec) -> PlatformResult<String> {
        let request = Request::action(self.url(&format!("{POOLS}/create")), spec.body());
        match self.call::<PoolCreated>(request).await {
            Ok(created) => Ok(created.instance_pool_id),
            Err(PlatformError::Unavailable(message)) => match self.pool_named(&spec.name).await? {
                Some(pool) => Ok(pool.instance_pool_id),
                None => Err(PlatformError::Unavailable(message)),
            },
            Err(err) => Err(err),
        }
    }

    pub async fn pool(&self, id: &str) -> PlatformResult<PoolInfo> {
        let request = Request::get(self.url(&format!("{POOLS}/get"))).query("instance_pool_id", id);
        self.call(request).await
    }

    pub async fn pools(&self) -> PlatformResult<Vec<PoolInfo>> {
        let list: PoolList = self
            .call(Request::get(self.url(&format!("{POOLS}/list"))))
            .await?;
        Ok(list.instance_pools)
    }

    async fn pool_named(&self, name: &str) -> PlatformResult<Option<PoolInfo>> {
        Ok(self
            .pools()
            .await?
            .into_iter()
            .find(|pool| pool.instance_pool_name == name))
    }

    pub async fn edit_pool(&self, id: &str, spec: &PoolSpec) -> PlatformResult<()> {
        let mut body = spec.body();
        body["instance_pool_id"] = json!(id);
        let request =
            Request::action(self.url(&format!("{POOLS}/edit")), body).replay(Replay::Safe);
        self.call::<Value>(request).await.map(drop)
    }

    /// Deleting a pool that is already gone is done.
    pub async fn delete_pool(&self, id: &str) -> PlatformResult<()> {
        let request = Request::action(
            self.url(&format!("{POOLS}/delete")),
            json!({ "instance_pool_id": id }),
        )
        .replay(Replay::Safe);
        match self.call::<Value>(request).await {
            Ok(_) | Err(PlatformError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Seconds each cluster drawing on the pool waited for its nodes since `since_ms`: from
    /// CREATING/STARTING/RESTARTING to the next RUNNING, and from RESIZING to the next
    /// UPSIZE_COMPLETED, on every cluster whose `instance_pool_id` is the pool.
    pub async fn pool_claim_seconds(
        &self,
        pool_id: &str,
        since_ms: i64,
    ) -> PlatformResult<Vec<f64>> {
        let mut claims = Vec::new();
        for cluster in self.raw_clusters().await? {
            if cluster.get("instance_pool_id").and_then(Value::as_str) != Some(pool_id) {
                continue;
            }
            let Some(id) = cluster.get("cluster_id").and_then(Value::as_str) else {
                continue;
            };
            let events = self.events_since(id, since_ms).await?;
            claims.extend(pair_claims(&events));
        }
        Ok(claims)
    }

    async fn raw_clusters(&self) -> PlatformResult<Vec<Value>> {
        let mut clusters = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut request =
                Request::get(self.url("/api/2.1/clusters/list")).query("page_size", 100);
            if let Some(token) = &page_token {
                request = request.query("page_token", token);
            }
            let page: RawClusterPage = self.call(request).await?;
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
            "clusters/list did not end".to_owned(),
        ))
    }

    /// (timestamp ms, type) of the cluster's claim events since `since_ms`, oldest first.
    async fn events_since(
        &self,
        cluster_id: &str,
        since_ms: i64,
    ) -> PlatformResult<Vec<(i64, String)>> {
        let mut events = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "cluster_id": cluster_id,
                "start_time": since_ms,
                "order": "ASC",
                "page_size": 500,
                "event_types": CLAIM_EVENTS,
            });
            if let Some(token) = &page_token {
                body["page_token"] = json!(token);
            }
            let request =
                Request::action(self.url("/api/2.1/clusters/events"), body).replay(Replay::Safe);
            let page: EventsPage = self.call(request).await?;
            events.extend(page.events.into_iter().filter_map(|event| {
                let at = event.timestamp.filter(|at| *at >= since_ms)?;
                Some((at, event.kind?))
            }));
            match page.next_page_token.filter(|token| !token.is_empty()) {
                Some(next) if Some(&next) == page_token.as_ref() => break,
                Some(next) => page_token = Some(next),
                None => break,
            }
        }
        events.sort_by_key(|(at, _)| *at);
        Ok(events)
    }

    /// The spec `clusters/edit` needs (the whole of it: edit replaces the configuration), as
    /// `clusters/get` describes the cluster now, with its state.
    pub async fn cluster_spec(&self, id: &str) -> PlatformResult<(Value, String)> {
        let raw = self.details(id).await?;
        let state = raw
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("UNKNOWN")
            .to_owned();
        Ok((spec_of(&raw), state))
    }

    /// `clusters/edit` with `spec`. Databricks applies it to a terminated cluster without
    /// starting it, and restarts a running one: callers only edit clusters that are terminated.
    pub async fn edit_cluster(&self, id: &str, spec: Value) -> PlatformResult<()> {
        let Value::Object(mut body) = spec else {
            return Err(PlatformError::Protocol(
                "a cluster spec must be an object".to_owned(),
            ));
        };
        body.insert("cluster_id".to_owned(), json!(id));
        // Setting the whole configuration: sending it twice changes nothing.
        let request = Request::action(self.url("/api/2.1/clusters/edit"), Value::Object(body))
            .replay(Replay::Safe);
        self.call::<Value>(request).await.map(drop)
    }

    /// Whether the cluster lost nodes or failed to add them since `since_ms` (NODES_LOST,
    /// ADD_NODES_FAILED): what spot capacity being taken back looks like.
    pub async fn lost_nodes_since(&self, cluster_id: &str, since_ms: i64) -> PlatformResult<bool> {
        let request = Request::action(
            self.url("/api/2.1/clusters/events"),
            json!({
                "cluster_id": cluster_id,
                "start_time": since_ms,
                "order": "DESC",
                "page_size": 1,
                "event_types": ["NODES_LOST", "ADD_NODES_FAILED"],
            }),
        )
        .replay(Replay::Safe);
        let page: EventsPage = self.call(request).await?;
        Ok(page
            .events
            .iter()
            .any(|event| event.timestamp.is_some_and(|at| at >= since_ms)))
    }
}

/// Claim durations (seconds) from a cluster's events, oldest first.
fn pair_claims(events: &[(i64, String)]) -> Vec<f64> {
    let mut claims = Vec::new();
    let mut starting: Option<i64> = None;
    let mut resizing: Option<i64> = None;
    for (at, kind) in events {
        match kind.as_str() {
            "CREATING" | "STARTING" | "RESTARTING" => {
                starting.get_or_insert(*at);
            }
            "RUNNING" => {
                if let Some(from) = starting.take() {
                    claims.push((at - from) as f64 / 1000.0);
                }
            }
            "RESIZING" => {
                resizing.get_or_insert(*at);
            }
            "UPSIZE_COMPLETED" => {
                if let Some(from) = resizing.take() {
                    claims.push((at - from) as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
    claims
}

/// The spot availability of a spec and its with-fallback counterpart, per cloud
/// (`aws_attributes.availability` SPOT → SPOT_WITH_FALLBACK, Azure SPOT_AZURE →
/// SPOT_WITH_FALLBACK_AZURE, GCP PREEMPTIBLE_GCP → PREEMPTIBLE_WITH_FALLBACK_GCP); `None` when
/// the cluster is not on spot without fallback.
pub fn spot_without_fallback(spec: &Value) -> Option<(&'static str, &'static str, &'static str)> {
    const PAIRS: [(&str, &str, &str); 3] = [
        ("aws_attributes", "SPOT", "SPOT_WITH_FALLBACK"),
        ("azure_attributes", "SPOT_AZURE", "SPOT_WITH_FALLBACK_AZURE"),
        (
            "gcp_attributes",
            "PREEMPTIBLE_GCP",
            "PREEMPTIBLE_WITH_FALLBACK_GCP",
        ),
    ];
    PAIRS.into_iter().find(|(field, spot, _)| {
        spec.get(field)
            .and_then(|attributes| attributes.get("availability"))
            .and_then(Value::as_str)
            == Some(*spot)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_pair_each_start_with_the_next_running_and_each_resize_with_its_upsize() {
        let events: Vec<(i64, String)> = [
            (1_000, "CREATING"),
            (13_000, "RUNNING"),
            (20_000, "RESIZING"),
            (28_000, "UPSIZE_COMPLETED"),
            (30_000, "RUNNING"),
            (40_000, "RESTARTING"),
            (56_000, "RUNNING"),
            (60_000, "STARTING"),
        ]
        .into_iter()
        .map(|(at, kind)| (at, kind.to_owned()))
        .collect();
        assert_eq!(pair_claims(&events), vec![12.0, 8.0, 16.0]);
    }

    #[test]
    fn spot_without_fallback_is_found_per_cloud() {
        assert_eq!(
            spot_without_fallback(&json!({"aws_attributes": {"availability": "SPOT"}})),
            Some(("aws_attributes", "SPOT", "SPOT_WITH_FALLBACK"))
        );
        assert_eq!(
            spot_without_fallback(
                &json!({"aws_attributes": {"availability": "SPOT_WITH_FALLBACK"}})
            ),
            None
        );
        assert_eq!(
            spot_without_fallback(&json!({"azure_attributes": {"availability": "SPOT_AZURE"}}))
                .map(|pair| pair.2),
            Some("SPOT_WITH_FALLBACK_AZURE")
        );
        assert_eq!(spot_without_fallback(&json!({})), None);
    }
}
