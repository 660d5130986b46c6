//! AWS mode's secret store: one Secrets Manager secret per name, under the deployment's prefix.
//!
//! Error messages carry the SDK's error chain ([`DisplayErrorContext`]) and the secret's id, never
//! its value: the SDK's errors describe the response, not the request, and nothing here formats
//! the value.

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};

use super::SecretStore;

pub struct SecretsManagerStore {
    client: Client,
    prefix: String,
}

impl SecretsManagerStore {
    /// `prefix` is prepended to every name (e.g. `dtap/`), so that one account can hold several
    /// deployments and IAM policies can be scoped to `secret:dtap/*`.
    pub fn new(client: Client, prefix: String) -> Self {
        Self { client, prefix }
    }

    fn secret_id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn put_value(&self, id: &str, value: &SecretString) -> Result<(), PutError> {
        self.client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value.expose_secret())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    PutError::NotFound
                } else {
                    PutError::Other(failure("writing", id, &err))
                }
            })
    }
}

enum PutError {
    NotFound,
    Other(anyhow::Error),
}

fn failure<E, R>(action: &str, id: &str, err: &SdkError<E, R>) -> anyhow::Error
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    anyhow!(
        "{action} secret {id} in Secrets Manager failed: {}",
        DisplayErrorContext(err)
    )
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> anyhow::Result<Option<SecretString>> {
        let id = self.secret_id(name);
        let output = match self.client.get_secret_value().secret_id(&id).send().await {
            Ok(output) => output,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(failure("reading", &id, &err)),
        };
        if let Some(text) = output.secret_string {
            return Ok(Some(SecretString::from(text)));
        }
        // Secrets written outside this code may be binary; they are still usable if they are text.
        match output.secret_binary {
            Some(blob) => match String::from_utf8(blob.into_inner()) {
                Ok(text) => Ok(Some(SecretString::from(text))),
                Err(_) => bail!("secret {id} holds binary data that is not UTF-8 text"),
            },
            None => bail!("secret {id} has no value"),
        }
    }

    async fn put(&self, name: &str, value: &SecretString) -> anyhow::Result<()> {
        let id = self.secret_id(name);
        match self.put_value(&id, value).await {
            Ok(()) => return Ok(()),
            Err(PutError::NotFound) => {}
            Err(PutError::Other(err)) => return Err(err),
        }
        let created = self
            .client
            .create_secret()
            .name(&id)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => {
                tracing::info!(secret = %id, "created secret");
                Ok(())
            }
            // Another process created it between our two calls; writing again keeps "put
            // replaces the value" true for this caller.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                match self.put_value(&id, value).await {
                    Ok(()) => Ok(()),
                    Err(PutError::NotFound) => {
                        bail!(
                            "secret {id} was created and deleted by someone else while writing it"
                        )
                    }
                    Err(PutError::Other(err)) => Err(err),
                }
            }
            Err(err) => Err(failure("creating", &id, &err)),
        }
    }

    async fn delete(&self, name: &str) -> anyhow::Result<()> {
        let id = self.secret_id(name);
        let deleted = self
            .client
            .delete_secret()
            .secret_id(&id)
            // Without this the name stays reserved for the recovery window and a later put of the
            // same name fails.
            .force_delete_without_recovery(true)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(failure("deleting", &id, &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::retry::RetryConfig;
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};

    /// A client whose endpoint refuses connections, so every call fails before any response.
    fn unreachable_client() -> Client {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "unit-test"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    #[test]
    fn names_get_the_prefix() {
        let store = SecretsManagerStore::new(unreachable_client(), "dtap/".into());
        assert_eq!(store.secret_id("jwt-signing-key"), "dtap/jwt-signing-key");
    }

    #[tokio::test]
    async fn errors_name_the_secret_but_not_its_value() {
        let store = SecretsManagerStore::new(unreachable_client(), "dtap/".into());
        let err = store
            .put("jwt", &SecretString::from("the-secret-value"))
            .await
            .unwrap_err();
        let text = format!("{err:#} {err:?}");
        assert!(text.contains("dtap/jwt"), "{text}");
        assert!(text.contains("dispatch failure"), "{text}");
        assert!(!text.contains("the-secret-value"), "{text}");

        let err = store.get("jwt").await.unwrap_err();
        assert!(err.to_string().contains("reading secret dtap/jwt"), "{err}");
    }
}
