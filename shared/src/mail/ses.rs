//! AWS mode's mailer: SES v2 `SendEmail` with a plain-text body from one verified sender.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{Mail, Mailer};

pub struct SesMailer {
    client: Client,
    from: String,
}

impl SesMailer {
    /// `from` must be an identity (address or domain) verified in SES for the account and region.
    pub fn new(client: Client, from: String) -> Self {
        Self { client, from }
    }
}

fn utf8(data: &str) -> anyhow::Result<Content> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .context("building mail content")
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = Message::builder()
            .subject(utf8(&mail.subject)?)
            .body(Body::builder().text(utf8(&mail.text)?).build())
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|err| {
                anyhow!(
                    "sending mail to {} through SES failed: {}",
                    mail.to,
                    DisplayErrorContext(&err)
                )
            })?;
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            message_id = sent.message_id().unwrap_or_default(),
            "mail sent through SES"
        );
        Ok(())
    }
}
