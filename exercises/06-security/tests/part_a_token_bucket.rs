//! Part (a): the token bucket, on a clock the tests move by hand.
//!
//! Run with `cargo test -p exercise-06 part_a`. The first tests walk
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
    assert_eq!(
        bucket.capacity(),
        3,
        "the capacity is the one it was made with"
    );
    assert_eq!(bucket.available(), 3, "a new bucket is full");
    assert_eq!(bucket.try_acquire(2), Ok(1), "2 of 3 taken, 1 left");
    assert_eq!(bucket.try_acquire(1), Ok(0), "the last token can be taken");
    assert_eq!(
        bucket.try_acquire(1),
        Err(Denied::Wait {
            retry_after: 100 * MS
        }),
        "empty, and the next token is one period away"
    );
    assert_eq!(bucket.available(), 0, "a refusal takes nothing");
}

#[test]
fn tokens_arrive_one_per_period_and_partial_progress_is_kept() {
    let (mut bucket, clock) = bucket(5);
    assert_eq!(bucket.try_acquire(5), Ok(0));
    clock.advance(250 * MS);
    assert_eq!(bucket.available(), 2, "2.5 periods earn 2 whole tokens");
    assert_eq!(
        bucket.time_until(3),
        Ok(50 * MS),
        "the third is half a period away"
    );
    clock.advance(50 * MS);
    assert_eq!(
        bucket.try_acquire(3),
        Ok(0),
        "at 300 ms the third token is there"
    );
    assert_eq!(
        bucket.time_until(1),
        Ok(100 * MS),
        "it arrived just now, so the next is a whole period away"
    );
}

#[test]
fn a_full_bucket_earns_nothing_while_full() {
    let (mut bucket, clock) = bucket(2);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(bucket.available(), 2, "never more than the capacity");
    clock.advance(30 * MS);
    assert_eq!(bucket.try_acquire(1), Ok(1));
    assert_eq!(
        bucket.try_acquire(2),
        Err(Denied::Wait {
            retry_after: 100 * MS
        }),
        "time spent full does not count: after taking from a full bucket, the next token is a \
         whole period away"
    );
}

#[test]
fn asking_for_more_than_the_capacity_is_refused_for_good() {
    let (mut bucket, _clock) = bucket(4);
    let too_many = Denied::TooMany {
        requested: 5,
        capacity: 4,
    };
    assert_eq!(
        bucket.try_acquire(5),
        Err(too_many),
        "5 is more than a bucket of 4 ever holds"
    );
    assert_eq!(
        bucket.time_until(5),
        Err(too_many),
        "the same for time_until"
    );
    assert_eq!(bucket.try_acquire(0), Ok(4), "taking 0 always succeeds");
    assert_eq!(
        bucket.time_until(4),
        Ok(Duration::ZERO),
        "exactly the capacity is not too many: a full bucket holds it now"
    );
}

#[test]
fn the_bucket_reads_only_its_clock() {
    // A clock that another owner moved before the bucket existed: only differences count.
    let clock = ManualClock::default();
    clock.advance(Duration::from_secs(1_000));
    let mut bucket = TokenBucket::new(1, 100 * MS, clock.clone());
    assert_eq!(bucket.try_acquire(1), Ok(0), "a new bucket is full");
    assert!(bucket.try_acquire(1).is_err(), "and then empty");
    clock.advance(100 * MS);
    assert_eq!(clock.now(), Duration::from_millis(1_000_100));
    assert_eq!(
        bucket.try_acquire(1),
        Ok(0),
        "one period after it was created, whatever the clock read then"
    );
}

#[test]
fn a_bucket_idle_for_billions_of_periods_is_simply_full() {
    // 2^32 + 1 periods of one nanosecond: more tokens earned than a u32 holds.
    let clock = ManualClock::default();
    let mut bucket = TokenBucket::new(3, Duration::from_nanos(1), clock.clone());
    assert_eq!(bucket.try_acquire(3), Ok(0));
    clock.advance(Duration::from_nanos((1 << 32) + 1));
    assert_eq!(
        bucket.available(),
        3,
        "2^32 + 1 periods earn more tokens than a u32 counts; the bucket is full, not at 1"
    );
}

#[test]
fn the_largest_bucket_works_to_the_last_token() {
    let clock = ManualClock::default();
    let mut bucket = TokenBucket::new(u32::MAX, Duration::from_nanos(1), clock.clone());
    assert_eq!(bucket.try_acquire(u32::MAX), Ok(0), "a new bucket is full");
    assert_eq!(
        bucket.time_until(u32::MAX),
        Ok(Duration::from_nanos(u64::from(u32::MAX))),
        "u32::MAX tokens at one a nanosecond take u32::MAX nanoseconds"
    );
    clock.advance(Duration::from_nanos(u64::from(u32::MAX) - 1));
    assert_eq!(bucket.available(), u32::MAX - 1);
    assert_eq!(bucket.time_until(u32::MAX), Ok(Duration::from_nanos(1)));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(bucket.try_acquire(u32::MAX), Ok(0));
}

/// Capacities, periods and steps that reach the edges: one token, `u32::MAX` tokens, a
/// nanosecond and a minute per token, no time passing and a whole day passing at once.
fn any_capacity() -> impl Strategy<Value = u32> {
    prop_oneof![Just(1), Just(u32::MAX), 1u32..8]
}

fn any_period() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_nanos(1)),
        Just(Duration::from_secs(60)),
        (1u64..200).prop_map(Duration::from_millis),
        (1u64..1_000).prop_map(Duration::from_nanos),
    ]
}

/// One step of random traffic: let some time pass, then ask for some tokens.
fn traffic(period: Duration) -> impl Strategy<Value = Vec<(Duration, u32)>> {
    let nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
    let wait = prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(period),
        Just(period.saturating_sub(Duration::from_nanos(1))),
        Just(Duration::from_secs(86_400)),
        (0..nanos.saturating_mul(4)).prop_map(Duration::from_nanos),
    ];
    let ask = prop_oneof![Just(0), Just(1), Just(u32::MAX), 0u32..5];
    prop::collection::vec((wait, ask), 1..60)
}

fn bucket_and_traffic() -> impl Strategy<Value = (u32, Duration, Vec<(Duration, u32)>)> {
    (any_capacity(), any_period())
        .prop_flat_map(|(capacity, period)| (Just(capacity), Just(period), traffic(period)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// However the requests come, the bucket never hands out more than its burst plus what
    /// the elapsed time earned, and never holds more than its capacity.
    #[test]
    fn never_more_than_capacity_plus_rate_times_elapsed(
        (capacity, period, steps) in bucket_and_traffic(),
    ) {
        let clock = ManualClock::default();
        let mut bucket = TokenBucket::new(capacity, period, clock.clone());
        let mut granted: u128 = 0;
        let mut elapsed = Duration::ZERO;
        for (wait, n) in steps {
            clock.advance(wait);
            elapsed += wait;
            if bucket.try_acquire(n).is_ok() {
                granted += u128::from(n);
            }
            let earned = elapsed.as_nanos() / period.as_nanos();
            prop_assert!(granted <= u128::from(capacity) + earned,
                "granted {} > capacity {} + {} earned in {:?}", granted, capacity, earned, elapsed);
            prop_assert!(bucket.available() <= capacity, "more than the capacity");
        }
    }

    /// A refusal's `retry_after` is exact: a nanosecond before, still refused; at it, granted.
    #[test]
    fn retry_after_is_exactly_when_the_tokens_are_there(
        (capacity, period, steps) in bucket_and_traffic(),
        want in prop_oneof![Just(1u32), Just(u32::MAX), 1u32..8],
    ) {
        let want = want.min(capacity);
        let clock = ManualClock::default();
        let mut bucket = TokenBucket::new(capacity, period, clock.clone());
        for (wait, n) in steps {
            clock.advance(wait);
            let _ = bucket.try_acquire(n);
        }
        match bucket.try_acquire(want) {
            Err(Denied::Wait { retry_after }) => {
                // ManualClock counts nanoseconds in a u64: 584 years, and no further.
                let end = clock.now().as_nanos() + retry_after.as_nanos();
                prop_assume!(end < u128::from(u64::MAX));
                prop_assert!(retry_after > Duration::ZERO, "a refusal with nothing to wait for");
                prop_assert!(
                    retry_after <= period * want,
                    "{:?} is longer than {} periods", retry_after, want
                );
                clock.advance(retry_after - Duration::from_nanos(1));
                prop_assert!(
                    bucket.try_acquire(want).is_err(),
                    "granted a nanosecond before retry_after"
                );
                clock.advance(Duration::from_nanos(1));
                prop_assert!(bucket.try_acquire(want).is_ok(), "still refused at retry_after");
            }
            Ok(left) => prop_assert!(
                left <= capacity - want, "{} left after taking {} of {}", left, want, capacity
            ),
            Err(too_many) => prop_assert!(
                false, "{} of {} is not too many: {:?}", want, capacity, too_many
            ),
        }
    }

    /// Refusals take nothing: with some tokens left, asking for more than are there any number
    /// of times leaves the count where it was, and what is there can still be taken.
    #[test]
    fn a_refusal_never_changes_the_count(
        capacity in prop_oneof![Just(u32::MAX), 2u32..8],
        taken in prop_oneof![Just(1u32), 1u32..8],
        asks in 1usize..20,
    ) {
        let taken = taken.min(capacity - 1);
        let clock = ManualClock::default();
        let mut bucket = TokenBucket::new(capacity, 100 * MS, clock);
        let left = capacity - taken;
        prop_assert_eq!(bucket.try_acquire(taken), Ok(left));
        for _ in 0..asks {
            prop_assert!(
                bucket.try_acquire(left + 1).is_err(),
                "granted more tokens than there are"
            );
            prop_assert_eq!(bucket.available(), left, "a refusal took or added tokens");
        }
        prop_assert_eq!(
            bucket.try_acquire(left), Ok(0), "the tokens a refusal left are still there"
        );
    }
}
