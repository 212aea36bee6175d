//! The object-storage service alone: bucket, object and storage-node routes and the S3 REST API.

use clap::Parser;
use kumo_gateway::config::CommonArgs;

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
    let args = Args::parse();
    kumo_gateway::server::run_standalone(
        "kumo-object-storage",
        &args.common,
        kumo_gateway::Mount::ObjectStorageOnly,
    )
    .await
}
