//! JWTs: HS256 only, signed with a key from the SecretStore, valid 3600 s. Expiry is checked
//! against our clock (not the library's), so it can be tested; `ver` ties a token to the user's
//! credential version, so a password change revokes every token issued before it.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;
use crate::secrets::SecretStore;

pub const TOKEN_TTL_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub ver: u64,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Reads the signing key, generating and storing a random 512-bit one on first start.
    pub async fn load_or_create(secrets: &dyn SecretStore, name: &str) -> anyhow::Result<Self> {
        if let Some(existing) = secrets.get(name).await? {
            return Ok(Self::from_secret(existing.expose_secret().as_bytes()));
        }
        let mut bytes = [0u8; 64];
        rand::rng().fill_bytes(&mut bytes);
        let generated = SecretString::from(STANDARD.encode(bytes));
        secrets
            .put(name, &generated)
            .await
            .context("storing a new JWT signing key")?;
        // Another process may have stored its own key at the same moment: use whatever won.
        let stored = secrets
            .get(name)
            .await?
            .context("the JWT signing key vanished right after it was stored")?;
        Ok(Self::from_secret(stored.expose_secret().as_bytes()))
    }

    pub fn issue(&self, user: &UserId, version: u64, now: DateTime<Utc>) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user.as_str().to_owned(),
            ver: version,
            iat: now.timestamp(),
            exp: now.timestamp() + TOKEN_TTL_SECONDS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("signing a JWT")
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "iat", "sub"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::Duration;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"a test key that is long enough for hs256")
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let now = Utc::now();
        let user = UserId::generate();
        let token = keys().issue(&user, 3, now).unwrap();
        let claims = keys()
            .verify(&token, now + Duration::seconds(3599))
            .unwrap();
        assert_eq!(claims.sub, user.as_str());
        assert_eq!(claims.ver, 3);
        assert_eq!(
            keys().verify(&token, now + Duration::seconds(3600)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_signed_with_another_key_are_invalid() {
        let now = Utc::now();
        let token = TokenKeys::from_secret(b"another key entirely, also long")
            .issue(&UserId::generate(), 0, now)
            .unwrap();
        assert_eq!(keys().verify(&token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_tampered_tokens_are_invalid() {
        let now = Utc::now();
        let token = keys().issue(&UserId::generate(), 0, now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(keys().verify(&unsigned, now), Err(TokenError::Invalid));

        let forged_claims = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(
                &serde_json::json!({"sub": "usr_x", "ver": 0, "iat": 0, "exp": i64::MAX}),
            )
            .unwrap(),
        );
        let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(keys().verify(&tampered, now), Err(TokenError::Invalid));
    }
}
