//! Long-lived API keys: `dtap_live_` + 40 random alphanumerics (≈238 bits). Only the SHA-256 of a
//! key is stored; a fast hash is right here because the key is random, not a human password.

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "dtap_live_";
const RANDOM_CHARS: usize = 40;
/// How much of a key is shown in listings so a user can tell keys apart.
const DISPLAY_CHARS: usize = PREFIX.len() + 6;

/// A freshly generated key: shown to its owner once, then only its hash is kept.
pub struct NewApiKey {
    pub secret: SecretString,
    pub hash: String,
    pub display_prefix: String,
}

pub fn generate() -> NewApiKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_CHARS)
        .map(char::from)
        .collect();
    let key = format!("{PREFIX}{random}");
    NewApiKey {
        hash: fingerprint(&key),
        display_prefix: key[..DISPLAY_CHARS].to_owned(),
        secret: SecretString::from(key),
    }
}

/// The stored form of a key (hex SHA-256), also how a presented key is looked up.
pub fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a presented string could be one of our keys (cheap check before a lookup).
pub fn looks_valid(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_CHARS && rest.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// An opaque single-use token (password reset, invites): 32 random alphanumerics.
pub fn random_token() -> SecretString {
    let token: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect();
    SecretString::from(token)
}

pub fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate();
        let text = key.secret.expose_secret();
        assert!(text.starts_with("dtap_live_"));
        assert!(looks_valid(text));
        assert_eq!(key.hash, fingerprint(text));
        assert!(text.starts_with(&key.display_prefix));
        assert_ne!(text, generate().secret.expose_secret());
    }

    #[test]
    fn malformed_keys_are_rejected_before_lookup() {
        assert!(!looks_valid("dtap_live_short"));
        assert!(!looks_valid("Bearer something"));
        assert!(!looks_valid(&format!("dtap_test_{}", "a".repeat(40))));
    }
}
