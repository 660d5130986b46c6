//! Everything the Digital Tap functions share: the HTTP edge, the pure domain, and the adapters
//! (store, secrets, mail, clock) behind small traits so that AWS and local mode run the same code.

pub mod api;
pub mod auth;
pub mod clock;
pub mod domain;
pub mod insights;
pub mod mail;
pub mod monitor;
pub mod notify;
pub mod operations;
pub mod platforms;
pub mod ratelimit;
pub mod runtime;
pub mod schedules;
pub mod secrets;
pub mod store;

pub use runtime::AppState;
