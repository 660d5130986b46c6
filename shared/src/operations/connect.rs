use crate::AppState;
use crate::platforms::connect::{ConnectError, connect};
use crate::platforms::credentials::Credentials;
use crate::platforms::databricks::Databricks;
use crate::platforms::{Platform, parse};
use crate::store::repos::platforms::PlatformRecord;

/// The stored credentials of a platform. The error is a message fit for a client.
async fn credentials_of(state: &AppState, record: &PlatformRecord) -> Result<Credentials, String> {
    let secret = state
        .secrets
        .get(&record.secret_name())
        .await
        .map_err(|err| {
            tracing::error!(platform_id = %record.id, error = format!("{err:#}"), "reading platform credentials");
            "the stored credentials could not be read".to_owned()
        })?
        .ok_or_else(|| "the platform has no stored credentials".to_owned())?;
    parse::from_secret(&secret).map_err(|err| err.to_string())
}

/// A connector for one of the org's platforms, with its stored credentials. The error is a
/// message fit for a client: it never carries the credentials.
pub async fn connect_record(
    state: &AppState,
    record: &PlatformRecord,
) -> Result<Box<dyn Platform>, String> {
    let credentials = credentials_of(state, record).await?;
    connect(&credentials, &state.http)
        .await
        .map_err(|err| match err {
            ConnectError::NotAvailable(kind) => format!("{kind} connectors are not available yet"),
            ConnectError::Platform(err) => err.to_string(),
        })
}

/// The Databricks connector itself, for what only Databricks has (instance pools, cluster
/// edits); `Ok(None)` for a platform of another type.
pub async fn connect_databricks(
    state: &AppState,
    record: &PlatformRecord,
) -> Result<Option<Databricks>, String> {
    match credentials_of(state, record).await? {
        Credentials::Databricks(credentials) => {
            Ok(Some(Databricks::new(credentials, state.http.clone())))
        }
        _ => Ok(None),
    }
}
