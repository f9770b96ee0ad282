//! Server-side request forgery (SSRF): "fetch this URL for me" endpoints, one that fetches
//! whatever it is given and one that checks where the request would really go.
//!
//! The demo starts two stand-ins on loopback: an *internal metadata service* holding a secret
//! (what `169.254.169.254` is on a cloud VM) and the shop's *image CDN*, which has an open
//! redirect. It also gives both fetchers the same made-up DNS ([`Resolver::Static`]), so that
//! `partner.example` can "resolve" to 127.0.0.1 without any traffic leaving the machine.
//! `tests/web.rs` proves the vulnerable fetcher reaches the secret four ways and the fixed one
//! none.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::{Host, Url};

use crate::lab::LabState;
use crate::problem::refusal;

/// How much of a fetched body is kept: a fetcher must bound what it reads, or one URL that
/// streams forever fills the server's memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long one fetch may take, connect to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// `?url=`
#[derive(Debug, Deserialize)]
pub struct FetchParams {
    pub url: String,
}

/// What both endpoints answer with when they fetched something.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fetched {
    pub status: u16,
    pub body: String,
}

// ANCHOR: resolver
/// How a host name becomes addresses. `System` asks the operating system's resolver (DNS);
/// `Static` is a fixed table, the demo's `/etc/hosts`, so the lesson can show a hostile DNS
/// answer without a DNS server.
#[derive(Debug, Clone)]
pub enum Resolver {
    System,
    Static(Arc<HashMap<String, IpAddr>>),
}

impl Resolver {
    pub async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match self {
            Resolver::System => Ok(tokio::net::lookup_host((host, port)).await?.collect()),
            Resolver::Static(table) => match table.get(host) {
                Some(ip) => Ok(vec![SocketAddr::new(*ip, port)]),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "unknown host")),
            },
        }
    }
}
// ANCHOR_END: resolver

// ANCHOR: vulnerable
/// The vulnerable fetcher: any scheme reqwest speaks, any host, and redirects followed.
pub fn vulnerable_client(resolver: &Resolver) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        // reqwest's default, spelled out: up to ten redirects, to anywhere.
        .redirect(reqwest::redirect::Policy::limited(10));
    if let Resolver::Static(table) = resolver {
        for (name, ip) in table.iter() {
            builder = builder.resolve(name, SocketAddr::new(*ip, 0));
        }
    }
    builder.build()
}

/// `GET /vulnerable/fetch?url=`: fetches the URL and returns what came back.
pub async fn fetch_vulnerable(
    State(state): State<LabState>,
    Query(params): Query<FetchParams>,
) -> Response {
    let response = match state.ssrf.vulnerable.get(&params.url).send().await {
        Ok(response) => response,
        Err(error) => {
            return refusal(StatusCode::BAD_GATEWAY, error.to_string()).into_response();
        }
    };
    let status = response.status().as_u16();
    match read_capped(response).await {
        Ok(body) => Json(Fetched { status, body }).into_response(),
        Err(error) => refusal(StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
// ANCHOR_END: vulnerable

/// Why the fixed fetcher refused a URL.
#[derive(Debug, Error)]
pub enum FetchRefused {
    #[error("not a URL: {0}")]
    BadUrl(#[from] url::ParseError),
    #[error("scheme {0} is not allowed (http and https only)")]
    Scheme(String),
    #[error("URLs with a user name or password are not allowed")]
    Credentials,
    #[error("host {0} is not on the allow-list")]
    HostNotAllowed(String),
    #[error("host {0} did not resolve")]
    Unresolvable(String),
    #[error("{host} resolves to {addr}, a {kind} address")]
    InternalAddress {
        host: String,
        addr: SocketAddr,
        kind: &'static str,
    },
    #[error("the server answered {status} with a redirect to {location}; redirects are refused")]
    Redirect { status: u16, location: String },
    #[error("the fetch failed")]
    Upstream(#[from] reqwest::Error),
}

impl FetchRefused {
    /// A refusal is the client's doing (403); an upstream failure is not (502).
    pub fn status(&self) -> StatusCode {
        match self {
            FetchRefused::BadUrl(_) => StatusCode::BAD_REQUEST,
            FetchRefused::Upstream(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// The fixed fetcher's rules, checked in this order for every URL:
///
/// 1. the URL parses, its scheme is `http` or `https`, and it carries no credentials;
/// 2. its host is a name on the allow-list (an IP literal never is);
/// 3. the name is resolved *here*, and every address it resolves to must be public, unless
///    that exact socket address is one of `internal_exceptions` (an internal service this
///    server is meant to reach; production lists none);
/// 4. the request goes to the address that was checked, not to a second DNS answer, so a
///    name that resolves to a public address once and to 127.0.0.1 the next time (DNS
///    rebinding) cannot slip between check and use;
/// 5. redirects are not followed: a redirect is a new URL, which would need all of the above.
#[derive(Debug, Clone)]
pub struct SafeFetcher {
    pub allowed_hosts: Vec<String>,
    pub internal_exceptions: Vec<SocketAddr>,
    pub resolver: Resolver,
}

// ANCHOR: fetch
impl SafeFetcher {
    pub async fn fetch(&self, raw: &str) -> Result<Fetched, FetchRefused> {
        let url = Url::parse(raw)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchRefused::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchRefused::Credentials);
        }
        let host = match url.host() {
            Some(Host::Domain(name)) if self.allowed_hosts.iter().any(|a| a == name) => name,
            Some(host) => return Err(FetchRefused::HostNotAllowed(host.to_string())),
            None => return Err(FetchRefused::HostNotAllowed(String::new())),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs = self
            .resolver
            .lookup(host, port)
            .await
            .map_err(|_| FetchRefused::Unresolvable(host.to_owned()))?;
        // Every address, not only the first: a name may have several, and a client may try any.
        for &addr in &addrs {
            if let Some(kind) = internal_kind(addr.ip())
                && !self.internal_exceptions.contains(&addr)
            {
                return Err(FetchRefused::InternalAddress {
                    host: host.to_owned(),
                    addr,
                    kind,
                });
            }
        }
        let pinned = *addrs
            .first()
            .ok_or_else(|| FetchRefused::Unresolvable(host.to_owned()))?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(host, pinned)
            .build()?;
        let response = client.get(url.as_str()).send().await?;
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)")
                .to_owned();
            return Err(FetchRefused::Redirect {
                status: response.status().as_u16(),
                location,
            });
        }
        let status = response.status().as_u16();
        Ok(Fetched {
            status,
            body: read_capped(response).await?,
        })
    }
}
// ANCHOR_END: fetch

// ANCHOR: internal_kind
/// Which kind of non-public address `ip` is, if it is one: the ranges an outbound fetch on
/// behalf of a user must never reach.
pub fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    // `::ffff:127.0.0.1` is 127.0.0.1 written as IPv6; judge the address it really is.
    match ip.to_canonical() {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}
// ANCHOR_END: internal_kind

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the cloud metadata service: the classic SSRF prize.
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("non-routable")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unique_local() {
        Some("private")
    } else if ip.is_unicast_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("non-routable")
    } else {
        None
    }
}

/// `GET /fixed/fetch?url=`
pub async fn fetch_fixed(
    State(state): State<LabState>,
    Query(params): Query<FetchParams>,
) -> Response {
    match state.ssrf.fixed.fetch(&params.url).await {
        Ok(fetched) => Json(fetched).into_response(),
        Err(refused) => refusal(refused.status(), refused.to_string()).into_response(),
    }
}

/// Reads at most [`MAX_BODY_BYTES`] of a body, chunk by chunk.
async fn read_capped(mut response: reqwest::Response) -> reqwest::Result<String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Both fetchers, as the lab's state holds them.
#[derive(Debug, Clone)]
pub struct Fetchers {
    pub vulnerable: reqwest::Client,
    pub fixed: SafeFetcher,
}

/// The stand-ins the SSRF attacks aim at, all on loopback.
#[derive(Debug, Clone)]
pub struct InternalServices {
    /// The "cloud metadata service": `GET /latest/credentials` answers the secret.
    pub metadata: SocketAddr,
    /// The shop's image CDN: `GET /logo.svg`, and an open redirect at `GET /go?to=`.
    pub cdn: SocketAddr,
    /// What the metadata service hands out; an attack that prints it got through.
    pub secret: String,
}

/// The names the demo's DNS knows. `partner.example` is on the allow-list, and its owner
/// (or whoever took over its DNS) pointed it at 127.0.0.1.
pub const CDN_HOST: &str = "images.shop.test";
pub const PARTNER_HOST: &str = "partner.example";

impl InternalServices {
    /// Starts both stand-ins on free loopback ports; they stop when `shutdown` is cancelled.
    pub async fn start(shutdown: CancellationToken) -> io::Result<Self> {
        let secret = format!("demo-secret-{:016x}", rand::random::<u64>());
        let metadata = {
            let secret = secret.clone();
            axum::Router::new().route(
                "/latest/credentials",
                get(
                    move || async move { Json(serde_json::json!({ "secret_access_key": secret })) },
                ),
            )
        };
        let cdn = axum::Router::new()
            .route(
                "/logo.svg",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "image/svg+xml")],
                        r#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>"#,
                    )
                }),
            )
            .route("/go", get(open_redirect));
        Ok(InternalServices {
            metadata: spawn(metadata, shutdown.clone()).await?,
            cdn: spawn(cdn, shutdown).await?,
            secret,
        })
    }

    /// The demo's DNS: both names resolve to loopback.
    pub fn resolver(&self) -> Resolver {
        let table = [CDN_HOST, PARTNER_HOST]
            .into_iter()
            .map(|name| (name.to_owned(), IpAddr::V4(Ipv4Addr::LOCALHOST)))
            .collect();
        Resolver::Static(Arc::new(table))
    }

    /// The fixed fetcher for this set of services: two allowed hosts, and the CDN's exact
    /// loopback address as the one internal exception (in production the CDN is public).
    pub fn fetchers(&self) -> reqwest::Result<Fetchers> {
        let resolver = self.resolver();
        Ok(Fetchers {
            vulnerable: vulnerable_client(&resolver)?,
            fixed: SafeFetcher {
                allowed_hosts: vec![CDN_HOST.to_owned(), PARTNER_HOST.to_owned()],
                internal_exceptions: vec![self.cdn],
                resolver,
            },
        })
    }
}

#[derive(Debug, Deserialize)]
struct GoTo {
    to: String,
}

/// The CDN's open redirect: `/go?to=` sends the client anywhere, the kind of endpoint that
/// turns an allow-listed host into a door to every other.
async fn open_redirect(Query(go): Query<GoTo>) -> Redirect {
    Redirect::to(&go.to)
}

async fn spawn(router: axum::Router, shutdown: CancellationToken) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "an internal stand-in service failed");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_recognised_in_both_families() {
        let cases = [
            ("127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("0.0.0.0", Some("non-routable")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("fd00::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("93.184.215.14", None),
            ("2606:4700::1111", None),
        ];
        for (ip, kind) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(internal_kind(ip), kind, "{ip}");
        }
    }
}
