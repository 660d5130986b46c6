//! Local mode's secret store: every secret in one file, `secrets.enc`, sealed with AES-256-GCM
//! under a random key kept next to it in `secrets.key` (mode 0600).
//!
//! The key file only protects against copies of the data dir that leave the key behind (backups,
//! bug reports); anyone who can read both files as the service's user can read the secrets, which
//! is the same trust the process itself needs. Unix only: the protection relies on file modes.
//!
//! File format: `DTAPSEC1` (magic and version, also the AEAD associated data) || 96-bit nonce ||
//! ciphertext and tag of the JSON object `{name: value}`.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use super::SecretStore;

const KEY_FILE: &str = "secrets.key";
const SECRETS_FILE: &str = "secrets.enc";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER: &[u8; 8] = b"DTAPSEC1";

/// Secrets in an encrypted file under the data dir; see the module docs.
pub struct LocalSecretFile {
    inner: Arc<Inner>,
}

struct Inner {
    cipher: Aes256Gcm,
    key_path: PathBuf,
    secrets_path: PathBuf,
    /// Serialises read-modify-write cycles within this process; the `flock` taken on the key file
    /// in `update` does the same across processes sharing the data dir.
    write_lock: Mutex<()>,
}

type SecretMap = BTreeMap<String, SecretString>;

impl LocalSecretFile {
    /// Opens the store in `data_dir`, creating the key on first start.
    ///
    /// Fails when the key file is readable by group or others, has the wrong length, is missing
    /// while `secrets.enc` exists, or does not decrypt `secrets.enc`: all of these need a person to
    /// look, and starting anyway would either expose the key or lose the secrets.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let key_path = data_dir.join(KEY_FILE);
        let secrets_path = data_dir.join(SECRETS_FILE);

        let key = match read_key(&key_path)? {
            Some(key) => key,
            None => {
                if secrets_path.exists() {
                    bail!(
                        "{} exists but its key {} is missing; restore the key file, or delete {} \
                         to start over without the stored secrets",
                        secrets_path.display(),
                        key_path.display(),
                        secrets_path.display()
                    );
                }
                create_key(&key_path)?
            }
        };
        let cipher = Aes256Gcm::new_from_slice(&key[..])
            .map_err(|_| anyhow!("the secrets key must be {KEY_LEN} bytes"))?;

        let inner = Inner {
            cipher,
            key_path,
            secrets_path,
            write_lock: Mutex::new(()),
        };
        // Decrypt once now so a wrong key or a damaged file stops the process at start rather
        // than at the first request that needs a secret.
        inner.load()?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .context("secrets file task failed")?
    }
}

#[async_trait]
impl SecretStore for LocalSecretFile {
    async fn get(&self, name: &str) -> anyhow::Result<Option<SecretString>> {
        let name = name.to_owned();
        self.blocking(move |inner| Ok(inner.load()?.remove(&name)))
            .await
    }

    async fn put(&self, name: &str, value: &SecretString) -> anyhow::Result<()> {
        let name = name.to_owned();
        let value = value.clone();
        self.blocking(move |inner| {
            inner.update(|map| {
                map.insert(name, value);
                true
            })
        })
        .await
    }

    async fn delete(&self, name: &str) -> anyhow::Result<()> {
        let name = name.to_owned();
        self.blocking(move |inner| inner.update(|map| map.remove(&name).is_some()))
            .await
    }
}

impl Inner {
    fn load(&self) -> anyhow::Result<SecretMap> {
        let sealed = match fs::read(&self.secrets_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SecretMap::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", self.secrets_path.display()));
            }
        };
        let path = self.secrets_path.display();
        if sealed.len() < HEADER.len() + NONCE_LEN + TAG_LEN || !sealed.starts_with(HEADER) {
            bail!("{path} is not a Digital Tap secrets file (bad header or truncated)");
        }
        let (nonce, ciphertext) = sealed[HEADER.len()..].split_at(NONCE_LEN);
        let plaintext = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: HEADER,
                    },
                )
                .map_err(|_| {
                    anyhow!(
                        "cannot decrypt {path}: it was modified or damaged, or {} is not the key \
                         it was written with",
                        self.key_path.display()
                    )
                })?,
        );
        // Only the position goes into the message: serde's own text can quote parts of the input.
        serde_json::from_slice(&plaintext).map_err(|e| {
            anyhow!(
                "decrypted {path} is not a JSON object of strings (line {}, column {})",
                e.line(),
                e.column()
            )
        })
    }

    fn seal(&self, map: &SecretMap) -> anyhow::Result<Vec<u8>> {
        let exposed: BTreeMap<&str, &str> = map
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose_secret()))
            .collect();
        let plaintext = Zeroizing::new(serde_json::to_vec(&exposed).context("encoding secrets")?);
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .context("reading random bytes for a nonce")?;
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: HEADER,
                },
            )
            .map_err(|_| anyhow!("encrypting secrets failed"))?;
        let mut sealed = Vec::with_capacity(HEADER.len() + NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(HEADER);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Runs `change` on the current secrets and writes them back when it reports a change.
    fn update(&self, change: impl FnOnce(&mut SecretMap) -> bool) -> anyhow::Result<()> {
        // The guarded data is on disk, so a panic in another writer leaves nothing to distrust.
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lock = File::open(&self.key_path)
            .with_context(|| format!("opening {} to lock it", self.key_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", self.key_path.display()))?;

        let mut map = self.load()?;
        if change(&mut map) {
            let sealed = self.seal(&map)?;
            write_private_file(&self.secrets_path, &sealed)
                .with_context(|| format!("writing {}", self.secrets_path.display()))?;
        }
        Ok(())
    }
}

/// The existing key, or `None` when there is no key file yet.
fn read_key(path: &Path) -> anyhow::Result<Option<Zeroizing<[u8; KEY_LEN]>>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    // Checked on the open handle so the file cannot be swapped between the check and the read.
    let meta = file
        .metadata()
        .with_context(|| format!("reading the metadata of {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable or writable by group or others (mode {mode:o}); \
             run `chmod 600 {}` and start again",
            path.display(),
            path.display()
        );
    }
    if meta.len() != KEY_LEN as u64 {
        bail!(
            "{} is {} bytes long, a secrets key is {KEY_LEN}; restore the right key file",
            path.display(),
            meta.len()
        );
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    file.read_exact(&mut key[..])
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(key))
}

/// Creates the key file without ever exposing a partial or world-readable key: the key is written
/// to a 0600 temp file and hard-linked into place, which fails instead of overwriting when another
/// process created the key first (then that key is used).
fn create_key(path: &Path) -> anyhow::Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng
        .try_fill_bytes(&mut key[..])
        .context("reading random bytes for the secrets key")?;
    let tmp = temp_path(path)?;
    let linked = write_new_private_file(&tmp, &key[..]).and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_parent(path).with_context(|| format!("syncing the dir of {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new secrets key");
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            read_key(path)?.with_context(|| format!("{} vanished while starting", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Replaces `path` with `bytes` atomically (temp file in the same dir, fsync, rename, fsync of the
/// dir), so readers and crashes see either the old or the new content. The file is 0600 from its
/// creation. Also used by the mail outbox.
pub(crate) fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let result = write_new_private_file(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_parent(path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_new_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A hidden name next to `path`, unique across processes and threads.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    Ok(path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value)
    }

    async fn value_of(store: &LocalSecretFile, name: &str) -> Option<String> {
        store
            .get(name)
            .await
            .unwrap()
            .map(|v| v.expose_secret().to_owned())
    }

    #[tokio::test]
    async fn round_trip_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        assert_eq!(value_of(&store, "jwt").await, None);
        store.put("jwt", &secret("first")).await.unwrap();
        store
            .put("platform/databricks", &secret("dapi-123"))
            .await
            .unwrap();
        store.put("jwt", &secret("second")).await.unwrap();
        drop(store);

        let store = LocalSecretFile::open(dir.path()).unwrap();
        assert_eq!(value_of(&store, "jwt").await.as_deref(), Some("second"));
        assert_eq!(
            value_of(&store, "platform/databricks").await.as_deref(),
            Some("dapi-123")
        );
        assert_eq!(value_of(&store, "missing").await, None);
    }

    #[tokio::test]
    async fn delete_removes_and_missing_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store.delete("never-written").await.unwrap();
        store.put("a", &secret("1")).await.unwrap();
        store.put("b", &secret("2")).await.unwrap();
        store.delete("a").await.unwrap();
        store.delete("a").await.unwrap();
        assert_eq!(value_of(&store, "a").await, None);
        assert_eq!(value_of(&store, "b").await.as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn key_and_secrets_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        let key = fs::metadata(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        assert_eq!(key.len(), KEY_LEN as u64);

        store.put("a", &secret("1")).await.unwrap();
        let sealed = fs::metadata(dir.path().join(SECRETS_FILE)).unwrap();
        assert_eq!(sealed.permissions().mode() & 0o777, 0o600);
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[tokio::test]
    async fn secrets_file_does_not_contain_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store
            .put("smtp-password", &secret("hunter2-correct-horse"))
            .await
            .unwrap();
        let sealed = fs::read(dir.path().join(SECRETS_FILE)).unwrap();
        let contains = |needle: &[u8]| sealed.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(b"hunter2"));
        assert!(!contains(b"smtp-password"));
        assert!(sealed.starts_with(HEADER));
    }

    #[tokio::test]
    async fn every_write_uses_a_fresh_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store.put("a", &secret("same")).await.unwrap();
        let first = fs::read(dir.path().join(SECRETS_FILE)).unwrap();
        store.put("a", &secret("same")).await.unwrap();
        let second = fs::read(dir.path().join(SECRETS_FILE)).unwrap();
        let nonce = HEADER.len()..HEADER.len() + NONCE_LEN;
        assert_ne!(first[nonce.clone()], second[nonce]);
    }

    #[tokio::test]
    async fn tampering_is_detected_without_leaking_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store.put("api", &secret("plaintext-value")).await.unwrap();

        let path = dir.path().join(SECRETS_FILE);
        let mut sealed = fs::read(&path).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 0x01;
        fs::write(&path, &sealed).unwrap();

        let err = store.get("api").await.unwrap_err().to_string();
        assert!(err.contains("cannot decrypt"), "{err}");
        assert!(!err.contains("plaintext-value"), "{err}");
        let err = LocalSecretFile::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("cannot decrypt"), "{err}");

        fs::write(&path, &sealed[..10]).unwrap();
        let err = store.get("api").await.unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[tokio::test]
    async fn a_different_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store.put("api", &secret("value")).await.unwrap();
        drop(store);

        let key_path = dir.path().join(KEY_FILE);
        fs::remove_file(&key_path).unwrap();
        write_new_private_file(&key_path, &[7u8; KEY_LEN]).unwrap();
        let err = LocalSecretFile::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not the key"), "{err}");
    }

    #[test]
    fn refuses_a_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        LocalSecretFile::open(dir.path()).unwrap();
        let key_path = dir.path().join(KEY_FILE);
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = LocalSecretFile::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_a_key_of_the_wrong_length() {
        let dir = tempfile::tempdir().unwrap();
        write_new_private_file(&dir.path().join(KEY_FILE), &[1u8; 16]).unwrap();
        let err = LocalSecretFile::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("16 bytes long"), "{err}");
    }

    #[tokio::test]
    async fn refuses_to_replace_a_lost_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretFile::open(dir.path()).unwrap();
        store.put("api", &secret("value")).await.unwrap();
        drop(store);
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let err = LocalSecretFile::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is missing"), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[tokio::test]
    async fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalSecretFile::open(dir.path()).unwrap());
        let writers = (0..16).map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put(&format!("s{i}"), &secret(&i.to_string()))
                    .await
                    .unwrap()
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        for i in 0..16 {
            assert_eq!(
                value_of(&store, &format!("s{i}")).await,
                Some(i.to_string())
            );
        }
    }
}
