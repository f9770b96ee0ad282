//! Part (c): cache-aside with request coalescing and negative caching.
//!
//! Run with `cargo test -p exercise-09 part_c`. Every test runs on tokio's paused clock: TTLs
//! are checked to the millisecond with `tokio::time::advance`, and nothing sleeps for real.
//! Loads that must overlap wait at a [`Source`]'s gate until the test opens it, so a burst of
//! callers really is in flight at once; the source counts how often it was asked.
//!
//! A call that should finish but does not (it waits for a load nobody makes any more, or spins
//! looking for one) fails its test instead of hanging it: the tests give tasks a bounded number
//! of turns of the scheduler (yields, which never move the paused clock), far more than a
//! correct implementation needs.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use exercise_09::{CacheConfig, Coalescing, LoadError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::task::yield_now;
use tokio::time::{advance, timeout};

type Answer = Result<Option<String>, LoadError>;
type Cache = Coalescing<u32, String>;

const MS: Duration = Duration::from_millis(1);
const TTL: Duration = Duration::from_secs(60);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
const BURST: usize = 50;
/// Turns of the scheduler that every spawned task gets to go as far as it can.
const SETTLE_TURNS: usize = 100;
/// Turns a call may take to finish: a handful would do.
const TURNS_TO_FINISH: usize = 1_000;

fn cache() -> Arc<Cache> {
    cache_with(TTL, NEGATIVE_TTL)
}

fn cache_with(ttl: Duration, negative_ttl: Duration) -> Arc<Cache> {
    Arc::new(Coalescing::new(CacheConfig { ttl, negative_ttl }))
}

fn found(value: &str) -> Answer {
    Ok(Some(value.to_owned()))
}

fn down() -> Answer {
    Err(LoadError::new("the database is down"))
}

/// A slow data source: counts its loads, and holds the gated ones until [`open`](Self::open).
#[derive(Clone)]
struct Source {
    calls: Arc<AtomicUsize>,
    gate: Arc<watch::Sender<bool>>,
}

impl Source {
    fn new() -> Self {
        Source {
            calls: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(watch::channel(false).0),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets every gated load, waiting or to come, answer.
    fn open(&self) {
        self.gate.send_replace(true);
    }

    /// A load that answers `answer` once the gate is open.
    async fn gated(self, answer: Answer) -> Answer {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut open = self.gate.subscribe();
        open.wait_for(|open| *open)
            .await
            .expect("the source lives as long as its loads");
        answer
    }

    /// A load that answers `answer` at once.
    async fn ready(self, answer: Answer) -> Answer {
        self.calls.fetch_add(1, Ordering::SeqCst);
        answer
    }

    /// A load that never answers.
    async fn hang(self) -> Answer {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Lets every spawned task go as far as it can: a task that can make progress is polled on
/// each turn. Yields never move the paused clock.
async fn settle() {
    for _ in 0..SETTLE_TURNS {
        yield_now().await;
    }
}

/// `call`'s answer, failing the test if it does not finish while the other tasks have their
/// turns: it waits for something that never happens, or it spins.
async fn within<T>(call: impl Future<Output = T>) -> T {
    let mut call = pin!(call);
    for _ in 0..TURNS_TO_FINISH {
        if let Poll::Ready(answer) = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            return answer;
        }
        yield_now().await;
    }
    panic!(
        "the call did not finish: it waits (or spins) for something that does not happen, \
         such as a load that nobody is making any more"
    )
}

/// `n` tasks calling `get_or_load(key)`, each ready to load `answer` through `source`'s gate.
fn spawn_callers(
    cache: &Arc<Cache>,
    key: u32,
    n: usize,
    source: &Source,
    answer: &Answer,
) -> Vec<JoinHandle<Answer>> {
    (0..n)
        .map(|_| {
            let (cache, source, answer) = (cache.clone(), source.clone(), answer.clone());
            tokio::spawn(async move { cache.get_or_load(key, move || source.gated(answer)).await })
        })
        .collect()
}

/// Every caller's answer.
async fn answers(callers: Vec<JoinHandle<Answer>>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(within(caller).await.expect("the caller did not panic"));
    }
    answers
}

/// One call that loads through `source` at once if it loads.
async fn get(cache: &Cache, key: u32, source: &Source, answer: Answer) -> Answer {
    let source = source.clone();
    within(cache.get_or_load(key, move || source.ready(answer))).await
}

#[tokio::test(start_paused = true)]
async fn a_miss_loads_and_the_next_call_is_a_hit() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, found("one")).await, found("one"));
    assert_eq!(source.calls(), 1);
    assert_eq!(
        get(&cache, 1, &source, found("other")).await,
        found("one"),
        "served from the cache: the loader is not called"
    );
    assert_eq!(source.calls(), 1);
    assert_eq!(get(&cache, 2, &source, found("two")).await, found("two"));
    assert_eq!(source.calls(), 2, "another key is another miss");
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_share_one_load() {
    let cache = cache();
    let source = Source::new();
    let callers = spawn_callers(&cache, 7, BURST, &source, &found("seven"));
    settle().await;
    assert_eq!(
        source.calls(),
        1,
        "{BURST} callers missed together: one loads, the others wait for it"
    );
    source.open();
    for answer in answers(callers).await {
        assert_eq!(
            answer,
            found("seven"),
            "every waiter gets the leader's value"
        );
    }
    assert_eq!(source.calls(), 1);
    assert_eq!(
        get(&cache, 7, &source, found("other")).await,
        found("seven")
    );
    assert_eq!(source.calls(), 1, "and the value was cached");
}

#[tokio::test(start_paused = true)]
async fn different_keys_are_loaded_separately() {
    let cache = cache();
    let source = Source::new();
    let ones = spawn_callers(&cache, 1, 5, &source, &found("one"));
    let twos = spawn_callers(&cache, 2, 5, &source, &found("two"));
    settle().await;
    assert_eq!(source.calls(), 2, "one load per key");
    source.open();
    for answer in answers(ones).await {
        assert_eq!(answer, found("one"));
    }
    for answer in answers(twos).await {
        assert_eq!(answer, found("two"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_load_does_not_hold_up_other_keys() {
    let cache = cache();
    let slow = Source::new();
    let waiting = spawn_callers(&cache, 1, 3, &slow, &found("slow"));
    settle().await;
    let fast = Source::new();
    assert_eq!(
        get(&cache, 2, &fast, found("fast")).await,
        found("fast"),
        "key 2 is answered while key 1 is still loading"
    );
    slow.open();
    for answer in answers(waiting).await {
        assert_eq!(answer, found("slow"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_value_expires_after_its_ttl() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(
        get(&cache, 1, &source, found("first")).await,
        found("first")
    );
    advance(TTL - MS).await;
    assert_eq!(
        get(&cache, 1, &source, found("second")).await,
        found("first"),
        "1 ms before the TTL: still cached"
    );
    assert_eq!(source.calls(), 1);
    advance(MS).await;
    assert_eq!(
        get(&cache, 1, &source, found("second")).await,
        found("second"),
        "at the TTL: expired, loaded again"
    );
    assert_eq!(source.calls(), 2);
    advance(TTL - MS).await;
    assert_eq!(
        get(&cache, 1, &source, found("third")).await,
        found("second"),
        "the new value's TTL counts from its own load"
    );
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_miss_is_cached_for_the_negative_ttl() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, Ok(None)).await, Ok(None));
    advance(NEGATIVE_TTL - MS).await;
    assert_eq!(
        get(&cache, 1, &source, found("created")).await,
        Ok(None),
        "the miss is cached: the loader is not asked again"
    );
    assert_eq!(source.calls(), 1);
    advance(MS).await;
    assert_eq!(
        get(&cache, 1, &source, found("created")).await,
        found("created"),
        "after the negative TTL (much shorter than the TTL) the row is found"
    );
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_of_a_missing_row_share_one_load() {
    let cache = cache();
    let source = Source::new();
    let callers = spawn_callers(&cache, 404, BURST, &source, &Ok(None));
    settle().await;
    source.open();
    for answer in answers(callers).await {
        assert_eq!(answer, Ok(None));
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_zero_negative_ttl_caches_no_miss_but_still_coalesces() {
    let cache = cache_with(TTL, Duration::ZERO);
    let source = Source::new();
    let callers = spawn_callers(&cache, 404, BURST, &source, &Ok(None));
    settle().await;
    source.open();
    for answer in answers(callers).await {
        assert_eq!(answer, Ok(None));
    }
    assert_eq!(source.calls(), 1, "the burst still shares one load");
    assert_eq!(get(&cache, 404, &source, Ok(None)).await, Ok(None));
    assert_eq!(source.calls(), 2, "but the miss was not kept");
}

#[tokio::test(start_paused = true)]
async fn an_error_reaches_every_waiter_and_is_not_cached() {
    let cache = cache();
    let source = Source::new();
    let callers = spawn_callers(&cache, 1, BURST, &source, &down());
    settle().await;
    source.open();
    for answer in answers(callers).await {
        assert_eq!(answer, down(), "every waiter gets the leader's error");
    }
    assert_eq!(source.calls(), 1, "one failed load for the whole burst");
    assert_eq!(
        get(&cache, 1, &source, found("back")).await,
        found("back"),
        "the error was not cached: the next call loads again"
    );
    assert_eq!(source.calls(), 2);
    assert_eq!(get(&cache, 1, &source, down()).await, found("back"));
}

#[tokio::test(start_paused = true)]
async fn an_error_does_not_drop_a_cached_value_of_another_key() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, found("one")).await, found("one"));
    assert_eq!(get(&cache, 2, &source, down()).await, down());
    assert_eq!(get(&cache, 1, &source, down()).await, found("one"));
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_over_when_the_leading_call_is_cancelled() {
    let cache = cache();
    let source = Source::new();
    let leader = {
        let (cache, source) = (cache.clone(), source.clone());
        tokio::spawn(async move { cache.get_or_load(1, move || source.hang()).await })
    };
    settle().await;
    let waiters = spawn_callers(&cache, 1, 10, &source, &found("one"));
    settle().await;
    assert_eq!(source.calls(), 1, "the waiters wait for the leader's load");
    leader.abort();
    settle().await;
    assert!(
        leader.await.expect_err("aborted").is_cancelled(),
        "the leader was cancelled"
    );
    assert_eq!(
        source.calls(),
        2,
        "exactly one waiter took over the abandoned load; the others wait for it"
    );
    source.open();
    for answer in answers(waiters).await {
        assert_eq!(answer, found("one"), "no waiter sees the cancellation");
    }
    assert_eq!(source.calls(), 2);
    assert_eq!(get(&cache, 1, &source, found("other")).await, found("one"));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_load_with_nobody_waiting_leaves_nothing_behind() {
    let cache = cache();
    let source = Source::new();
    let hanging = source.clone();
    let gave_up = timeout(MS, cache.get_or_load(1, move || hanging.hang())).await;
    assert!(gave_up.is_err(), "the first call timed out");
    assert_eq!(
        get(&cache, 1, &source, found("one")).await,
        found("one"),
        "the next call loads again instead of waiting for the abandoned load"
    );
    assert_eq!(source.calls(), 2);
    assert_eq!(get(&cache, 1, &source, found("other")).await, found("one"));
}

#[tokio::test(start_paused = true)]
async fn invalidate_forgets_a_value_and_a_miss() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, found("old")).await, found("old"));
    assert_eq!(get(&cache, 2, &source, Ok(None)).await, Ok(None));
    cache.invalidate(&1);
    cache.invalidate(&2);
    cache.invalidate(&3);
    assert_eq!(get(&cache, 1, &source, found("new")).await, found("new"));
    assert_eq!(get(&cache, 2, &source, found("made")).await, found("made"));
    assert_eq!(source.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn invalidate_forgets_only_its_key() {
    let cache = cache();
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, found("one")).await, found("one"));
    assert_eq!(get(&cache, 2, &source, found("two")).await, found("two"));
    cache.invalidate(&1);
    assert_eq!(get(&cache, 2, &source, found("other")).await, found("two"));
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_load_under_way_when_invalidated_is_answered_but_not_cached() {
    let cache = cache();
    let before = Source::new();
    let old_callers = spawn_callers(&cache, 1, 3, &before, &found("stale"));
    settle().await;
    cache.invalidate(&1);
    let after = Source::new();
    let new_callers = spawn_callers(&cache, 1, 3, &after, &found("fresh"));
    settle().await;
    assert_eq!(
        after.calls(),
        1,
        "after invalidate, calls do not wait for the load that began before it"
    );
    after.open();
    for answer in answers(new_callers).await {
        assert_eq!(answer, found("fresh"));
    }
    // The old load finishes last, as slow loads do.
    before.open();
    for answer in answers(old_callers).await {
        assert_eq!(
            answer,
            found("stale"),
            "its own waiters still get its answer"
        );
    }
    let later = Source::new();
    assert_eq!(
        get(&cache, 1, &later, found("other")).await,
        found("fresh"),
        "the stale answer did not replace the fresh one"
    );
    assert_eq!(later.calls(), 0);
    assert_eq!((before.calls(), after.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_stale_load_that_finishes_first_does_not_stand_in_for_the_new_one() {
    let cache = cache();
    let before = Source::new();
    let old_callers = spawn_callers(&cache, 1, 3, &before, &found("stale"));
    settle().await;
    cache.invalidate(&1);
    let after = Source::new();
    let new_callers = spawn_callers(&cache, 1, 3, &after, &found("fresh"));
    settle().await;
    // This time the old load finishes first, while the new one is still under way.
    before.open();
    for answer in answers(old_callers).await {
        assert_eq!(answer, found("stale"));
    }
    let late = Source::new();
    let late_callers = spawn_callers(&cache, 1, 3, &late, &found("late"));
    settle().await;
    assert_eq!(
        late.calls(),
        0,
        "a call now waits for the load under way, the one that began after the invalidation"
    );
    after.open();
    for answer in answers(new_callers).await {
        assert_eq!(answer, found("fresh"));
    }
    for answer in answers(late_callers).await {
        assert_eq!(
            answer,
            found("fresh"),
            "the old load's answer was not cached in the new one's place"
        );
    }
    assert_eq!(get(&cache, 1, &late, found("other")).await, found("fresh"));
    assert_eq!(late.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_load_invalidated_with_nothing_after_it_is_not_cached() {
    let cache = cache();
    let before = Source::new();
    let callers = spawn_callers(&cache, 1, 3, &before, &found("stale"));
    settle().await;
    cache.invalidate(&1);
    before.open();
    for answer in answers(callers).await {
        assert_eq!(answer, found("stale"));
    }
    let later = Source::new();
    assert_eq!(get(&cache, 1, &later, found("fresh")).await, found("fresh"));
    assert_eq!(
        later.calls(),
        1,
        "the answer of the invalidated load was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_ttl_too_long_for_the_clock_never_expires() {
    let cache = cache_with(Duration::MAX, Duration::MAX);
    let source = Source::new();
    assert_eq!(get(&cache, 1, &source, found("one")).await, found("one"));
    assert_eq!(get(&cache, 2, &source, Ok(None)).await, Ok(None));
    advance(Duration::from_secs(100 * 365 * 24 * 3600)).await;
    assert_eq!(get(&cache, 1, &source, found("other")).await, found("one"));
    assert_eq!(get(&cache, 2, &source, found("other")).await, Ok(None));
    assert_eq!(source.calls(), 2);
}
