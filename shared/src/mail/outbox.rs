//! Local mode's mailer: each mail becomes `<ulid>.json` in an outbox directory, so someone running
//! Digital Tap without a mail server can still follow password-reset and invite links.
//!
//! Mails carry one-time tokens, so the directory is 0700 and each file 0600. File names are ULIDs
//! from a monotonic generator: sorting by name is sending order within a process.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use ulid::{Generator, Ulid};

use super::{Mail, Mailer};
use crate::secrets::local::write_private_file;

pub struct OutboxMailer {
    dir: PathBuf,
    ids: Mutex<Generator>,
}

/// The file's shape; [`Mail`] is read back from it, ignoring `created_at`.
#[derive(Serialize)]
struct OutboxEntry<'a> {
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    created_at: DateTime<Utc>,
}

impl OutboxMailer {
    /// Creates `dir` (0700) when missing, and narrows it to 0700 when it is open to others.
    pub fn new(dir: PathBuf) -> anyhow::Result<Self> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating mail outbox {}", dir.display()))?;
        let meta = fs::metadata(&dir)
            .with_context(|| format!("reading the metadata of {}", dir.display()))?;
        if !meta.is_dir() {
            anyhow::bail!("mail outbox {} is not a directory", dir.display());
        }
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting mail outbox {} to 0700", dir.display()))?;
        }
        Ok(Self {
            dir,
            ids: Mutex::new(Generator::new()),
        })
    }

    /// Every mail in `dir`, oldest first.
    pub fn read_all(dir: &Path) -> anyhow::Result<Vec<Mail>> {
        let mut files = Vec::new();
        for entry in
            fs::read_dir(dir).with_context(|| format!("reading mail outbox {}", dir.display()))?
        {
            let path = entry
                .with_context(|| format!("reading mail outbox {}", dir.display()))?
                .path();
            // Skips the hidden temp files of writes in progress, and anything else a user put there.
            let id = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|stem| Ulid::from_string(stem).ok());
            if let Some(id) = id {
                files.push((id, path));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let bytes =
                    fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not an outbox mail", path.display()))
            })
            .collect()
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let now = SystemTime::now();
        let id = self
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generate_from_datetime(now)
            .context("generating a mail id")?;
        let entry = OutboxEntry {
            to: &mail.to,
            subject: &mail.subject,
            text: &mail.text,
            created_at: now.into(),
        };
        let bytes = serde_json::to_vec_pretty(&entry).context("encoding mail")?;
        let path = self.dir.join(format!("{id}.json"));
        let written = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_private_file(&path, &bytes))
                .await
                .map_err(io::Error::other)
                .and_then(|result| result)
        };
        written.with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            file = %path.display(),
            "mail written to the outbox"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str, subject: &str, text: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
        }
    }

    #[tokio::test]
    async fn mails_are_read_back_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = OutboxMailer::new(outbox.clone()).unwrap();
        let sent: Vec<Mail> = (0..20)
            .map(|i| mail(&format!("u{i}@example.com"), "Reset", &format!("token {i}")))
            .collect();
        for m in &sent {
            mailer.send(m).await.unwrap();
        }
        assert_eq!(OutboxMailer::read_all(&outbox).unwrap(), sent);
    }

    #[tokio::test]
    async fn files_are_private_json_with_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = OutboxMailer::new(outbox.clone()).unwrap();
        let before = Utc::now();
        mailer
            .send(&mail("a@example.com", "Welcome", "Hello\nthere"))
            .await
            .unwrap();

        let dir_mode = fs::metadata(&outbox).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let entries: Vec<_> = fs::read_dir(&outbox).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 1, "no temp files left behind");
        let path = entries[0].path();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(Ulid::from_string(name.strip_suffix(".json").unwrap()).is_ok());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["to"], "a@example.com");
        assert_eq!(json["subject"], "Welcome");
        assert_eq!(json["text"], "Hello\nthere");
        let created: DateTime<Utc> = json["created_at"].as_str().unwrap().parse().unwrap();
        assert!(created >= before - chrono::Duration::seconds(1));
    }

    #[test]
    fn an_open_outbox_dir_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        fs::create_dir(&outbox).unwrap();
        fs::set_permissions(&outbox, fs::Permissions::from_mode(0o755)).unwrap();
        OutboxMailer::new(outbox.clone()).unwrap();
        let mode = fs::metadata(&outbox).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn read_all_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "hi").unwrap();
        fs::write(
            dir.path().join(".01J0000000000000000000000.json.1-0.tmp"),
            "{",
        )
        .unwrap();
        assert!(OutboxMailer::read_all(dir.path()).unwrap().is_empty());
    }
}
