//! Wiring: typed configuration read once at start, the adapters it selects, and the state every
//! handler receives. AWS mode and local mode differ only here.

mod config;
mod state;

pub use config::{AwsSettings, Mode, Settings};
pub use state::{Adapters, AppState};
