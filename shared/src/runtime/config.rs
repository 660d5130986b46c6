use std::path::PathBuf;

use secrecy::SecretString;

/// Which adapters the process uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Embedded redb store, encrypted secrets file and mail outbox under `data_dir` (mail goes
    /// through SMTP instead when [`Settings::smtp_url`] is set).
    Local { data_dir: PathBuf },
    /// DynamoDB, Secrets Manager and SES (any endpoint, e.g. moto's, via `AWS_ENDPOINT_URL`).
    Aws(AwsSettings),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    /// `DTAP_TABLE_NAME`, default `dtap-main`.
    pub table_name: String,
    /// `DTAP_SECRETS_PREFIX`, default `dtap/`: names of the secrets this deployment owns.
    pub secrets_prefix: String,
    /// `DTAP_MAIL_FROM`: the verified SES sender (the same as [`Settings::mail_from`]).
    pub mail_from: String,
    /// `DTAP_CREATE_TABLE=true` creates the table when missing (for emulators and first runs).
    pub create_table: bool,
}

/// Settings that do not depend on the mode.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DTAP_JWT_SECRET_NAME`: the secret holding the JWT signing key, default `jwt-signing-key`
    /// (under the secrets prefix in AWS mode). Created on first start when missing.
    pub jwt_secret_name: String,
    /// `DTAP_PUBLIC_URL`: the address users reach the API at, used in emails.
    pub public_url: String,
    /// `DTAP_MAIL_FROM`: the sender of every mail.
    pub mail_from: String,
    /// `DTAP_SMTP_URL`: when set, local mode sends mail through this SMTP server instead of
    /// writing it to the outbox. Secret: it usually carries the server's password.
    pub smtp_url: Option<SecretString>,
    /// `DTAP_TRUST_FORWARDED_FOR=true`: take the client's IP (for auth throttling) from the
    /// first `X-Forwarded-For` entry. Only behind a proxy that sets it; otherwise clients could
    /// pick their own IP and dodge the per-IP limit.
    pub trust_forwarded_for: bool,
    /// Whether platform endpoints may be `http://` or loopback/private addresses. True in local
    /// mode, so the fake platforms on 127.0.0.1 can be connected; false in AWS mode, where such
    /// an endpoint would let a customer make the service call into its own network.
    pub allow_local_endpoints: bool,
    /// `DTAP_PAGERDUTY_URL`: the PagerDuty Events API v2 endpoint notifications are sent to,
    /// default `https://events.pagerduty.com/v2/enqueue` (tests point it at a local receiver).
    pub pagerduty_url: String,
    /// `DTAP_NOTIFY_TIMEOUT_MS`: the bound on one notification delivery attempt, default 5000.
    pub notify_attempt_timeout: std::time::Duration,
}

const DEFAULT_MAIL_FROM: &str = "no-reply@digitaltap.local";
const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const DEFAULT_NOTIFY_TIMEOUT_MS: u64 = 5000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            jwt_secret_name: "jwt-signing-key".into(),
            public_url: "http://127.0.0.1:3000".into(),
            mail_from: DEFAULT_MAIL_FROM.into(),
            smtp_url: None,
            trust_forwarded_for: false,
            allow_local_endpoints: false,
            pagerduty_url: DEFAULT_PAGERDUTY_URL.into(),
            notify_attempt_timeout: std::time::Duration::from_millis(DEFAULT_NOTIFY_TIMEOUT_MS),
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl Settings {
    pub fn from_env() -> Self {
        let defaults = Self::default();
        Self {
            jwt_secret_name: env_or("DTAP_JWT_SECRET_NAME", &defaults.jwt_secret_name),
            public_url: env_or("DTAP_PUBLIC_URL", &defaults.public_url),
            mail_from: env_or("DTAP_MAIL_FROM", &defaults.mail_from),
            smtp_url: std::env::var("DTAP_SMTP_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from),
            trust_forwarded_for: env_or("DTAP_TRUST_FORWARDED_FOR", "false") == "true",
            allow_local_endpoints: defaults.allow_local_endpoints,
            pagerduty_url: env_or("DTAP_PAGERDUTY_URL", DEFAULT_PAGERDUTY_URL),
            notify_attempt_timeout: std::time::Duration::from_millis(
                env_or("DTAP_NOTIFY_TIMEOUT_MS", "")
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (1..=60_000).contains(ms))
                    .unwrap_or(DEFAULT_NOTIFY_TIMEOUT_MS),
            ),
        }
    }
}

impl AwsSettings {
    pub fn from_env() -> Self {
        Self {
            table_name: env_or("DTAP_TABLE_NAME", "dtap-main"),
            secrets_prefix: env_or("DTAP_SECRETS_PREFIX", "dtap/"),
            mail_from: env_or("DTAP_MAIL_FROM", DEFAULT_MAIL_FROM),
            create_table: env_or("DTAP_CREATE_TABLE", "false") == "true",
        }
    }
}

impl Mode {
    /// `DTAP_MODE=aws` selects AWS mode, `DTAP_MODE=local` local mode in `local_data_dir`; when
    /// unset, `default_aws` decides (Lambda has no disk to keep a local store on).
    pub fn from_env(local_data_dir: PathBuf, default_aws: bool) -> anyhow::Result<Self> {
        let default = if default_aws { "aws" } else { "local" };
        match env_or("DTAP_MODE", default).as_str() {
            "aws" => Ok(Self::Aws(AwsSettings::from_env())),
            "local" => Ok(Self::Local {
                data_dir: local_data_dir,
            }),
            other => anyhow::bail!("DTAP_MODE must be `local` or `aws`, not `{other}`"),
        }
    }
}
