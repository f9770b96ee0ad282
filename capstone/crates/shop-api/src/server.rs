//! Serving and stopping: the server runs until its shutdown token is cancelled, then drains.
//!
//! "Shutdown is a parameter": [`serve`] does not listen for signals itself. `main` cancels the
//! token on Ctrl-C or SIGTERM ([`shutdown_signal`]); a test cancels it when its `TestApp` is
//! dropped. The same code path stops both.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

// ANCHOR: serve
/// Serves `app` on `listener` until `shutdown` is cancelled, then stops accepting connections
/// and lets in-flight requests finish for at most `grace`. Idle keep-alive connections are
/// closed at once; a request still running after `grace` is cut off, because an orchestrator
/// that sent SIGTERM will send SIGKILL soon anyway.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    // With connect info, each request carries the peer's address: the per-IP rate limit and
    // login throttle key on it (`crate::security::client_ip`).
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .into_future();
    tokio::pin!(server);
    tokio::select! {
        // The server only returns on its own if accepting connections failed for good.
        result = &mut server => return result,
        () = shutdown.cancelled() => {}
    }
    tracing::info!(?grace, "shutting down: draining in-flight requests");
    match tokio::time::timeout(grace, server).await {
        Ok(result) => {
            tracing::info!("all connections closed");
            result
        }
        Err(_) => {
            tracing::warn!(
                ?grace,
                "requests still running after the grace period; exiting anyway"
            );
            Ok(())
        }
    }
}
// ANCHOR_END: serve

// ANCHOR: shutdown_signal
/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a terminal and an orchestrator
/// (Kubernetes, systemd, `docker stop`) send to ask a process to stop.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
// ANCHOR_END: shutdown_signal
