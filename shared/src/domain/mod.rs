//! Pure types and rules, no I/O. A value of one of these types has already been validated:
//! parse at the edge, then pass typed values inward.

pub mod billing;
pub mod catalog;
pub mod cluster_cost;
pub mod cron;
pub mod email;
pub mod idle;
pub mod ids;
pub mod monitoring;
pub mod names;
pub mod notification;
pub mod password;
pub mod plan;
pub mod platform;
pub mod rate_limit;
pub mod role;
pub mod schedule;
pub mod slug;
pub mod sustainability;

/// A rule a value broke: the field it came from and the rule, as the contract's messages read
/// (`"password: must be at least 8 characters"`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct FieldError {
    pub field: String,
    pub rule: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }

    pub fn required(field: &str) -> Self {
        Self::new(field, "is required")
    }
}

/// Unwraps a field that the request must carry.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::required(field))
}
