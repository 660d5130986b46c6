//! The AWS adapters for secrets and mail, through the real SDK clients against moto's server.
//!
//! `scripts/test` starts moto and sets `DTAP_TEST_MOTO_URL`. Without it these tests fail rather
//! than pass silently, so a green run always means the adapters were exercised. Every test uses
//! its own names, so they can run in parallel against one server that is never reset.

mod support;

use std::sync::Arc;

use dtap_shared::mail::ses::SesMailer;
use dtap_shared::mail::{Mail, Mailer};
use dtap_shared::secrets::aws::SecretsManagerStore;
use dtap_shared::secrets::{ExposeSecret, SecretStore, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

async fn secrets_store() -> (SecretsManagerStore, aws_sdk_secretsmanager::Client, String) {
    let client = aws_sdk_secretsmanager::Client::new(&support::moto_config().await);
    let prefix = format!("{}/", support::unique_name("dtap-test"));
    (
        SecretsManagerStore::new(client.clone(), prefix.clone()),
        client,
        prefix,
    )
}

async fn value_of(store: &SecretsManagerStore, name: &str) -> Option<String> {
    store
        .get(name)
        .await
        .unwrap()
        .map(|v| v.expose_secret().to_owned())
}

#[tokio::test]
async fn secrets_manager_lifecycle() {
    let (store, client, prefix) = secrets_store().await;

    assert_eq!(value_of(&store, "jwt").await, None);

    store.put("jwt", &SecretString::from("v1")).await.unwrap();
    assert_eq!(value_of(&store, "jwt").await.as_deref(), Some("v1"));
    // The adapter's names are the prefixed Secrets Manager names.
    let raw = client
        .get_secret_value()
        .secret_id(format!("{prefix}jwt"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.secret_string(), Some("v1"));

    store.put("jwt", &SecretString::from("v2")).await.unwrap();
    assert_eq!(value_of(&store, "jwt").await.as_deref(), Some("v2"));

    store.delete("jwt").await.unwrap();
    assert_eq!(value_of(&store, "jwt").await, None);
    store.delete("jwt").await.unwrap();
    store.delete("never-existed").await.unwrap();

    // A force-deleted name can be used again (at once in moto; AWS may need a few seconds).
    store.put("jwt", &SecretString::from("v3")).await.unwrap();
    assert_eq!(value_of(&store, "jwt").await.as_deref(), Some("v3"));
    store.delete("jwt").await.unwrap();
}

#[tokio::test]
async fn concurrent_first_puts_all_succeed() {
    let (store, _, _) = secrets_store().await;
    let store = Arc::new(store);
    // Several writers finding the secret missing at once: all but one CreateSecret lose with
    // ResourceExistsException and must fall back to PutSecretValue.
    let values: Vec<String> = (0..6).map(|i| format!("value-{i}")).collect();
    let mut puts = JoinSet::new();
    for value in &values {
        let store = Arc::clone(&store);
        let value = SecretString::from(value.as_str());
        puts.spawn(async move { store.put("shared", &value).await });
    }
    while let Some(result) = puts.join_next().await {
        result.unwrap().unwrap();
    }
    let stored = value_of(&store, "shared").await.unwrap();
    assert!(values.contains(&stored), "{stored}");
    store.delete("shared").await.unwrap();
}

#[tokio::test]
async fn ses_sends_from_a_verified_identity() {
    let config = support::moto_config().await;
    let client = aws_sdk_sesv2::Client::new(&config);
    let from = format!("{}@example.com", support::unique_name("sender"));
    let to = format!("{}@example.com", support::unique_name("user"));
    let subject = support::unique_name("Reset your password");
    let mail = Mail {
        to: to.clone(),
        subject: subject.clone(),
        text: "Open http://127.0.0.1:3000/reset?token=abc".into(),
    };
    let mailer = SesMailer::new(client.clone(), from.clone());

    // SES (and moto) reject senders that are not verified identities.
    let err = mailer.send(&mail).await.unwrap_err().to_string();
    assert!(err.contains("MessageRejected"), "{err}");

    // moto marks a new identity verified at once; real SES waits for the emailed link.
    client
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();
    mailer.send(&mail).await.unwrap();

    let data = moto_model_data().await;
    let sent: Vec<&serde_json::Value> = data["ses"]["Message"]
        .as_array()
        .expect("moto's data.json lists SES messages under ses.Message")
        .iter()
        .filter(|m| m["subject"] == subject.as_str())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["source"], from.as_str());
    assert_eq!(sent[0]["destinations"]["ToAddresses"][0], to.as_str());
    assert_eq!(sent[0]["body"], mail.text.as_str());
}

/// moto's record of every model instance, which includes the mails SES "sent".
async fn moto_model_data() -> serde_json::Value {
    let url = support::moto_url();
    let authority = url
        .strip_prefix("http://")
        .expect("DTAP_TEST_MOTO_URL is a plain http:// URL");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "GET /moto-api/data.json HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}
