//! `dtap-local --demo`: the product without a cloud account. Starts simulated Databricks,
//! Dataproc and Synapse workspaces (the same stateful fakes the tests use, in memory), creates a
//! demo account, and connects the three through the public API, as a user would.

use anyhow::{Context, bail};
use dtap_fakes::{FakeDatabricks, FakeDataproc, FakeSynapse};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

pub const DEMO_EMAIL: &str = "demo@digitaltap.local";

/// The simulated platforms; they stop when this is dropped.
pub struct Demo {
    databricks: FakeDatabricks,
    dataproc: FakeDataproc,
    synapse: FakeSynapse,
}

/// What the user needs to log in to the demo.
pub struct DemoAccount {
    pub email: &'static str,
    pub password: String,
}

impl Demo {
    /// A realistic small fleet: a dozen Databricks clusters, six Dataproc clusters, and a
    /// Synapse workspace with two dedicated SQL pools and two Spark pools.
    pub async fn start() -> Self {
        let databricks = FakeDatabricks::start().await;
        // A working day's mix, so monitoring has something to find: a third busy with a job, a
        // third idle, the rest up with light interactive use (no job, CPU over the threshold).
        for (index, cluster) in databricks.fleet(12).iter().enumerate() {
            match index % 3 {
                0 => {
                    databricks.add_run(cluster);
                    databricks.set_utilization(cluster, 72.0, 64.0);
                }
                1 => databricks.set_utilization(cluster, 2.5, 18.0),
                _ => databricks.set_utilization(cluster, 35.0, 41.0),
            }
        }
        let dataproc = FakeDataproc::start().await;
        for (index, cluster) in dataproc.fleet(6).iter().enumerate() {
            let (cpu_fraction, memory) = if index % 2 == 0 {
                (0.03, 12.0)
            } else {
                (0.55, 60.0)
            };
            dataproc.set_utilization(cluster, cpu_fraction, memory);
        }
        let synapse = FakeSynapse::start().await;
        synapse.add_sql_pool("reporting-dw", "DW200c", "Online");
        synapse.add_sql_pool("finance-dw", "DW100c", "Paused");
        synapse.add_spark_pool("etl-spark", json!({}));
        synapse.add_spark_pool("ml-spark", json!({}));
        Self {
            databricks,
            dataproc,
            synapse,
        }
    }

    /// The `POST /v1/platforms` bodies that connect the simulated platforms.
    fn platforms(&self) -> Vec<Value> {
        let dataproc = self.dataproc.config();
        let synapse = self.synapse.config();
        vec![
            json!({"type": "databricks", "name": "Demo Databricks", "region": "us-east-1",
                   "credentials": {"workspace_url": self.databricks.url(),
                                   "token": self.databricks.config().token,
                                   "warehouse_id": self.databricks.warehouse_id()}}),
            json!({"type": "dataproc", "name": "Demo Dataproc",
                   "credentials": {"service_account_key": self.dataproc.service_account_key(),
                                   "project_id": dataproc.project_id, "region": dataproc.region,
                                   "endpoint_url": self.dataproc.url()}}),
            json!({"type": "synapse", "name": "Demo Synapse",
                   "credentials": {"tenant_id": synapse.tenant_id, "client_id": synapse.client_id,
                                   "client_secret": synapse.client_secret,
                                   "subscription_id": synapse.subscription_id,
                                   "resource_group": synapse.resource_group,
                                   "workspace_name": synapse.workspace_name,
                                   "endpoint_url": self.synapse.url()}}),
        ]
    }

    /// Registers the demo account on the server at `base` and connects the simulated platforms.
    pub async fn connect(&self, base: &str) -> anyhow::Result<DemoAccount> {
        let client = reqwest::Client::new();
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let registered = client
            .post(format!("{base}/v1/auth/register"))
            .json(
                &json!({"name": "Demo User", "email": DEMO_EMAIL, "password": password,
                          "org_name": "Demo"}),
            )
            .send()
            .await
            .context("registering the demo account")?;
        if !registered.status().is_success() {
            bail!(
                "cannot create the demo account ({}): --demo needs a data dir without one",
                registered.status()
            );
        }
        let login: Value = client
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"email": DEMO_EMAIL, "password": password}))
            .send()
            .await
            .context("logging in to the demo account")?
            .json()
            .await?;
        let token = login["data"]["token"]
            .as_str()
            .context("the login answer carries a token")?;
        for platform in self.platforms() {
            let connected = client
                .post(format!("{base}/v1/platforms"))
                .bearer_auth(token)
                .json(&platform)
                .send()
                .await
                .context("connecting a demo platform")?;
            if !connected.status().is_success() {
                bail!(
                    "connecting {} failed: {}",
                    platform["type"],
                    connected.text().await.unwrap_or_default()
                );
            }
        }
        // Scan every minute and call a cluster idle after 5 quiet minutes, so the demo shows
        // monitoring at work within minutes; automatic hibernation stays off until turned on.
        let configured = client
            .put(format!("{base}/v1/monitoring/config"))
            .bearer_auth(token)
            .json(&json!({"scan_interval_minutes": 1, "idle_threshold_minutes": 5}))
            .send()
            .await
            .context("configuring the demo's monitoring")?;
        if !configured.status().is_success() {
            bail!(
                "configuring monitoring failed: {}",
                configured.text().await.unwrap_or_default()
            );
        }
        Ok(DemoAccount {
            email: DEMO_EMAIL,
            password,
        })
    }
}
