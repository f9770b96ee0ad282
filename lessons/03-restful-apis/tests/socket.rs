//! The server on a real socket (port 0), driven by reqwest and by hand-written HTTP/1.1:
//! connections, HTTP/2 and graceful shutdown, the things an in-process `oneshot` cannot see.
//!
//! `cargo test -p lesson-03 --test socket`

use std::time::Duration;

use lesson_03::api::{AppState, Slept};
use lesson_03::client::{ApiClient, Protocol};
use lesson_03::product::{Product, ProductDraft, eur};
use lesson_03::server::{self, Served, ServerConfig};
use reqwest::{Method, StatusCode, Version};
use shop_http::{Limits, RunningServer, ServeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn spawn_server(config: ServerConfig) -> Served {
    let addr = ([127, 0, 0, 1], 0).into();
    server::start(addr, config, AppState::default(), CancellationToken::new())
        .await
        .expect("the server starts on a free port")
}

fn client(server: &RunningServer, protocol: Protocol) -> ApiClient {
    ApiClient::new(server.base_url(), protocol).expect("the client builds")
}

#[tokio::test]
async fn a_product_is_created_and_read_back_over_http() {
    let Served { server, .. } = spawn_server(ServerConfig::default()).await;
    let client = client(&server, Protocol::Http1KeepAlive);
    let draft = ProductDraft {
        sku: "MUG-1".into(),
        name: "Mug".into(),
        price: eur(990),
        stock: 4,
    };
    let created = client
        .request(Method::POST, "/products")
        .json(&draft)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.version, Version::HTTP_11);
    let location = created
        .header(reqwest::header::LOCATION)
        .unwrap()
        .to_owned();

    let fetched = client.get(location).send().await.unwrap();
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(
        fetched.json::<Product>().unwrap(),
        created.json::<Product>().unwrap()
    );
}

// ANCHOR: keep_alive
/// Two requests written on one TCP connection, the second asking the server to close it
/// afterwards: both are answered, and the server accepted one connection.
#[tokio::test]
async fn an_http1_connection_is_kept_alive_between_requests() {
    let Served { server, .. } = spawn_server(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(
        b"GET /products HTTP/1.1\r\nhost: shop\r\n\r\n\
          GET /products HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut replies = String::new();
    tcp.read_to_string(&mut replies).await.unwrap();
    assert_eq!(replies.matches("HTTP/1.1 200 OK").count(), 2, "{replies}");
    assert_eq!(server.stats().accepted, 1);
}
// ANCHOR_END: keep_alive

#[tokio::test]
async fn http2_multiplexes_concurrent_requests_on_one_connection() {
    let Served { server, .. } = spawn_server(ServerConfig::default()).await;
    let client = client(&server, Protocol::Http2PriorKnowledge);
    let requests = (0..5).map(|_| client.get("/slow?delay_ms=50").send());
    for exchange in futures::future::join_all(requests).await {
        let exchange = exchange.unwrap();
        assert_eq!(exchange.status, StatusCode::OK);
        assert_eq!(exchange.version, Version::HTTP_2);
    }
    assert_eq!(server.stats().accepted, 1);
}

// ANCHOR: shutdown_test
#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_ones() {
    let Served { server, requests } = spawn_server(ServerConfig::default()).await;
    let client = client(&server, Protocol::Http1KeepAlive);
    let in_flight = tokio::spawn(async move { client.get("/slow?delay_ms=300").send().await });
    requests.wait_for_in_flight(1).await;

    server.begin_shutdown();
    let addr = server.addr();
    let exchange = in_flight.await.unwrap().unwrap();
    assert_eq!(exchange.status, StatusCode::OK);
    assert_eq!(exchange.json::<Slept>().unwrap().slept_ms, 300);
    assert_eq!(exchange.header(reqwest::header::CONNECTION), Some("close"));

    server.stopped().await.unwrap();
    let error = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}
// ANCHOR_END: shutdown_test

#[tokio::test]
async fn shutdown_gives_up_on_requests_that_outlast_the_drain_deadline() {
    let Served { server, requests } = spawn_server(ServerConfig {
        limits: Limits {
            drain_timeout: Duration::from_millis(50),
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let client = client(&server, Protocol::Http1KeepAlive);
    let _in_flight = tokio::spawn(async move { client.get("/slow?delay_ms=1500").send().await });
    requests.wait_for_in_flight(1).await;

    server.begin_shutdown();
    let result = server.stopped().await;
    assert!(
        matches!(result, Err(ServeError::DrainTimeout(_))),
        "{result:?}"
    );
}

/// The limits in `ServerConfig` reach shop-http's server: a client that connects and sends
/// nothing is closed once the header timeout has passed (the default, 10 s, would outlast the
/// five seconds this test waits).
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let Served { server, .. } = spawn_server(ServerConfig {
        limits: Limits {
            header_read_timeout: Duration::from_millis(200),
            ..Limits::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let mut buffer = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the connection is still open: {read:?}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_a_sentence_not_a_panic() {
    let Served { server: taken, .. } = spawn_server(ServerConfig::default()).await;
    let error = server::start(
        taken.addr(),
        ServerConfig::default(),
        AppState::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&taken.addr().to_string()), "{message}");
    assert!(message.contains("--addr"), "{message}");
}
