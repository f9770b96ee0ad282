//! Part (a): validating the claims of a token whose signature is already verified.
//!
//! Run with `cargo test -p exercise-04 part_a`. The clock is injected: every
//! test says what time it is, so nothing sleeps and nothing depends on the real date.

use exercise_04::{Claims, ClaimsError, Expected, FixedClock, validate_claims};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;

fn expected(leeway: u64) -> Expected {
    Expected {
        issuer: "https://auth.shop.test".into(),
        audience: "orders-api".into(),
        leeway,
    }
}

fn claims() -> Claims {
    Claims {
        iss: "https://auth.shop.test".into(),
        aud: vec!["orders-api".into()],
        sub: "user-42".into(),
        exp: NOW + 300,
        nbf: Some(NOW - 10),
    }
}

fn check(claims: &Claims, leeway: u64, now: u64) -> Result<(), ClaimsError> {
    validate_claims(claims, &expected(leeway), &FixedClock(now))
}

#[test]
fn good_claims_pass() {
    assert_eq!(
        check(&claims(), 0, NOW),
        Ok(()),
        "right party, inside its window"
    );
    let no_nbf = Claims {
        nbf: None,
        ..claims()
    };
    assert_eq!(check(&no_nbf, 0, NOW), Ok(()), "`nbf` is optional");
}

#[test]
fn another_issuer_is_refused_by_exact_comparison() {
    for iss in [
        "https://evil.test",
        "https://auth.shop.test/",
        "HTTPS://AUTH.SHOP.TEST",
        "https://auth.shop.test.evil.test",
        "",
    ] {
        let claims = Claims {
            iss: iss.into(),
            ..claims()
        };
        assert_eq!(
            check(&claims, 60, NOW),
            Err(ClaimsError::WrongIssuer {
                expected: "https://auth.shop.test".into(),
                found: iss.into()
            }),
            "the issuer is compared exactly (no case folding, no prefix match): {iss:?}"
        );
    }
}

#[test]
fn the_audience_must_contain_us() {
    let several = Claims {
        aud: vec!["billing".into(), "orders-api".into()],
        ..claims()
    };
    assert_eq!(
        check(&several, 0, NOW),
        Ok(()),
        "we may be any one of several audiences"
    );
    for aud in [
        vec![],
        vec!["billing".to_owned()],
        vec!["orders-api-v2".to_owned()],
        vec!["ORDERS-API".to_owned()],
    ] {
        let claims = Claims {
            aud: aud.clone(),
            ..claims()
        };
        assert_eq!(
            check(&claims, 0, NOW),
            Err(ClaimsError::WrongAudience {
                expected: "orders-api".into()
            }),
            "`orders-api` must be one of the audiences exactly: {aud:?}"
        );
    }
}

#[test]
fn exp_is_exclusive_and_leeway_extends_it() {
    let token = claims();
    assert_eq!(check(&token, 0, NOW + 299), Ok(()), "one second before exp");
    assert_eq!(
        check(&token, 0, NOW + 300),
        Err(ClaimsError::Expired {
            exp: NOW + 300,
            now: NOW + 300
        }),
        "expired at exp: the second exp itself is already too late"
    );
    assert_eq!(
        check(&token, 30, NOW + 329),
        Ok(()),
        "leeway 30 keeps it valid until exp + 29"
    );
    assert_eq!(
        check(&token, 30, NOW + 330),
        Err(ClaimsError::Expired {
            exp: NOW + 300,
            now: NOW + 330
        }),
        "leeway 30: expired at exp + 30"
    );
}

#[test]
fn nbf_is_inclusive_and_leeway_applies_to_it() {
    let token = Claims {
        nbf: Some(NOW + 100),
        ..claims()
    };
    assert_eq!(check(&token, 0, NOW + 100), Ok(()), "valid from nbf on");
    assert_eq!(
        check(&token, 0, NOW + 99),
        Err(ClaimsError::NotYetValid {
            nbf: NOW + 100,
            now: NOW + 99
        }),
        "one second before nbf"
    );
    assert_eq!(
        check(&token, 60, NOW + 40),
        Ok(()),
        "leeway 60: valid from nbf - 60"
    );
    assert_eq!(
        check(&token, 60, NOW + 39),
        Err(ClaimsError::NotYetValid {
            nbf: NOW + 100,
            now: NOW + 39
        }),
        "leeway 60: not valid at nbf - 61"
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    let everything_wrong = Claims {
        iss: "https://evil.test".into(),
        aud: vec![],
        exp: NOW - 1,
        nbf: Some(NOW + 1_000),
        ..claims()
    };
    let result = check(&everything_wrong, 0, NOW);
    assert!(
        matches!(result, Err(ClaimsError::WrongIssuer { .. })),
        "the issuer is checked first: {result:?}"
    );
    let wrong_aud_and_expired = Claims {
        aud: vec![],
        exp: NOW - 1,
        ..claims()
    };
    let result = check(&wrong_aud_and_expired, 0, NOW);
    assert!(
        matches!(result, Err(ClaimsError::WrongAudience { .. })),
        "the audience before the times: {result:?}"
    );
    let expired_and_early = Claims {
        exp: NOW - 1,
        nbf: Some(NOW + 1_000),
        ..claims()
    };
    let result = check(&expired_and_early, 0, NOW);
    assert!(
        matches!(result, Err(ClaimsError::Expired { .. })),
        "exp before nbf: {result:?}"
    );
}

#[test]
fn extreme_values_do_not_overflow() {
    let forever = Claims {
        exp: u64::MAX,
        nbf: Some(0),
        ..claims()
    };
    assert_eq!(
        check(&forever, u64::MAX, u64::MAX - 1),
        Ok(()),
        "exp = u64::MAX with the largest leeway: valid, not an overflow"
    );
    assert_eq!(
        check(&forever, 60, u64::MAX - 1),
        Ok(()),
        "exp + leeway past u64::MAX is a token that never expires, not an overflow"
    );
    let early = Claims {
        nbf: Some(u64::MAX),
        ..claims()
    };
    assert_eq!(
        check(&early, u64::MAX, NOW),
        Ok(()),
        "now + leeway past u64::MAX reaches any nbf, and does not overflow"
    );
}

/// Times at both ends of `u64` as well as ordinary ones: the overflows live at the top.
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        0_u64..10_000,
        (u64::MAX - 10_000)..=u64::MAX,
        Just(0),
        Just(u64::MAX),
    ]
}

/// The clock, from 0 to `u64::MAX - 1`. At `now = u64::MAX` a window that ends past the end
/// of `u64` can be read both ways (saturating arithmetic says "expired", exact arithmetic
/// "valid"), and both are right for any clock that will ever run, so neither is tested.
fn clock() -> impl Strategy<Value = u64> {
    prop_oneof![
        0_u64..10_300,
        (u64::MAX - 10_300)..u64::MAX,
        Just(0),
        Just(u64::MAX - 1),
    ]
}

fn leeway() -> impl Strategy<Value = u64> {
    prop_oneof![0_u64..120, (u64::MAX - 120)..=u64::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, max_shrink_iters: 1024, ..ProptestConfig::default() })]

    /// The definition, for any times, computed without overflow in `u128`: valid exactly when
    /// `nbf - leeway <= now < exp + leeway`. Besides a random `now`, the seconds on both sides
    /// of each edge of the window are checked, where off-by-one mistakes live.
    #[test]
    fn validity_matches_the_definition(
        exp in time(),
        nbf in proptest::option::of(time()),
        leeway in leeway(),
        now in clock(),
    ) {
        let token = Claims { exp, nbf, ..claims() };
        let (exp_, leeway_) = (u128::from(exp), u128::from(leeway));
        let end = exp_ + leeway_;
        let start = nbf.map_or(0, |nbf| u128::from(nbf).saturating_sub(leeway_));
        let edges = [end.checked_sub(1), Some(end), start.checked_sub(1), Some(start)];
        let nows = edges
            .into_iter()
            .flatten()
            .filter_map(|t| u64::try_from(t).ok())
            .filter(|&t| t < u64::MAX)
            .chain([now]);
        for now in nows {
            let now_ = u128::from(now);
            let expected = match nbf {
                _ if now_ >= end => Err(ClaimsError::Expired { exp, now }),
                Some(nbf) if now_ + leeway_ < u128::from(nbf) => {
                    Err(ClaimsError::NotYetValid { nbf, now })
                }
                _ => Ok(()),
            };
            prop_assert_eq!(
                check(&token, leeway, now),
                expected,
                "valid exactly when nbf - leeway <= now < exp + leeway (exp={}, nbf={:?}, leeway={}, now={})",
                exp, nbf, leeway, now
            );
        }
    }

    /// More leeway never turns a valid token into an invalid one.
    #[test]
    fn leeway_only_ever_helps(exp in time(), nbf in time(), now in clock(), leeway in 0_u64..100) {
        let token = Claims { exp, nbf: Some(nbf), ..claims() };
        if check(&token, leeway, now).is_ok() {
            prop_assert!(
                check(&token, leeway + 1, now).is_ok(),
                "valid with leeway {} but not with {}", leeway, leeway + 1
            );
        }
    }
}
