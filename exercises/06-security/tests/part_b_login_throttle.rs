//! Part (b): the login throttle, per account and per address.
//!
//! Run with `cargo test -p exercise-06 --test part_b_login_throttle`. Time is a `Duration`
//! passed in, so the tests jump minutes ahead without waiting.

use std::net::IpAddr;
use std::time::Duration;

use exercise_06::{LoginThrottle, Refused, ThrottlePolicy};

const SEC: Duration = Duration::from_secs(1);

fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        free_failures: 3,
        base_lockout: SEC,
        max_lockout: 60 * SEC,
        ip_limit: 10,
        ip_window: 600 * SEC,
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::from([203, 0, 113, n])
}

#[test]
fn the_free_failures_cost_nothing_then_the_lock_doubles() {
    let mut throttle = LoginThrottle::new(policy());
    let mut now = Duration::ZERO;
    let mut locks = Vec::new();
    for _ in 0..8 {
        assert_eq!(throttle.check("ada", ip(1), now), Ok(()));
        throttle.record_failure("ada", ip(1), now);
        match throttle.check("ada", ip(1), now) {
            Ok(()) => locks.push(0),
            Err(Refused::Account { retry_after }) => {
                locks.push(retry_after.as_secs());
                now += retry_after;
            }
            Err(other) => panic!("expected an account lock, got {other:?}"),
        }
    }
    assert_eq!(locks, [0, 0, 0, 1, 2, 4, 8, 16]);
}

#[test]
fn the_lock_ends_exactly_when_it_says() {
    let mut throttle = LoginThrottle::new(policy());
    for _ in 0..4 {
        throttle.record_failure("ada", ip(1), 10 * SEC);
    }
    assert_eq!(
        throttle.check("ada", ip(2), 10 * SEC + SEC / 4),
        Err(Refused::Account {
            retry_after: SEC * 3 / 4
        }),
        "the lock is on the account, whichever address asks"
    );
    assert_eq!(throttle.check("ada", ip(2), 11 * SEC), Ok(()));
}

#[test]
fn the_lock_is_capped_even_after_thousands_of_failures() {
    let mut throttle = LoginThrottle::new(ThrottlePolicy {
        ip_limit: u32::MAX,
        ..policy()
    });
    for n in 0..5_000u32 {
        throttle.record_failure("ada", ip((n % 200) as u8), SEC);
    }
    assert_eq!(
        throttle.check("ada", ip(250), SEC),
        Err(Refused::Account {
            retry_after: 60 * SEC
        })
    );
}

#[test]
fn account_names_are_compared_trimmed_and_lower_cased() {
    let mut throttle = LoginThrottle::new(policy());
    for name in ["Ada", " ada", "ADA ", "ada"] {
        throttle.record_failure(name, ip(1), SEC);
    }
    assert!(matches!(
        throttle.check("aDa", ip(9), SEC),
        Err(Refused::Account { .. })
    ));
    assert_eq!(throttle.check("grace", ip(9), SEC), Ok(()));
}

#[test]
fn success_forgets_the_account_but_not_the_address() {
    let mut throttle = LoginThrottle::new(ThrottlePolicy {
        ip_limit: 5,
        ..policy()
    });
    for _ in 0..5 {
        throttle.record_failure("ada", ip(1), SEC);
    }
    throttle.record_success(" ADA");
    assert_eq!(
        throttle.check("ada", ip(2), SEC),
        Ok(()),
        "the account starts over"
    );
    assert!(matches!(
        throttle.check("ada", ip(1), SEC),
        Err(Refused::Address { .. })
    ));
}

#[test]
fn a_spray_from_one_address_is_stopped_by_the_address_limit() {
    let mut throttle = LoginThrottle::new(policy());
    let mut tried = 0;
    for n in 0..100 {
        let account = format!("customer{n}");
        let now = SEC * n;
        if throttle.check(&account, ip(7), now).is_err() {
            break;
        }
        throttle.record_failure(&account, ip(7), now);
        tried += 1;
    }
    assert_eq!(tried, 10, "ten failures in ten minutes, then refused");
    assert_eq!(
        throttle.check("someone", ip(7), 10 * SEC),
        Err(Refused::Address {
            retry_after: 590 * SEC
        }),
        "the oldest failure (at 0 s) leaves the window at 600 s"
    );
    assert_eq!(throttle.check("someone", ip(8), 10 * SEC), Ok(()));
}

#[test]
fn the_address_window_slides() {
    let mut throttle = LoginThrottle::new(policy());
    for n in 0..10 {
        throttle.record_failure(&format!("c{n}"), ip(7), SEC * 60 * n);
    }
    // Failures at 0, 60, ..., 540 s. At 599 s all ten are inside (599 - 600, 599].
    assert!(throttle.check("x", ip(7), 599 * SEC).is_err());
    // At 600 s the one at 0 s has left: nine remain, one more attempt fits.
    assert_eq!(throttle.check("x", ip(7), 600 * SEC), Ok(()));
    throttle.record_failure("x", ip(7), 600 * SEC);
    assert_eq!(
        throttle.check("y", ip(7), 600 * SEC),
        Err(Refused::Address {
            retry_after: 60 * SEC
        })
    );
}
