//! The server: the middleware stack around the routes, the listener, and graceful shutdown.
//!
//! What this module shows: how a request travels through tower middleware (the order of the
//! layers in [`app`] is the order a request meets them), how `axum::serve` accepts connections
//! and speaks HTTP/1.1 and HTTP/2 on one port, and how a server stops without cutting requests
//! in half: stop accepting, let the requests in flight finish, give up after a deadline.
//!
//! Run the tests with `cargo test -p lesson-03 --test socket`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Request, StatusCode};
use axum::serve::ListenerExt;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::api::{self, AppState};
use crate::layer::{RequestStats, ServerTimingLayer};
use crate::problem;

/// The header that carries a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Settings of the middleware and of shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How long a request may take before the server answers 503 instead.
    pub request_timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long shutdown waits for requests in flight before it drops them.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(2),
            body_limit: 16 * 1024,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

// ANCHOR: app
/// The routes with their state and middleware: the whole application as one tower `Service`.
///
/// `ServiceBuilder` lists layers from the outside in: a request passes them top to bottom on
/// its way to the handler, and the response passes them bottom to top on its way out.
pub fn app(state: AppState, config: &ServerConfig, stats: RequestStats) -> Router {
    let middleware = ServiceBuilder::new()
        // 1. Give the request an id first, so everything below can log and return it. A client
        //    that sent its own `x-request-id` keeps it, which ties our logs to the caller's.
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        // 2. One tracing span per request, carrying that id; logs the status and latency.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // 3. Copy the id onto the response, including responses made by the layers below.
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        // 4. Our own layer: `server-timing` and the count of requests in flight.
        .layer(ServerTimingLayer::new("app", stats))
        // 5. Compress response bodies the client said it accepts (`accept-encoding`).
        .layer(CompressionLayer::new())
        // 6. Every error below becomes a problem document. It sits above the timeout and the
        //    body limit so that their bare 503 and 413 get converted too.
        .layer(axum::middleware::from_fn(problem::problem_details))
        // 7. Refuse bodies over the limit: at once if `content-length` says so, otherwise as
        //    soon as the body has delivered one byte too many.
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        // 8. A request that takes too long is dropped and answered 503 Service Unavailable.
        //    Innermost, so its empty 503 is a plain axum response the layers above can rewrite.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ));

    api::routes().with_state(state).layer(middleware)
}
// ANCHOR_END: app

/// The span every request's logs belong to.
fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        version = ?request.version(),
        request_id,
    )
}

/// Why the server could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(
        "could not listen on {addr} ({source}); is another program using that port? \
         Pick another with --addr, or port 0 for any free one"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("the server stopped with an error")]
    Serve(#[source] io::Error),
    #[error("requests were still running {} s after shutdown began; they were dropped", .0.as_secs())]
    DrainTimeout(Duration),
    #[error("the server task panicked")]
    Panicked(#[from] tokio::task::JoinError),
}

// ANCHOR: running_server
/// A server running on a background task.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    drain_timeout: Duration,
    connections: Arc<AtomicUsize>,
    requests: RequestStats,
    task: JoinHandle<io::Result<()>>,
}

/// Binds `addr` (port 0 picks a free port) and serves the API until `shutdown` is cancelled.
///
/// Shutdown is a parameter: the caller decides what stops the server (Ctrl-C, a test, the end
/// of the demo) by cancelling the token, then awaits [`RunningServer::stopped`].
pub async fn start(
    addr: SocketAddr,
    config: ServerConfig,
    state: AppState,
    shutdown: CancellationToken,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;

    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    // `tap_io` runs for every accepted TCP connection: we count them, which makes keep-alive
    // and HTTP/2 multiplexing visible, and turn off Nagle's algorithm, which would otherwise
    // hold back small writes (a response head) for up to 40 ms.
    let listener = listener.tap_io(move |tcp| {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });

    let requests = RequestStats::default();
    let app = app(state, &config, requests.clone());
    let signal = shutdown.clone().cancelled_owned();
    // `axum::serve` speaks HTTP/1.1 and, with axum's `http2` feature, HTTP/2: it looks at the
    // first bytes of each connection and picks. `with_graceful_shutdown` stops accepting when
    // `signal` completes, lets every connection finish the request it is serving (an idle
    // keep-alive connection is closed at once), and then returns.
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
    });
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        shutdown,
        drain_timeout: config.drain_timeout,
        connections,
        requests,
        task,
    })
}
// ANCHOR_END: running_server

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests in flight and completed.
    pub fn requests(&self) -> &RequestStats {
        &self.requests
    }

    /// Begins graceful shutdown; the same as cancelling the token passed to [`start`].
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    // ANCHOR: stopped
    /// Waits for the server to stop after its token was cancelled, at most the drain timeout;
    /// then aborts whatever is still running.
    pub async fn stopped(mut self) -> Result<(), ServerError> {
        self.shutdown.cancelled().await;
        match tokio::time::timeout(self.drain_timeout, &mut self.task).await {
            Ok(finished) => finished?.map_err(ServerError::Serve),
            Err(_elapsed) => {
                // Stop waiting. The connection tasks run on until the runtime shuts down as
                // the program exits, which drops them and the requests they still hold: their
                // clients see the connection close without a response.
                self.task.abort();
                Err(ServerError::DrainTimeout(self.drain_timeout))
            }
        }
    }
    // ANCHOR_END: stopped
}
