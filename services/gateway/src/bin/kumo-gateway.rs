//! The public endpoint with every service mounted, for a multi-process deployment.

use clap::Parser;
use kumo_gateway::config::{init_logging, start_control_plane, CommonArgs};

#[derive(Parser)]
#[command(
    name = "kumo-gateway",
    about = "Kumo's public endpoint: native API, AWS Query, S3"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let args = Args::parse();
    let plane = start_control_plane(&args.common).await?;
    let app = kumo_gateway::app(plane.services(), Default::default());
    let listener = tokio::net::TcpListener::bind(args.common.listen).await?;
    tracing::info!(endpoint = %format!("http://{}", listener.local_addr()?), "kumo-gateway ready");
    kumo_gateway::server::serve(listener, app, kumo_gateway::server::shutdown_signal()).await?;
    plane.catalog.shutdown().await;
    Ok(())
}
