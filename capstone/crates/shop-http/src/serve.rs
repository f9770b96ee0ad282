//! Serving a router: plain TCP or TLS, HTTP/1.1 and HTTP/2 on one port, connections bounded in
//! time and number, and a graceful shutdown with a deadline.
//!
//! What this module shows:
//! - the accept loop `axum::serve` hides, written out so that each limit has a place: a total
//!   connection cap (a semaphore: past it the server stops accepting, and the kernel's backlog
//!   queues the rest), a cap per client address (one more is closed at once), `TCP_NODELAY`;
//! - the timeouts a server on the internet needs and `axum::serve` does not set: a client must
//!   send its first request within `header_read_timeout` of connecting (the TLS handshake
//!   included), must finish each HTTP/1.1 request head within it (hyper's own timer: a client
//!   that sends one header line every few seconds is the *slowloris* attack), and a connection
//!   with no bytes either way for `idle_timeout` is closed;
//! - shutdown as a parameter: cancelling the token stops the accept loop and asks every
//!   connection to finish (HTTP/1.1 `connection: close`, HTTP/2 `GOAWAY`); after
//!   `drain_timeout` whatever still runs is cut off, and [`RunningServer::stopped`] says so.
//!
//! Lessons 03 and 06 teach it, and the capstone serves through it. Tests: `tests/serve.rs`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// After a connection is asked to close because it was idle or too slow, how long it may take
/// to do so before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

// ANCHOR: limits
/// What one connection, and one client, may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accepting a connection to its first request reaching the router (a TLS handshake
    /// included), and, on HTTP/1.1, from the first byte of a request to the end of its head.
    pub header_read_timeout: Duration,
    /// A connection that sends and receives nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections in total. At the cap the server stops accepting until one closes.
    pub max_connections: usize,
    /// Open connections from one IP address. One more is closed as soon as it is accepted.
    pub max_connections_per_ip: usize,
    /// After shutdown begins, how long requests in flight may run before they are cut off.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    /// Limits for a small service behind no proxy: generous for browsers (which keep about six
    /// connections per site), tight for a client that opens hundreds and sends nothing.
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_ip: 32,
            drain_timeout: Duration::from_secs(10),
        }
    }
}
// ANCHOR_END: limits

/// Why serving failed.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error(
        "could not listen on {addr} ({source}); is another program using that port? \
         Pick another, or port 0 for any free one"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("requests were still running {} s after shutdown began; they were cut off", .0.as_secs_f32())]
    DrainTimeout(Duration),
    #[error("the server task panicked")]
    Panicked(#[source] tokio::task::JoinError),
}

/// A bound listener, not yet serving: [`Server::spawn`] starts it.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    limits: Limits,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr`; port 0 picks a free port ([`Server::local_addr`] says which).
    pub async fn bind(addr: SocketAddr) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Server::from_listener(listener)
    }

    /// Serves on a listener bound elsewhere (a test's, or one handed over by systemd).
    pub fn from_listener(listener: TcpListener) -> Result<Server, ServeError> {
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        Ok(Server {
            listener,
            addr,
            tls: None,
            limits: Limits::default(),
        })
    }

    /// Speaks TLS with this configuration (its ALPN list decides between HTTP/2 and 1.1).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Server {
        self.tls = Some(TlsAcceptor::from(config));
        self
    }

    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    // ANCHOR: spawn
    /// Serves `app` on a background task until `shutdown` is cancelled, then drains.
    ///
    /// Shutdown is a parameter: the caller decides what stops the server (Ctrl-C, SIGTERM, the
    /// end of a test) by cancelling the token, then awaits [`RunningServer::stopped`]. Each
    /// request carries the peer's address as `ConnectInfo<SocketAddr>`.
    pub fn spawn(self, app: Router, shutdown: CancellationToken) -> RunningServer {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(
            self.listener,
            self.tls,
            self.limits,
            app,
            shutdown.clone(),
            Arc::clone(&counters),
        ));
        RunningServer {
            addr: self.addr,
            scheme,
            counters,
            shutdown,
            task,
        }
    }
    // ANCHOR_END: spawn

    /// [`Server::spawn`], then [`RunningServer::stopped`]: serves until `shutdown` is
    /// cancelled and the connections have drained.
    pub async fn serve(self, app: Router, shutdown: CancellationToken) -> Result<(), ServeError> {
        self.spawn(app, shutdown).stopped().await
    }
}

/// A server running on a background task.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    scheme: &'static str,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServeError>>,
}

/// What the accept loop has seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Connections accepted and served.
    pub accepted: usize,
    /// Connections open now.
    pub open: usize,
    /// Connections closed at once because their address had too many open.
    pub refused: usize,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicUsize,
    open: AtomicUsize,
    refused: AtomicUsize,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://...` with TLS.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            open: self.counters.open.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
        }
    }

    /// Begins graceful shutdown: the same as cancelling the token given to [`Server::spawn`].
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    // ANCHOR: stopped
    /// Waits until the server has stopped: after its token is cancelled, when the last
    /// connection has closed, or when the drain timeout cut the rest off (an error, so that a
    /// caller can tell a clean stop from a forced one).
    pub async fn stopped(self) -> Result<(), ServeError> {
        self.task.await.map_err(ServeError::Panicked)?
    }
    // ANCHOR_END: stopped
}

// ANCHOR: accept_loop
async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    app: Router,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> Result<(), ServeError> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_ip = PerIp::default();
    let connections = TaskTracker::new();
    // Cancelled when the drain deadline passes: every connection still open is dropped.
    let cut_off = CancellationToken::new();

    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_closed) => break, // never closed; if it were, stop accepting
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin, and keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(ip_slot) = per_ip.enter(peer.ip(), limits.max_connections_per_ip) else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "too many connections from this address; closed");
            drop(stream);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        counters.open.fetch_add(1, Ordering::Relaxed);
        let connection = Connection {
            peer,
            limits,
            builder: builder.clone(),
            app: app.clone(),
            shutdown: shutdown.clone(),
            cut_off: cut_off.clone(),
        };
        let (tls, counters) = (tls.clone(), Arc::clone(&counters));
        connections.spawn(async move {
            connection.run(stream, tls).await;
            counters.open.fetch_sub(1, Ordering::Relaxed);
            drop((permit, ip_slot));
        });
    }

    // Stop accepting: dropping the listener closes the socket, so a new client is refused
    // instead of waiting in the backlog for a server that will not answer.
    drop(listener);
    connections.close();
    tracing::info!(
        open = connections.len(),
        "shutting down: draining connections"
    );
    if tokio::time::timeout(limits.drain_timeout, connections.wait())
        .await
        .is_ok()
    {
        tracing::info!("all connections closed");
        Ok(())
    } else {
        cut_off.cancel();
        connections.wait().await;
        Err(ServeError::DrainTimeout(limits.drain_timeout))
    }
}
// ANCHOR_END: accept_loop

/// One accepted connection and what it needs to be served.
struct Connection {
    peer: SocketAddr,
    limits: Limits,
    builder: Builder<TokioExecutor>,
    app: Router,
    shutdown: CancellationToken,
    cut_off: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let accepted = Instant::now();
        match tls {
            None => self.serve(stream, accepted).await,
            Some(acceptor) => {
                let deadline = accepted + self.limits.header_read_timeout;
                let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
                tokio::select! {
                    outcome = handshake => match outcome {
                        Ok(Ok(stream)) => self.serve(stream, accepted).await,
                        Ok(Err(error)) => tracing::debug!(peer = %self.peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
                    },
                    () = self.cut_off.cancelled() => {}
                }
            }
        }
    }

    // ANCHOR: connection
    async fn serve<S>(self, stream: S, accepted: Instant)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Activity::new(accepted);
        let requests = Arc::new(AtomicU64::new(0));
        let (peer, counter) = (self.peer, Arc::clone(&requests));
        let service = self.app.map_request(move |mut request: Request<Incoming>| {
            counter.fetch_add(1, Ordering::Relaxed);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service));
        tokio::pin!(connection);

        // Until the connection ends by itself: watch for shutdown, silence and the cut-off.
        let mut close_by: Option<Instant> = None;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if close_by.is_none() => {
                    // Finish the request in flight, then close; the drain deadline bounds it.
                    connection.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + self.limits.drain_timeout);
                }
                reason = watchdog(&activity, &requests, accepted, &self.limits), if close_by.is_none() => {
                    tracing::debug!(%peer, reason, "closing the connection");
                    connection.as_mut().graceful_shutdown();
                    close_by = Some(Instant::now() + CLOSE_GRACE);
                }
                () = sleep_until(close_by.unwrap_or_else(Instant::now)), if close_by.is_some() => return,
                () = self.cut_off.cancelled() => return,
            }
        }
    }
    // ANCHOR_END: connection
}

/// Completes when the connection has had its chance: no request within the header timeout of
/// connecting, or no bytes either way for the idle timeout.
async fn watchdog(
    activity: &Activity,
    requests: &AtomicU64,
    accepted: Instant,
    limits: &Limits,
) -> &'static str {
    let first_request_by = accepted + limits.header_read_timeout;
    loop {
        let now = Instant::now();
        let waiting_for_first = requests.load(Ordering::Relaxed) == 0;
        if waiting_for_first && now >= first_request_by {
            return "no request within the header timeout";
        }
        let idle_until = activity.last() + limits.idle_timeout;
        if now >= idle_until {
            return "idle";
        }
        let next = if waiting_for_first {
            idle_until.min(first_request_by)
        } else {
            idle_until
        };
        sleep_until(next).await;
    }
}

/// When a connection last moved a byte, shared between its stream and its watchdog.
#[derive(Debug, Clone)]
struct Activity {
    since: Instant,
    last_millis: Arc<AtomicU64>,
}

impl Activity {
    fn new(since: Instant) -> Activity {
        Activity {
            since,
            last_millis: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.since + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// A stream that records every read and write in its [`Activity`].
struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client address.
#[derive(Debug, Clone, Default)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection's place in [`PerIp`], given back when dropped.
struct IpSlot {
    table: PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// A slot for `ip`, or `None` if it already holds `max`. An IPv4 address seen through an
    /// IPv6 socket (`::ffff:1.2.3.4`) counts as the IPv4 address.
    fn enter(&self, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let open = table.entry(ip).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(IpSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = table.get_mut(&self.ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_its_share_and_gets_it_back() {
        let table = PerIp::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = table.enter(ip, 2).unwrap();
        let _second = table.enter(ip, 2).unwrap();
        assert!(table.enter(ip, 2).is_none());
        assert!(table.enter("192.0.2.8".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(table.enter(ip, 2).is_some());
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_the_ipv4_address() {
        let table = PerIp::default();
        let _v4 = table.enter("192.0.2.7".parse().unwrap(), 1).unwrap();
        assert!(
            table
                .enter("::ffff:192.0.2.7".parse().unwrap(), 1)
                .is_none()
        );
    }

    #[test]
    fn a_released_address_leaves_the_table() {
        let table = PerIp::default();
        drop(table.enter("192.0.2.7".parse().unwrap(), 1));
        assert!(table.0.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_waits_for_the_first_request_then_for_silence() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let accepted = Instant::now();
        let activity = Activity::new(accepted);
        let requests = AtomicU64::new(0);
        let reason = watchdog(&activity, &requests, accepted, &limits).await;
        assert_eq!(reason, "no request within the header timeout");
        assert_eq!(accepted.elapsed(), Duration::from_secs(10));

        requests.store(1, Ordering::Relaxed);
        activity.touch();
        let touched = Instant::now();
        let reason = watchdog(&activity, &requests, accepted, &limits).await;
        assert_eq!(reason, "idle");
        assert_eq!(touched.elapsed(), Duration::from_secs(60));
    }
}
