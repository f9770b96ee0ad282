//! Webhook signatures: how the receiver of an event knows that the provider sent it, that
//! nobody changed it on the way, and that it is not a recording played a second time.
//!
//! What this module shows (chapter 08, the capstone's payments):
//! - the sender computes HMAC-SHA256 over `"<timestamp>.<body>"` with a secret both sides hold
//!   and sends it as `Payment-Signature: t=<unix seconds>,v1=<lowercase hex>`. The timestamp is
//!   inside the MAC, so an attacker who captured a request cannot give it a fresh time;
//! - the receiver recomputes the MAC over the raw body bytes (before any JSON parsing: a
//!   re-serialised body is not the body that was signed) and compares in constant time with
//!   hmac's `verify_slice`. A `==` on two strings stops at the first differing byte, and how
//!   long it took tells an attacker how many leading bytes of a guess were right;
//! - a tolerance window refuses events signed too long ago (or too far in the future: a sender
//!   whose clock is wrong), and a [`ReplayGuard`] remembers the events accepted inside that
//!   window, so the same request sent again a second later is refused as well;
//! - secret rotation: a header may carry several `v1=` (the sender signs with the old and the
//!   new secret while receivers move over), and a [`Verifier`] may accept several secrets.
//!
//! The sandbox provider signs with [`sign`]; the shop's `POST /webhooks/payments` verifies with
//! [`Verifier::verify`]. Tests: `tests/signature.rs` (`cargo test -p shop-payments signature`).

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use thiserror::Error;
use time::OffsetDateTime;

/// The header that carries the signature (HTTP header names are case-insensitive; this is the
/// lower-case spelling `http::HeaderName` wants).
pub const HEADER: &str = "payment-signature";

/// The fewest characters [`WebhookSecret::new`] accepts. HMAC takes a key of any length, but a
/// short one can be guessed offline from a single captured event.
pub const MIN_SECRET_LEN: usize = 16;

/// The most `v1=` signatures one header may carry: rotation needs two, and every extra one
/// costs the receiver an HMAC comparison, so a header stuffed with thousands is refused.
const MAX_SIGNATURES: usize = 8;

type HmacSha256 = Hmac<Sha256>;

/// The secret a provider signs its webhooks with, shared with the receiver out of band.
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

/// The secret given to [`WebhookSecret::new`] is too short to be safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a webhook secret needs at least {MIN_SECRET_LEN} characters")]
pub struct WeakSecret;

impl WebhookSecret {
    pub fn new(secret: impl Into<SecretString>) -> Result<Self, WeakSecret> {
        let secret = secret.into();
        if secret.expose_secret().chars().count() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        Ok(WebhookSecret(secret))
    }

    /// A fresh random secret (256 bits from the operating system's generator, via rand's
    /// thread-local CSPRNG), spelled `whsec_<64 hex digits>`.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        WebhookSecret(SecretString::from(format!("whsec_{}", hex(&bytes))))
    }

    /// The secret itself, for the one place that must hand it over (a demonstration that
    /// starts both the sandbox and the shop, and gives each the same secret).
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The MAC keyed with this secret, fed `"<t>."` and the body.
    fn mac(&self, t: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC accepts a key of any length");
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl<'de> Deserialize<'de> for WebhookSecret {
    /// Through [`WebhookSecret::new`], so a configuration file cannot hold a weak secret.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let secret = SecretString::deserialize(deserializer)?;
        WebhookSecret::new(secret).map_err(serde::de::Error::custom)
    }
}

// ANCHOR: sign
/// The `Payment-Signature` value for `body` sent at `timestamp`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &WebhookSecret, timestamp: OffsetDateTime, body: &[u8]) -> String {
    let t = timestamp.unix_timestamp().to_string();
    let tag = secret.mac(&t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex(&tag))
}
// ANCHOR_END: sign

/// Why a webhook was refused. All but [`SignatureError::ReplayStoreFull`] mean the request is
/// not a genuine, fresh event (a 400 that changes nothing); that one means this receiver is
/// flooded with genuine ones (a 503: the sender tries again later).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("the request has no Payment-Signature header")]
    Missing,
    #[error("the Payment-Signature header is malformed: {0}")]
    Malformed(&'static str),
    /// `age_seconds` is now minus the event's timestamp: negative for a future timestamp.
    #[error("the event was signed {age_seconds} s ago, outside the tolerance window")]
    OutsideTolerance { age_seconds: i64 },
    #[error("no signature in the header matches the body")]
    Mismatch,
    #[error("this event has already been accepted once")]
    Replayed,
    #[error("too many events inside the tolerance window to remember another; try again later")]
    ReplayStoreFull,
}

impl SignatureError {
    /// True for every refusal that is the request's fault (answer 400); false for
    /// [`SignatureError::ReplayStoreFull`] (answer 503).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, SignatureError::ReplayStoreFull)
    }
}

/// What a successful [`Verifier::verify`] vouches for besides the body: when it was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub timestamp: OffsetDateTime,
}

/// The header, taken apart.
struct Header<'a> {
    /// The timestamp as sent: the MAC covers these digits, not a re-formatted number.
    t: &'a str,
    timestamp: i64,
    signatures: Vec<[u8; 32]>,
}

fn parse(header: &str) -> Result<Header<'_>, SignatureError> {
    use SignatureError::Malformed;
    let mut t = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .split_once('=')
            .ok_or(Malformed("every item is key=value"))?;
        match key {
            "t" if t.replace(value).is_some() => return Err(Malformed("more than one t=")),
            "t" => {}
            "v1" if signatures.len() == MAX_SIGNATURES => {
                return Err(Malformed("too many v1= signatures"));
            }
            "v1" => signatures
                .push(decode_hex32(value).ok_or(Malformed("v1= is not 64 lower-case hex digits"))?),
            // Another scheme (a future v2) is skipped, not refused: a sender can then add it
            // before every receiver understands it, as it does with a second secret.
            _ => {}
        }
    }
    let t = t.ok_or(Malformed("no t= timestamp"))?;
    // At most 18 digits always fits an i64, and 18 digits of seconds is beyond any real clock.
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed("t= is not a number of seconds"));
    }
    let timestamp = t
        .parse()
        .map_err(|_| Malformed("t= is not a number of seconds"))?;
    if signatures.is_empty() {
        return Err(Malformed("no v1= signature"));
    }
    Ok(Header {
        t,
        timestamp,
        signatures,
    })
}

// ANCHOR: verify
/// Checks `Payment-Signature` headers: signed with one of its secrets, inside the tolerance
/// window, and not seen before.
#[derive(Debug)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
    replay: ReplayGuard,
}

impl Verifier {
    /// `tolerance` is how far an event's timestamp may be from the receiver's clock, either
    /// way, in whole seconds (the resolution of `t=`); five minutes is the usual choice.
    pub fn new(secret: WebhookSecret, tolerance: Duration, replay: ReplayGuard) -> Self {
        Verifier {
            secrets: vec![secret],
            tolerance,
            replay,
        }
    }

    /// Also accepts events signed with `secret`: during a rotation, the old one until every
    /// sender signs with the new.
    pub fn also_accepting(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Verifies the header of a request whose body is `body`, received at `now`.
    ///
    /// The order matters. The MAC comes first: until it matches, the timestamp is whatever an
    /// attacker wrote. The replay guard comes last, so that only genuine events take a place
    /// in its memory (a forger cannot fill it).
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Verified, SignatureError> {
        let header = parse(header.ok_or(SignatureError::Missing)?)?;
        let genuine = self.secrets.iter().any(|secret| {
            let mac = secret.mac(header.t, body);
            // `verify_slice` compares in constant time; the clone costs a few words of state.
            header
                .signatures
                .iter()
                .any(|tag| mac.clone().verify_slice(tag).is_ok())
        });
        if !genuine {
            return Err(SignatureError::Mismatch);
        }
        let now = now.unix_timestamp();
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        let age_seconds = now.saturating_sub(header.timestamp);
        if age_seconds.saturating_abs() > tolerance {
            return Err(SignatureError::OutsideTolerance { age_seconds });
        }
        self.replay.admit(
            header.timestamp,
            Sha256::digest(body).into(),
            now,
            tolerance,
        )?;
        let timestamp = OffsetDateTime::from_unix_timestamp(header.timestamp)
            .map_err(|_| SignatureError::Malformed("t= is beyond the calendar"))?;
        Ok(Verified { timestamp })
    }

    /// How many accepted events the replay guard remembers now.
    pub fn remembered(&self) -> usize {
        self.replay.len()
    }
}
// ANCHOR_END: verify

// ANCHOR: replay_guard
/// The events accepted recently, so that a second delivery of the same request is refused.
///
/// An event is remembered by its timestamp and the SHA-256 of its body: both are covered by
/// the MAC, so an attacker cannot vary them, while the signatures can vary (a replay with one
/// of two rotation signatures removed would otherwise look new).
///
/// Why the memory is bounded: an event older than the tolerance window is refused by the
/// timestamp check before the guard is asked, so the guard only has to remember events whose
/// timestamp is still inside the window, and forgets each one once it falls out. What it holds
/// is at most the events of one window; `capacity` caps even that, refusing (never forgetting
/// early) when it is reached, because an event forgotten early could be replayed.
///
/// The memory is this process's. Several instances of the shop behind a load balancer would
/// each accept a replay once, so there the set belongs in a store they share: Redis, with a key
/// per event and an expiry of the tolerance window (`SET key 1 NX EX 300`), lesson 09.
#[derive(Debug)]
pub struct ReplayGuard {
    capacity: usize,
    // Ordered by timestamp first, so forgetting everything older than the window is one
    // `split_off`; a std Mutex, because no critical section awaits.
    seen: Mutex<BTreeSet<(i64, [u8; 32])>>,
}

impl ReplayGuard {
    pub fn new(capacity: NonZeroUsize) -> Self {
        ReplayGuard {
            capacity: capacity.get(),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(i64, [u8; 32])>> {
        // Every update is a single insert or split: a panic cannot leave the set half-changed.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the event, or refuses it if it was seen; forgets what left the window.
    fn admit(
        &self,
        timestamp: i64,
        digest: [u8; 32],
        now: i64,
        tolerance: i64,
    ) -> Result<(), SignatureError> {
        let mut seen = self.lock();
        let oldest_acceptable = (now.saturating_sub(tolerance), [0; 32]);
        *seen = seen.split_off(&oldest_acceptable);
        if seen.contains(&(timestamp, digest)) {
            return Err(SignatureError::Replayed);
        }
        if seen.len() >= self.capacity {
            return Err(SignatureError::ReplayStoreFull);
        }
        seen.insert((timestamp, digest));
        Ok(())
    }
}

impl Default for ReplayGuard {
    /// Room for 10 000 events per window (about a megabyte at most).
    fn default() -> Self {
        ReplayGuard::new(NonZeroUsize::new(10_000).expect("10 000 is not zero"))
    }
}
// ANCHOR_END: replay_guard

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// 64 lower-case hex digits as 32 bytes; `None` for anything else (upper case included: the
/// format is one spelling, so a header has one reading).
fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_upper_case() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(decode_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(decode_hex32(&hex(&bytes).to_uppercase()), None);
        assert_eq!(decode_hex32("abc"), None);
    }

    #[test]
    fn the_mac_is_rfc_4231_hmac_sha256() {
        // RFC 4231's test case 2, through the type the module signs with: a receiver in any
        // other language computes the same tag.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").expect("any key length");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signed_message_is_the_timestamp_a_dot_and_the_body() {
        let secret = WebhookSecret::new("a secret of some length").expect("long enough");
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a valid time");
        let mut mac = HmacSha256::new_from_slice(b"a secret of some length").expect("any length");
        mac.update(b"1700000000.{\"id\":1}");
        let expected = format!("t=1700000000,v1={}", hex(&mac.finalize().into_bytes()));
        assert_eq!(sign(&secret, at, b"{\"id\":1}"), expected);
    }

    #[test]
    fn the_guard_forgets_what_left_the_window() {
        let guard = ReplayGuard::default();
        guard.admit(100, [1; 32], 100, 10).expect("new event");
        guard.admit(105, [2; 32], 105, 10).expect("new event");
        assert_eq!(guard.len(), 2);
        // At 111 the event of 100 is 11 s old: it would be refused by the window anyway.
        guard.admit(111, [3; 32], 111, 10).expect("new event");
        assert_eq!(guard.len(), 2);
        assert_eq!(
            guard.admit(105, [2; 32], 111, 10),
            Err(SignatureError::Replayed)
        );
    }
}
