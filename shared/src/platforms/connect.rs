//! From stored credentials to a live connector: the one place that knows which connector serves
//! which platform type.

use super::credentials::Credentials;
use super::databricks::Databricks;
use super::dataproc::Dataproc;
use super::emr::Emr;
use super::synapse::Synapse;
use super::{Platform, PlatformError};
use crate::domain::platform::PlatformKind;

/// Why no connector could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// This platform type has no connector in this build yet. Answered as a validation error
    /// rather than pretending the platform is connected.
    #[error("{0} connectors are not available yet")]
    NotAvailable(PlatformKind),
    /// The connector could not be set up (e.g. the AWS role could not be assumed).
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// A connector for `credentials`. `http` is the process's shared client, so connections are
/// reused across requests.
pub async fn connect(
    credentials: &Credentials,
    http: &reqwest::Client,
) -> Result<Box<dyn Platform>, ConnectError> {
    match credentials {
        Credentials::Databricks(databricks) => {
            Ok(Box::new(Databricks::new(databricks.clone(), http.clone())))
        }
        Credentials::Emr(emr) => Ok(Box::new(Emr::connect(emr).await?)),
        Credentials::Synapse(synapse) => Ok(Box::new(Synapse::new(synapse.clone(), http.clone()))),
        Credentials::Dataproc(dataproc) => {
            Ok(Box::new(Dataproc::new(dataproc.clone(), http.clone())?))
        }
    }
}
