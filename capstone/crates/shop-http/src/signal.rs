//! What stops a service: Ctrl-C or SIGTERM (book chapter 03, "Graceful shutdown").
//!
//! "Shutdown is a parameter": servers and workers never listen for signals themselves. Each
//! service's `main` turns this future into a cancelled token; a test cancels the same token
//! when it is done. The same code path stops both. Every binary of the shop (the API, the
//! inventory service, the payments sandbox) uses this one function.

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
