//! TLS: a handshake with the generated certificate succeeds with modern parameters, and one
//! without it (or for another name) is refused; HTTPS responses carry HSTS.
//!
//! `cargo test -p lesson-06 --test tls`

use axum::Router;
use axum::routing::get;
use lesson_06::headers::{HSTS, hsts};
use lesson_06::tls::{self, SelfSigned, TlsError};
use rustls::version::{TLS12, TLS13};
use shop_http::RunningServer;
use tokio_util::sync::CancellationToken;

async fn server(identity: &SelfSigned) -> RunningServer {
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(hsts());
    tls::serve_https(
        ([127, 0, 0, 1], 0).into(),
        app,
        tls::server_config(identity).expect("rustls accepts the generated certificate"),
        CancellationToken::new(),
    )
    .await
    .expect("the HTTPS server starts on a free port")
}

#[tokio::test]
async fn a_client_that_trusts_the_certificate_negotiates_tls13_and_h2() {
    let identity = SelfSigned::generate().unwrap();
    let server = server(&identity).await;
    let config = tls::client_config(
        Some(&identity.cert),
        &[&TLS13, &TLS12],
        &[b"h2", b"http/1.1"],
    )
    .unwrap();
    let agreed = tls::handshake(server.addr(), "localhost", config)
        .await
        .unwrap();
    assert_eq!(agreed.protocol, "TLSv1_3");
    assert!(agreed.cipher_suite.starts_with("TLS13_"), "{agreed:?}");
    assert_eq!(agreed.alpn.as_deref(), Some("h2"));

    let tls12 = tls::client_config(Some(&identity.cert), &[&TLS12], &[]).unwrap();
    let agreed = tls::handshake(server.addr(), "localhost", tls12)
        .await
        .unwrap();
    assert_eq!(agreed.protocol, "TLSv1_2");
    assert!(
        agreed.cipher_suite.contains("ECDHE"),
        "forward secrecy: {agreed:?}"
    );
    server.begin_shutdown();
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn a_client_without_the_certificate_or_for_another_name_is_refused() {
    let identity = SelfSigned::generate().unwrap();
    let server = server(&identity).await;
    let stranger = tls::client_config(None, &[&TLS13], &[]).unwrap();
    let refused = tls::handshake(server.addr(), "localhost", stranger)
        .await
        .unwrap_err();
    assert!(matches!(refused, TlsError::Handshake(_)), "{refused}");
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");

    let trusting = tls::client_config(Some(&identity.cert), &[&TLS13], &[]).unwrap();
    let wrong_name = tls::handshake(server.addr(), "shop.test", trusting)
        .await
        .unwrap_err();
    assert!(
        wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );

    // Another certificate with the same names is still not *this* certificate.
    let impostor = SelfSigned::generate().unwrap();
    let fooled = tls::client_config(Some(&impostor.cert), &[&TLS13], &[]).unwrap();
    assert!(
        tls::handshake(server.addr(), "localhost", fooled)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn https_responses_carry_hsts() {
    let identity = SelfSigned::generate().unwrap();
    let server = server(&identity).await;
    let config = tls::client_config(Some(&identity.cert), &[&TLS13], &[b"http/1.1"]).unwrap();
    let exchange = tls::https_get(server.addr(), "localhost", config, "/")
        .await
        .unwrap();
    assert_eq!(exchange.status_line, "HTTP/1.1 200 OK");
    assert_eq!(exchange.header("strict-transport-security"), Some(HSTS));
    assert_eq!(exchange.handshake.alpn.as_deref(), Some("http/1.1"));
}
