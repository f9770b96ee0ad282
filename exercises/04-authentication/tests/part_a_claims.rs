//! Part (a): validating the claims of a token whose signature is already verified.
//!
//! Run with `cargo test -p exercise-04 --test part_a_claims`. The clock is injected: every
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
    assert_eq!(check(&claims(), 0, NOW), Ok(()));
    let no_nbf = Claims {
        nbf: None,
        ..claims()
    };
    assert_eq!(check(&no_nbf, 0, NOW), Ok(()));
}

#[test]
fn another_issuer_is_refused_by_exact_comparison() {
    for iss in [
        "https://evil.test",
        "https://auth.shop.test/",
        "HTTPS://AUTH.SHOP.TEST",
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
            })
        );
    }
}

#[test]
fn the_audience_must_contain_us() {
    let several = Claims {
        aud: vec!["billing".into(), "orders-api".into()],
        ..claims()
    };
    assert_eq!(check(&several, 0, NOW), Ok(()));
    for aud in [
        vec![],
        vec!["billing".to_owned()],
        vec!["orders-api-v2".to_owned()],
    ] {
        let claims = Claims { aud, ..claims() };
        assert_eq!(
            check(&claims, 0, NOW),
            Err(ClaimsError::WrongAudience {
                expected: "orders-api".into()
            })
        );
    }
}

#[test]
fn exp_is_exclusive_and_leeway_extends_it() {
    let token = claims();
    assert_eq!(check(&token, 0, NOW + 299), Ok(()));
    assert_eq!(
        check(&token, 0, NOW + 300),
        Err(ClaimsError::Expired {
            exp: NOW + 300,
            now: NOW + 300
        })
    );
    assert_eq!(check(&token, 30, NOW + 329), Ok(()));
    assert_eq!(
        check(&token, 30, NOW + 330),
        Err(ClaimsError::Expired {
            exp: NOW + 300,
            now: NOW + 330
        })
    );
}

#[test]
fn nbf_is_inclusive_and_leeway_applies_to_it() {
    let token = Claims {
        nbf: Some(NOW + 100),
        ..claims()
    };
    assert_eq!(check(&token, 0, NOW + 100), Ok(()));
    assert_eq!(
        check(&token, 0, NOW + 99),
        Err(ClaimsError::NotYetValid {
            nbf: NOW + 100,
            now: NOW + 99
        })
    );
    assert_eq!(check(&token, 60, NOW + 40), Ok(()));
    assert_eq!(
        check(&token, 60, NOW + 39),
        Err(ClaimsError::NotYetValid {
            nbf: NOW + 100,
            now: NOW + 39
        })
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
    assert!(matches!(
        check(&everything_wrong, 0, NOW),
        Err(ClaimsError::WrongIssuer { .. })
    ));
    let wrong_aud_and_expired = Claims {
        aud: vec![],
        exp: NOW - 1,
        ..claims()
    };
    assert!(matches!(
        check(&wrong_aud_and_expired, 0, NOW),
        Err(ClaimsError::WrongAudience { .. })
    ));
    let expired_and_early = Claims {
        exp: NOW - 1,
        nbf: Some(NOW + 1_000),
        ..claims()
    };
    assert!(matches!(
        check(&expired_and_early, 0, NOW),
        Err(ClaimsError::Expired { .. })
    ));
}

#[test]
fn extreme_values_do_not_overflow() {
    let forever = Claims {
        exp: u64::MAX,
        nbf: Some(0),
        ..claims()
    };
    assert_eq!(check(&forever, u64::MAX, u64::MAX - 1), Ok(()));
    assert_eq!(
        check(&forever, 60, u64::MAX - 1),
        Ok(()),
        "exp + leeway saturates instead of overflowing"
    );
    let early = Claims {
        nbf: Some(u64::MAX),
        ..claims()
    };
    assert!(
        check(&early, u64::MAX, NOW).is_ok(),
        "now + leeway saturates"
    );
}

proptest! {
    /// The definition, for any times: valid exactly when `nbf - leeway <= now < exp + leeway`.
    #[test]
    fn validity_matches_the_definition(
        exp in 0_u64..10_000,
        nbf in proptest::option::of(0_u64..10_000),
        leeway in 0_u64..120,
        now in 0_u64..10_300,
    ) {
        let token = Claims { exp, nbf, ..claims() };
        let valid = now < exp + leeway && nbf.is_none_or(|nbf| now + leeway >= nbf);
        prop_assert_eq!(check(&token, leeway, now).is_ok(), valid);
    }

    /// More leeway never turns a valid token into an invalid one.
    #[test]
    fn leeway_only_ever_helps(exp in 0_u64..10_000, nbf in 0_u64..10_000, now in 0_u64..10_000, leeway in 0_u64..100) {
        let token = Claims { exp, nbf: Some(nbf), ..claims() };
        if check(&token, leeway, now).is_ok() {
            prop_assert!(check(&token, leeway + 1, now).is_ok());
        }
    }
}
