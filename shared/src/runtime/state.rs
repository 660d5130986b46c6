use std::sync::Arc;

use anyhow::Context;

use super::{Mode, Settings};
use crate::auth::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::mail::Mailer;
use crate::mail::outbox::OutboxMailer;
use crate::mail::ses::SesMailer;
use crate::mail::smtp::SmtpMailer;
use crate::ratelimit::{MemoryRateCounter, RateCounter, TableRateCounter};
use crate::secrets::SecretStore;
use crate::secrets::aws::SecretsManagerStore;
use crate::secrets::local::LocalSecretFile;
use crate::store::Table;
use crate::store::dynamo::DynamoTable;
use crate::store::embedded::EmbeddedTable;

/// The I/O a process uses; everything else is the same in every mode.
#[derive(Clone)]
pub struct Adapters {
    pub store: Arc<dyn Table>,
    pub secrets: Arc<dyn SecretStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub rate_counter: Arc<dyn RateCounter>,
}

impl Adapters {
    /// The adapters for a mode with default settings: in local mode mail always goes to the
    /// outbox, whatever the environment says, which is what tests that read the outbox need.
    pub async fn for_mode(mode: &Mode) -> anyhow::Result<Self> {
        Self::for_mode_with(mode, &Settings::default()).await
    }

    /// Builds the adapters for a mode: clients are created once here, at start (cold start on Lambda).
    pub async fn for_mode_with(mode: &Mode, settings: &Settings) -> anyhow::Result<Self> {
        match mode {
            Mode::Local { data_dir } => {
                // Before anything is written to the data dir: a bad URL only has to be fixed.
                let smtp = settings
                    .smtp_url
                    .as_ref()
                    .map(|url| SmtpMailer::new(url, &settings.mail_from))
                    .transpose()
                    .context("cannot send mail through DTAP_SMTP_URL")?;
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating data dir {}", data_dir.display()))?;
                Ok(Self {
                    store: Arc::new(EmbeddedTable::open(&data_dir.join("dtap.redb"))?),
                    secrets: Arc::new(LocalSecretFile::open(data_dir)?),
                    mailer: match smtp {
                        Some(smtp) => Arc::new(smtp),
                        None => Arc::new(OutboxMailer::new(data_dir.join("outbox"))?),
                    },
                    clock: Arc::new(SystemClock),
                    rate_counter: Arc::new(MemoryRateCounter::default()),
                })
            }
            Mode::Aws(aws) => {
                let config = aws_config::load_from_env().await;
                let dynamo = aws_sdk_dynamodb::Client::new(&config);
                if aws.create_table {
                    DynamoTable::create_table_if_missing(&dynamo, &aws.table_name).await?;
                }
                let store: Arc<dyn Table> =
                    Arc::new(DynamoTable::new(dynamo, aws.table_name.clone()));
                Ok(Self {
                    rate_counter: Arc::new(TableRateCounter::new(store.clone())),
                    store,
                    secrets: Arc::new(SecretsManagerStore::new(
                        aws_sdk_secretsmanager::Client::new(&config),
                        aws.secrets_prefix.clone(),
                    )),
                    mailer: Arc::new(SesMailer::new(
                        aws_sdk_sesv2::Client::new(&config),
                        aws.mail_from.clone(),
                    )),
                    clock: Arc::new(SystemClock),
                })
            }
        }
    }
}

/// Bounds on every call to a platform, so a slow or silent host cannot hold a request (or a
/// Lambda invocation) until its own timeout. Redirects are not followed: an endpoint that passed
/// the public-host rule must not be able to bounce a call (with its token) somewhere else.
fn platform_http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("digital-tap/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the platform HTTP client")
}

/// What every handler gets: the adapters and the keys derived from them at start.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Table>,
    pub secrets: Arc<dyn SecretStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub rate_counter: Arc<dyn RateCounter>,
    pub tokens: Arc<TokenKeys>,
    pub settings: Arc<Settings>,
    /// One HTTP client for the platform connectors: built once, so connections and TLS sessions
    /// are reused across requests (and Lambda invocations).
    pub http: reqwest::Client,
}

impl AppState {
    pub async fn new(adapters: Adapters, settings: Settings) -> anyhow::Result<Self> {
        let tokens =
            TokenKeys::load_or_create(adapters.secrets.as_ref(), &settings.jwt_secret_name)
                .await
                .context("loading the JWT signing key")?;
        Ok(Self {
            store: adapters.store,
            secrets: adapters.secrets,
            mailer: adapters.mailer,
            clock: adapters.clock,
            rate_counter: adapters.rate_counter,
            tokens: Arc::new(tokens),
            settings: Arc::new(settings),
            http: platform_http_client()?,
        })
    }

    /// Builds the state for a mode with settings from the environment.
    pub async fn for_mode(mode: &Mode) -> anyhow::Result<Self> {
        let settings = Settings {
            allow_local_endpoints: matches!(mode, Mode::Local { .. }),
            ..Settings::from_env()
        };
        let adapters = Adapters::for_mode_with(mode, &settings).await?;
        Self::new(adapters, settings).await
    }
}
