use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use dtap_local::{DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use dtap_shared::AppState;
use dtap_shared::api::telemetry;
use dtap_shared::runtime::Mode;

/// Digital Tap on one machine: every endpoint on one port, data in an embedded database file.
/// Set DTAP_MODE=aws to use DynamoDB, Secrets Manager and SES instead (AWS_ENDPOINT_URL for an
/// emulator such as moto).
#[derive(Debug, Parser)]
#[command(name = "dtap-local", version)]
struct Flags {
    /// Address to listen on.
    #[arg(long, env = "DTAP_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory of the embedded store, the encrypted secrets file and the mail outbox.
    #[arg(long, env = "DTAP_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    telemetry::init(telemetry::Format::Pretty);
    let mode = Mode::from_env(flags.data_dir.clone(), false)?;
    let state = AppState::for_mode(&mode).await?;
    let listener = tokio::net::TcpListener::bind(flags.listen)
        .await
        .with_context(|| format!("cannot listen on {}", flags.listen))?;
    let address = listener.local_addr()?;
    match &mode {
        Mode::Local { data_dir } => println!(
            "Digital Tap listening on http://{address} (embedded store in {})",
            data_dir.display()
        ),
        Mode::Aws(aws) => println!(
            "Digital Tap listening on http://{address} (AWS mode, table {})",
            aws.table_name
        ),
    }
    dtap_local::serve(listener, state, dtap_local::shutdown_signal()).await?;
    println!("Digital Tap stopped");
    Ok(())
}
