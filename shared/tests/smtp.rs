//! SmtpMailer against a fake SMTP server on a loopback port, written here so the tests need no
//! mail server and no network.

use std::net::SocketAddr;
use std::time::Duration;

use dtap_shared::mail::smtp::SmtpMailer;
use dtap_shared::mail::{Mail, Mailer};
use dtap_shared::runtime::{Adapters, Mode, Settings};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the fake server answers.
#[derive(Clone, Copy)]
struct Script {
    /// Extensions listed after EHLO.
    extensions: &'static [&'static str],
    rcpt_reply: &'static str,
    /// Answers AUTH with a rejection that quotes the command, as some servers do.
    echo_auth: bool,
    /// Accepts the connection and never says a word.
    silent: bool,
}

const FRIENDLY: Script = Script {
    extensions: &["8BITMIME"],
    rcpt_reply: "250 2.1.5 ok",
    echo_auth: false,
    silent: false,
};

/// What the server received on its one connection.
#[derive(Debug, Default)]
struct Transcript {
    commands: Vec<String>,
    /// The DATA section, dot-unstuffed, lines without CRLF.
    data: Vec<String>,
}

impl Transcript {
    fn has_command(&self, prefix: &str) -> bool {
        self.commands.iter().any(|c| c.starts_with(prefix))
    }
}

/// Serves one SMTP connection on a free loopback port; the handle yields its transcript.
async fn fake_server(script: Script) -> (SocketAddr, JoinHandle<Transcript>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let mut transcript = Transcript::default();
        if script.silent {
            let mut rest = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut lines, &mut rest).await;
            return transcript;
        }
        let mut reply = async |text: String| {
            write
                .write_all(format!("{text}\r\n").as_bytes())
                .await
                .unwrap()
        };
        reply("220 fake.test ESMTP".into()).await;
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let command = line.trim_end_matches("\r\n").to_owned();
            transcript.commands.push(command.clone());
            let verb = command
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => {
                    let mut text = "250-fake.test".to_owned();
                    for (i, extension) in script.extensions.iter().enumerate() {
                        let sep = if i + 1 == script.extensions.len() {
                            ' '
                        } else {
                            '-'
                        };
                        text.push_str(&format!("\r\n250{sep}{extension}"));
                    }
                    if script.extensions.is_empty() {
                        text = "250 fake.test".into();
                    }
                    reply(text).await;
                }
                "AUTH" if script.echo_auth => {
                    reply(format!("535 5.7.8 rejected: {command}")).await;
                }
                "AUTH" => reply("235 2.7.0 ok".into()).await,
                "MAIL" => reply("250 2.1.0 ok".into()).await,
                "RCPT" => reply(script.rcpt_reply.into()).await,
                "DATA" => {
                    reply("354 end with <CRLF>.<CRLF>".into()).await;
                    loop {
                        let mut line = String::new();
                        if lines.read_line(&mut line).await.unwrap() == 0 {
                            return transcript;
                        }
                        let line = line.trim_end_matches("\r\n");
                        if line == "." {
                            break;
                        }
                        let line = line.strip_prefix('.').unwrap_or(line);
                        transcript.data.push(line.to_owned());
                    }
                    reply("250 2.0.0 queued".into()).await;
                }
                "RSET" | "NOOP" => reply("250 2.0.0 ok".into()).await,
                "QUIT" => {
                    reply("221 2.0.0 bye".into()).await;
                    break;
                }
                _ => reply("502 5.5.2 not implemented".into()).await,
            }
        }
        transcript
    });
    (address, handle)
}

fn plain_url(address: SocketAddr) -> SecretString {
    format!("smtp://{address}?tls=none").into()
}

fn reset_mail() -> Mail {
    Mail {
        to: "alice@example.com".into(),
        subject: "Reset your Digital Tap password".into(),
        text: "Hello Alice,\n\nyour token:\n\ntok_123\n.a line that starts with a dot\n".into(),
    }
}

#[tokio::test]
async fn a_mail_arrives_with_recipient_subject_and_body() {
    let (address, server) = fake_server(FRIENDLY).await;
    let mailer = SmtpMailer::new(&plain_url(address), "no-reply@digitaltap.local").unwrap();
    mailer.send(&reset_mail()).await.unwrap();
    let transcript = server.await.unwrap();

    assert!(transcript.has_command("EHLO "), "{transcript:?}");
    assert!(
        transcript.has_command("MAIL FROM:<no-reply@digitaltap.local>"),
        "{transcript:?}"
    );
    assert!(
        transcript.has_command("RCPT TO:<alice@example.com>"),
        "{transcript:?}"
    );
    assert_eq!(transcript.commands.last().map(String::as_str), Some("QUIT"));

    let data = &transcript.data;
    let blank = data
        .iter()
        .position(|line| line.is_empty())
        .expect("headers end");
    let (headers, body) = (&data[..blank], &data[blank + 1..]);
    assert!(
        headers.contains(&"To: alice@example.com".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"From: no-reply@digitaltap.local".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"Subject: Reset your Digital Tap password".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("Content-Type: text/plain; charset=utf-8")),
        "{headers:?}"
    );
    // lettre ends DATA with CRLF . CRLF after the text's own final newline: one blank line more.
    let body = body.strip_suffix(&[String::new()]).unwrap_or(body);
    assert_eq!(
        body,
        [
            "Hello Alice,",
            "",
            "your token:",
            "",
            "tok_123",
            ".a line that starts with a dot",
        ]
    );
}

#[tokio::test]
async fn a_rejected_recipient_is_an_error() {
    let script = Script {
        rcpt_reply: "550 5.1.1 no such user",
        ..FRIENDLY
    };
    let (address, server) = fake_server(script).await;
    let mailer = SmtpMailer::new(&plain_url(address), "no-reply@digitaltap.local").unwrap();
    let err = mailer.send(&reset_mail()).await.unwrap_err().to_string();
    assert!(err.contains("alice@example.com"), "{err}");
    assert!(err.contains("550"), "{err}");
    assert!(err.contains("no such user"), "{err}");
    let transcript = server.await.unwrap();
    assert!(!transcript.has_command("DATA"), "{transcript:?}");
}

#[tokio::test]
async fn a_password_the_server_echoes_does_not_reach_the_error() {
    let script = Script {
        extensions: &["AUTH PLAIN LOGIN"],
        echo_auth: true,
        ..FRIENDLY
    };
    let (address, server) = fake_server(script).await;
    let url = format!("smtp://mailer:s3cr%40t-pw@{address}?tls=none").into();
    let mailer = SmtpMailer::new(&url, "no-reply@digitaltap.local").unwrap();
    let err = mailer.send(&reset_mail()).await.unwrap_err();
    let transcript = server.await.unwrap();

    // The server did see the credentials, so there was something to leak.
    let auth = transcript
        .commands
        .iter()
        .find(|c| c.starts_with("AUTH PLAIN "))
        .expect("AUTH PLAIN was sent");
    let sent = auth.trim_start_matches("AUTH PLAIN ");
    let message = format!("{err:#} {err:?}");
    assert!(message.contains("535"), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
    for secret in ["s3cr@t-pw", "s3cr%40t-pw", sent] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
}

#[tokio::test]
async fn without_a_tls_parameter_nothing_goes_out_in_the_clear() {
    // The fake server offers no STARTTLS: the mailer must give up rather than fall back.
    let (address, server) = fake_server(FRIENDLY).await;
    let url = format!("smtp://mailer:hunter2@{address}").into();
    let mailer = SmtpMailer::new(&url, "no-reply@digitaltap.local").unwrap();
    let err = mailer.send(&reset_mail()).await.unwrap_err().to_string();
    assert!(err.contains("STARTTLS"), "{err}");
    let transcript = server.await.unwrap();
    assert!(!transcript.has_command("AUTH"), "{transcript:?}");
    assert!(!transcript.has_command("MAIL"), "{transcript:?}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let script = Script {
        silent: true,
        ..FRIENDLY
    };
    let (address, _server) = fake_server(script).await;
    let mailer = SmtpMailer::with_timeout(
        &plain_url(address),
        "no-reply@digitaltap.local",
        Duration::from_millis(300),
    )
    .unwrap();
    let err = mailer.send(&reset_mail()).await.unwrap_err().to_string();
    assert!(err.contains("timed out"), "{err}");
}

#[tokio::test]
async fn local_mode_sends_through_smtp_when_a_url_is_set() {
    let (address, server) = fake_server(FRIENDLY).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let settings = Settings {
        smtp_url: Some(plain_url(address)),
        mail_from: "tap@example.org".into(),
        ..Settings::default()
    };
    let adapters = Adapters::for_mode_with(&mode, &settings).await.unwrap();
    adapters.mailer.send(&reset_mail()).await.unwrap();
    let transcript = server.await.unwrap();
    assert!(transcript.has_command("MAIL FROM:<tap@example.org>"));
    assert!(!data_dir.path().join("outbox").exists());
}

#[tokio::test]
async fn a_malformed_url_stops_the_start_without_showing_the_password() {
    let data_dir = tempfile::tempdir().unwrap();
    let mode = Mode::Local {
        data_dir: data_dir.path().to_path_buf(),
    };
    let settings = Settings {
        smtp_url: Some("smtp://mailer:hunter2@mail.example.com:70000".into()),
        ..Settings::default()
    };
    let err = match Adapters::for_mode_with(&mode, &settings).await {
        Ok(_) => panic!("a port above 65535 was accepted"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("DTAP_SMTP_URL"), "{err}");
    assert!(err.contains("invalid port number"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(
        std::fs::read_dir(data_dir.path()).unwrap().count(),
        0,
        "nothing written before the check"
    );
}
