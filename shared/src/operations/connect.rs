use crate::AppState;
use crate::platforms::connect::{ConnectError, connect};
use crate::platforms::{Platform, parse};
use crate::store::repos::platforms::PlatformRecord;

/// A connector for one of the org's platforms, with its stored credentials. The error is a
/// message fit for a client: it never carries the credentials.
pub async fn connect_record(
    state: &AppState,
    record: &PlatformRecord,
) -> Result<Box<dyn Platform>, String> {
    let secret = state
        .secrets
        .get(&record.secret_name())
        .await
        .map_err(|err| {
            tracing::error!(platform_id = %record.id, error = format!("{err:#}"), "reading platform credentials");
            "the stored credentials could not be read".to_owned()
        })?
        .ok_or_else(|| "the platform has no stored credentials".to_owned())?;
    let credentials = parse::from_secret(&secret).map_err(|err| err.to_string())?;
    connect(&credentials, &state.http)
        .await
        .map_err(|err| match err {
            ConnectError::NotAvailable(kind) => format!("{kind} connectors are not available yet"),
            ConnectError::Platform(err) => err.to_string(),
        })
}
