//! A hand-written tower middleware: `ServerTimingLayer`.
//!
//! What this module shows: the three pieces of every tower middleware. A [`Layer`] is a
//! factory that wraps a service in another; the wrapping [`Service`] passes readiness through
//! in `poll_ready` and starts the inner call in `call`; and a response future, a small state
//! machine pinned in place, finishes the work when the inner future completes. Ours measures
//! how long the inner service took, reports it in a `Server-Timing` header (browsers' developer
//! tools display it), and counts requests in flight, which graceful shutdown reports on.
//!
//! `axum::middleware::from_fn` (used in `problem.rs`) writes the same thing as an async
//! function, at the price of a boxed future per request; tower-http's layers are all written
//! the long way, as here.
//!
//! Run the tests with `cargo test -p lesson-03 --test layer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::{Layer, Service};

/// The `Server-Timing` header (W3C Server Timing).
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Counters shared by every clone of the layer and whoever else holds a clone of this.
#[derive(Debug, Clone)]
pub struct RequestStats {
    inner: Arc<StatsInner>,
}

#[derive(Debug)]
struct StatsInner {
    /// A `watch` channel rather than an atomic so that code can *wait* for a value
    /// (`wait_for_in_flight`) instead of polling it in a loop.
    in_flight: watch::Sender<usize>,
    completed: AtomicU64,
}

impl Default for RequestStats {
    fn default() -> Self {
        Self {
            inner: Arc::new(StatsInner {
                in_flight: watch::Sender::new(0),
                completed: AtomicU64::new(0),
            }),
        }
    }
}

impl RequestStats {
    /// Requests the inner service is working on now.
    pub fn in_flight(&self) -> usize {
        *self.inner.in_flight.borrow()
    }

    /// Requests that got a response.
    pub fn completed(&self) -> u64 {
        self.inner.completed.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` requests are in flight.
    pub async fn wait_for_in_flight(&self, n: usize) {
        let mut in_flight = self.inner.in_flight.subscribe();
        // `wait_for` fails only if the sender is gone; we hold it, so it cannot be.
        let _ = in_flight.wait_for(|&count| count >= n).await;
    }

    fn start(&self) -> InFlight {
        self.inner.in_flight.send_modify(|count| *count += 1);
        InFlight {
            stats: self.clone(),
        }
    }
}

/// Counts one request as in flight until dropped: when its response is ready, or when the
/// future is dropped unfinished (a timeout, a client that hung up).
#[derive(Debug)]
struct InFlight {
    stats: RequestStats,
}

impl InFlight {
    /// Ends the request's time in flight with a response: counted as completed, then dropped.
    fn complete(self) {
        self.stats.inner.completed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.inner.in_flight.send_modify(|count| *count -= 1);
    }
}

// ANCHOR: layer
/// Wraps a service in [`ServerTiming`]. A layer holds the middleware's configuration and is
/// applied once per service it wraps (axum applies it to each route), so it must be `Clone`.
#[derive(Debug, Clone)]
pub struct ServerTimingLayer {
    metric: &'static str,
    stats: RequestStats,
}

impl ServerTimingLayer {
    /// Reports time as `server-timing: <metric>;dur=<ms>` and counts into `stats`.
    pub fn new(metric: &'static str, stats: RequestStats) -> Self {
        Self { metric, stats }
    }
}

impl<S> Layer<S> for ServerTimingLayer {
    type Service = ServerTiming<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTiming {
            inner,
            metric: self.metric,
            stats: self.stats.clone(),
        }
    }
}
// ANCHOR_END: layer

// ANCHOR: service
/// The middleware itself: a service that owns the service it wraps.
#[derive(Debug, Clone)]
pub struct ServerTiming<S> {
    inner: S,
    metric: &'static str,
    stats: RequestStats,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerTiming<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ServerTimingFuture<S::Future>;

    /// "Can you take a request now?" We add no limit of our own, so we are ready exactly when
    /// the inner service is. Answering `Ready` regardless would break an inner concurrency
    /// limit or load shedder, whose whole job is to answer `Pending`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// Starts the clock and the inner call, and returns at once: the work happens when the
    /// returned future is polled.
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ServerTimingFuture {
            inner: self.inner.call(request),
            started: Instant::now(),
            metric: self.metric,
            in_flight: Some(self.stats.start()),
        }
    }
}
// ANCHOR_END: service

// ANCHOR: future
pin_project! {
    /// The response future: the inner service's future plus what we need when it completes.
    ///
    /// An async state machine may hold pointers into itself, so once polled it must not move:
    /// `poll` receives it as `Pin<&mut Self>`. To poll the inner future we need a
    /// `Pin<&mut F>` to that field (a *pinned projection*); the other fields are plain data we
    /// may move out of. `pin_project!` writes that projection safely; by hand it takes
    /// `unsafe`, which this workspace forbids.
    pub struct ServerTimingFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        metric: &'static str,
        in_flight: Option<InFlight>,
    }
}

impl<F, ResBody, E> Future for ServerTimingFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // `ready!` returns `Poll::Pending` from this function if the inner future is not done;
        // the inner future has registered the waker in `cx`, so we will be polled again.
        let result = ready!(this.inner.poll(cx));
        // Done, whatever the outcome: the guard leaves the future, so the request is no longer
        // in flight. An error drops it uncounted; only a response counts as completed.
        let in_flight = this.in_flight.take();
        let mut response = result?;
        if let Some(in_flight) = in_flight {
            in_flight.complete();
        }
        let millis = this.started.elapsed().as_secs_f64() * 1e3;
        // `{metric};dur={ms}` is always a valid header value: the metric is a static token.
        if let Ok(value) = HeaderValue::try_from(format!("{};dur={millis:.1}", this.metric)) {
            response.headers_mut().append(SERVER_TIMING, value);
        }
        Poll::Ready(Ok(response))
    }
}
// ANCHOR_END: future
