//! What the tests that talk to moto share: its URL and SDK configuration for it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// moto's URL from `DTAP_TEST_MOTO_URL`; fails the test (never skips it) when unset.
pub fn moto_url() -> String {
    match std::env::var("DTAP_TEST_MOTO_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "DTAP_TEST_MOTO_URL is not set: run the tests with `scripts/test`, which starts moto's \
             server and sets it (or start `moto_server -p PORT` and set \
             DTAP_TEST_MOTO_URL=http://127.0.0.1:PORT)"
        ),
    }
}

pub async fn moto_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "dtap-tests"))
        .load()
        .await
}

/// A name no other test, process or run uses.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
