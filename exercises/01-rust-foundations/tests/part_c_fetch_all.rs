//! Part (c): `fetch_all`, a fan-out to price sources with a per-call timeout.
//!
//! Run with `cargo test -p exercise-01 part_c`. Every test starts tokio's clock paused
//! (`start_paused = true`): when all tasks wait on timers, tokio jumps the clock to the next
//! deadline at once. So a 100 ms fake supplier costs no real time, timeouts fire exactly, and
//! `Instant::now()` below is tokio's virtual clock, not the wall clock.

use std::sync::Arc;
use std::time::Duration;

use exercise_01::{
    BoxFuture, Currency, Failure, FetchError, Money, PriceSource, Quote, Quotes, SourceError,
    fetch_all,
};
use tokio::time::Instant;

const SKU: &str = "MUG-RED";

/// What a fake supplier does after its delay.
#[derive(Clone)]
enum Behaviour {
    /// Quotes this many euro cents for `SKU`, and `UnknownSku` for anything else.
    Quote(i64),
    /// Fails with this error.
    Fail(SourceError),
    /// Never answers.
    Hang,
}

struct FakeSupplier {
    name: &'static str,
    delay: Duration,
    behaviour: Behaviour,
}

impl PriceSource for FakeSupplier {
    fn name(&self) -> &str {
        self.name
    }

    fn price<'a>(&'a self, sku: &'a str) -> BoxFuture<'a, Result<Money, SourceError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            match &self.behaviour {
                Behaviour::Quote(minor) if sku == SKU => Ok(eur(*minor)),
                Behaviour::Quote(_) => Err(SourceError::UnknownSku(sku.to_owned())),
                Behaviour::Fail(error) => Err(error.clone()),
                Behaviour::Hang => std::future::pending().await,
            }
        })
    }
}

fn supplier(name: &'static str, delay_ms: u64, behaviour: Behaviour) -> Arc<dyn PriceSource> {
    Arc::new(FakeSupplier {
        name,
        delay: Duration::from_millis(delay_ms),
        behaviour,
    })
}

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

fn quote(source: &str, minor: i64) -> Quote {
    Quote {
        source: source.to_owned(),
        price: eur(minor),
    }
}

fn failure(source: &str, error: FetchError) -> Failure {
    Failure {
        source: source.to_owned(),
        error,
    }
}

const TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test(start_paused = true)]
async fn collects_every_price_in_the_order_of_the_sources() {
    // The last source answers first: the result must follow the slice, not the finish line.
    let sources = [
        supplier("slow", 300, Behaviour::Quote(1_299)),
        supplier("medium", 200, Behaviour::Quote(1_250)),
        supplier("fast", 100, Behaviour::Quote(1_310)),
    ];
    let quotes = fetch_all(&sources, SKU, TIMEOUT).await;
    assert_eq!(
        quotes,
        Quotes {
            prices: vec![
                quote("slow", 1_299),
                quote("medium", 1_250),
                quote("fast", 1_310)
            ],
            failures: vec![],
        },
        "all three answer within the timeout; prices come in the order of `sources`"
    );
}

#[tokio::test(start_paused = true)]
async fn passes_the_sku_to_every_source() {
    let sources = [supplier("only-mugs", 10, Behaviour::Quote(500))];
    let quotes = fetch_all(&sources, "TEAPOT", TIMEOUT).await;
    assert_eq!(
        quotes.failures,
        vec![failure(
            "only-mugs",
            FetchError::Source(SourceError::UnknownSku("TEAPOT".to_owned()))
        )],
        "the fake only sells {SKU}: asking for TEAPOT must reach it and fail"
    );
    assert!(quotes.prices.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_times_out_while_the_others_still_count() {
    let sources = [
        supplier("quick", 50, Behaviour::Quote(999)),
        supplier("sluggish", 2_000, Behaviour::Quote(100)),
    ];
    let quotes = fetch_all(&sources, SKU, TIMEOUT).await;
    assert_eq!(
        quotes,
        Quotes {
            prices: vec![quote("quick", 999)],
            failures: vec![failure("sluggish", FetchError::TimedOut(TIMEOUT))],
        },
        "sluggish needs 2 s but gets {TIMEOUT:?}: it is a TimedOut(per_call) failure, and \
         quick's price is kept (partial results)"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_are_reported_with_the_source_that_failed() {
    let down = SourceError::Unavailable("503 from upstream".to_owned());
    let sources = [
        supplier("a", 10, Behaviour::Quote(1_000)),
        supplier("b", 10, Behaviour::Fail(down.clone())),
        supplier("c", 10, Behaviour::Hang),
        supplier("d", 10, Behaviour::Quote(900)),
    ];
    let quotes = fetch_all(&sources, SKU, TIMEOUT).await;
    assert_eq!(
        quotes,
        Quotes {
            prices: vec![quote("a", 1_000), quote("d", 900)],
            failures: vec![
                failure("b", FetchError::Source(down)),
                failure("c", FetchError::TimedOut(TIMEOUT)),
            ],
        },
        "each source lands in exactly one list: b's error is passed on as FetchError::Source, \
         c never answers and times out"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_run_concurrently_not_one_after_another() {
    let sources = [
        supplier("a", 100, Behaviour::Quote(1)),
        supplier("b", 100, Behaviour::Quote(2)),
        supplier("c", 100, Behaviour::Quote(3)),
    ];
    let start = Instant::now();
    let quotes = fetch_all(&sources, SKU, TIMEOUT).await;
    let elapsed = start.elapsed();
    assert_eq!(quotes.prices.len(), 3, "all three answer: {quotes:?}");
    assert_eq!(
        elapsed,
        Duration::from_millis(100),
        "three 100 ms calls must take 100 ms together, but took {elapsed:?} of (virtual) time: \
         awaiting them one by one takes 300 ms; start them all, then wait (join_all or \
         tokio::spawn)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_source_costs_the_timeout_and_no_more() {
    // On the paused clock a timeout fires exactly on time, so "no more" is exact: a call made
    // before or after the hanging one, rather than beside it, adds its 10 ms.
    for sources in [
        [
            supplier("hangs", 0, Behaviour::Hang),
            supplier("fine", 10, Behaviour::Quote(42)),
        ],
        [
            supplier("fine", 10, Behaviour::Quote(42)),
            supplier("hangs", 0, Behaviour::Hang),
        ],
    ] {
        let start = Instant::now();
        let quotes = fetch_all(&sources, SKU, TIMEOUT).await;
        let elapsed = start.elapsed();
        assert_eq!(quotes.prices, vec![quote("fine", 42)]);
        assert_eq!(
            elapsed, TIMEOUT,
            "with a source that never answers, fetch_all must return when the timeout \
             ({TIMEOUT:?}) fires, but it took {elapsed:?}: the other calls must run beside the \
             hanging one, not before or after it"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn no_sources_means_no_quotes() {
    assert_eq!(
        fetch_all(&[], SKU, TIMEOUT).await,
        Quotes::default(),
        "nothing asked, nothing answered: both lists empty"
    );
}
