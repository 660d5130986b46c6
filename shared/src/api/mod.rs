//! The HTTP edge: everything between a request and a handler's typed input, and between a
//! handler's result and the contract's envelope.

pub mod auth;
pub mod edge;
pub mod envelope;
pub mod error;
pub mod json;
pub mod lambda;
pub mod openapi;
pub mod query;
pub mod rate_limit;
pub mod request_id;
pub mod telemetry;

pub use auth::{MinRole, Principal};
pub use envelope::{Created, Envelope};
pub use error::{ApiError, ApiResult};
pub use json::ApiJson;
