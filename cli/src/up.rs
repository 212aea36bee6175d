//! `kumo up`: the private catalog (or DATABASE_URL), migrations, the operator bootstrap,
//! the operator's AWS CLI profile, the default images, the gateway with every service,
//! this host's compute agent and storage node(s), until Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kumo_common::service::BackgroundTask;
use kumo_compute_node::agent::{Agent, AgentConfig};
use kumo_gateway::config::{start_control_plane, CommonArgs};
use kumo_gateway::server::{Ended, Serving};

use crate::profile;

#[derive(clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where the default images are (built by deploy/build-images.sh); registered as public images.
    #[arg(long, env = "KUMO_IMAGE_DIR")]
    pub image_dir: Option<PathBuf>,
    /// Run no compute agent on this host (control plane only).
    #[arg(long)]
    pub no_agent: bool,
    /// OCI runtime for the agent: runc (default) or crun.
    #[arg(long, default_value = "runc")]
    pub container_runtime: PathBuf,
    /// Capacity the agent reports instead of the machine's.
    #[arg(long)]
    pub agent_vcpus: Option<u32>,
    #[arg(long)]
    pub agent_memory_mib: Option<u32>,
    /// Storage nodes to run in this process (each in `<state>/storage-node-<n>`); 0 for
    /// none (storage nodes then join with `kumo storage-node`). Objects are replicated to
    /// min(3, healthy nodes).
    #[arg(long, default_value_t = 1)]
    pub storage_nodes: u32,
    /// The IP address those storage nodes listen on (chunk API and NBD exports): one
    /// that the compute hosts reach.
    #[arg(long, default_value = "127.0.0.1")]
    pub storage_address: std::net::IpAddr,
    #[command(flatten)]
    pub console: kumo_gateway::console::ConsoleArgs,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plane = start_control_plane(&args.common).await?;
    let listener = tokio::net::TcpListener::bind(args.common.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (choose another with --listen)",
                args.common.listen
            )
        })?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let image_dir = args
        .image_dir
        .clone()
        .unwrap_or_else(|| plane.state_dir.join("images"));
    let images: Vec<String> = plane
        .compute
        .register_default_images(&plane.operator.account_id, &image_dir)
        .await?
        .into_iter()
        .map(|image| format!("{} {}", image.image_id, image.name))
        .collect();
    // Every service, with its loops.
    let console = args.console.config();
    let console_note = console.banner(&endpoint);
    let process = kumo_gateway::start_with_console(
        plane.services(),
        kumo_gateway::Mount::Gateway,
        Default::default(),
        console,
    );
    tracing::debug!(tasks = ?process.task_names(), "services started");
    // Stopping is ours to time: the gateway is told to stop when the signal has come.
    let mut server = Serving::spawn(listener, process.router);

    // Told to stop after the gateway: it then sweeps the host networking no instance uses.
    let mut agent_stop = None;
    let agent_note = if args.no_agent {
        "none (--no-agent)".to_string()
    } else {
        let token = plane
            .compute
            .create_join_token(Duration::from_secs(600))
            .await?;
        let mut config = AgentConfig::new(endpoint.clone(), plane.state_dir.join("compute-node"));
        config.join_token = Some(token.join_token);
        config.container_runtime = args.container_runtime.clone();
        config.vcpus = args.agent_vcpus;
        config.memory_mib = args.agent_memory_mib;
        let name = config.name.clone();
        let agent = Agent::start(config).await?;
        let host_id = agent.host_id().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        agent_stop = Some((
            stop,
            tokio::spawn(agent.run_until(async move {
                let _ = stopped.await;
            })),
        ));
        format!("{host_id} ({name})")
    };
    let mut storage_nodes = Vec::new();
    if args.storage_nodes > 0 {
        let token = plane
            .object_storage
            .create_join_token(Duration::from_secs(600))
            .await?;
        let host = kumo_storage_node::agent::hostname();
        for n in 1..=args.storage_nodes {
            let mut config = kumo_storage_node::agent::NodeConfig::new(
                plane.state_dir.join(format!("storage-node-{n}")),
                endpoint.clone(),
            );
            config.listen = std::net::SocketAddr::new(args.storage_address, 0);
            config.join_token = Some(token.join_token.clone());
            config.name = format!("{host}-s{n}");
            storage_nodes.push(kumo_storage_node::agent::StorageNode::start(config).await?);
        }
    }
    let storage_note = if storage_nodes.is_empty() {
        "no local storage node (--storage-nodes 0)".to_string()
    } else {
        storage_nodes
            .iter()
            .map(|n| format!("{} ({})", n.node_id(), n.address()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let files = profile::write(&plane.state_dir, &endpoint, &plane.operator)?;
    let password_note = if plane.operator.new_password.is_some() {
        format!(
            "\n  console password: in {} (created now)",
            plane.state_dir.join("operator-password").display()
        )
    } else {
        String::new()
    };
    println!(
        "Kumo is up at {endpoint} (ready in {:.2} s)\n  \
         catalog:  {}\n  \
         operator: account {} user {} (profile '{}'){password_note}\n  \
         compute:  agent {agent_note}\n  \
         storage:  {storage_note}\n  \
         images:   {}\n  \
         console:  {console_note}\n  \
         use it:   source {} && aws sts get-caller-identity\n  \
         or:       AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url {endpoint} --profile {} --region us-east-1 sts get-caller-identity\n\
         Press Ctrl-C to stop.",
        started.elapsed().as_secs_f64(),
        if plane.catalog.is_private() {
            format!("private Postgres in {}", plane.state_dir.join("postgres").display())
        } else {
            "DATABASE_URL".to_string()
        },
        plane.operator.account_id,
        plane.operator.user_name,
        profile::PROFILE,
        if images.is_empty() {
            format!("none found in {} (run deploy/build-images.sh {0})", image_dir.display())
        } else {
            images.join(", ")
        },
        files.env.display(),
        files.credentials.display(),
        profile::PROFILE,
    );
    tracing::info!(%endpoint, "kumo up: ready");
    if let Ended::Failed(error) = server.until_signal().await {
        return Err(error);
    }
    // A second Ctrl-C stops at once: the private Postgres's supervisor sees our pipe close
    // and shuts it down itself.
    tokio::spawn(async {
        kumo_gateway::server::shutdown_signal().await;
        eprintln!("Second signal: stopping now.");
        std::process::exit(130);
    });
    // Each step is bounded, so that stopping takes seconds whatever the state of the
    // catalog, the clients or the host (requests waiting for a lost catalog give up after
    // the pool's 3 s acquire timeout). Agents' network polls are answered first, or
    // they would hold the server up for its whole grace period.
    plane.compute.stop_long_polls();
    server.stop().await?;
    let agent_stopped = async {
        if let Some((stop, mut agent)) = agent_stop {
            let _ = stop.send(());
            if tokio::time::timeout(AGENT_GRACE, &mut agent).await.is_err() {
                tracing::warn!("compute agent still busy after {AGENT_GRACE:?}; not waiting");
                agent.abort();
            }
        }
    };
    // Storage nodes bound their own shutdown (a few seconds each); stop them together.
    let mut nodes = tokio::task::JoinSet::new();
    for node in storage_nodes {
        nodes.spawn(node.shutdown());
    }
    tokio::join!(agent_stopped, nodes.join_all());
    // The services' loops end before the catalog they work on.
    process.tasks.iter().for_each(BackgroundTask::abort);
    plane.catalog.shutdown().await;
    println!("Kumo stopped. Instances keep running and are re-adopted at the next start.");
    Ok(())
}

/// How long the compute agent may take to finish its actions and sweep unused networking.
const AGENT_GRACE: Duration = Duration::from_secs(5);
