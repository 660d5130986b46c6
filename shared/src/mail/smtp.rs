//! Local mode's mailer when an SMTP server is configured: plain-text mail through that server.
//!
//! The server is one URL in lettre's format, with a safer default. lettre sends everything,
//! password included, in the clear for `smtp://` without a `tls` parameter; here that means
//! STARTTLS is required, and a plain relay has to be asked for with `tls=none`:
//!
//! - `smtp://user:pass@mail.example.com` — STARTTLS, required (port 587 unless given)
//! - `smtps://user:pass@mail.example.com` — implicit TLS (port 465 unless given)
//! - `smtp://127.0.0.1:2525?tls=none` — no TLS (port 25 unless given)
//! - `smtp://…?tls=opportunistic` — STARTTLS when offered, else the clear
//!
//! User name and password are percent-encoded; a path (`smtp://host/client.example.com`) is the
//! name sent in EHLO.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{Mail, Mailer};

/// Bounds the whole exchange of one mail, not only the connect (lettre's own timeout): the reset
/// request that sends the mail waits for it.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for logs and errors.
    server: String,
    timeout: Duration,
    redactions: Redactions,
}

impl SmtpMailer {
    /// Checks `url` and `from` without connecting, so a bad configuration stops the process at
    /// start rather than at the first mail.
    pub fn new(url: &SecretString, from: &str) -> anyhow::Result<Self> {
        Self::with_timeout(url, from, TIMEOUT)
    }

    pub fn with_timeout(url: &SecretString, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("the sender `{from}` is not a mail address"))?;
        let target = Target::parse(url.expose_secret())?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(target.url.expose_secret())
            // The cause's text is kept but not the error itself: its chain would reach the logs
            // unredacted.
            .map_err(|err| {
                anyhow!(
                    "the SMTP URL is not usable: {}",
                    target.redactions.apply(&err.to_string())
                )
            })?
            .timeout(Some(timeout))
            .build();
        tracing::info!(server = %target.server, tls = target.tls, "mail goes through SMTP");
        Ok(Self {
            transport,
            from,
            server: target.server,
            timeout,
            redactions: target.redactions,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let to: Mailbox = mail
            .to
            .parse()
            .with_context(|| format!("`{}` is not a mail address", mail.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .context("building the mail")?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    server = %self.server,
                    "mail sent through SMTP"
                );
                Ok(())
            }
            // Server replies are part of lettre's message; a server may echo what it was sent.
            Ok(Err(err)) => Err(anyhow!(
                "sending mail to {} through {} failed: {}",
                mail.to,
                self.server,
                self.redactions.apply(&err.to_string())
            )),
            Err(_) => Err(anyhow!(
                "sending mail to {} through {} timed out after {} s",
                mail.to,
                self.server,
                self.timeout.as_secs_f32()
            )),
        }
    }
}

/// The configured URL turned into the one lettre reads, and what is known about it.
struct Target {
    url: SecretString,
    server: String,
    tls: &'static str,
    redactions: Redactions,
}

impl Target {
    /// No message echoes the URL or any part of it other than the scheme and `tls` value: it
    /// holds the password. (`url`'s parse errors do not contain the input.)
    fn parse(raw: &str) -> anyhow::Result<Self> {
        let mut url = Url::parse(raw).map_err(|err| anyhow!("the SMTP URL is not a URL: {err}"))?;
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "tls" => tls = Some(value.into_owned()),
                _ => bail!("the SMTP URL has an unknown parameter `{key}` (only `tls` is known)"),
            }
        }
        // lettre's default ports; given explicitly so logs show the port actually used.
        let (tls_param, port, description) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("required")) => (Some("required"), 587, "STARTTLS"),
            ("smtp", Some("opportunistic")) => (Some("opportunistic"), 587, "STARTTLS if offered"),
            ("smtp", Some("none")) => (None, 25, "none"),
            ("smtp", Some(other)) => bail!(
                "tls={other} in the SMTP URL is not one of `required`, `opportunistic`, `none`"
            ),
            ("smtps", None) => (None, 465, "implicit TLS"),
            ("smtps", Some(_)) => bail!("an smtps:// URL always uses TLS: drop its tls parameter"),
            (scheme, _) => {
                bail!("the SMTP URL must start with smtp:// or smtps://, not {scheme}://")
            }
        };
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => bail!("the SMTP URL has no host"),
        };
        url.set_query(None);
        if let Some(tls) = tls_param {
            url.query_pairs_mut().append_pair("tls", tls);
        }
        if url.port().is_none() {
            url.set_port(Some(port))
                .map_err(|()| anyhow!("the SMTP URL cannot have a port"))?;
        }
        let server = format!("{host}:{}", url.port().unwrap_or(port));
        let redactions = match url.password() {
            Some(encoded) => {
                let decode = |text: &str| {
                    percent_encoding::percent_decode_str(text)
                        .decode_utf8()
                        .map(|text| text.into_owned())
                        .map_err(|_| anyhow!("the SMTP URL's user name or password is not UTF-8"))
                };
                Redactions::of_credentials(&decode(url.username())?, encoded, &decode(encoded)?)
            }
            None => Redactions::default(),
        };
        Ok(Self {
            url: url.as_str().into(),
            server,
            tls: description,
            redactions,
        })
    }
}

/// The forms the password takes on the way to the server, to cut out of text that may contain
/// what the server said.
#[derive(Default)]
struct Redactions(Vec<SecretString>);

impl Redactions {
    fn of_credentials(user: &str, encoded_password: &str, password: &str) -> Self {
        let mut needles = vec![
            password.to_owned(),
            encoded_password.to_owned(),
            // AUTH LOGIN sends the password alone, AUTH PLAIN `\0user\0password`, both in base64.
            BASE64.encode(password),
            BASE64.encode(format!("\0{user}\0{password}")),
        ];
        needles.retain(|needle| !needle.is_empty());
        // Longest first: cutting a short form out of a longer one would leave the rest of the
        // longer one in place.
        needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        needles.dedup();
        Self(needles.into_iter().map(SecretString::from).collect())
    }

    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |text, needle| {
            text.replace(needle.expose_secret(), "[redacted]")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> anyhow::Result<Target> {
        Target::parse(url)
    }

    #[test]
    fn smtp_without_tls_parameter_requires_starttls() {
        let t = target("smtp://user:pa%40ss@mail.example.com").unwrap();
        assert_eq!(
            t.url.expose_secret(),
            "smtp://user:pa%40ss@mail.example.com:587?tls=required"
        );
        assert_eq!(t.server, "mail.example.com:587");
        assert_eq!(t.tls, "STARTTLS");
    }

    #[test]
    fn tls_none_is_a_plain_connection_and_smtps_is_implicit_tls() {
        let plain = target("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!(plain.url.expose_secret(), "smtp://127.0.0.1:2525");
        assert_eq!(plain.server, "127.0.0.1:2525");
        let wrapped = target("smtps://u:p@mail.example.com").unwrap();
        assert_eq!(
            wrapped.url.expose_secret(),
            "smtps://u:p@mail.example.com:465"
        );
        let opportunistic = target("smtp://mail.example.com:2587?tls=opportunistic").unwrap();
        assert_eq!(
            opportunistic.url.expose_secret(),
            "smtp://mail.example.com:2587?tls=opportunistic"
        );
    }

    #[test]
    fn malformed_urls_are_refused_without_echoing_the_password() {
        for url in [
            "smtp://user:hunter2@mail.example.com:99999",
            "smtp://user:hunter2@:25",
            "http://user:hunter2@mail.example.com",
            "smtp://user:hunter2@mail.example.com?tls=maybe",
            "smtp://user:hunter2@mail.example.com?tsl=none",
            "smtps://user:hunter2@mail.example.com?tls=none",
            "smtp://user:hunter2%FF@mail.example.com",
            "user:hunter2@mail.example.com",
            "mail.example.com hunter2",
        ] {
            let err = match target(url) {
                Ok(_) => panic!("{url} was accepted"),
                Err(err) => format!("{err:#}"),
            };
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn every_form_of_the_password_is_redacted() {
        let r = Redactions::of_credentials("user", "p%40ss", "p@ss");
        let plain = BASE64.encode("\0user\0p@ss");
        let login = BASE64.encode("p@ss");
        let text = format!("535 no: AUTH PLAIN {plain} / {login} / p@ss / p%40ss");
        assert_eq!(
            r.apply(&text),
            "535 no: AUTH PLAIN [redacted] / [redacted] / [redacted] / [redacted]"
        );
        assert_eq!(Redactions::default().apply("unchanged"), "unchanged");
    }
}
