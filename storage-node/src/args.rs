//! Command-line arguments, shared by the `kumo-storage-node` binary and (flattened) a
//! `kumo storage-node` subcommand.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use kumo_agent_kit::ControlPlaneArgs;

use crate::agent::{hostname, run, NodeConfig};
use crate::block::parse_port_range;
use crate::error::{Result, StorageNodeError};

#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub control_plane: ControlPlaneArgs,
    /// Where chunks and the node credential are kept.
    #[arg(
        long,
        env = "KUMO_STORAGE_DATA_DIR",
        default_value = "/var/lib/kumo/storage-node"
    )]
    pub data_dir: PathBuf,
    /// Address the chunk API listens on (port 0: any free port).
    #[arg(long, env = "KUMO_STORAGE_LISTEN", default_value = "127.0.0.1:8790")]
    pub listen: SocketAddr,
    /// Base URL other hosts reach the chunk API at (default: http://<listen address>).
    #[arg(long, env = "KUMO_STORAGE_ADVERTISE")]
    pub advertise: Option<String>,
    /// Node name in the cloud (default: the machine's hostname).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "us-east-1a")]
    pub zone: String,
    /// Report this capacity instead of the size of the data directory's filesystem.
    #[arg(long)]
    pub capacity_bytes: Option<u64>,
    /// Seconds between heartbeats, until the control plane asks for another interval.
    #[arg(long, default_value_t = 5)]
    pub heartbeat_seconds: u64,
    /// TCP ports for the block role's NBD exports, `FIRST-LAST` (one port per volume
    /// replica, kept across restarts), on the node's address.
    #[arg(long, env = "KUMO_STORAGE_NBD_PORTS", default_value = "10809-10999", value_parser = parse_port_range)]
    pub nbd_ports: RangeInclusive<u16>,
}

impl NodeArgs {
    pub fn into_config(self) -> Result<NodeConfig> {
        if self.heartbeat_seconds == 0 {
            return Err(StorageNodeError::Config(
                "--heartbeat-seconds must be at least 1".into(),
            ));
        }
        Ok(NodeConfig {
            data_dir: self.data_dir,
            listen: self.listen,
            advertise: self.advertise,
            control_plane: self.control_plane.control_plane,
            join_token: self.control_plane.join_token,
            name: self.name.unwrap_or_else(hostname),
            zone: self.zone,
            capacity_bytes: self.capacity_bytes,
            heartbeat_interval: Duration::from_secs(self.heartbeat_seconds),
            nbd_ports: self.nbd_ports,
            block_poll_interval: Duration::from_secs(1),
        })
    }
}

/// Run a storage node from command-line arguments until SIGTERM or SIGINT. Logging is
/// the caller's to set up.
pub async fn run_args(args: NodeArgs) -> Result<()> {
    run(args.into_config()?).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn defaults_and_flags() {
        let cli = Cli::try_parse_from([
            "kumo-storage-node",
            "--data-dir",
            "/tmp/x",
            "--listen",
            "0.0.0.0:0",
            "--zone",
            "z1",
            "--capacity-bytes",
            "1000",
            "--advertise",
            "http://10.0.0.5:8790",
        ])
        .unwrap();
        let config = cli.node.into_config().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.zone, "z1");
        assert_eq!(config.capacity_bytes, Some(1000));
        assert_eq!(config.advertise.as_deref(), Some("http://10.0.0.5:8790"));
        assert!(!config.name.is_empty());
        assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(config.nbd_ports, 10809..=10999);
    }

    #[test]
    fn nbd_port_ranges() {
        let parse = |range: &str| {
            Cli::try_parse_from(["kumo-storage-node", "--nbd-ports", range])
                .map(|cli| cli.node.nbd_ports)
        };
        assert_eq!(parse("20000-20009").unwrap(), 20000..=20009);
        assert_eq!(parse("20000").unwrap(), 20000..=20000);
        for bad in ["20009-20000", "0-10", "a-b", "10-70000", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
