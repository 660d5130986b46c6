//! The contract's success envelope: `{"success": true, "data": …, "meta": {request_id, timestamp}}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::request_id;

pub fn meta() -> serde_json::Value {
    json!({
        "request_id": request_id::current().map(|id| id.as_str().to_owned()).unwrap_or_default(),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// `200 OK` with `data` in the envelope.
#[derive(Debug)]
pub struct Envelope<T>(pub T);

/// `201 Created` with `data` in the envelope.
#[derive(Debug)]
pub struct Created<T>(pub T);

fn enveloped<T: Serialize>(status: StatusCode, data: T) -> Response {
    let body = json!({ "success": true, "data": data, "meta": meta() });
    (status, Json(body)).into_response()
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        enveloped(StatusCode::OK, self.0)
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        enveloped(StatusCode::CREATED, self.0)
    }
}

/// A message-only answer (`{"message": …}`), as several documented endpoints return.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(text: impl Into<String>) -> Envelope<Self> {
        Envelope(Self {
            message: text.into(),
        })
    }
}
