//! Serving a router on a socket, and stopping it gracefully.
//!
//! What this module shows: nothing new since lesson 03, on purpose. The application server and
//! the identity provider are both shop-http's [`Server`], the accept loop lesson 03 reads
//! (connection limits and timeouts, a graceful shutdown with a deadline): they start on a port
//! of the loopback interface (port 0: any free one), serve until a `CancellationToken` is
//! cancelled, and finish the requests in flight. This module only binds the port, so that a
//! port in use is reported with this program's `--addr` option, which shop-http knows nothing
//! about.
//!
//! Run the tests with `cargo test -p lesson-04 --test api`.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use shop_http::{RunningServer, ServeError, Server};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why a server could not start or stop.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(
        "could not listen on {addr} ({source}); is another program using that port? \
         Pick another with --addr, or port 0 for any free one"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Serve(#[from] ServeError),
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
    serve(listener, app, shutdown)
}

/// Serves `app` on a listener that is already bound (when the address must be known before
/// the application is built, as the identity provider's issuer URL must).
pub fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServerError> {
    Ok(Server::from_listener(listener)?.spawn(app, shutdown))
}

/// Begins the graceful shutdown (if nobody cancelled the token yet) and waits for the
/// requests in flight.
pub async fn stop(server: RunningServer) -> Result<(), ServerError> {
    server.begin_shutdown();
    Ok(server.stopped().await?)
}
