//! Which IP address a request came from, for per-IP limits (book chapter 06).
//!
//! By default: the TCP peer, as the server saw it (`ConnectInfo<SocketAddr>`, which
//! `shop_http::Server` puts in every request). `X-Forwarded-For` is **not** trusted by default,
//! because any client can send one: `X-Forwarded-For: 203.0.113.7` on every request would
//! give an attacker a fresh rate-limit bucket each time and frame someone else.
//!
//! Behind a reverse proxy, though, every peer is the proxy, and all clients would share one
//! bucket. With `SHOP_SECURITY__TRUST_X_FORWARDED_FOR=true` the service takes the **last** entry of the
//! header: the one the proxy itself appended, naming the address that connected to it.
//! Earlier entries came from the client and prove nothing. Turn it on only when a proxy you
//! run always sets the header, and the service cannot be reached around it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use crate::error::ApiError;
use crate::state::AppState;

/// How to find a request's client address.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientIpSource {
    pub trust_x_forwarded_for: bool,
}

impl ClientIpSource {
    /// The client's address, or `None` when the request carries no socket address (a router
    /// driven in a unit test without a server).
    pub fn of(&self, request: &Request) -> Option<IpAddr> {
        self.find(request.headers(), request.extensions())
    }

    fn find(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        if self.trust_x_forwarded_for
            && let Some(ip) = last_forwarded_for(headers)
        {
            return Some(ip);
        }
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())
    }
}

/// The last address of the last `X-Forwarded-For` header, if it parses.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    last_header
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Extractor: the client's IP address (see the module documentation for where it comes from).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let source = ClientIpSource {
            trust_x_forwarded_for: state.config.security.trust_x_forwarded_for,
        };
        source
            .find(&parts.headers, &parts.extensions)
            .map(ClientIp)
            // Only a server set up without connect info gets here: our bug, not the client's.
            .ok_or_else(|| ApiError::Internal("no client address on the request".into()))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> Request {
        let mut request = Request::new(axum::body::Body::empty());
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(value) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        request
    }

    #[test]
    fn the_socket_address_wins_unless_told_otherwise() {
        let request = request("198.51.100.9:4000", Some("203.0.113.7"));
        let ip = ClientIpSource::default().of(&request).unwrap();
        assert_eq!(
            ip.to_string(),
            "198.51.100.9",
            "a client-chosen header is ignored"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_entry_counts() {
        // The client sent "1.2.3.4"; the proxy appended the address it saw.
        let request = request("10.0.0.2:4000", Some("1.2.3.4, 203.0.113.7"));
        let source = ClientIpSource {
            trust_x_forwarded_for: true,
        };
        assert_eq!(source.of(&request).unwrap().to_string(), "203.0.113.7");
        let garbage = self::request("10.0.0.2:4000", Some("not-an-ip"));
        assert_eq!(source.of(&garbage).unwrap().to_string(), "10.0.0.2");
    }
}
