//! Serving an app until Ctrl-C or SIGTERM, then shutting down cleanly.

use axum::Router;
use kumo_common::service::BackgroundTask;
use tokio::net::TcpListener;

use crate::config::{init_logging, start_control_plane, CommonArgs};
use crate::Mount;

/// The body of every standalone binary: open the control plane, start the services `mount`
/// serves (and only their loops), serve until a signal, then stop the catalog.
pub async fn run_standalone(name: &str, args: &CommonArgs, mount: Mount) -> anyhow::Result<()> {
    init_logging();
    let plane = start_control_plane(args).await?;
    let process = crate::start(plane.services(), mount, Default::default());
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(
        endpoint = %format!("http://{}", listener.local_addr()?),
        tasks = ?process.task_names(),
        "{name} ready"
    );
    let (stop_serving, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(serve(listener, process.router, async {
        let _ = stopped.await;
    }));
    tokio::select! {
        _ = shutdown_signal() => {}
        // The server only ends on its own when it fails.
        served = &mut server => {
            process.tasks.iter().for_each(BackgroundTask::abort);
            plane.catalog.shutdown().await;
            served??;
            return Ok(());
        }
    }
    // In-flight requests get a bounded grace period (a long S3 transfer would otherwise
    // hold the process up indefinitely).
    let _ = stop_serving.send(());
    match tokio::time::timeout(SERVE_GRACE, &mut server).await {
        Ok(served) => served??,
        Err(_) => {
            tracing::warn!("requests still in flight after {SERVE_GRACE:?}; abandoning them");
            server.abort();
        }
    }
    // The services' loops end before the catalog they work on.
    process.tasks.iter().for_each(BackgroundTask::abort);
    plane.catalog.shutdown().await;
    Ok(())
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
