//! Part (c): the checks that stop server-side request forgery.
//!
//! Run with `cargo test -p exercise-06 part_c`. First the address ranges, edge by
//! edge and then on random addresses; then the URL checks in their order, with the spellings
//! attackers use (an IP address as one number, in hex or octal, a user name in front of the
//! host, IPv4 inside IPv6); last the check of a DNS answer. Nothing here opens a connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use exercise_06::{FetchRefused, Internal, Target, check_url, internal_kind, pin};
use proptest::prelude::*;

fn v4(text: &str) -> IpAddr {
    text.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .expect("the test writes valid IPv4 addresses")
}

fn v6(text: &str) -> IpAddr {
    text.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .expect("the test writes valid IPv6 addresses")
}

/// The ranges of the brief, as (first address, prefix length, kind).
const V4_RANGES: [([u8; 4], u32, Internal); 13] = [
    ([127, 0, 0, 0], 8, Internal::Loopback),
    ([10, 0, 0, 0], 8, Internal::Private),
    ([172, 16, 0, 0], 12, Internal::Private),
    ([192, 168, 0, 0], 16, Internal::Private),
    ([169, 254, 0, 0], 16, Internal::LinkLocal),
    ([100, 64, 0, 0], 10, Internal::CarrierGradeNat),
    ([192, 0, 2, 0], 24, Internal::Documentation),
    ([198, 51, 100, 0], 24, Internal::Documentation),
    ([203, 0, 113, 0], 24, Internal::Documentation),
    ([0, 0, 0, 0], 8, Internal::NonRoutable),
    ([224, 0, 0, 0], 4, Internal::NonRoutable),
    ([240, 0, 0, 0], 4, Internal::NonRoutable),
    ([255, 255, 255, 255], 32, Internal::NonRoutable),
];

const V6_RANGES: [(u128, u32, Internal); 7] = [
    (1, 128, Internal::Loopback),
    (0xfc00 << 112, 7, Internal::Private),
    (0xfe80 << 112, 10, Internal::LinkLocal),
    (0x2001_0db8 << 96, 32, Internal::Documentation),
    (0, 128, Internal::NonRoutable),
    (0xff00 << 112, 8, Internal::NonRoutable),
    // IPv4-mapped addresses are judged as their IPv4 address: see the properties below.
    (0xffff << 32, 96, Internal::Loopback),
];

fn in_v4(ip: u32, (base, prefix, _): &([u8; 4], u32, Internal)) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    ip & mask == u32::from_be_bytes(*base)
}

fn in_v6(ip: u128, (base, prefix, _): &(u128, u32, Internal)) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    ip & mask == *base
}

/// What the brief says `ip` is: the test's own reading of the table on `Internal`.
fn expected_v4(ip: Ipv4Addr) -> Option<Internal> {
    let n = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|range| in_v4(n, range))
        .map(|range| range.2)
}

fn expected(ip: IpAddr) -> Option<Internal> {
    match ip {
        IpAddr::V4(ip) => expected_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => expected_v4(mapped),
            None => {
                let n = u128::from(ip);
                V6_RANGES[..6]
                    .iter()
                    .find(|range| in_v6(n, range))
                    .map(|range| range.2)
            }
        },
    }
}

#[test]
fn the_first_and_last_address_of_every_range_and_their_neighbours() {
    let cases = [
        ("126.255.255.255", None),
        ("127.0.0.0", Some(Internal::Loopback)),
        ("127.255.255.255", Some(Internal::Loopback)),
        ("128.0.0.0", None),
        ("9.255.255.255", None),
        ("10.0.0.0", Some(Internal::Private)),
        ("10.255.255.255", Some(Internal::Private)),
        ("11.0.0.0", None),
        ("172.15.255.255", None),
        ("172.16.0.0", Some(Internal::Private)),
        ("172.31.255.255", Some(Internal::Private)),
        ("172.32.0.0", None),
        ("192.167.255.255", None),
        ("192.168.0.0", Some(Internal::Private)),
        ("192.168.255.255", Some(Internal::Private)),
        ("192.169.0.0", None),
        ("169.253.255.255", None),
        ("169.254.0.0", Some(Internal::LinkLocal)),
        ("169.254.169.254", Some(Internal::LinkLocal)),
        ("169.254.255.255", Some(Internal::LinkLocal)),
        ("169.255.0.0", None),
        ("100.63.255.255", None),
        ("100.64.0.0", Some(Internal::CarrierGradeNat)),
        ("100.127.255.255", Some(Internal::CarrierGradeNat)),
        ("100.128.0.0", None),
        ("192.0.1.255", None),
        ("192.0.2.0", Some(Internal::Documentation)),
        ("192.0.2.255", Some(Internal::Documentation)),
        ("192.0.3.0", None),
        ("198.51.99.255", None),
        ("198.51.100.0", Some(Internal::Documentation)),
        ("198.51.100.255", Some(Internal::Documentation)),
        ("198.51.101.0", None),
        ("203.0.112.255", None),
        ("203.0.113.0", Some(Internal::Documentation)),
        ("203.0.113.255", Some(Internal::Documentation)),
        ("203.0.114.0", None),
        ("0.0.0.0", Some(Internal::NonRoutable)),
        ("0.255.255.255", Some(Internal::NonRoutable)),
        ("1.0.0.0", None),
        ("223.255.255.255", None),
        ("224.0.0.0", Some(Internal::NonRoutable)),
        ("239.255.255.255", Some(Internal::NonRoutable)),
        ("240.0.0.0", Some(Internal::NonRoutable)),
        ("255.255.255.254", Some(Internal::NonRoutable)),
        ("255.255.255.255", Some(Internal::NonRoutable)),
        ("8.8.8.8", None),
        ("93.184.215.14", None),
    ];
    for (text, kind) in cases {
        assert_eq!(
            internal_kind(v4(text)),
            kind,
            "{text} is {}",
            kind.map_or("public".to_owned(), |k| format!("{k:?}"))
        );
    }
    let cases = [
        ("::1", Some(Internal::Loopback)),
        ("::2", None),
        ("::", Some(Internal::NonRoutable)),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("fc00::", Some(Internal::Private)),
        ("fd12:3456::1", Some(Internal::Private)),
        (
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some(Internal::Private),
        ),
        ("fe00::", None),
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("fe80::", Some(Internal::LinkLocal)),
        (
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some(Internal::LinkLocal),
        ),
        ("fec0::", None),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("2001:db8::", Some(Internal::Documentation)),
        (
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            Some(Internal::Documentation),
        ),
        ("2001:db9::", None),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("ff00::", Some(Internal::NonRoutable)),
        ("ff02::1", Some(Internal::NonRoutable)),
        (
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some(Internal::NonRoutable),
        ),
        ("2606:4700::1111", None),
    ];
    for (text, kind) in cases {
        assert_eq!(
            internal_kind(v6(text)),
            kind,
            "{text} is {}",
            kind.map_or("public".to_owned(), |k| format!("{k:?}"))
        );
    }
}

#[test]
fn ipv4_inside_ipv6_is_judged_as_the_ipv4_address() {
    for (text, kind) in [
        ("::ffff:127.0.0.1", Some(Internal::Loopback)),
        ("::ffff:169.254.169.254", Some(Internal::LinkLocal)),
        ("::ffff:10.1.2.3", Some(Internal::Private)),
        ("::ffff:0.0.0.0", Some(Internal::NonRoutable)),
        ("::ffff:8.8.8.8", None),
    ] {
        assert_eq!(
            internal_kind(v6(text)),
            kind,
            "{text} is the IPv4-mapped form of {}: a socket connecting to it reaches that \
             IPv4 address",
            &text[7..]
        );
    }
}

/// IPv4 addresses that reach every range and its edges as well as the public space.
fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
    let inside = (prop::sample::select(V4_RANGES.to_vec()), any::<u32>()).prop_map(
        |((base, prefix, _), host)| {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            Ipv4Addr::from(u32::from_be_bytes(base) | (host & !mask))
        },
    );
    let edge = (prop::sample::select(V4_RANGES.to_vec()), any::<bool>()).prop_map(
        |((base, prefix, _), last)| {
            let start = u32::from_be_bytes(base);
            let size_minus_one = u32::MAX.checked_shr(prefix).unwrap_or(0);
            // One outside each end: the address before the first and after the last.
            Ipv4Addr::from(if last {
                start.wrapping_add(size_minus_one).wrapping_add(1)
            } else {
                start.wrapping_sub(1)
            })
        },
    );
    prop_oneof![inside, edge, any::<u32>().prop_map(Ipv4Addr::from)]
}

fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
    let inside = (prop::sample::select(V6_RANGES[..6].to_vec()), any::<u128>()).prop_map(
        |((base, prefix, _), host)| {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            Ipv6Addr::from(base | (host & !mask))
        },
    );
    prop_oneof![
        inside,
        any::<u128>().prop_map(Ipv6Addr::from),
        any_v4().prop_map(|ip| ip.to_ipv6_mapped()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// Every IPv4 address is the kind the table on `Internal` gives it, and public when the
    /// table does not list it.
    #[test]
    fn every_ipv4_address_is_classified_as_the_table_says(ip in any_v4()) {
        prop_assert_eq!(internal_kind(IpAddr::V4(ip)), expected_v4(ip), "{}", ip);
    }

    #[test]
    fn every_ipv6_address_is_classified_as_the_table_says(ip in any_v6()) {
        prop_assert_eq!(internal_kind(IpAddr::V6(ip)), expected(IpAddr::V6(ip)), "{}", ip);
    }

    /// The IPv4-mapped form of any IPv4 address is judged as that address.
    #[test]
    fn a_mapped_address_is_its_ipv4_address(ip in any_v4()) {
        prop_assert_eq!(
            internal_kind(IpAddr::V6(ip.to_ipv6_mapped())),
            internal_kind(IpAddr::V4(ip)),
            "{} and {} are one address", ip.to_ipv6_mapped(), ip
        );
    }

    /// Whichever way a URL spells an IPv4 address (dotted, one decimal number, hexadecimal,
    /// inside IPv6), the URL check refuses it exactly when the address is internal.
    #[test]
    fn an_ip_address_in_a_url_is_judged_however_it_is_spelled(
        ip in any_v4(),
        port in prop_oneof![Just(80u16), any::<u16>()],
    ) {
        let expected = match internal_kind(IpAddr::V4(ip)) {
            Some(kind) => Err(FetchRefused::Internal { addr: IpAddr::V4(ip), kind }),
            None => Ok(Target::Addr(SocketAddr::new(IpAddr::V4(ip), port))),
        };
        for spelling in [
            format!("http://{ip}:{port}/"),
            format!("http://{}:{port}/", u32::from(ip)),
            format!("http://0x{:x}:{port}/path?q=1", u32::from(ip)),
        ] {
            prop_assert_eq!(check_url(&spelling), expected.clone(), "{}", spelling);
        }
        let mapped = ip.to_ipv6_mapped();
        let in_v6 = check_url(&format!("http://[{mapped}]:{port}/"));
        match internal_kind(IpAddr::V4(ip)) {
            Some(kind) => prop_assert_eq!(
                in_v6,
                Err(FetchRefused::Internal { addr: IpAddr::V6(mapped), kind }),
                "[{}] is {} inside IPv6", mapped, ip
            ),
            None => prop_assert_eq!(
                in_v6,
                Ok(Target::Addr(SocketAddr::new(IpAddr::V6(mapped), port)))
            ),
        }
    }

    /// A user name or a password in a URL is refused, whatever the host.
    #[test]
    fn any_credentials_are_refused(
        user in "[a-z0-9.]{0,8}",
        password in proptest::option::of("[a-z0-9]{0,8}"),
        host in prop::sample::select(vec!["example.com", "169.254.169.254", "[::1]", "10.0.0.1"]),
    ) {
        let userinfo = match &password {
            Some(password) => format!("{user}:{password}"),
            None => user.clone(),
        };
        // `http://@example.com/` and `http://:@example.com/` carry no credentials at all.
        prop_assume!(!user.is_empty() || password.as_deref().is_some_and(|p| !p.is_empty()));
        let url = format!("http://{userinfo}@{host}/");
        prop_assert_eq!(check_url(&url), Err(FetchRefused::Credentials), "{}", url);
    }

    /// Any scheme but http and https is refused before the host is looked at.
    #[test]
    fn any_other_scheme_is_refused(scheme in "[a-z][a-z0-9+.-]{0,7}") {
        // `file:` URLs cannot carry a user name at all: the parser refuses them first.
        prop_assume!(!matches!(scheme.as_str(), "http" | "https" | "file"));
        let url = format!("{scheme}://user@127.0.0.1/");
        prop_assert_eq!(check_url(&url), Err(FetchRefused::Scheme(scheme.clone())), "{}", url);
    }

    /// A DNS answer is accepted only if every address in it is public, and then the first one
    /// is what to connect to.
    #[test]
    fn an_answer_is_pinned_only_if_every_address_is_public(
        answer in prop::collection::vec(
            prop_oneof![any_v4().prop_map(IpAddr::V4), any_v6().prop_map(IpAddr::V6)],
            0..5,
        ),
        port in any::<u16>(),
    ) {
        let first_internal = answer
            .iter()
            .find_map(|&addr| internal_kind(addr).map(|kind| (addr, kind)));
        let expected = match (first_internal, answer.first()) {
            (Some((addr, kind)), _) => Err(FetchRefused::Internal { addr, kind }),
            (None, Some(&first)) => Ok(SocketAddr::new(first, port)),
            (None, None) => Err(FetchRefused::Unresolved),
        };
        prop_assert_eq!(
            pin(port, &answer),
            expected,
            "answer {:?}: refused at its first internal address, else the first address, \
             with the port",
            answer
        );
    }
}

#[test]
fn step_1_what_is_not_a_url_is_refused_as_such() {
    for raw in [
        "not a url",
        "/relative/path",
        "http://",
        "http://256.0.0.1/",
        "http://1.2.3.4.5/",
        "http://4294967296/",
        "http://127.0.0.1:99999/",
        "http://[::1/",
    ] {
        assert!(
            matches!(check_url(raw), Err(FetchRefused::BadUrl(_))),
            "{raw:?} does not parse as a URL: BadUrl, got {:?}",
            check_url(raw)
        );
    }
}

#[test]
fn step_2_only_http_and_https_are_fetched() {
    for (raw, scheme) in [
        ("file:///etc/passwd", "file"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "gopher"),
        ("ftp://user@10.0.0.1/", "ftp"),
        ("javascript:alert(1)", "javascript"),
        ("FILE:///etc/passwd", "file"),
        ("httpx://example.com/", "httpx"),
    ] {
        assert_eq!(
            check_url(raw),
            Err(FetchRefused::Scheme(scheme.to_owned())),
            "{raw}: the scheme is checked before the credentials and the host"
        );
    }
}

#[test]
fn step_3_credentials_are_refused_before_the_host_is_judged() {
    for raw in [
        "http://trusted.example@169.254.169.254/latest/meta-data/",
        "http://user@127.0.0.1/",
        "http://:secret@example.com/",
        "https://admin:admin@example.com/",
        "http://127.0.0.1%2f@example.com/",
    ] {
        assert_eq!(
            check_url(raw),
            Err(FetchRefused::Credentials),
            "{raw} carries a user name or a password"
        );
    }
}

#[test]
fn step_4_an_internal_address_is_refused_with_its_kind() {
    for (raw, addr, kind) in [
        (
            "http://169.254.169.254/latest/",
            "169.254.169.254",
            Internal::LinkLocal,
        ),
        ("http://2852039166/", "169.254.169.254", Internal::LinkLocal),
        (
            "http://0251.0376.0251.0376/",
            "169.254.169.254",
            Internal::LinkLocal,
        ),
        ("http://0xa9fea9fe/", "169.254.169.254", Internal::LinkLocal),
        ("http://127.1/", "127.0.0.1", Internal::Loopback),
        ("http://%31%32%37.0.0.1/", "127.0.0.1", Internal::Loopback),
        (
            "http://127.0.0.1\\@example.com/",
            "127.0.0.1",
            Internal::Loopback,
        ),
        (
            "http://127.0.0.1#@example.com/",
            "127.0.0.1",
            Internal::Loopback,
        ),
        ("http://0/", "0.0.0.0", Internal::NonRoutable),
        (
            "http://192.168.1.1:8080/admin",
            "192.168.1.1",
            Internal::Private,
        ),
        (
            "http://100.100.100.200/",
            "100.100.100.200",
            Internal::CarrierGradeNat,
        ),
    ] {
        assert_eq!(
            check_url(raw),
            Err(FetchRefused::Internal {
                addr: v4(addr),
                kind
            }),
            "{raw} goes to {addr}, as the WHATWG parser reads it"
        );
    }
    for (raw, addr, kind) in [
        ("http://[::1]:8080/", "::1", Internal::Loopback),
        (
            "http://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1",
            Internal::Loopback,
        ),
        (
            "http://[::ffff:a9fe:a9fe]/",
            "::ffff:169.254.169.254",
            Internal::LinkLocal,
        ),
        ("http://[fd00::1]/", "fd00::1", Internal::Private),
        ("http://[::]/", "::", Internal::NonRoutable),
    ] {
        assert_eq!(
            check_url(raw),
            Err(FetchRefused::Internal {
                addr: v6(addr),
                kind
            }),
            "{raw} goes to {addr}"
        );
    }
}

#[test]
fn step_4_a_public_address_or_a_name_is_where_to_go_next() {
    for (raw, target) in [
        (
            "http://93.184.215.14/",
            Target::Addr(SocketAddr::new(v4("93.184.215.14"), 80)),
        ),
        (
            "https://[2606:4700::1111]/dns",
            Target::Addr(SocketAddr::new(v6("2606:4700::1111"), 443)),
        ),
        (
            "https://images.example.com/logo.png",
            Target::Name {
                host: "images.example.com".into(),
                port: 443,
            },
        ),
        (
            "HTTP://Images.EXAMPLE.com:8080/x",
            Target::Name {
                host: "images.example.com".into(),
                port: 8080,
            },
        ),
        (
            "http://example.com:443/",
            Target::Name {
                host: "example.com".into(),
                port: 443,
            },
        ),
        (
            "http://bücher.example/",
            Target::Name {
                host: "xn--bcher-kva.example".into(),
                port: 80,
            },
        ),
        (
            "http://example.com\\@127.0.0.1/",
            Target::Name {
                host: "example.com".into(),
                port: 80,
            },
        ),
        (
            "http://localhost/",
            Target::Name {
                host: "localhost".into(),
                port: 80,
            },
        ),
    ] {
        assert_eq!(
            check_url(raw),
            Ok(target.clone()),
            "{raw}: the host and port as the parser reads them, {target:?} (a name is judged \
             when it resolves)"
        );
    }
}

#[test]
fn pin_checks_every_address_of_the_answer() {
    assert_eq!(
        pin(443, &[v4("93.184.215.14")]),
        Ok(SocketAddr::new(v4("93.184.215.14"), 443))
    );
    assert_eq!(
        pin(80, &[v4("93.184.215.14"), v4("127.0.0.1")]),
        Err(FetchRefused::Internal {
            addr: v4("127.0.0.1"),
            kind: Internal::Loopback
        }),
        "the second address is loopback: a client may well connect to it"
    );
    assert_eq!(
        pin(80, &[v4("10.0.0.7"), v6("fe80::1")]),
        Err(FetchRefused::Internal {
            addr: v4("10.0.0.7"),
            kind: Internal::Private
        }),
        "the first internal address, in the resolver's order, is the one reported"
    );
    assert_eq!(
        pin(80, &[v6("::ffff:169.254.169.254")]),
        Err(FetchRefused::Internal {
            addr: v6("::ffff:169.254.169.254"),
            kind: Internal::LinkLocal
        }),
        "an AAAA record can carry an IPv4-mapped address"
    );
    assert_eq!(
        pin(80, &[]),
        Err(FetchRefused::Unresolved),
        "no address, nothing to connect to"
    );
}
