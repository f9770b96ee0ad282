//! HTTPS with rustls (book chapter 06): certificate files, or one generated at start.
//!
//! In production TLS usually ends at a load balancer or ingress, and the service speaks plain
//! HTTP on a private network; `[security.tls]` (or `SHOP_SECURITY__TLS__CERT` and `__KEY`) is
//! for when it must not (a zero-trust network, or no proxy at all). `--tls-self-signed` makes a certificate for
//! `localhost` at start, to try HTTPS (and see HSTS) on a laptop; browsers will warn, and
//! `curl` needs `--insecure` or `--cacert`.
//!
//! The server is `shop_http::Server` on rustls with the *ring* provider (the one the MongoDB
//! driver already compiles), chosen explicitly rather than through a process-wide default: two
//! libraries each installing "their" default provider is a classic start-up panic. TLS and
//! plain HTTP share one accept loop, so the connection limits and the graceful shutdown are
//! the same for both.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};

use crate::config::TlsSetting;

/// Why TLS could not be set up. Each names the file or step, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not valid PEM")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate file holds no certificate")]
    NoCertificate,
    #[error("cannot generate a self-signed certificate")]
    Generate(#[source] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration")]
    Rustls(#[source] rustls::Error),
}

/// A certificate chain and its private key, in PEM.
pub struct PemPair {
    pub cert: String,
    pub key: SecretString,
}

// ANCHOR: self_signed
/// A fresh self-signed certificate for `names` (e.g. `["localhost"]`).
pub fn self_signed(names: &[&str]) -> Result<PemPair, TlsError> {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: SecretString::from(signing_key.serialize_pem()),
    })
}
// ANCHOR_END: self_signed

/// The PEM pair the setting names, or `None` for plain HTTP.
pub fn load(setting: &TlsSetting) -> Result<Option<PemPair>, TlsError> {
    match setting {
        TlsSetting::Off => Ok(None),
        TlsSetting::SelfSigned => self_signed(&["localhost", "127.0.0.1"]).map(Some),
        TlsSetting::Files { cert, key } => Ok(Some(PemPair {
            cert: read(cert)?,
            key: SecretString::from(read(key)?),
        })),
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

// ANCHOR: server_config
/// The rustls server configuration for a PEM pair: TLS 1.2 and 1.3 with rustls' safe
/// defaults, HTTP/2 and HTTP/1.1 offered through ALPN.
pub fn server_config(pair: &PemPair) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pair.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "the certificate",
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_slice(pair.key.expose_secret().as_bytes()).map_err(|source| {
            TlsError::Pem {
                what: "the private key",
                source,
            }
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
// ANCHOR_END: server_config
