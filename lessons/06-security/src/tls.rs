//! HTTPS with rustls: a self-signed certificate made at start-up, the lab served over TLS by
//! shop-http's server (lesson 03's accept loop, with a TLS handshake first), and a client that
//! trusts exactly that certificate and reports what it agreed on with the server.
//!
//! The crypto provider is chosen explicitly (ring, which the workspace already compiles)
//! rather than installed as a process-wide default: a library should not decide for the whole
//! program, and an explicit provider cannot be surprised by a second one some dependency
//! enabled. `tests/tls.rs` does a handshake with the certificate and is refused without it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use shop_http::{RunningServer, ServeError, Server};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// The names the certificate is valid for; the client checks the one it dialled against them.
pub const CERT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// How long a handshake plus one request may take before the client gives up.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("could not generate the certificate")]
    Generate(#[from] rcgen::Error),
    #[error("rustls refused the configuration")]
    Config(#[from] rustls::Error),
    #[error("the HTTPS server could not start")]
    Serve(#[from] ServeError),
    #[error("{0} is not a valid server name")]
    ServerName(String),
    #[error("could not connect")]
    Connect(#[source] io::Error),
    #[error("the TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    #[error("the HTTPS exchange did not finish within {0:?}")]
    Timeout(Duration),
}

// ANCHOR: certificate
/// A certificate and its private key, generated in memory.
pub struct SelfSigned {
    pub cert: CertificateDer<'static>,
    /// PKCS#8 DER. rustls's key types print as "[secret key elided]", and this struct's
    /// `Debug` leaves the key out altogether.
    key: PrivatePkcs8KeyDer<'static>,
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_bytes", &self.cert.len())
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// A fresh key pair (ECDSA P-256, rcgen's default) and a certificate for [`CERT_NAMES`],
    /// signed by itself. Nobody vouches for it, so only a client told to trust this exact
    /// certificate will accept it: fine for a demo and for tests, never for a public site,
    /// where a CA (Let's Encrypt, through ACME) signs the certificate.
    pub fn generate() -> Result<Self, TlsError> {
        let names: Vec<String> = CERT_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(SelfSigned {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
        })
    }
}
// ANCHOR_END: certificate

/// The crypto provider both sides use: ring, passed explicitly.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ANCHOR: server_config
/// The server's TLS settings: rustls's safe defaults (TLS 1.3 and 1.2, forward-secret AEAD
/// suites only; no SSL, no TLS 1.0/1.1, no RC4 or CBC), our certificate, and ALPN offering
/// HTTP/2 before HTTP/1.1.
pub fn server_config(identity: &SelfSigned) -> Result<Arc<ServerConfig>, TlsError> {
    let key = PrivateKeyDer::Pkcs8(identity.key.clone_key());
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
// ANCHOR_END: server_config

// ANCHOR: serve
/// Serves `app` over TLS on `addr` (port 0: any free port) until `shutdown`, with the same
/// server as plain HTTP: `.tls(config)` puts a handshake in front of each connection, bounded
/// by the same header timeout, and the configuration's ALPN list picks HTTP/2 or HTTP/1.1.
pub async fn serve_https(
    addr: SocketAddr,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) -> Result<RunningServer, TlsError> {
    let server = Server::bind(addr).await?.tls(config);
    // A child token: `begin_shutdown` stops this server and leaves the plain HTTP lab running.
    Ok(server.spawn(app, shutdown.child_token()))
}
// ANCHOR_END: serve

// ANCHOR: client_config
/// A client that trusts `trusted` and nothing else (no system roots: this client exists to
/// talk to our server). `None` trusts nothing, which is how a stranger's client sees a
/// self-signed certificate. `versions` restricts the TLS versions it offers; `alpn` lists the
/// application protocols it offers, in order of preference.
pub fn client_config(
    trusted: Option<&CertificateDer<'static>>,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(cert) = trusted {
        roots.add(cert.clone())?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
// ANCHOR_END: client_config

/// What a handshake settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// e.g. `TLSv1_3`.
    pub protocol: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The application protocol the server picked from the client's offer, e.g. `h2`.
    pub alpn: Option<String>,
}

/// What [`https_get`] saw: the handshake, then the response's status line and headers.
#[derive(Debug, Clone)]
pub struct HttpsExchange {
    pub handshake: Handshake,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
}

impl HttpsExchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Connects to `addr`, checks the certificate against `server_name`, and returns what was
/// negotiated. Certificate problems (unknown issuer, wrong name, expired) fail here.
pub async fn handshake(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> Result<Handshake, TlsError> {
    let stream = connect(addr, server_name, config).await?;
    let mut stream = stream;
    let handshake = describe(stream.get_ref().1);
    let _ = stream.shutdown().await;
    Ok(handshake)
}

fn describe(connection: &rustls::ClientConnection) -> Handshake {
    Handshake {
        protocol: connection
            .protocol_version()
            .map_or_else(|| "none".to_owned(), |v| format!("{v:?}")),
        cipher_suite: connection
            .negotiated_cipher_suite()
            .map_or_else(|| "none".to_owned(), |s| format!("{:?}", s.suite())),
        alpn: connection
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    }
}

async fn connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsError> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| TlsError::ServerName(server_name.to_owned()))?;
    let tcp = TcpStream::connect(addr).await.map_err(TlsError::Connect)?;
    tokio::time::timeout(
        CLIENT_TIMEOUT,
        TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| TlsError::Timeout(CLIENT_TIMEOUT))?
    .map_err(TlsError::Handshake)
}

/// One HTTP/1.1 `GET` over TLS, written by hand (the workspace's reqwest has no TLS on
/// purpose), with `connection: close` so the response ends where the stream does. The
/// client's config must offer `http/1.1` only, since this speaks nothing else.
pub async fn https_get(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
    path: &str,
) -> Result<HttpsExchange, TlsError> {
    let exchange = async {
        let mut stream = connect(addr, server_name, config).await?;
        let handshake = describe(stream.get_ref().1);
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: {server_name}\r\nconnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(TlsError::Connect)?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw).await {
            Ok(_) => {}
            // A peer that closes TCP without TLS's close_notify: what arrived is still the
            // response (`connection: close` said the body ends with the stream).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(TlsError::Connect(e)),
        }
        Ok(parse_head(handshake, &String::from_utf8_lossy(&raw)))
    };
    tokio::time::timeout(CLIENT_TIMEOUT, exchange)
        .await
        .map_err(|_| TlsError::Timeout(CLIENT_TIMEOUT))?
}

fn parse_head(handshake: Handshake, raw: &str) -> HttpsExchange {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpsExchange {
        handshake,
        status_line,
        headers,
    }
}
