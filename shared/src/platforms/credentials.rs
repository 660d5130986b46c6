//! The credentials of each platform type, once validated. They live only in the SecretStore;
//! `Debug` never shows a secret.

use secrecy::SecretString;

use crate::domain::platform::PlatformKind;

#[derive(Clone, Debug)]
pub enum Credentials {
    Databricks(DatabricksCredentials),
    Emr(EmrCredentials),
    Dataproc(DataprocCredentials),
    Synapse(SynapseCredentials),
}

impl Credentials {
    pub fn kind(&self) -> PlatformKind {
        match self {
            Self::Databricks(_) => PlatformKind::Databricks,
            Self::Emr(_) => PlatformKind::Emr,
            Self::Dataproc(_) => PlatformKind::Dataproc,
            Self::Synapse(_) => PlatformKind::Synapse,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DatabricksCredentials {
    /// `https://<workspace-host>` without a trailing slash (`http://` and loopback only in local
    /// mode, for the fake workspace).
    pub workspace_url: String,
    pub auth: DatabricksAuth,
    /// The SQL warehouse that runs the utilisation query on `system.compute.node_timeline`.
    /// Optional: without it (or without Unity Catalog's system tables) usage still reports
    /// activity, just no CPU or memory.
    pub warehouse_id: Option<String>,
}

#[derive(Clone, Debug)]
pub enum DatabricksAuth {
    /// A personal access token.
    Token(SecretString),
    /// OAuth machine-to-machine: a service principal's client credentials.
    ServicePrincipal {
        client_id: String,
        client_secret: SecretString,
    },
}

#[derive(Clone, Debug)]
pub struct EmrCredentials {
    pub region: String,
    pub auth: AwsAuth,
    /// An endpoint other than AWS's (moto in tests; local mode only).
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Debug)]
pub enum AwsAuth {
    /// Assume this role through STS (the recommended way: no long-lived keys leave the customer).
    AssumeRole {
        role_arn: String,
        external_id: Option<String>,
    },
    AccessKeys {
        access_key_id: String,
        secret_access_key: SecretString,
    },
}

#[derive(Clone, Debug)]
pub struct DataprocCredentials {
    pub project_id: String,
    pub region: String,
    /// The service account's JSON key (holds `client_email`, `private_key`, `token_uri`).
    pub service_account_key: SecretString,
    /// The API's base URL in place of `https://dataproc.googleapis.com`, and of Cloud
    /// Monitoring's `https://monitoring.googleapis.com` too (the fake Dataproc in tests serves
    /// both; local mode only).
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SynapseCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    /// One base URL in place of both Entra ID's and ARM's (the fake Synapse in tests; local mode
    /// only).
    pub endpoint_url: Option<String>,
}
