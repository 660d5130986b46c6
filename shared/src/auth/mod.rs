//! Credentials: password hashing, JWTs and API keys. Pure apart from the key loading at start.

pub mod api_keys;
pub mod passwords;
pub mod tokens;

pub use tokens::{Claims, TokenError, TokenKeys};
