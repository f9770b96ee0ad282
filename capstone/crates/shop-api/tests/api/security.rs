//! The service's defences over HTTP (chapter 06): rate limit, headers, CORS, body limit, TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use secrecy::{ExposeSecret, SecretString};
use shop_api::config::TlsSetting;
use shop_api::security::tls;
use shop_api::{Application, Config, StartOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::PROBLEM_JSON;
use crate::helpers::{TestApp, UNREACHABLE_MONGODB};

// ANCHOR: tls_test
/// Starts the service over TLS, the way `main` does with `[security.tls]` set, with a
/// certificate generated for this test, and sends one HTTP/1.1 request with `client_trusts` as
/// the only trusted root. Returns the raw response, or the client's error. No PostgreSQL
/// needed: `/healthz` checks nothing.
async fn get_healthz_over_tls(
    server_cert: &tls::PemPair,
    client_trusts: &str,
) -> std::io::Result<String> {
    let dir = std::env::temp_dir().join(format!("shop-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &server_cert.cert)?;
    std::fs::write(&key, server_cert.key.expose_secret())?;
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        mongodb_url: SecretString::from(UNREACHABLE_MONGODB),
        security: shop_api::config::SecuritySettings {
            tls: TlsSetting::Files { cert, key },
            ..Default::default()
        },
        ..Config::default()
    };
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(PgConnectOptions::new().host("127.0.0.1").port(1));
    let app = Application::builder(config, StartOptions::default())
        .pool(pool)
        .build()
        .await
        .expect("the service starts with the test certificate");
    std::fs::remove_dir_all(&dir)?;
    let address = app.local_addr();
    let shutdown = CancellationToken::new();
    let server = app.spawn(shutdown.clone());

    let result = https_get(address, client_trusts, "/healthz").await;

    shutdown.cancel();
    server.stopped().await.expect("the server drains and stops");
    result
}

/// A minimal HTTPS client: TLS with one trusted certificate, then HTTP/1.1 by hand.
async fn https_get(address: SocketAddr, trusted_pem: &str, path: &str) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trusted_pem.as_bytes()) {
        roots.add(cert.expect("valid PEM")).expect("a usable root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    let mut stream = connector.connect(name, tcp).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // Bounded: the server closes after one response (`Connection: close`).
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .map_err(|_| std::io::Error::other("no response in time"))??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test]
async fn tls_serves_to_a_client_that_trusts_the_certificate_with_hsts() {
    let cert = tls::self_signed(&["localhost"]).unwrap();

    let response = get_healthz_over_tls(&cert, &cert.cert).await.unwrap();

    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age=31536000"),
        "{response}"
    );
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
}

#[tokio::test]
async fn a_client_that_trusts_another_certificate_refuses_the_handshake() {
    let cert = tls::self_signed(&["localhost"]).unwrap();
    let stranger = tls::self_signed(&["localhost"]).unwrap();

    let error = get_healthz_over_tls(&cert, &stranger.cert)
        .await
        .unwrap_err();

    assert!(error.to_string().contains("certificate"), "{error}");
}
// ANCHOR_END: tls_test

// ANCHOR: oversized_heads
/// What the server sent back for `head` (a request without a body) on a fresh connection, and
/// whether it then closed the connection. Reads while it writes: a server that answers before
/// reading everything closes a connection with unread data, which resets it, and the answer
/// must be read before the reset arrives.
async fn raw_exchange(app: &TestApp, head: String) -> (String, bool) {
    let address = app.base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(address)
        .await
        .expect("the server accepts");
    let (mut reader, mut writer) = stream.into_split();
    // A write refused half-way is part of the behaviour under test, not a failure.
    let writing = tokio::spawn(async move { writer.write_all(head.as_bytes()).await });
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => break false,
        }
    };
    writing.abort();
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// A GET of `target` with `headers` (each `name: value`), asking to close afterwards.
fn get(target: &str, headers: &[String]) -> String {
    let mut head = format!("GET {target} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// The value of header `name` in a raw HTTP/1.1 response, if present.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn a_20_kb_request_line_reaches_the_router_and_gets_a_problem_with_the_headers() {
    let app = TestApp::spawn_without_postgres().await;
    let target = format!("/nope?q={}", "a".repeat(20 * 1024));

    let (response, closed) = raw_exchange(&app, get(&target, &[])).await;

    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response:.200}"
    );
    assert_eq!(header(&response, "content-type"), Some(PROBLEM_JSON));
    assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    assert!(header(&response, "x-request-id").is_some());
    assert!(closed);
}

#[tokio::test]
async fn a_100_kb_header_field_reaches_the_router() {
    let app = TestApp::spawn_without_postgres().await;
    let padding = format!("X-Padding: {}", "p".repeat(100 * 1024));

    let (response, _) = raw_exchange(&app, get("/healthz", &[padding])).await;

    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n"),
        "{response:.200}"
    );
    assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
}

#[tokio::test]
async fn a_uri_over_64_kib_is_hypers_bare_414_and_the_connection_closes() {
    let app = TestApp::spawn_without_postgres().await;
    let target = format!("/healthz?q={}", "a".repeat(64 * 1024));

    let (response, closed) = raw_exchange(&app, get(&target, &[])).await;

    assert_bare_refusal(&response, closed, "HTTP/1.1 414 URI Too Long\r\n");
    still_serving(&app).await;
}

#[tokio::test]
async fn more_than_100_header_fields_are_hypers_bare_431_and_the_connection_closes() {
    let app = TestApp::spawn_without_postgres().await;
    // 100 KB of headers, in 101 fields of 1 KB (Host and Connection make it 103).
    let fields: Vec<String> = (0..101)
        .map(|n| format!("X-Field-{n}: {}", "f".repeat(1024)))
        .collect();

    let (response, closed) = raw_exchange(&app, get("/healthz", &fields)).await;

    assert_bare_refusal(
        &response,
        closed,
        "HTTP/1.1 431 Request Header Fields Too Large\r\n",
    );
    still_serving(&app).await;
}

/// What hyper sends when it refuses a request before any middleware runs: the status line,
/// no body, no security headers, and the connection closed after it.
fn assert_bare_refusal(response: &str, closed: bool, status_line: &str) {
    assert!(response.starts_with(status_line), "{response:.200}");
    assert_eq!(header(response, "content-length"), Some("0"), "no body");
    assert_eq!(
        header(response, "content-security-policy"),
        None,
        "no middleware ran"
    );
    assert!(
        closed,
        "hyper closes the connection after its own error response"
    );
}

/// The server is unharmed: the next connection gets an ordinary answer.
async fn still_serving(app: &TestApp) {
    let (response, _) = raw_exchange(app, get("/healthz", &[])).await;
    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n"),
        "{response:.200}"
    );
}
// ANCHOR_END: oversized_heads

mod needs_postgres {
    use reqwest::Method;
    use serde_json::json;

    use super::*;
    use crate::parts;

    // ANCHOR: rate_limit
    #[tokio::test]
    async fn a_client_over_its_rate_gets_429_and_spoofed_forwarding_headers_do_not_help() {
        // One request a second, bursts of three: the fourth request in a row is over.
        let app = TestApp::spawn_with(|config| {
            config.security.rate_limit_per_sec = 1;
            config.security.rate_limit_burst = 3;
        })
        .await;
        for n in 0..3 {
            assert_eq!(
                app.categories().await.status(),
                StatusCode::OK,
                "request {n}"
            );
        }

        let spoofed = app
            .client
            .get(format!("{}/categories", app.base_url))
            .header("x-forwarded-for", "203.0.113.99")
            .send()
            .await
            .unwrap();

        assert!(spoofed.headers().contains_key("retry-after"));
        let (status, content_type, body) = parts(spoofed).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["instance"], "/categories");
        // Probes are never limited.
        assert_eq!(app.healthz().await.status(), StatusCode::OK);
    }
    // ANCHOR_END: rate_limit

    // ANCHOR: headers_test
    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        let app = TestApp::spawn().await;

        for response in [app.categories().await, app.get("/nope").await] {
            let headers = response.headers();
            assert_eq!(
                headers["content-security-policy"],
                "default-src 'none'; frame-ancestors 'none'"
            );
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert_eq!(headers["referrer-policy"], "no-referrer");
            assert_eq!(headers["x-frame-options"], "DENY");
            assert!(
                !headers.contains_key("strict-transport-security"),
                "no HSTS over plain HTTP"
            );
        }
    }

    #[tokio::test]
    async fn account_responses_are_not_cached_and_catalog_responses_may_be() {
        let app = TestApp::spawn().await;
        let login = app.login("nobody@example.com", "whatever it may be").await;
        assert_eq!(login.headers()["cache-control"], "no-store");
        let me = app.get("/me").await;
        assert_eq!(me.headers()["cache-control"], "no-store");
        assert!(
            !app.categories()
                .await
                .headers()
                .contains_key("cache-control")
        );
    }
    // ANCHOR_END: headers_test

    // ANCHOR: cors_test
    #[tokio::test]
    async fn cors_preflight_is_allowed_for_listed_origins_only() {
        let app = TestApp::spawn_with(|config| {
            config.security.cors_allowed_origins = vec!["https://shop.example".to_owned()];
        })
        .await;
        let preflight = |origin: &'static str| {
            app.client
                .request(Method::OPTIONS, format!("{}/me", app.base_url))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
        };

        let allowed = preflight("https://shop.example").await.unwrap();
        let refused = preflight("https://evil.example").await.unwrap();

        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://shop.example"
        );
        let allowed_headers = allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(
            allowed_headers.contains("authorization"),
            "{allowed_headers}"
        );
        assert!(
            !allowed
                .headers()
                .contains_key("access-control-allow-credentials"),
            "bearer tokens, not cookies"
        );
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin")
        );
    }
    // ANCHOR_END: cors_test

    #[tokio::test]
    async fn without_an_allow_list_no_origin_gets_cors_headers() {
        let app = TestApp::spawn().await;

        let response = app
            .client
            .get(format!("{}/categories", app.base_url))
            .header("origin", "https://shop.example")
            .send()
            .await
            .unwrap();

        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin")
        );
    }

    // ANCHOR: body_limit_test
    #[tokio::test]
    async fn an_oversized_body_is_a_413_problem() {
        let app = TestApp::spawn().await;
        let huge = json!({
            "email": "ada@example.com",
            "display_name": "Ada",
            "password": "x".repeat(100 * 1024),
        });

        let (status, content_type, body) =
            parts(app.post_json("/auth/register", &huge, None).await).await;

        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(content_type, PROBLEM_JSON);
        assert_eq!(body["instance"], "/auth/register");
    }
    // ANCHOR_END: body_limit_test

    #[tokio::test]
    async fn a_malformed_json_body_is_a_400_problem() {
        let app = TestApp::spawn().await;

        let response = app
            .client
            .post(format!("{}/auth/login", app.base_url))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();

        let (status, content_type, _) = parts(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type, PROBLEM_JSON);
    }
}
