//! The whole `main` of a Lambda function: clients built once at cold start, then the router on
//! lambda_http.

use super::edge::{Routes, app};
use super::telemetry;
use crate::AppState;
use crate::runtime::Mode;

pub async fn run(routes: Routes) -> Result<(), lambda_http::Error> {
    telemetry::init(telemetry::Format::Json);
    let mode = Mode::from_env(std::env::temp_dir().join("dtap"), true)?;
    let state = AppState::for_mode(&mode).await?;
    lambda_http::run(app(routes, state)).await
}
