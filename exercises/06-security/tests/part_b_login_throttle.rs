//! Part (b): the login throttle, per account and per address.
//!
//! Run with `cargo test -p exercise-06 part_b`. Time is a `Duration`
//! passed in, so the tests jump minutes ahead without waiting.

use std::net::IpAddr;
use std::time::Duration;

use exercise_06::{LoginThrottle, Refused, ThrottlePolicy};
use proptest::prelude::*;

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
fn the_lock_is_capped_at_max_lockout() {
    let mut throttle = LoginThrottle::new(policy());
    // Failure 3 + 7 would lock for 2^6 = 64 s; the cap is 60 s.
    for _ in 0..10 {
        throttle.record_failure("ada", ip(1), SEC);
    }
    assert_eq!(
        throttle.check("ada", ip(2), SEC),
        Err(Refused::Account {
            retry_after: 60 * SEC
        }),
        "base_lockout × 2^6 = 64 s is more than max_lockout: the lock is 60 s"
    );
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
    let check = throttle.check("aDa", ip(9), SEC);
    assert!(
        matches!(check, Err(Refused::Account { .. })),
        "Ada, ada and ADA are one account, which four failures locked: got {check:?}"
    );
    assert_eq!(
        throttle.check("grace", ip(9), SEC),
        Ok(()),
        "another account is not locked"
    );
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
    assert!(
        throttle.check("x", ip(7), 599 * SEC).is_err(),
        "failures at 0, 60, ..., 540 s: at 599 s all ten are inside (599 - 600, 599]"
    );
    assert_eq!(
        throttle.check("x", ip(7), 600 * SEC),
        Ok(()),
        "at 600 s the failure at 0 s has left the window (600 - 600, 600]: nine remain"
    );
    throttle.record_failure("x", ip(7), 600 * SEC);
    assert_eq!(
        throttle.check("y", ip(7), 600 * SEC),
        Err(Refused::Address {
            retry_after: 60 * SEC
        })
    );
}

#[test]
fn the_address_is_checked_before_the_account() {
    let mut throttle = LoginThrottle::new(ThrottlePolicy {
        ip_limit: 4,
        ..policy()
    });
    // Four failures on one account from one address: the account is locked (after the three
    // free ones) and the address is at its limit.
    for _ in 0..4 {
        throttle.record_failure("ada", ip(1), SEC);
    }
    assert!(
        matches!(
            throttle.check("ada", ip(1), SEC),
            Err(Refused::Address { .. })
        ),
        "both the address and the account are refused; the brief checks the address first, so \
         the answer is Refused::Address, got {:?}",
        throttle.check("ada", ip(1), SEC)
    );
    assert!(
        matches!(
            throttle.check("ada", ip(2), SEC),
            Err(Refused::Account { .. })
        ),
        "from another address only the account lock remains"
    );
}

#[test]
fn more_failures_than_the_limit_take_longer_to_leave() {
    // Attempts that ran at the same time all passed `check` before they failed: the address
    // has 15 failures in its window, against a limit of 10.
    let mut throttle = LoginThrottle::new(policy());
    for n in 0..15 {
        throttle.record_failure(&format!("c{n}"), ip(7), SEC * n);
    }
    // At 20 s the failures at 0, 1, ..., 14 s are all inside. Fewer than ten are left once
    // the six oldest have gone: when the one at 5 s leaves, at 605 s.
    assert_eq!(
        throttle.check("x", ip(7), 20 * SEC),
        Err(Refused::Address {
            retry_after: 585 * SEC
        }),
        "retry_after is how long until fewer than ip_limit failures are left, not until the \
         oldest leaves"
    );
    assert!(
        throttle
            .check("x", ip(7), 605 * SEC - Duration::from_nanos(1))
            .is_err(),
        "a nanosecond early, ten failures are still in the window"
    );
    assert_eq!(throttle.check("x", ip(7), 605 * SEC), Ok(()));
}

#[test]
fn free_failures_of_u32_max_never_lock_and_never_overflow() {
    let mut throttle = LoginThrottle::new(ThrottlePolicy {
        free_failures: u32::MAX,
        ..policy()
    });
    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..5 {
            throttle.record_failure("ada", ip(1), SEC);
        }
    }));
    assert!(
        recorded.is_ok(),
        "record_failure panicked with free_failures = u32::MAX (free_failures + 1 overflows)"
    );
    assert_eq!(
        throttle.check("ada", ip(2), SEC),
        Ok(()),
        "u32::MAX free failures: five failures lock nothing"
    );
}

/// One step of a random login history on one address.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes.
    Wait(Duration),
    /// An attempt that failed, recorded whether or not it was checked first (concurrent
    /// attempts are checked before any of them fails).
    Fail(u8),
    /// An attempt that is checked, and fails only if the check lets it through.
    Try(u8),
    Succeed(u8),
}

fn any_step(window: Duration) -> impl Strategy<Value = Step> {
    let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
    prop_oneof![
        prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::from_nanos(1)),
            Just(window),
            (0..nanos.saturating_mul(2)).prop_map(Duration::from_nanos),
        ]
        .prop_map(Step::Wait),
        (0u8..3).prop_map(Step::Fail),
        (0u8..3).prop_map(Step::Try),
        (0u8..3).prop_map(Step::Succeed),
    ]
}

fn any_history() -> impl Strategy<Value = (ThrottlePolicy, Vec<Step>)> {
    let policy = (
        0u32..4,
        prop_oneof![Just(1u32), 1u32..6],
        prop_oneof![
            Just(Duration::from_nanos(1)),
            (1u64..1_000).prop_map(Duration::from_millis)
        ],
    )
        .prop_map(|(free_failures, ip_limit, ip_window)| ThrottlePolicy {
            free_failures,
            base_lockout: SEC,
            max_lockout: 60 * SEC,
            ip_limit,
            ip_window,
        });
    policy.prop_flat_map(|policy| {
        let window = policy.ip_window;
        (Just(policy), prop::collection::vec(any_step(window), 0..40))
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// Whatever happened before, an address refused with `retry_after` may try again after
    /// exactly that long (if nothing else fails meanwhile), and not a nanosecond sooner.
    #[test]
    fn waiting_retry_after_is_always_enough_for_the_address((policy, steps) in any_history()) {
        let mut throttle = LoginThrottle::new(policy.clone());
        let address = ip(9);
        let mut now = Duration::ZERO;
        for step in &steps {
            match *step {
                Step::Wait(by) => now += by,
                Step::Fail(who) => throttle.record_failure(&format!("user{who}"), address, now),
                Step::Try(who) => {
                    let account = format!("user{who}");
                    if throttle.check(&account, address, now).is_ok() {
                        throttle.record_failure(&account, address, now);
                    }
                }
                Step::Succeed(who) => throttle.record_success(&format!("user{who}")),
            }
        }
        // An account that never failed, so only the address can refuse it.
        if let Err(refused) = throttle.check("newcomer", address, now) {
            let Refused::Address { retry_after } = refused else {
                let why = format!("only the address can refuse a fresh account: {refused:?}");
                return Err(TestCaseError::fail(why));
            };
            prop_assert!(retry_after > Duration::ZERO, "refused with nothing to wait for");
            prop_assert!(
                retry_after <= policy.ip_window,
                "{:?} is longer than the window", retry_after
            );
            let just_before = now + retry_after - Duration::from_nanos(1);
            let early = throttle.check("newcomer", address, just_before);
            prop_assert!(
                early.is_err(), "let in a nanosecond before retry_after {:?}", retry_after
            );
            let on_time = throttle.check("newcomer", address, now + retry_after);
            prop_assert_eq!(
                on_time, Ok(()), "still refused after waiting retry_after {:?}", retry_after
            );
        }
    }
}
