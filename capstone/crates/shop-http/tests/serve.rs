//! The server's limits and shutdown, over real sockets on loopback.
//!
//! Timeouts here are short (a few hundred milliseconds) so that the tests finish quickly; each
//! check waits for an outcome (a closed connection, a response) with a generous ceiling
//! instead of asserting how fast it came.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use shop_http::{Limits, RunningServer, ServeError, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// How long any single check may wait before the test fails.
const CEILING: Duration = Duration::from_secs(5);

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(400),
        max_connections: 16,
        max_connections_per_ip: 4,
        drain_timeout: Duration::from_secs(3),
    }
}

fn app(in_flight: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/",
            get(
                |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("hello {peer}") },
            ),
        )
        .route(
            "/slow",
            get(move || async move {
                in_flight.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        )
}

async fn start(limits: Limits) -> (RunningServer, Arc<Notify>) {
    let in_flight = Arc::new(Notify::new());
    let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a free port on loopback")
        .limits(limits)
        .spawn(app(Arc::clone(&in_flight)), CancellationToken::new());
    (server, in_flight)
}

async fn get_on<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    timeout(CEILING, read_response(stream))
        .await
        .expect("a response within the ceiling")
}

/// Reads one response (head and a `content-length` body) off a keep-alive connection.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0_u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0_u8; length];
    stream
        .read_exact(&mut body)
        .await
        .expect("the whole body arrives");
    head + &String::from_utf8_lossy(&body)
}

/// Waits until the server closes `stream`.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    testkit::net::closed_by_server(stream, CEILING).await
}

#[tokio::test]
async fn a_request_is_served_and_knows_its_peer() {
    let (server, _) = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let response = get_on(&mut stream, "/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let local = stream.local_addr().unwrap();
    assert!(response.ends_with(&format!("hello {local}")), "{response}");
    assert_eq!(server.stats().accepted, 1);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let (server, _) = start(limits()).await;
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "still open after {CEILING:?}"
    );
}

#[tokio::test]
async fn a_client_that_dribbles_its_request_head_is_closed() {
    let (server, _) = start(limits()).await;
    let mut slow = TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let dribble = async {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow
                .write_all(format!("x-{n}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    assert!(
        timeout(CEILING, dribble).await.is_ok(),
        "a header line every 100 ms kept the connection open for {CEILING:?}"
    );
}

#[tokio::test]
async fn a_slow_head_on_a_kept_alive_connection_is_closed_too() {
    let (server, _) = start(Limits {
        idle_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
    // The first request came in time; the second head never ends. hyper's header timer, which
    // starts at the head's first byte, closes it (the idle timeout is 30 s here).
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let dribble = async {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream
                .write_all(format!("x-{n}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    assert!(timeout(CEILING, dribble).await.is_ok());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (server, _) = start(Limits {
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut stream).await);
    assert_eq!(server.stats().open, 0);
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share() {
    let (server, _) = start(Limits {
        max_connections_per_ip: 2,
        ..limits()
    })
    .await;
    let mut first = TcpStream::connect(server.addr()).await.unwrap();
    let mut second = TcpStream::connect(server.addr()).await.unwrap();
    assert!(get_on(&mut first, "/").await.starts_with("HTTP/1.1 200"));
    assert!(get_on(&mut second, "/").await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(server.addr()).await.unwrap();
    assert!(closed_by_server(&mut third).await);
    assert_eq!(server.stats().refused, 1);
    // The two it holds still work, and once one closes, the address may connect again.
    assert!(get_on(&mut first, "/").await.starts_with("HTTP/1.1 200"));
    drop(first);
    let again = async {
        loop {
            let mut stream = TcpStream::connect(server.addr()).await.unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
                .await
                .unwrap();
            let response = read_response(&mut stream).await;
            if response.starts_with("HTTP/1.1 200") {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(timeout(CEILING, again).await.is_ok());
}

#[tokio::test]
async fn at_the_total_cap_a_new_client_waits_for_a_free_connection() {
    let (server, _) = start(Limits {
        max_connections: 1,
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    let mut holder = TcpStream::connect(server.addr()).await.unwrap();
    assert!(get_on(&mut holder, "/").await.starts_with("HTTP/1.1 200"));

    let mut waiting = TcpStream::connect(server.addr()).await.unwrap();
    waiting
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut response = Box::pin(read_response(&mut waiting));
    assert!(
        timeout(Duration::from_millis(300), &mut response)
            .await
            .is_err(),
        "served past the cap"
    );
    drop(holder);
    let response = timeout(CEILING, response)
        .await
        .expect("served once a slot freed");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_refuses_new_connections() {
    let (server, in_flight) = start(limits()).await;
    let addr = server.addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    in_flight.notified().await;

    server.begin_shutdown();
    let response = timeout(CEILING, read_response(&mut stream)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );
    assert!(response.ends_with("done"));

    timeout(CEILING, server.stopped()).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn a_request_still_running_at_the_drain_deadline_is_cut_off() {
    let (server, _) = start(Limits {
        drain_timeout: Duration::from_millis(200),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    // Let the request reach the handler before shutting down.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.begin_shutdown();
    let stopped = timeout(CEILING, server.stopped()).await.unwrap();
    assert!(
        matches!(stopped, Err(ServeError::DrainTimeout(_))),
        "{stopped:?}"
    );
    assert!(closed_by_server(&mut stream).await);
}

mod tls {
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio_rustls::TlsConnector;

    use super::*;

    fn configs() -> (Arc<rustls::ServerConfig>, TlsConnector) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .expect("a test certificate and configuration");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("a test certificate and configuration")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("a test certificate and configuration");
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(cert.der().to_vec()))
            .expect("a test certificate and configuration");
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("a test certificate and configuration")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), TlsConnector::from(Arc::new(client)))
    }

    #[tokio::test]
    async fn https_is_served_with_the_same_limits() {
        let (server_config, connector) = configs();
        let server = Server::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .tls(server_config)
            .limits(limits())
            .spawn(app(Arc::new(Notify::new())), CancellationToken::new());
        assert!(server.base_url().starts_with("https://127.0.0.1:"));

        let tcp = TcpStream::connect(server.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut stream = connector.connect(name, tcp).await.unwrap();
        assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));

        // A client that connects and never starts the handshake is closed like a silent one.
        let mut silent = TcpStream::connect(server.addr()).await.unwrap();
        assert!(closed_by_server(&mut silent).await);
    }
}
