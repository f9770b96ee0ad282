//! Part (a): the token bucket, on a clock the tests move by hand.
//!
//! Run with `cargo test -p exercise-06 --test part_a_token_bucket`. The first tests walk
//! through the rules one at a time; the property tests at the end throw random traffic at the
//! bucket and check the promises that must hold for *every* run.

use std::time::Duration;

use exercise_06::{Clock, Denied, ManualClock, TokenBucket};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

/// A bucket of `capacity` gaining one token every 100 ms, and the clock that drives it.
fn bucket(capacity: u32) -> (TokenBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::default();
    (TokenBucket::new(capacity, 100 * MS, clock.clone()), clock)
}

#[test]
fn a_new_bucket_is_full_and_hands_out_its_burst() {
    let (mut bucket, _clock) = bucket(3);
    assert_eq!(bucket.available(), 3);
    assert_eq!(bucket.try_acquire(2), Ok(1));
    assert_eq!(bucket.try_acquire(1), Ok(0));
    assert_eq!(
        bucket.try_acquire(1),
        Err(Denied::Wait {
            retry_after: 100 * MS
        })
    );
    assert_eq!(bucket.available(), 0, "a refusal takes nothing");
}

#[test]
fn tokens_arrive_one_per_period_and_partial_progress_is_kept() {
    let (mut bucket, clock) = bucket(5);
    assert_eq!(bucket.try_acquire(5), Ok(0));
    clock.advance(250 * MS);
    assert_eq!(bucket.available(), 2);
    assert_eq!(
        bucket.time_until(3),
        Ok(50 * MS),
        "the third is half a period away"
    );
    clock.advance(50 * MS);
    assert_eq!(bucket.try_acquire(3), Ok(0));
    assert_eq!(bucket.time_until(1), Ok(100 * MS));
}

#[test]
fn a_full_bucket_earns_nothing_while_full() {
    let (mut bucket, clock) = bucket(2);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(bucket.available(), 2, "never more than the capacity");
    clock.advance(30 * MS);
    assert_eq!(bucket.try_acquire(1), Ok(1));
    // Time spent full did not count: the next token is a whole period away.
    assert_eq!(
        bucket.try_acquire(2),
        Err(Denied::Wait {
            retry_after: 100 * MS
        })
    );
}

#[test]
fn asking_for_more_than_the_capacity_is_refused_for_good() {
    let (mut bucket, _clock) = bucket(4);
    let too_many = Denied::TooMany {
        requested: 5,
        capacity: 4,
    };
    assert_eq!(bucket.try_acquire(5), Err(too_many));
    assert_eq!(bucket.time_until(5), Err(too_many));
    assert_eq!(bucket.try_acquire(0), Ok(4));
    assert_eq!(bucket.time_until(4), Ok(Duration::ZERO));
}

#[test]
fn the_bucket_reads_only_its_clock() {
    // A clock that another owner moved before the bucket existed: only differences count.
    let clock = ManualClock::default();
    clock.advance(Duration::from_secs(1_000));
    let mut bucket = TokenBucket::new(1, 100 * MS, clock.clone());
    assert_eq!(bucket.try_acquire(1), Ok(0));
    assert!(bucket.try_acquire(1).is_err());
    clock.advance(100 * MS);
    assert_eq!(clock.now(), Duration::from_millis(1_000_100));
    assert_eq!(bucket.try_acquire(1), Ok(0));
}

/// One step of random traffic: let `advance_ms` pass, then ask for `n` tokens.
fn traffic() -> impl Strategy<Value = Vec<(u64, u32)>> {
    prop::collection::vec((0u64..400, 0u32..5), 1..80)
}

proptest! {
    /// However the requests come, the bucket never hands out more than its burst plus what
    /// the elapsed time earned, and never holds more than its capacity.
    #[test]
    fn never_more_than_capacity_plus_rate_times_elapsed(
        capacity in 1u32..8,
        period_ms in 1u64..200,
        steps in traffic(),
    ) {
        let clock = ManualClock::default();
        let period = Duration::from_millis(period_ms);
        let mut bucket = TokenBucket::new(capacity, period, clock.clone());
        let mut granted: u64 = 0;
        let mut elapsed = Duration::ZERO;
        for (advance_ms, n) in steps {
            clock.advance(Duration::from_millis(advance_ms));
            elapsed += Duration::from_millis(advance_ms);
            if bucket.try_acquire(n).is_ok() {
                granted += u64::from(n);
            }
            let earned = (elapsed.as_nanos() / period.as_nanos()) as u64;
            prop_assert!(granted <= u64::from(capacity) + earned,
                "granted {} > {} + {}", granted, capacity, earned);
            prop_assert!(bucket.available() <= capacity);
        }
    }

    /// A refusal's `retry_after` is exact: a moment before, still refused; at it, granted.
    #[test]
    fn retry_after_is_exactly_when_the_tokens_are_there(
        capacity in 1u32..8,
        period_ms in 2u64..200,
        steps in traffic(),
        want in 1u32..8,
    ) {
        let want = want.min(capacity);
        let clock = ManualClock::default();
        let mut bucket = TokenBucket::new(capacity, Duration::from_millis(period_ms), clock.clone());
        for (advance_ms, n) in steps {
            clock.advance(Duration::from_millis(advance_ms));
            let _ = bucket.try_acquire(n);
        }
        if let Err(Denied::Wait { retry_after }) = bucket.try_acquire(want) {
            prop_assert!(retry_after > Duration::ZERO);
            prop_assert!(retry_after <= Duration::from_millis(period_ms) * want);
            clock.advance(retry_after - Duration::from_nanos(1));
            prop_assert!(bucket.try_acquire(want).is_err(), "granted before retry_after");
            clock.advance(Duration::from_nanos(1));
            prop_assert!(bucket.try_acquire(want).is_ok(), "refused at retry_after");
        } else {
            prop_assert!(bucket.available() <= capacity - want);
        }
    }

    /// Refusals take nothing: asking and being refused any number of times leaves the count
    /// where it was.
    #[test]
    fn a_refusal_never_changes_the_count(capacity in 1u32..8, asks in 1usize..20) {
        let clock = ManualClock::default();
        let mut bucket = TokenBucket::new(capacity, 100 * MS, clock);
        prop_assert_eq!(bucket.try_acquire(capacity), Ok(0));
        for _ in 0..asks {
            prop_assert!(bucket.try_acquire(1).is_err());
            prop_assert_eq!(bucket.available(), 0);
        }
    }
}
