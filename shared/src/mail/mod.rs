//! Outgoing mail: SES in AWS mode ([`ses::SesMailer`]); in local mode an SMTP server when one is
//! configured ([`smtp::SmtpMailer`]), else an outbox directory of files the user can read
//! ([`outbox::OutboxMailer`]).

pub mod outbox;
pub mod ses;
pub mod smtp;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()>;
}
