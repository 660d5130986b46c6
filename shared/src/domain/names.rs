use super::FieldError;

const MAX_NAME_CHARS: usize = 100;

/// A display name (a person's, a company's or an organization's): trimmed, not empty, at most
/// 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new(field, "must be at most 100 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_unicode() {
        assert_eq!(
            DisplayName::parse("name", "  Zoë Ågren ").unwrap().as_str(),
            "Zoë Ågren"
        );
    }

    #[test]
    fn rejects_blank_long_and_control_characters() {
        assert!(DisplayName::parse("name", "   ").is_err());
        assert!(DisplayName::parse("name", &"x".repeat(101)).is_err());
        assert!(DisplayName::parse("name", "a\u{0}b").is_err());
        assert!(DisplayName::parse("name", &"é".repeat(100)).is_ok());
    }
}
