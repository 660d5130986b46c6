use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use dtap_local::demo::Demo;
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
    /// Try the product without a cloud account: simulated Databricks, Dataproc and Synapse
    /// workspaces with a small fleet, connected to a new demo account, in a throwaway data dir.
    #[arg(long)]
    demo: bool,
    /// Seconds between monitoring ticks (each tick starts the scans that are due).
    #[arg(long, env = "DTAP_TICK_SECONDS", default_value_t = 60)]
    tick_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    telemetry::init(telemetry::Format::Pretty);
    // The demo's data dies with it: its platforms live in this process's memory only.
    let demo_dir = if flags.demo {
        Some(tempfile::tempdir().context("creating the demo's data dir")?)
    } else {
        None
    };
    let data_dir = demo_dir
        .as_ref()
        .map_or(flags.data_dir.clone(), |dir| dir.path().to_path_buf());
    let mode = Mode::from_env(data_dir, false)?;
    if flags.demo && !matches!(mode, Mode::Local { .. }) {
        anyhow::bail!("--demo runs in local mode only (unset DTAP_MODE)");
    }
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
    // Monitoring in-process: the same tick as the ticker Lambda, every minute.
    let _monitor = dtap_shared::monitor::local::spawn(
        state.clone(),
        std::time::Duration::from_secs(flags.tick_seconds.max(1)),
    );
    let server = tokio::spawn(dtap_local::serve(
        listener,
        state,
        dtap_local::shutdown_signal(),
    ));
    let _demo = if flags.demo {
        let demo = Demo::start().await;
        let account = demo.connect(&format!("http://{address}")).await?;
        println!(
            "Demo: simulated Databricks, Dataproc and Synapse platforms are connected to the \
             account {} (password {}). Log in with POST /v1/auth/login, then try GET /v1/clusters; \
             monitoring scans every minute (GET /v1/monitoring/status, PUT /v1/monitoring/config \
             {{\"auto_hibernate\": true}} to let it hibernate idle clusters).",
            account.email, account.password
        );
        Some(demo)
    } else {
        None
    };
    server.await.context("the server task")??;
    println!("Digital Tap stopped");
    Ok(())
}
