use secrecy::{ExposeSecret, SecretString};

use super::FieldError;

pub const MIN_CHARS: usize = 8;
/// Hashing cost grows with length; a cap keeps one request from burning a core.
pub const MAX_BYTES: usize = 1024;

/// A password that meets the policy. It is only ever exposed to the hasher.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(field: &str, raw: String) -> Result<Self, FieldError> {
        if raw.chars().count() < MIN_CHARS {
            return Err(FieldError::new(field, "must be at least 8 characters"));
        }
        if raw.len() > MAX_BYTES {
            return Err(FieldError::new(field, "must be at most 1024 bytes"));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_bounds() {
        let err = Password::parse("password", "short".into()).unwrap_err();
        assert_eq!(err.to_string(), "password: must be at least 8 characters");
        assert!(Password::parse("password", "exactly8".into()).is_ok());
        assert!(Password::parse("password", "x".repeat(1025)).is_err());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("password", "securepass123".into()).unwrap();
        assert!(!format!("{password:?}").contains("securepass123"));
    }
}
