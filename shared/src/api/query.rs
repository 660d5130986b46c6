//! Query parameters, read by hand so that every bad value is the contract's 400 naming the
//! parameter (axum's `Query` rejection is plain text). Unknown parameters are ignored, like
//! unknown body fields.

use super::ApiError;

/// The value of `name`, if the query string carries it (the last one wins if repeated).
pub fn get(raw: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .last()
}

/// An integer parameter within `min..=max`, `default` when absent.
pub fn bounded(
    raw: Option<&str>,
    name: &str,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, ApiError> {
    match get(raw, name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::Validation(format!("{name}: must be an integer from {min} to {max}"))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_decoded_values_and_defaults() {
        assert_eq!(
            get(Some("a=1&period=2026-03"), "period").as_deref(),
            Some("2026-03")
        );
        assert_eq!(
            get(Some("period=2026%2D03"), "period").as_deref(),
            Some("2026-03")
        );
        assert_eq!(get(None, "period"), None);
        assert_eq!(bounded(None, "limit", 1, 200, 50).unwrap(), 50);
        assert_eq!(
            bounded(Some("limit=200"), "limit", 1, 200, 50).unwrap(),
            200
        );
    }

    #[test]
    fn out_of_range_and_non_numbers_name_the_parameter() {
        for raw in ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit="] {
            let err = bounded(Some(raw), "limit", 1, 200, 50).unwrap_err();
            assert_eq!(
                err.to_string(),
                "limit: must be an integer from 1 to 200",
                "{raw}"
            );
        }
    }
}
