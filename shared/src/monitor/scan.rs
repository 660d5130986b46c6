use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};

use super::checks::{StillAutomated, StillQuiet};
use super::observe::{Observed, observe_org};
use crate::AppState;
use crate::domain::cluster_cost::round;
use crate::domain::idle::IdleRule;
use crate::domain::ids::{ActionId, AlertId, OrgId};
use crate::domain::monitoring::MonitoringConfig;
use crate::notify::{ClusterRef, NotificationEvent};
use crate::operations::{self, Initiator, OpError, Target};
use crate::store::repos::alerts::{self, AlertRecord, Severity};
use crate::store::repos::metrics::{self, MetricPoint};
use crate::store::repos::watches::{self, WatchRecord};
use crate::store::repos::{monitors, savings};

/// Hibernations in flight at once in one org's scan.
const ACTIONS_AT_ONCE: usize = 4;

/// What one scan of one org did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanReport {
    /// Set when the scan did not run (another scan of the org holds the lease).
    pub skipped: Option<String>,
    pub clusters_seen: usize,
    pub idle: usize,
    pub alerts_raised: usize,
    pub hibernated: Vec<ActionId>,
    /// Hibernations the platform refused or failed.
    pub failed: usize,
    pub failed_platforms: usize,
    /// Idle and cost schedules that acted on this scan's observation (their executions).
    pub schedule_runs: Vec<crate::domain::ids::ExecutionId>,
}

/// Scans one org: reads its clusters, records metrics and idle spells, raises one alert per idle
/// episode, and hibernates idle clusters when automation is on and not paused. Two scans of one
/// org never overlap (a lease), and each hibernation goes through the action path's conditional
/// claim, so even overlapping scans could not both act on a cluster.
pub async fn scan_org(state: &AppState, org: &OrgId) -> anyhow::Result<ScanReport> {
    let store = state.store.as_ref();
    if !monitors::acquire_scan_lease(store, org).await? {
        return Ok(ScanReport {
            skipped: Some("another scan of this organization is running".to_owned()),
            ..ScanReport::default()
        });
    }
    let outcome = scan_leased(state, org).await;
    if let Err(err) = monitors::release_scan_lease(store, org).await {
        tracing::error!(org_id = %org, error = format!("{err:#}"), "releasing the scan lease");
    }
    outcome
}

async fn scan_leased(state: &AppState, org: &OrgId) -> anyhow::Result<ScanReport> {
    let store = state.store.as_ref();
    // Only orgs that connected a platform are monitored; a request naming any other org (a
    // stray or hand-made event) must not start scheduling it.
    let Some(monitor) = monitors::get(store, org).await? else {
        return Ok(ScanReport {
            skipped: Some("the organization is not monitored".to_owned()),
            ..ScanReport::default()
        });
    };
    operations::recover_abandoned(store, org, state.clock.now()).await?;
    crate::schedules::recover_abandoned_runs(store, org, state.clock.now()).await?;
    let rule = rule_of(&monitor.config);
    let observation = observe_org(state, org, &rule).await?;
    let now = observation.at;
    let mut report = ScanReport {
        clusters_seen: observation.clusters.len(),
        failed_platforms: observation.failed_platforms.len(),
        ..ScanReport::default()
    };

    let mut outbox = Outbox::default();
    let mut readings = Vec::with_capacity(observation.clusters.len() * 2);
    let mut candidates = Vec::new();
    for observed in &observation.clusters {
        let idle = observed.is_idle(now, &rule);
        let mut watch = observed.watch.clone();
        // Busy again (or down) after an idle alert: its PagerDuty incidents are resolved.
        let was_alerted = observed
            .previous
            .as_ref()
            .is_some_and(|previous| previous.watch.alerted_for.is_some());
        if was_alerted && watch.alerted_for.is_none() {
            outbox.clear(notify_ref(observed));
        }
        if idle {
            report.idle += 1;
            if watch.needs_alert(now, &rule) {
                raise(
                    state,
                    org,
                    "idle_cluster",
                    Severity::Warning,
                    idle_message(observed, now),
                )
                .await?;
                outbox.publish(NotificationEvent::idle_cluster(
                    notify_ref(observed),
                    watch.idle_since.unwrap_or(now),
                    watch.idle_minutes(now),
                    observed.hourly_cost,
                ));
                watch.alerted_for = watch.idle_since;
                report.alerts_raised += 1;
            }
            if monitor.automation_allowed()
                && monitor.config.auto_hibernate
                && !monitor.config.excludes(&observed.info.id)
            {
                candidates.push(observed);
            }
        }
        readings.push(metrics::item(
            org,
            &observed.platform.id,
            &observed.info.id,
            &metric_point(observed, &watch, now, &rule),
        )?);
        readings.push(
            WatchRecord {
                org_id: org.clone(),
                platform_id: observed.platform.id.clone(),
                kind: observed.platform.kind,
                cluster_id: observed.info.id.clone(),
                name: observed.info.name.clone(),
                watch,
                last_seen_at: now,
                status: observed.status(now, &rule).to_owned(),
            }
            .item()?,
        );
    }
    // Every cluster's metric point and watch record in bulk: one commit (embedded) or one call
    // per 25 items (DynamoDB) instead of two writes per cluster.
    store.put_all(readings).await?;
    forget_vanished(state, org, &observation).await?;

    // Built in a loop, not a closure: a closure over borrowed items defeats the `Send` proof
    // that spawning a scan needs.
    let mut attempts = Vec::with_capacity(candidates.len());
    for observed in candidates {
        attempts.push(hibernate_idle(state, org, observed, &observation, &rule).boxed());
    }
    let outcomes: Vec<_> = futures::stream::iter(attempts)
        .buffer_unordered(ACTIONS_AT_ONCE)
        .collect()
        .await;
    for outcome in outcomes {
        let (done, notice) = outcome?;
        match done {
            Some(Ok(action)) => report.hibernated.push(action),
            Some(Err(())) => report.failed += 1,
            None => {}
        }
        if let Some(notice) = notice {
            outbox.publish(notice);
        }
    }
    // The org's idle and cost schedules, on the same observation: no extra platform reads.
    match crate::schedules::evaluate_rules(state, org, &observation).await {
        Ok(rules) => report.schedule_runs = rules.executions,
        Err(err) => {
            tracing::error!(org_id = %org, error = format!("{err:#}"), "evaluating schedule rules failed");
        }
    }
    // Right-sizing and spot failover, when the org turned them on (they check pause and
    // exclusions themselves, and plan only when automation may not act).
    if let Err(err) = crate::insights::automate(state, org, &observation, &monitor).await {
        tracing::error!(org_id = %org, error = format!("{err:#}"), "automatic right-sizing / spot failover failed");
    }
    let today = now.date_naive();
    let digest_due = monitor.last_digest_on != Some(today);
    if digest_due && let Some(digest) = savings_digest(state, org, now).await? {
        outbox.publish(digest);
    }
    outbox.send(state, org).await;
    monitors::modify(store, org, now, |record| {
        record.last_scan_at = Some(now);
        if digest_due {
            record.last_digest_on = Some(today);
        }
    })
    .await?;
    tracing::info!(org_id = %org, clusters = report.clusters_seen, idle = report.idle, hibernated = report.hibernated.len(), failed = report.failed, "scan finished");
    Ok(report)
}

pub fn rule_of(config: &MonitoringConfig) -> IdleRule {
    IdleRule {
        threshold_pct: config.idle_threshold_pct,
        threshold_minutes: config.idle_threshold_minutes,
    }
}

/// The day's savings digest, sent by the first scan of each UTC day; none until something has
/// been saved.
async fn savings_digest(
    state: &AppState,
    org: &OrgId,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<NotificationEvent>> {
    let store = state.store.as_ref();
    let total = savings::summary(store, org, now).await?;
    if total.total_saved_usd <= 0.0 {
        return Ok(None);
    }
    let before = savings::summary(store, org, now - chrono::Duration::hours(24)).await?;
    Ok(Some(NotificationEvent::savings_digest(
        total.total_saved_usd - before.total_saved_usd,
        total.idle_hours_eliminated - before.idle_hours_eliminated,
        total.total_saved_usd,
        total.co2_reduced_kg,
        total.water_saved_gallons,
    )))
}

/// The cluster as notifications name it.
fn notify_ref(observed: &Observed) -> ClusterRef {
    ClusterRef {
        platform_id: observed.platform.id.clone(),
        platform: observed.platform.kind,
        cluster_id: observed.info.id.clone(),
        name: observed.info.name.clone(),
    }
}

fn idle_message(observed: &Observed, now: DateTime<Utc>) -> String {
    format!(
        "Cluster {} idle for {} minutes",
        observed.info.name,
        observed.watch.idle_minutes(now)
    )
}

fn metric_point(
    observed: &Observed,
    watch: &crate::domain::idle::Watch,
    now: DateTime<Utc>,
    rule: &IdleRule,
) -> MetricPoint {
    let billing = observed.info.state.is_billing();
    MetricPoint {
        timestamp: now,
        cpu_util: observed
            .signals
            .as_ref()
            .and_then(|signals| signals.cpu_percent)
            .map(|cpu| round(cpu, 2)),
        memory_util: observed
            .signals
            .as_ref()
            .and_then(|signals| signals.memory_percent)
            .map(|memory| round(memory, 2)),
        workers: if billing { observed.info.workers } else { 0 },
        idle_minutes: watch.idle_minutes(now),
        cost_per_hour: if billing {
            observed.hourly_cost.map(|cost| round(cost, 4))
        } else {
            Some(0.0)
        },
        status: observed.status(now, rule).to_owned(),
        active_work: observed
            .signals
            .as_ref()
            .map_or(0, |signals| signals.active_work),
        platform_id: None,
    }
}

async fn raise(
    state: &AppState,
    org: &OrgId,
    kind: &str,
    severity: Severity,
    message: String,
) -> anyhow::Result<()> {
    alerts::create(
        state.store.as_ref(),
        &AlertRecord {
            id: AlertId::generate(),
            org_id: org.clone(),
            kind: kind.to_owned(),
            message,
            severity,
            created_at: state.clock.now(),
        },
    )
    .await?;
    Ok(())
}

/// Drops what the scanner remembered of clusters gone from platforms that answered.
async fn forget_vanished(
    state: &AppState,
    org: &OrgId,
    observation: &super::Observation,
) -> anyhow::Result<()> {
    let store = state.store.as_ref();
    let answered: HashSet<_> = observation.connectors.keys().cloned().collect();
    let seen: HashSet<_> = observation
        .clusters
        .iter()
        .map(|observed| (observed.platform.id.clone(), observed.info.id.clone()))
        .collect();
    for record in watches::list(store, org).await? {
        let key = (record.platform_id.clone(), record.cluster_id.clone());
        let platform_gone = !answered.contains(&record.platform_id)
            && !observation
                .failed_platforms
                .iter()
                .any(|(failed, _)| failed.id == record.platform_id);
        if (answered.contains(&record.platform_id) && !seen.contains(&key)) || platform_gone {
            watches::remove(store, org, &record.platform_id, &record.cluster_id).await?;
        }
    }
    Ok(())
}

/// What the scan tells the org's notification channels, sent once the scan's own work is done:
/// clusters at once (a slow channel costs the scan one delivery's time, not one per cluster),
/// each cluster's notices in order (a PagerDuty trigger before its resolve).
#[derive(Default)]
struct Outbox {
    by_cluster: Vec<(String, Vec<Notice>)>,
}

enum Notice {
    Publish(NotificationEvent),
    Clear(ClusterRef),
}

impl Outbox {
    fn queue(&mut self, cluster: &ClusterRef, notice: Notice) {
        let key = format!("{}#{}", cluster.platform_id, cluster.cluster_id);
        match self.by_cluster.iter_mut().find(|(k, _)| *k == key) {
            Some((_, notices)) => notices.push(notice),
            None => self.by_cluster.push((key, vec![notice])),
        }
    }

    fn publish(&mut self, event: NotificationEvent) {
        let cluster = event.cluster.clone();
        match cluster {
            Some(cluster) => self.queue(&cluster, Notice::Publish(event)),
            None => self
                .by_cluster
                .push((String::new(), vec![Notice::Publish(event)])),
        }
    }

    fn clear(&mut self, cluster: ClusterRef) {
        self.queue(&cluster.clone(), Notice::Clear(cluster));
    }

    async fn send(self, state: &AppState, org: &OrgId) {
        if self.by_cluster.is_empty() {
            return;
        }
        // The org's channels are read once for the whole scan; with none, nothing more is read.
        let Some(channels) = crate::notify::channels_of(state, org).await else {
            return;
        };
        if channels.is_empty() {
            return;
        }
        let channels = &channels;
        let mut sends = Vec::with_capacity(self.by_cluster.len());
        for (_, notices) in self.by_cluster {
            sends.push(
                async move {
                    for notice in notices {
                        match notice {
                            Notice::Publish(event) => {
                                crate::notify::publish_to(state, org, channels, event).await;
                            }
                            Notice::Clear(cluster) => {
                                crate::notify::clear_on(state, org, channels, &cluster).await;
                            }
                        }
                    }
                }
                .boxed(),
            );
        }
        futures::future::join_all(sends).await;
    }
}

/// `None` when nothing was attempted (skipped, or someone else acted first); with the notice to
/// send about it.
async fn hibernate_idle(
    state: &AppState,
    org: &OrgId,
    observed: &Observed,
    observation: &super::Observation,
    rule: &IdleRule,
) -> anyhow::Result<(Option<Result<ActionId, ()>>, Option<NotificationEvent>)> {
    let Some(platform) = observation.connectors.get(&observed.platform.id) else {
        return Ok((None, None));
    };
    let cluster_id = observed.info.id.as_str();
    let check = StillAutomated {
        org,
        quiet: StillQuiet {
            state,
            platform: platform.as_ref(),
            cluster_id,
            rule,
        },
    };
    let minutes = observed.watch.idle_minutes(observation.at);
    let reason = match observed.reading.cpu_percent {
        Some(_) => format!("Idle for {minutes} minutes (CPU < {}%)", rule.threshold_pct),
        None => format!("Idle for {minutes} minutes (no running jobs)"),
    };
    let target = Target {
        org,
        record: &observed.platform,
        platform: platform.as_ref(),
        cluster_id,
        managed: observed.managed.clone(),
    };
    match operations::hibernate(state, target, Initiator::Monitor, reason, Some(&check)).await {
        Ok(done) => {
            raise(
                state,
                org,
                "cluster_hibernated",
                Severity::Info,
                format!(
                    "Cluster {} hibernated after {minutes} idle minutes",
                    observed.info.name
                ),
            )
            .await?;
            let notice = NotificationEvent::cluster_hibernated(
                notify_ref(observed),
                &format!("Idle for {minutes} minutes"),
            );
            Ok((Some(Ok(done.action.id)), Some(notice)))
        }
        Err(OpError::Platform(err)) => {
            raise(
                state,
                org,
                "action_failed",
                Severity::Critical,
                format!("Hibernating cluster {} failed: {err}", observed.info.name),
            )
            .await?;
            let notice = NotificationEvent::action_failed(
                notify_ref(observed),
                "hibernate",
                &err.to_string(),
                observed.watch.idle_since,
            );
            Ok((Some(Err(())), Some(notice)))
        }
        Err(OpError::Store(err)) => Err(err.into()),
        Err(other) => {
            tracing::info!(org_id = %org, cluster_id, outcome = %other, "automatic hibernation not attempted");
            Ok((None, None))
        }
    }
}
