//! Configuration shared by `kumo up` and the standalone binaries: flags with environment
//! fallbacks, and the start-up sequence (catalog, master key, bootstrap, the service
//! handles). Nothing here starts a service's loops: [`crate::start`] starts those of the
//! services a process mounts.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use kumo_block_storage::{BlockStorage, BlockStorageConfig};
use kumo_catalog::Catalog;
use kumo_compute::{Compute, ComputeConfig};
use kumo_identity::bootstrap::{self, OperatorCredentials};
use kumo_identity::{Identity, IdentityConfig, MasterKey};
use kumo_network::{Network, NetworkConfig};
use kumo_object_storage::{ObjectStorage, ObjectStorageConfig};

/// The default public port.
pub const DEFAULT_PORT: u16 = 8780;

#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address to listen on.
    #[arg(long, env = "KUMO_LISTEN", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    pub listen: SocketAddr,
    /// Postgres URL of the catalog; without one, a private Postgres runs in the state directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where Kumo keeps its state (private Postgres, master key, credentials).
    /// Default: /var/lib/kumo as root, else $XDG_DATA_HOME/kumo or ~/.local/share/kumo.
    #[arg(long, env = "KUMO_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long a login token (and a console session) lives, in seconds.
    #[arg(long, env = "KUMO_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub token_ttl_secs: u64,
}

impl CommonArgs {
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }
}

pub fn default_state_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/kumo");
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("kumo");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/kumo")
}

/// Everything an opened control plane holds: the catalog, the operator and a handle per
/// service (none of them started yet).
pub struct ControlPlane {
    pub catalog: Catalog,
    pub identity: Identity,
    pub compute: Compute,
    pub object_storage: ObjectStorage,
    pub network: Network,
    pub block_storage: BlockStorage,
    pub operator: OperatorCredentials,
    pub state_dir: PathBuf,
}

/// Open the catalog (starting the private Postgres if needed), apply migrations, load the
/// master key, make sure the operator exists, and make the service handles.
pub async fn start_control_plane(args: &CommonArgs) -> anyhow::Result<ControlPlane> {
    let state_dir = args.state_dir();
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("create state directory {}", state_dir.display()))?;
    let catalog = Catalog::open(args.database_url.as_deref(), &state_dir).await?;
    let master_key = MasterKey::load_or_create(
        std::env::var("KUMO_MASTER_KEY").ok().as_deref(),
        &state_dir.join("master.key"),
    )?;
    let identity = Identity::new(
        catalog.pool.clone(),
        master_key.clone(),
        IdentityConfig {
            token_ttl: std::time::Duration::from_secs(args.token_ttl_secs),
        },
    );
    let operator = bootstrap::ensure_operator(&catalog.pool, &master_key).await?;
    // Make sure a signing key exists before the first login races to create one.
    kumo_identity::signing_keys::active(&catalog.pool, &master_key).await?;
    let compute = Compute::new(
        catalog.pool.clone(),
        ComputeConfig {
            // Images imported from object storage (RegisterImage bucket/key).
            image_store: Some(state_dir.join("images/imported")),
            ..ComputeConfig::default()
        },
    );
    let object_storage = ObjectStorage::new(catalog.pool.clone(), object_storage_config());
    let network = Network::new(catalog.pool.clone(), NetworkConfig::default());
    let block_storage = BlockStorage::new(catalog.pool.clone(), block_storage_config());
    // Instances and subnets from before VPCs join the network service's (idempotent).
    crate::compose::adopt_pre_vpc_networks(&compute, &network).await?;
    Ok(ControlPlane {
        catalog,
        identity,
        compute,
        object_storage,
        network,
        block_storage,
        operator,
        state_dir,
    })
}

/// Object storage settings; `KUMO_S3_REPLICATION` overrides the replica count (default 3).
/// `KUMO_BLOCK_REPLACE_GRACE_SECS`: how long a storage node may be silent before its
/// volume replicas are replaced elsewhere (default 60; tests set it low).
fn block_storage_config() -> BlockStorageConfig {
    let mut config = BlockStorageConfig::default();
    if let Some(secs) = std::env::var("KUMO_BLOCK_REPLACE_GRACE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s >= 1)
    {
        config.replace_grace = std::time::Duration::from_secs(secs);
    }
    config
}

fn object_storage_config() -> ObjectStorageConfig {
    let mut config = ObjectStorageConfig::default();
    if let Some(n) = std::env::var("KUMO_S3_REPLICATION")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n >= 1)
    {
        config.replication = n;
    }
    config
}

/// `RUST_LOG`-style logging to stderr; `info` by default.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

impl ControlPlane {
    /// Every service of this control plane, for the router.
    pub fn services(&self) -> crate::Services {
        crate::Services {
            identity: self.identity.clone(),
            compute: self.compute.clone(),
            object_storage: self.object_storage.clone(),
            network: self.network.clone(),
            block_storage: self.block_storage.clone(),
        }
    }
}
