//! Which client a request comes from, for keying rate limits and login throttles.
//!
//! Behind a load balancer every connection comes from the balancer, and the client's address
//! is in `X-Forwarded-For`. That header is also trivially forged by the client, so it is
//! believed only when the connection comes from a proxy we run. Keying a limit on a forgeable
//! value turns the limit off: an attacker sends a new address with every request.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The header proxies append the address they received a request from.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

// ANCHOR: client_ip
/// The client's address: the TCP peer, unless the peer is one of `trusted_proxies`, in which
/// case the nearest `X-Forwarded-For` entry that is not itself a trusted proxy.
///
/// Proxies *append*, so the list reads client, proxy 1, proxy 2, ...; entries to the left of
/// the first untrusted one were written by whoever sent the request and prove nothing.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer.ip()) {
        return peer.ip();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .unwrap_or(peer.ip())
}
// ANCHOR_END: client_ip

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_str(xff).unwrap());
        headers
    }

    #[test]
    fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
        let peer: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let ip = client_ip(peer, &headers("1.2.3.4"), &["10.0.0.1".parse().unwrap()]);
        assert_eq!(ip, peer.ip());
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_wins() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer = SocketAddr::new(proxy, 5000);
        // The client forged "6.6.6.6"; the proxy appended the address it really saw.
        let ip = client_ip(peer, &headers("6.6.6.6, 203.0.113.7"), &[proxy]);
        assert_eq!(ip, "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &[proxy]), proxy);
    }
}
