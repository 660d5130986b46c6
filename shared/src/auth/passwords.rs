//! argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1: OWASP's recommended minimum).
//! Hashing is deliberately slow, so it runs on the blocking pool, off the async workers.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::domain::password::Password;

pub async fn hash(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("hashing a password failed: {err}"))
    })
    .await
    .context("password hashing task")?
}

/// A hash of a password nobody has, verified when the email is unknown so that an unknown email
/// and a wrong password take the same time.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1y4rJ1bF0Rk3b0Oa7rZ0dG0rHqV4mBEm0w0v8f7KkpY";

/// Whether `candidate` matches `stored`; with no stored hash, burns the same time and says no.
pub async fn verify(candidate: String, stored: Option<String>) -> bool {
    let outcome = tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (DECOY_HASH, false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        real && matches
    })
    .await;
    outcome.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let password = Password::parse("password", "securepass123".into()).unwrap();
        let stored = hash(password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("securepass123"));
        assert!(verify("securepass123".into(), Some(stored.clone())).await);
        assert!(!verify("securepass124".into(), Some(stored)).await);
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify("anything at all".into(), None).await);
    }
}
