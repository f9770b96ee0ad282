//! Serving a router on a socket, and stopping it gracefully.
//!
//! What this module shows: nothing new since lesson 03, on purpose: the application server and
//! the identity provider both start on a port of the loopback interface (port 0: any free one),
//! serve until a `CancellationToken` is cancelled, and finish the requests in flight.
//!
//! Run the tests with `cargo test -p lesson-04 --test api`.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why a server could not start or stop.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(
        "could not listen on {addr} ({source}); is another program using that port? \
         Pick another with --addr, or port 0 for any free one"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("the server stopped with an error")]
    Serve(#[source] io::Error),
    #[error("the server task panicked")]
    Panicked(#[from] tokio::task::JoinError),
}

/// A server running on a tokio task.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<io::Result<()>>,
}

/// Binds `addr` and serves `app` until `shutdown` is cancelled.
pub async fn start(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve(listener, app, shutdown).map_err(|source| ServerError::Bind { addr, source })
}

/// Serves `app` on a listener that is already bound (when the address must be known before
/// the application is built, as the identity provider's issuer URL must).
pub fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let signal = shutdown.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
    });
    Ok(RunningServer {
        addr,
        shutdown,
        task,
    })
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cancels the token (if nobody did) and waits for the requests in flight.
    pub async fn stop(self) -> Result<(), ServerError> {
        self.shutdown.cancel();
        self.task.await?.map_err(ServerError::Serve)
    }
}
