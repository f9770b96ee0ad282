//! The webhook signature's properties: what is signed verifies, and any change to the body,
//! the timestamp or the signature does not; the tolerance window's edges; replays; rotation;
//! the replay guard's bounded memory.
//!
//! `cargo test -p shop-payments --test signature`

use std::num::NonZeroUsize;
use std::time::Duration;

use proptest::prelude::*;
use shop_payments::signature::{self, ReplayGuard, SignatureError, Verifier, WebhookSecret};
use time::OffsetDateTime;

const TOLERANCE: Duration = Duration::from_secs(300);
const EMPTY: &[u8] = b"{}";

fn secret(text: &str) -> WebhookSecret {
    WebhookSecret::new(text).expect("a long enough secret")
}

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).expect("a valid time")
}

fn verifier(secret: &WebhookSecret) -> Verifier {
    Verifier::new(secret.clone(), TOLERANCE, ReplayGuard::default())
}

/// Secrets of 16 to 64 printable characters, bodies up to 512 arbitrary bytes, timestamps
/// from 2001 to 2286.
fn secrets() -> impl Strategy<Value = String> {
    "[!-~]{16,64}"
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

fn timestamps() -> impl Strategy<Value = i64> {
    1_000_000_000_i64..9_999_999_999
}

proptest! {
    #[test]
    fn what_is_signed_verifies(key in secrets(), body in bodies(), t in timestamps()) {
        let secret = secret(&key);
        let header = signature::sign(&secret, at(t), &body);
        let verified = verifier(&secret).verify(Some(&header), &body, at(t));
        prop_assert_eq!(verified.map(|v| v.timestamp), Ok(at(t)));
    }

    #[test]
    fn any_changed_byte_of_the_body_fails(
        key in secrets(),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1..=255_u8,
    ) {
        let secret = secret(&key);
        let header = signature::sign(&secret, at(1_700_000_000), &body);
        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        let verified = verifier(&secret).verify(Some(&header), &tampered, at(1_700_000_000));
        prop_assert_eq!(verified, Err(SignatureError::Mismatch));
    }

    /// Every byte of the header, the timestamp's digits and the signature's hex included,
    /// replaced by any other printable character.
    #[test]
    fn any_changed_byte_of_the_header_fails(
        key in secrets(),
        body in bodies(),
        t in timestamps(),
        index in any::<prop::sample::Index>(),
        replacement in b' '..=b'~',
    ) {
        let secret = secret(&key);
        let header = signature::sign(&secret, at(t), &body).into_bytes();
        let position = index.index(header.len());
        prop_assume!(header[position] != replacement);
        let mut tampered = header.clone();
        tampered[position] = replacement;
        let tampered = String::from_utf8(tampered).expect("printable ASCII");
        let verified = verifier(&secret).verify(Some(&tampered), &body, at(t));
        prop_assert!(verified.is_err(), "{tampered} verified");
    }

    #[test]
    fn another_secret_does_not_verify(a in secrets(), b in secrets(), body in bodies()) {
        prop_assume!(a != b);
        let header = signature::sign(&secret(&a), at(1_700_000_000), &body);
        let verified = verifier(&secret(&b)).verify(Some(&header), &body, at(1_700_000_000));
        prop_assert_eq!(verified, Err(SignatureError::Mismatch));
    }

    /// Inside the window either way verifies, one second beyond it does not.
    #[test]
    fn the_tolerance_window_has_exact_edges(t in timestamps(), inside in 0..=300_i64, late in any::<bool>()) {
        let secret = secret("whsec_tolerance-edges");
        let header = signature::sign(&secret, at(t), EMPTY);
        let sign = if late { 1 } else { -1 };
        let now = at(t + sign * inside);
        prop_assert!(verifier(&secret).verify(Some(&header), EMPTY, now).is_ok());
        let beyond = at(t + sign * 301);
        prop_assert_eq!(
            verifier(&secret).verify(Some(&header), EMPTY, beyond),
            Err(SignatureError::OutsideTolerance { age_seconds: sign * 301 })
        );
    }
}

#[test]
fn a_verified_event_sent_again_is_a_replay() {
    let secret = secret("whsec_replayed-events");
    let verifier = verifier(&secret);
    let header = signature::sign(&secret, at(1_700_000_000), b"{\"id\":1}");
    let now = at(1_700_000_010);
    assert!(verifier.verify(Some(&header), b"{\"id\":1}", now).is_ok());
    assert_eq!(
        verifier.verify(Some(&header), b"{\"id\":1}", now),
        Err(SignatureError::Replayed)
    );
    // A forged copy is refused as forged and takes no place in the guard's memory.
    assert_eq!(
        verifier.verify(Some(&header), b"{\"id\":2}", now),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(verifier.remembered(), 1);
}

#[test]
fn a_replay_with_one_rotation_signature_removed_is_still_a_replay() {
    let (old, new) = (
        secret("whsec_the-old-secret"),
        secret("whsec_the-new-secret"),
    );
    let body = b"{\"id\":\"evt_1\"}";
    let signed_old = signature::sign(&old, at(1_700_000_000), body);
    let signed_new = signature::sign(&new, at(1_700_000_000), body);
    let v1_new = signed_new.split_once(",v1=").expect("a v1").1;
    let both = format!("{signed_old},v1={v1_new}");

    let verifier = verifier(&new).also_accepting(old);
    let now = at(1_700_000_001);
    assert!(verifier.verify(Some(&both), body, now).is_ok());
    assert_eq!(
        verifier.verify(Some(&signed_old), body, now),
        Err(SignatureError::Replayed)
    );
    assert_eq!(
        verifier.verify(Some(&signed_new), body, now),
        Err(SignatureError::Replayed)
    );
}

#[test]
fn during_a_rotation_either_secret_verifies() {
    let (old, new) = (
        secret("whsec_the-old-secret"),
        secret("whsec_the-new-secret"),
    );
    let body = b"{}";
    let signed_old = signature::sign(&old, at(1_700_000_000), body);
    let v1_new = signature::sign(&new, at(1_700_000_000), body);
    let v1_new = v1_new.split_once(",v1=").expect("a v1").1;
    let both = format!("{signed_old},v1={v1_new}");
    // A receiver that has moved to the new secret, one still on the old: both accept.
    for receiver in [&new, &old] {
        let verified = verifier(receiver).verify(Some(&both), body, at(1_700_000_000));
        assert!(verified.is_ok(), "{verified:?}");
    }
    let stranger = verifier(&secret("whsec_someone-else-entirely"));
    assert_eq!(
        stranger.verify(Some(&both), body, at(1_700_000_000)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_guard_remembers_only_the_window() {
    let secret = secret("whsec_bounded-memory");
    let verifier = verifier(&secret);
    for i in 0..50 {
        let body = format!("{{\"n\":{i}}}");
        let header = signature::sign(&secret, at(1_700_000_000), body.as_bytes());
        let verified = verifier.verify(Some(&header), body.as_bytes(), at(1_700_000_000));
        assert!(verified.is_ok());
    }
    assert_eq!(verifier.remembered(), 50);
    // 301 s later those fifty would be refused by the window, so they are forgotten.
    let later = at(1_700_000_301);
    let header = signature::sign(&secret, later, b"{}");
    assert!(verifier.verify(Some(&header), b"{}", later).is_ok());
    assert_eq!(verifier.remembered(), 1);
}

#[test]
fn a_full_guard_refuses_rather_than_forgets() {
    let secret = secret("whsec_a-small-guard");
    let guard = ReplayGuard::new(NonZeroUsize::new(2).expect("2 is not zero"));
    let verifier = Verifier::new(secret.clone(), TOLERANCE, guard);
    let now = at(1_700_000_000);
    let send = |body: &[u8]| verifier.verify(Some(&signature::sign(&secret, now, body)), body, now);
    assert!(send(b"1").is_ok());
    assert!(send(b"2").is_ok());
    let full = send(b"3");
    assert_eq!(full, Err(SignatureError::ReplayStoreFull));
    assert!(!full.expect_err("refused").is_bad_request());
}

#[test]
fn a_missing_or_malformed_header_is_refused() {
    let secret = secret("whsec_malformed-headers");
    let verifier = verifier(&secret);
    let now = at(1_700_000_000);
    assert_eq!(
        verifier.verify(None, b"{}", now),
        Err(SignatureError::Missing)
    );
    let good = signature::sign(&secret, now, b"{}");
    let v1 = good.split_once(",v1=").expect("a v1").1;
    for header in [
        String::new(),
        "t=1700000000".to_owned(),
        format!("v1={v1}"),
        format!("t=1700000000,t=1700000000,v1={v1}"),
        format!("t=-1700000000,v1={v1}"),
        format!("t=1700000000,v1={}", v1.to_uppercase()),
        format!("t=1700000000,v1={v1},garbage"),
        format!("t=1700000000,{}", vec![format!("v1={v1}"); 9].join(",")),
    ] {
        let verified = verifier.verify(Some(&header), b"{}", now);
        assert!(
            matches!(verified, Err(SignatureError::Malformed(_))),
            "{header:?}: {verified:?}"
        );
    }
    // An unknown scheme beside v1 is skipped, so a sender can add one.
    let extended = format!("{good},v2=whatever");
    assert!(verifier.verify(Some(&extended), b"{}", now).is_ok());
}

#[test]
fn a_secret_is_never_printed_and_never_weak() {
    let secret = WebhookSecret::generate();
    assert!(secret.expose_secret().starts_with("whsec_"));
    assert_eq!(format!("{secret:?}"), "WebhookSecret([REDACTED])");
    assert_ne!(
        WebhookSecret::generate().expose_secret(),
        secret.expose_secret()
    );
    assert!(WebhookSecret::new("short").is_err());
    let from_config: Result<WebhookSecret, _> = serde_json::from_str("\"too short\"");
    assert!(from_config.is_err());
}
