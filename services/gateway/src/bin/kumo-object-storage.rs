//! The object-storage service alone: bucket, object and storage-node routes and the S3 REST API.

use clap::Parser;
use kumo_gateway::config::{init_logging, start_control_plane, CommonArgs};

#[derive(Parser)]
#[command(
    name = "kumo-object-storage",
    about = "Kumo's object-storage service on its own"
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
    let app = kumo_gateway::object_storage_app(plane.services(), Default::default());
    let listener = tokio::net::TcpListener::bind(args.common.listen).await?;
    tracing::info!(endpoint = %format!("http://{}", listener.local_addr()?), "kumo-object-storage ready");
    kumo_gateway::server::serve(listener, app, kumo_gateway::server::shutdown_signal()).await?;
    plane.catalog.shutdown().await;
    Ok(())
}
