//! `kumo`: run the whole cloud on one host (`kumo up`), print the OpenAPI document
//! (`kumo openapi`), and measure it (`kumo bench`).

mod bench;
mod profile;
mod up;

use clap::{Parser, Subcommand};
use kumo_gateway::config::CommonArgs;

#[derive(Parser)]
#[command(
    name = "kumo",
    version,
    about = "Kumo: a self-hosted, AWS-compatible cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole cloud on this host and run until Ctrl-C.
    Up {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print the native API's OpenAPI document (JSON).
    Openapi,
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Up { common } => {
            kumo_gateway::config::init_logging();
            runtime.block_on(up::run(common))
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&kumo_gateway::openapi())?
            );
            Ok(())
        }
        Command::Bench { which } => runtime.block_on(bench::run(which)),
    }
}
