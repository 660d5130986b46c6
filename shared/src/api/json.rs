//! A JSON body extractor whose every failure is the contract's error: 415 for a body that is not
//! declared JSON, 413 past the size limit, 400 `INVALID_JSON` for bad syntax, and 400
//! `VALIDATION_ERROR` naming the field for a value of the wrong type.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

fn declares_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body, naming the offending field in errors.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => deserializer
            .end()
            .map(|()| value)
            .map_err(|err| ApiError::InvalidJson(format!("request body is not valid JSON: {err}"))),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_data() {
                let field = if path == "." { "body".to_owned() } else { path };
                Err(ApiError::Validation(format!(
                    "{field}: {}",
                    describe(&inner)
                )))
            } else {
                Err(ApiError::InvalidJson(format!(
                    "request body is not valid JSON: {inner}"
                )))
            }
        }
    }
}

/// serde's message without its "at line 1 column 9" suffix, which means little to a client.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !declares_json(&request) {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidJson("request body could not be read".into())
                }
            })?;
        if bytes.is_empty() {
            return Err(ApiError::InvalidJson(
                "request body is empty; a JSON object is expected".into(),
            ));
        }
        parse_body(&bytes).map(ApiJson)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
        age: Option<u32>,
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse_body::<Body>(br#"{"name": 42}"#).unwrap_err();
        assert_eq!(err.code(), "VALIDATION_ERROR");
        assert!(err.to_string().starts_with("name: invalid type"), "{err}");
    }

    #[test]
    fn bad_syntax_is_invalid_json() {
        let err = parse_body::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.code(), "INVALID_JSON");
        let err = parse_body::<Body>(br#"{"name": "x"} trailing"#).unwrap_err();
        assert_eq!(err.code(), "INVALID_JSON");
    }

    #[test]
    fn a_non_object_body_is_a_validation_error() {
        let err = parse_body::<Body>(br#""just a string""#).unwrap_err();
        assert_eq!(err.code(), "VALIDATION_ERROR");
        assert!(err.to_string().starts_with("body:"), "{err}");
    }
}
