//! `kumo-storage-node`: the storage agent of one host.

use clap::Parser;
use kumo_storage_node::{run_args, NodeArgs};

#[derive(Parser)]
#[command(
    name = "kumo-storage-node",
    about = "Kumo's per-host storage agent: keeps chunks for the object-storage service"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run_args(cli.node).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kumo-storage-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
