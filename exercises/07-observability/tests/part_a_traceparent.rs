//! Part (a): the W3C `traceparent` header, parsed strictly, written back, propagated.
//!
//! Run with `cargo test -p exercise-07 part_a`. The first tests take the rules of the format
//! one at a time; the property tests at the end generate valid headers (which must come back
//! unchanged) and arbitrary text (which must never crash the parser).

use std::cell::Cell;

use exercise_07::{
    IdSource, SAMPLED, TRACEPARENT, TRACESTATE, TraceParent, TraceParentError, propagate,
};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

/// The specification's own example.
const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const EXAMPLE_TRACE: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const EXAMPLE_PARENT: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

/// The span the service is in when it makes its call.
const OUR_SPAN: [u8; 8] = [0x53, 0x70, 0x61, 0x6e, 0x00, 0x00, 0x00, 0x01];
const OUR_SPAN_HEX: &str = "5370616e00000001";

/// An id source with one id to give, which counts how often it was asked.
struct Fixed {
    id: [u8; 16],
    asked: Cell<u32>,
}

impl Fixed {
    fn new() -> Self {
        Fixed {
            id: [
                0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xb3, 0xb4, 0xc1, 0xc2, 0xc3, 0xc4, 0xd1, 0xd2,
                0xd3, 0x0d,
            ],
            asked: Cell::new(0),
        }
    }
}

const FIXED_HEX: &str = "a1a2a3a4b1b2b3b4c1c2c3c4d1d2d30d";

impl IdSource for Fixed {
    fn new_trace_id(&self) -> [u8; 16] {
        self.asked.set(self.asked.get() + 1);
        self.id
    }
}

fn parse(value: &str) -> Result<TraceParent, TraceParentError> {
    TraceParent::parse(value)
}

/// `EXAMPLE` with the characters from `at` replaced by `with`.
fn example_with(at: usize, with: &str) -> String {
    let mut value = EXAMPLE.to_owned();
    value.replace_range(at..at + with.len(), with);
    value
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(name, HeaderValue::from_static(value));
    }
    map
}

fn values<'a>(map: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    map.get_all(name)
        .iter()
        .map(|v| v.to_str().expect("the answer's headers are text"))
        .collect()
}

// ---- parse ----

#[test]
fn the_specifications_example_parses_field_by_field() {
    let parsed = parse(EXAMPLE).expect("the example is valid");
    assert_eq!(
        parsed,
        TraceParent {
            version: 0,
            trace_id: EXAMPLE_TRACE,
            parent_id: EXAMPLE_PARENT,
            flags: 0x01,
        }
    );
    assert!(parsed.sampled());
}

#[test]
fn the_flags_are_read_as_one_byte() {
    let cases = [
        ("00", 0x00, false),
        ("09", 0x09, true),
        ("02", 0x02, false),
        ("ff", 0xff, true),
    ];
    for (text, flags, sampled) in cases {
        let value = example_with(53, text);
        let parsed = parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(parsed.flags, flags, "{value}");
        assert_eq!(parsed.sampled(), sampled, "{value}");
    }
}

#[test]
fn every_hex_digit_is_decoded_high_nibble_first() {
    let value = "00-0123456789abcdeffedcba9876543210-0f1e2d3c4b5a6978-a5";
    let parsed = parse(value).expect("valid");
    assert_eq!(
        parsed.trace_id,
        [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10
        ]
    );
    assert_eq!(
        parsed.parent_id,
        [0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78]
    );
    assert_eq!(parsed.flags, 0xa5);
}

#[test]
fn version_00_is_exactly_55_characters() {
    assert_eq!(EXAMPLE.len(), 55);
    let too_long = [
        format!("{EXAMPLE}-"),
        format!("{EXAMPLE}-00"),
        format!("{EXAMPLE}0"),
        format!("{EXAMPLE} "),
    ];
    for value in &too_long {
        assert_eq!(
            parse(value),
            Err(TraceParentError::Malformed),
            "{value:?}: version 00 allows nothing after the flags"
        );
    }
    for len in [0, 1, 2, 3, 35, 52, 54] {
        let value = &EXAMPLE[..len];
        assert_eq!(
            parse(value),
            Err(TraceParentError::Malformed),
            "{value:?} is cut short"
        );
    }
}

#[test]
fn hex_digits_are_lower_case_only() {
    // Upper case in each field, and characters that are not hex digits at all.
    for (at, with) in [
        (0, "0A"),
        (3, "4BF9"),
        (34, "F"),
        (36, "00F0"),
        (51, "B"),
        (53, "0A"),
        (10, "g"),
        (40, "z"),
        (54, "x"),
        (1, "g"),
        (20, " "),
        (45, "+"),
    ] {
        let value = example_with(at, with);
        assert_eq!(
            parse(&value),
            Err(TraceParentError::Malformed),
            "{value:?} has a character that is not a lower-case hex digit"
        );
    }
}

#[test]
fn a_sign_is_not_a_digit() {
    // `u8::from_str_radix("+f", 16)` is 15: a parser built on it must check the digits first.
    for (at, with) in [(0, "+0"), (53, "+1"), (3, "+b"), (36, "+0"), (53, "-1")] {
        let value = example_with(at, with);
        assert_eq!(parse(&value), Err(TraceParentError::Malformed), "{value:?}");
    }
}

#[test]
fn the_fields_are_separated_by_single_dashes_in_their_places() {
    for (at, with) in [
        (2, "_"),
        (35, "."),
        (52, " "),
        (2, "0"),
        (35, "a"),
        (52, "1"),
    ] {
        let value = example_with(at, with);
        assert_eq!(
            parse(&value),
            Err(TraceParentError::Malformed),
            "{value:?}: a separator is wrong"
        );
    }
    // The right characters, the dashes one place off.
    for value in [
        "004-bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",
    ] {
        assert_eq!(parse(value), Err(TraceParentError::Malformed), "{value}");
    }
}

#[test]
fn an_all_zero_trace_id_or_parent_id_is_refused() {
    assert_eq!(
        parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        Err(TraceParentError::ZeroTraceId)
    );
    assert_eq!(
        parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
        Err(TraceParentError::ZeroParentId)
    );
    // One non-zero byte anywhere is enough.
    for at in [3, 33, 34] {
        let value = example_with(3, "00000000000000000000000000000000");
        let mut value = value.into_bytes();
        value[at] = b'1';
        let value = String::from_utf8(value).unwrap();
        assert!(parse(&value).is_ok(), "{value}");
    }
    for at in [36, 50, 51] {
        let value = example_with(36, "0000000000000000");
        let mut value = value.into_bytes();
        value[at] = b'1';
        let value = String::from_utf8(value).unwrap();
        assert!(parse(&value).is_ok(), "{value}");
    }
}

#[test]
fn version_ff_is_invalid() {
    assert_eq!(
        parse(&example_with(0, "ff")),
        Err(TraceParentError::InvalidVersion)
    );
    assert_eq!(
        parse(&format!("{}-future", example_with(0, "ff"))),
        Err(TraceParentError::InvalidVersion)
    );
}

#[test]
fn a_higher_version_is_read_by_its_first_four_fields() {
    let parsed = parse(&example_with(0, "01")).expect("version 01, nothing more");
    assert_eq!(parsed.version, 1);
    assert_eq!(parsed.trace_id, EXAMPLE_TRACE);
    assert_eq!(parsed.parent_id, EXAMPLE_PARENT);
    assert_eq!(parsed.flags, 1);

    let future = format!("{}-what-the-future-holds", example_with(0, "cc"));
    let parsed = parse(&future).expect("version cc with a field this parser does not know");
    assert_eq!(parsed.version, 0xcc);
    assert_eq!(parsed.trace_id, EXAMPLE_TRACE);
    assert_eq!(parsed.parent_id, EXAMPLE_PARENT);
    assert_eq!(parsed.flags, 1);
    assert_eq!(
        parse(&format!("{}-", example_with(0, "fe"))).map(|p| p.version),
        Ok(0xfe)
    );
}

#[test]
fn a_higher_version_keeps_the_rules_of_its_first_four_fields() {
    for value in [
        // The 56th character must be a dash.
        format!("{}x-more", example_with(0, "01")),
        format!("{}1", example_with(0, "01")),
        // Too short, whatever the version.
        example_with(0, "01")[..54].to_owned(),
        // Upper case and wrong separators are wrong in any version.
        example_with(0, "0A"),
        example_with(3, "4BF9").replacen("00", "01", 1),
        example_with(35, "_").replacen("00", "01", 1),
    ] {
        assert_eq!(parse(&value), Err(TraceParentError::Malformed), "{value}");
    }
    assert_eq!(
        parse("01-00000000000000000000000000000000-00f067aa0ba902b7-01-x"),
        Err(TraceParentError::ZeroTraceId)
    );
    assert_eq!(
        parse("01-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01-x"),
        Err(TraceParentError::ZeroParentId)
    );
}

#[test]
fn odd_text_is_refused_without_a_panic() {
    for value in [
        "",
        "-",
        "00",
        "00-",
        "---------------------------------------------------------",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
        "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
    ] {
        assert!(parse(value).is_err(), "{value:?}");
    }
}

// ---- format ----

#[test]
fn a_traceparent_is_written_as_its_header() {
    let written = TraceParent {
        version: 0,
        trace_id: EXAMPLE_TRACE,
        parent_id: EXAMPLE_PARENT,
        flags: 1,
    }
    .to_string();
    assert_eq!(written, EXAMPLE);
}

#[test]
fn every_byte_is_two_digits_even_when_small() {
    let written = TraceParent {
        version: 0x0a,
        trace_id: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255],
        parent_id: [0xf0, 0x0f, 0, 0, 0, 0, 0, 1],
        flags: 0,
    }
    .to_string();
    assert_eq!(
        written,
        "0a-000102030405060708090a0b0c0d0eff-f00f000000000001-00"
    );
}

// ---- propagate ----

#[test]
fn a_valid_traceparent_is_continued_with_our_span_as_the_parent() {
    let incoming = headers(&[
        (TRACEPARENT, EXAMPLE),
        (TRACESTATE, "shop=a1,congo=t61rcWkgMzE"),
    ]);
    let ids = Fixed::new();
    let outgoing = propagate(&incoming, OUR_SPAN, &ids);
    assert_eq!(
        values(&outgoing, TRACEPARENT),
        [format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{OUR_SPAN_HEX}-01"
        )],
        "same trace, our span as the parent, same flags"
    );
    assert_eq!(
        values(&outgoing, TRACESTATE),
        ["shop=a1,congo=t61rcWkgMzE"],
        "tracestate travels unchanged"
    );
    assert_eq!(ids.asked.get(), 0, "a continued trace needs no new id");
    assert_eq!(outgoing.len(), 2, "only the trace headers: {outgoing:?}");
}

#[test]
fn the_callers_flags_are_kept() {
    for flags in ["00", "01", "03"] {
        let incoming = headers(&[(
            TRACEPARENT,
            match flags {
                "00" => "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                "01" => "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                _ => "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            },
        )]);
        let outgoing = propagate(&incoming, OUR_SPAN, &Fixed::new());
        assert_eq!(
            values(&outgoing, TRACEPARENT),
            [format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{OUR_SPAN_HEX}-{flags}"
            )],
            "an unsampled trace stays unsampled, and other bits pass along"
        );
    }
}

#[test]
fn every_tracestate_header_goes_along_in_order() {
    let incoming = headers(&[
        (TRACESTATE, "shop=a1"),
        (TRACEPARENT, EXAMPLE),
        (TRACESTATE, "congo=t61rcWkgMzE"),
    ]);
    let outgoing = propagate(&incoming, OUR_SPAN, &Fixed::new());
    assert_eq!(
        values(&outgoing, TRACESTATE),
        ["shop=a1", "congo=t61rcWkgMzE"]
    );
}

#[test]
fn without_a_traceparent_a_new_sampled_trace_starts() {
    let incoming = headers(&[("x-request-id", "r-1")]);
    let ids = Fixed::new();
    let outgoing = propagate(&incoming, OUR_SPAN, &ids);
    assert_eq!(
        values(&outgoing, TRACEPARENT),
        [format!("00-{FIXED_HEX}-{OUR_SPAN_HEX}-01")]
    );
    assert_eq!(ids.asked.get(), 1);
    assert!(outgoing.get(TRACESTATE).is_none());
    assert_eq!(SAMPLED, 0x01);
}

#[test]
fn an_invalid_traceparent_starts_a_new_trace_and_drops_tracestate() {
    for bad in [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "garbage",
        "",
    ] {
        let mut incoming = headers(&[(TRACESTATE, "shop=a1")]);
        incoming.insert(TRACEPARENT, HeaderValue::from_str(bad).unwrap());
        let ids = Fixed::new();
        let outgoing = propagate(&incoming, OUR_SPAN, &ids);
        assert_eq!(
            values(&outgoing, TRACEPARENT),
            [format!("00-{FIXED_HEX}-{OUR_SPAN_HEX}-01")],
            "{bad:?} is not a traceparent: a new trace"
        );
        assert!(
            outgoing.get(TRACESTATE).is_none(),
            "{bad:?}: the tracestate of a trace we do not continue is dropped"
        );
    }
}

#[test]
fn a_traceparent_that_is_not_text_starts_a_new_trace() {
    let mut incoming = headers(&[(TRACESTATE, "shop=a1")]);
    incoming.insert(
        TRACEPARENT,
        HeaderValue::from_bytes(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902\xb7-01")
            .unwrap(),
    );
    let outgoing = propagate(&incoming, OUR_SPAN, &Fixed::new());
    assert_eq!(
        values(&outgoing, TRACEPARENT),
        [format!("00-{FIXED_HEX}-{OUR_SPAN_HEX}-01")]
    );
    assert!(outgoing.get(TRACESTATE).is_none());
}

#[test]
fn two_traceparent_headers_are_no_traceparent() {
    let incoming = headers(&[
        (TRACEPARENT, EXAMPLE),
        (
            TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        (TRACESTATE, "shop=a1"),
    ]);
    let outgoing = propagate(&incoming, OUR_SPAN, &Fixed::new());
    assert_eq!(
        values(&outgoing, TRACEPARENT),
        [format!("00-{FIXED_HEX}-{OUR_SPAN_HEX}-01")],
        "which of two would we continue? Neither: a new trace"
    );
    assert!(outgoing.get(TRACESTATE).is_none());
}

#[test]
fn a_higher_version_is_continued_as_version_00() {
    let incoming = headers(&[
        (
            TRACEPARENT,
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        ),
        (TRACESTATE, "shop=a1"),
    ]);
    let ids = Fixed::new();
    let outgoing = propagate(&incoming, OUR_SPAN, &ids);
    assert_eq!(
        values(&outgoing, TRACEPARENT),
        [format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{OUR_SPAN_HEX}-01"
        )],
        "we send the version we speak"
    );
    assert_eq!(values(&outgoing, TRACESTATE), ["shop=a1"]);
    assert_eq!(ids.asked.get(), 0);
}

// ---- properties ----

/// A valid version-00 header's fields: ids not all zero, any flags.
fn valid_fields() -> impl Strategy<Value = ([u8; 16], [u8; 8], u8)> {
    (
        any::<[u8; 16]>().prop_filter("not all zero", |id| *id != [0; 16]),
        any::<[u8; 8]>().prop_filter("not all zero", |id| *id != [0; 8]),
        any::<u8>(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_valid_header_parses_and_formats_back_to_itself((trace, parent, flags) in valid_fields()) {
        let value = format!("00-{}-{}-{flags:02x}", hex(&trace), hex(&parent));
        let parsed = TraceParent::parse(&value);
        prop_assert_eq!(
            parsed,
            Ok(TraceParent { version: 0, trace_id: trace, parent_id: parent, flags })
        );
        prop_assert_eq!(parsed.unwrap().to_string(), value);
    }

    #[test]
    fn one_upper_case_digit_anywhere_is_refused(
        (trace, parent, flags) in valid_fields(),
        at in 0usize..55,
        digit in "[A-F]",
    ) {
        let mut value = format!("00-{}-{}-{flags:02x}", hex(&trace), hex(&parent));
        prop_assume!(![2, 35, 52].contains(&at));
        value.replace_range(at..=at, &digit);
        prop_assert_eq!(TraceParent::parse(&value), Err(TraceParentError::Malformed), "{}", value);
    }

    #[test]
    fn parse_never_panics_and_accepts_only_what_it_can_write_back(value in any::<String>()) {
        if let Ok(parsed) = TraceParent::parse(&value) {
            let written = parsed.to_string();
            prop_assert!(value.starts_with(&written), "{:?} parsed as {}", value, written);
        }
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        (trace, parent, flags) in valid_fields(),
        at in 0usize..58,
        with in "[-0-9a-fA-Fé ]{0,3}",
    ) {
        let mut value = format!("00-{}-{}-{flags:02x}", hex(&trace), hex(&parent));
        let at = at.min(value.len());
        value.insert_str(at, &with);
        if let Ok(parsed) = TraceParent::parse(&value) {
            prop_assert_eq!(parsed.to_string(), value);
        }
    }
}
