//! Deadlines and the `grpc-timeout` header: formatting rounds up in the finest unit that fits,
//! parsing takes exactly the protocol's format, and a server reads its deadline off a request.

use std::time::Duration;

use proptest::prelude::*;
use shop_resilience::{Deadline, format_grpc_timeout, parse_grpc_timeout};
use tokio::time::advance;

/// The length of the unit a formatted value ends with.
fn unit_of(formatted: &str) -> Duration {
    match formatted.as_bytes().last() {
        Some(b'n') => Duration::from_nanos(1),
        Some(b'u') => Duration::from_micros(1),
        Some(b'm') => Duration::from_millis(1),
        Some(b'S') => Duration::from_secs(1),
        Some(b'M') => Duration::from_secs(60),
        Some(b'H') => Duration::from_secs(3600),
        other => panic!("no unit in {formatted:?}: {other:?}"),
    }
}

/// Durations up to the largest the header can carry, 99 999 999 hours, at every scale.
fn timeout() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..1_000_000).prop_map(Duration::from_nanos),
        (0u64..100_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_nanos),
        (0u64..99_999_999 * 3600, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
    ]
}

proptest! {
    #[test]
    fn parsing_what_was_formatted_gives_at_least_as_much_and_less_than_a_unit_more(
        timeout in timeout(),
    ) {
        let formatted = format_grpc_timeout(timeout);
        let (digits, _) = formatted.split_at(formatted.len() - 1);
        prop_assert!(!digits.is_empty() && digits.len() <= 8, "{}", formatted);
        prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", formatted);
        let parsed = parse_grpc_timeout(&formatted).expect("a formatted value parses");
        prop_assert!(parsed >= timeout, "{} < {:?}", formatted, timeout);
        prop_assert!(parsed - timeout < unit_of(&formatted), "{} for {:?}", formatted, timeout);
    }

    #[test]
    fn the_finest_unit_that_fits_is_chosen(timeout in timeout()) {
        let formatted = format_grpc_timeout(timeout);
        let finer = match formatted.as_bytes().last() {
            Some(b'n') => None,
            Some(b'u') => Some(1u128),
            Some(b'm') => Some(1_000),
            Some(b'S') => Some(1_000_000),
            Some(b'M') => Some(1_000_000_000),
            _ => Some(60_000_000_000),
        };
        if let Some(finer) = finer {
            prop_assert!(timeout.as_nanos().div_ceil(finer) > 99_999_999, "{}", formatted);
        }
    }

    #[test]
    fn parsing_never_panics(value in "\\PC{0,12}") {
        let _ = parse_grpc_timeout(&value);
    }
}

#[test]
fn formats_examples_and_rounds_up() {
    assert_eq!(format_grpc_timeout(Duration::ZERO), "0n");
    assert_eq!(format_grpc_timeout(Duration::from_millis(250)), "250000u");
    assert_eq!(
        format_grpc_timeout(Duration::from_nanos(99_999_999)),
        "99999999n"
    );
    assert_eq!(
        format_grpc_timeout(Duration::from_nanos(100_000_001)),
        "100001u"
    );
    assert_eq!(format_grpc_timeout(Duration::from_secs(1)), "1000000u");
    assert_eq!(format_grpc_timeout(Duration::from_secs(100_000)), "100000S");
    assert_eq!(format_grpc_timeout(Duration::MAX), "99999999H", "saturates");
}

#[test]
fn parses_every_unit() {
    assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
    assert_eq!(parse_grpc_timeout("0n"), Some(Duration::ZERO));
    assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
    assert_eq!(
        parse_grpc_timeout("00000030S"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(parse_grpc_timeout("5M"), Some(Duration::from_secs(300)));
    assert_eq!(
        parse_grpc_timeout("99999999H"),
        Some(Duration::from_secs(99_999_999 * 3600))
    );
}

#[test]
fn rejects_what_is_not_the_format() {
    for value in [
        "",
        "m",
        "S",
        "123456789m",
        "12",
        "12x",
        "12s",
        "-1S",
        "+1S",
        "1.5S",
        " 1S",
        "1 S",
        "1S ",
        "１S",
        "10é",
        "é",
        "1mm",
        "0x10m",
    ] {
        assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
    }
}

fn request_with_timeout(value: &str) -> tonic::Request<()> {
    let mut request = tonic::Request::new(());
    request.metadata_mut().insert(
        "grpc-timeout",
        value.parse().expect("an ASCII metadata value"),
    );
    request
}

#[tokio::test(start_paused = true)]
async fn a_server_takes_the_callers_timeout_within_its_own_limit() {
    let ceiling = Duration::from_secs(5);
    let asked = Deadline::from_grpc_request(&request_with_timeout("250m"), ceiling);
    assert_eq!(asked.remaining(), Duration::from_millis(250));
    let greedy = Deadline::from_grpc_request(&request_with_timeout("2H"), ceiling);
    assert_eq!(
        greedy.remaining(),
        ceiling,
        "never later than the server's limit"
    );
    let malformed = Deadline::from_grpc_request(&request_with_timeout("soon"), ceiling);
    assert_eq!(malformed.remaining(), ceiling);
    let none = Deadline::from_grpc_request(&tonic::Request::new(()), ceiling);
    assert_eq!(none.remaining(), ceiling);
}

#[tokio::test(start_paused = true)]
async fn tonics_own_header_is_read_back() {
    let mut request = tonic::Request::new(());
    request.set_timeout(Duration::from_millis(1_500));
    let deadline = Deadline::from_grpc_request(&request, Duration::from_secs(10));
    assert!(deadline.remaining() >= Duration::from_millis(1_500));
    assert!(deadline.remaining() < Duration::from_millis(1_501));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_runs_down_on_tokios_clock() {
    let deadline = Deadline::after(Duration::from_secs(2));
    assert!(!deadline.is_expired());
    advance(Duration::from_millis(1_500)).await;
    assert_eq!(deadline.remaining(), Duration::from_millis(500));
    advance(Duration::from_secs(1)).await;
    assert_eq!(deadline.remaining(), Duration::ZERO);
    assert!(deadline.is_expired());
    let forever = Deadline::after(Duration::MAX);
    assert!(
        !forever.is_expired(),
        "too large for the clock is far away, not past"
    );
    assert!(Deadline::after(Duration::from_secs(1)) < forever);
}
