//! What stops the server: Ctrl-C or SIGTERM.
//!
//! "Shutdown is a parameter": the server (`shop_http::Server`, driven by
//! [`crate::Application`]) does not listen for signals itself. `main` cancels its token on
//! Ctrl-C or SIGTERM ([`shutdown_signal`]); a test cancels it when its `TestApp` is dropped.
//! The same code path stops both.

// ANCHOR: shutdown_signal
/// A future that completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a terminal and an
/// orchestrator (Kubernetes, systemd, `docker stop`) send to ask a process to stop.
///
/// The handlers are installed here, before the future is first polled: a SIGTERM that arrives
/// between "listening" and the first poll would otherwise find the default action, which kills
/// the process without draining.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            // Without a handler, Ctrl-C still ends the process, just without draining.
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
// ANCHOR_END: shutdown_signal
