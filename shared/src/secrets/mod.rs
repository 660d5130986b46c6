//! Where credentials live: AWS Secrets Manager in AWS mode ([`aws::SecretsManagerStore`]), a local
//! file encrypted with AES-256-GCM in local mode ([`local::LocalSecretFile`]). Values are
//! [`SecretString`]s so they cannot be printed by accident.

pub mod aws;
pub mod local;

use async_trait::async_trait;
pub use secrecy::{ExposeSecret, SecretString};

#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The secret's current value, or `None` when there is no such secret.
    async fn get(&self, name: &str) -> anyhow::Result<Option<SecretString>>;
    /// Creates the secret, or replaces its value.
    async fn put(&self, name: &str, value: &SecretString) -> anyhow::Result<()>;
    /// Removes the secret; removing a missing secret is not an error.
    async fn delete(&self, name: &str) -> anyhow::Result<()>;
}
