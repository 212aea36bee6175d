//! Serving an app until Ctrl-C or SIGTERM, then shutting down cleanly.

use axum::Router;
use kumo_common::service::BackgroundTask;
use tokio::net::TcpListener;

use crate::config::{init_logging, start_control_plane, CommonArgs};
use crate::Mount;

/// The body of every standalone binary: open the control plane, start the services `mount`
/// serves (and only their loops), serve until a signal, then stop the catalog.
pub async fn run_standalone(name: &str, args: &CommonArgs, mount: Mount) -> anyhow::Result<()> {
    run_standalone_with_console(name, args, mount, crate::ConsoleConfig::from_env()).await
}

/// [`run_standalone`], serving the web console from `console` (whole gateway only).
pub async fn run_standalone_with_console(
    name: &str,
    args: &CommonArgs,
    mount: Mount,
    console: crate::ConsoleConfig,
) -> anyhow::Result<()> {
    init_logging();
    let plane = start_control_plane(args).await?;
    if mount == Mount::Gateway && !console.is_built() {
        tracing::warn!(
            dir = %console.dir.display(),
            "the web console is not built; /console/ says how to build it"
        );
    }
    let process = crate::start_with_console(plane.services(), mount, Default::default(), console);
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(
        endpoint = %format!("http://{}", listener.local_addr()?),
        tasks = ?process.task_names(),
        "{name} ready"
    );
    let mut server = Serving::spawn(listener, process.router);
    if let Ended::Failed(error) = server.until_signal().await {
        process.tasks.iter().for_each(BackgroundTask::abort);
        plane.catalog.shutdown().await;
        return Err(error);
    }
    // Agents' network polls are answered first, or they would hold the server up for its
    // whole grace period.
    plane.compute.stop_long_polls();
    server.stop().await?;
    // The services' loops end before the catalog they work on.
    process.tasks.iter().for_each(BackgroundTask::abort);
    plane.catalog.shutdown().await;
    Ok(())
}

/// A server running in its own task until it is told to stop.
pub struct Serving {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// How waiting for a stop signal ended.
pub enum Ended {
    /// Ctrl-C or SIGTERM: stop the server with [`Serving::stop`].
    Signal,
    /// The server ended on its own, which only happens when it fails.
    Failed(anyhow::Error),
}

impl Serving {
    /// Serve `app` on `listener` in a task of its own.
    pub fn spawn(listener: TcpListener, app: Router) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Wait for Ctrl-C or SIGTERM, or for the server to fail.
    pub async fn until_signal(&mut self) -> Ended {
        tokio::select! {
            _ = shutdown_signal() => Ended::Signal,
            served = &mut self.task => Ended::Failed(match served {
                Ok(Ok(())) => anyhow::anyhow!("the server stopped by itself"),
                Ok(Err(e)) => e.into(),
                Err(e) => e.into(),
            }),
        }
    }

    /// Stop accepting; requests in flight get [`SERVE_GRACE`] (a long S3 transfer would
    /// otherwise hold the process up indefinitely), then they are abandoned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(SERVE_GRACE, &mut self.task).await {
            Ok(served) => served??,
            Err(_) => {
                tracing::warn!("requests still in flight after {SERVE_GRACE:?}; abandoning them");
                self.task.abort();
            }
        }
        Ok(())
    }
}

/// How long requests in flight may take to finish once a process is asked to stop.
pub const SERVE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Serve `app` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY a response whose headers and body leave in separate writes waits
    // for the client's delayed ACK (~40 ms per small GET).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
