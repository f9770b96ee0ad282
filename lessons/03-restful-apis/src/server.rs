//! The server: the middleware stack around the routes, and serving it on a socket.
//!
//! What this module shows: how a request travels through tower middleware (the order of the
//! layers in [`app`] is the order a request meets them), and how the stack is served. Serving
//! is shop-http's [`Server`] (`capstone/crates/shop-http/src/serve.rs`): an accept loop that
//! speaks HTTP/1.1 and HTTP/2 on one port, bounds every connection in time and number
//! ([`Limits`]), and stops without cutting requests in half: stop accepting, let the requests
//! in flight finish, give up after a deadline. It is written once there, because the capstone
//! and the later lessons serve the same way; chapter 03 reads it.
//!
//! Run the tests with `cargo test -p lesson-03 --test socket`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use shop_http::{Limits, RunningServer, ServeError, Server, problem_details};
use thiserror::Error;
use tokio::net::TcpListener;
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

pub use shop_http::problem::X_REQUEST_ID;

/// Settings of the middleware and of the connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How long a request may take before the server answers 503 instead.
    pub request_timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// What one connection and one client may hold of the server, and how long shutdown
    /// waits for requests in flight before it cuts them off.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(2),
            body_limit: 16 * 1024,
            limits: Limits {
                drain_timeout: Duration::from_secs(5),
                ..Limits::default()
            },
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
        // 6. Every error below becomes a problem document (shop-http's middleware). It sits
        //    above the timeout and the body limit so that their bare 503 and 413 get converted.
        .layer(axum::middleware::from_fn(problem_details))
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
    #[error(transparent)]
    Serve(#[from] ServeError),
}

// ANCHOR: start
/// The API on a socket: shop-http's running server (its address, the connections it
/// accepted, its shutdown) and the request counts of the lesson's own timing layer.
#[derive(Debug)]
pub struct Served {
    pub server: RunningServer,
    /// Requests in flight and completed, as [`ServerTimingLayer`] counts them.
    pub requests: RequestStats,
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
) -> Result<Served, ServerError> {
    // Bound here rather than by `Server::bind`, so that the error can name this program's
    // `--addr` option, which shop-http knows nothing about.
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let requests = RequestStats::default();
    let app = app(state, &config, requests.clone());
    let server = Server::from_listener(listener)?
        .limits(config.limits)
        .spawn(app, shutdown);
    tracing::info!(addr = %server.addr(), "listening");
    Ok(Served { server, requests })
}
// ANCHOR_END: start
