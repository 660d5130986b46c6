//! One place that sets up logs: JSON lines on Lambda (CloudWatch), readable lines locally.
//! Secrets are typed (`SecretString`) and never passed to a log macro.

use tracing_subscriber::EnvFilter;

pub enum Format {
    Json,
    Pretty,
}

pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match format {
        Format::Json => builder.json().with_current_span(true).try_init(),
        Format::Pretty => builder.try_init(),
    };
    // A subscriber may already be installed (tests); that one keeps working.
    drop(result);
}
