//! Serving an app until Ctrl-C or SIGTERM, then shutting down cleanly.

use axum::Router;
use tokio::net::TcpListener;

use crate::config::{init_logging, start_control_plane, CommonArgs};
use crate::Services;

/// The body of every standalone binary: start the control plane, serve the router `build`
/// makes from its services until a signal, then stop the catalog.
pub async fn run_standalone(
    name: &str,
    args: &CommonArgs,
    build: fn(Services, kumo_auth::AuthConfig) -> Router,
) -> anyhow::Result<()> {
    init_logging();
    let plane = start_control_plane(args).await?;
    let app = build(plane.services(), Default::default());
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(endpoint = %format!("http://{}", listener.local_addr()?), "{name} ready");
    serve(listener, app, shutdown_signal()).await?;
    plane.catalog.shutdown().await;
    Ok(())
}

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
