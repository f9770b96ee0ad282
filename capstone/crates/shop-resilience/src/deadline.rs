//! Deadlines: one instant by which the whole call must be answered, shared by its attempts and
//! sent to the callee as gRPC's `grpc-timeout` header (tonic's `Request::set_timeout` writes it,
//! a tonic server enforces it), so the callee can give up when the caller has.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// `budget` from now (tokio's clock).
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        // A budget too large for the clock means "no deadline to speak of": a century is as
        // good as forever for a request, and cannot overflow where `now + budget` did.
        let far = || now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600));
        Deadline(now.checked_add(budget).or_else(far).unwrap_or(now))
    }

    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn is_expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The deadline a server should work to: the request's `grpc-timeout` (when present and
    /// valid) from now, never later than `ceiling` from now (a server's own limit).
    pub fn from_grpc_request<T>(request: &tonic::Request<T>, ceiling: Duration) -> Self {
        // A malformed header is treated as absent: the server's own limit still holds, and
        // refusing the request outright would punish a caller for a formatting slip.
        let asked = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        Deadline::after(asked.map_or(ceiling, |asked| asked.min(ceiling)))
    }
}

/// The units of `grpc-timeout`, finest first, with their length in nanoseconds.
const UNITS: [(u8, u128); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60 * 1_000_000_000),
    (b'H', 3_600 * 1_000_000_000),
];

/// The largest value the header carries: 8 digits.
const MAX_VALUE: u128 = 99_999_999;

// ANCHOR: grpc_timeout
/// `grpc-timeout`'s format: at most 8 digits and a unit (H, M, S, m, u, n), e.g. `250m`.
/// Picks the finest unit that fits, rounding up so the callee never gets less than the caller
/// (250 ms is `250000u`). Beyond `99999999H` (11 000 years) it says `99999999H`.
pub fn format_grpc_timeout(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    let (value, unit) = UNITS
        .iter()
        .map(|&(unit, length)| (nanos.div_ceil(length), unit))
        .find(|&(value, _)| value <= MAX_VALUE)
        .unwrap_or((MAX_VALUE, b'H'));
    format!("{value}{}", char::from(unit))
}
// ANCHOR_END: grpc_timeout

/// Parses `grpc-timeout`; `None` for anything not of that format.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    // Bytes, not chars: the unit is one ASCII byte, and splitting a str before a byte that is
    // inside a multi-byte character would panic.
    let (&unit, digits) = value.as_bytes().split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u128, |value, digit| value * 10 + u128::from(digit - b'0'));
    let &(_, length) = UNITS.iter().find(|&&(name, _)| name == unit)?;
    // 99999999 hours is about 3.6e20 ns: well inside u128, and inside a Duration.
    Some(Duration::from_nanos_u128(value * length))
}
