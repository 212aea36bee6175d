//! The identity service alone: its native `/v1/` routes and STS/IAM in AWS Query form.

use clap::Parser;
use kumo_gateway::config::CommonArgs;

#[derive(Parser)]
#[command(name = "kumo-identity", about = "Kumo's identity service on its own")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kumo_gateway::server::run_standalone(
        "kumo-identity",
        &args.common,
        kumo_gateway::Mount::IdentityOnly,
    )
    .await
}
