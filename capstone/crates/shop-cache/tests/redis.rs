//! shop-cache against a real Redis: two "processes" (two sets of tiers, each with its own
//! subscription) share one Redis under a test's private prefix.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use shop_cache::{
    CartLine, GuestCartError, GuestCarts, Invalidations, Namespace, Redis, Trending, TwoTier,
};
use testkit::RedisNamespace;
use tokio_util::sync::CancellationToken;

const PRODUCT: Namespace = Namespace {
    name: "product",
    version: 1,
    local_ttl: Duration::from_secs(60),
    remote_ttl: Duration::from_secs(60),
    negative_ttl: Duration::from_secs(60),
};

/// One process's view: its own subscription and memory tier.
struct Process {
    cache: TwoTier<String>,
    bus: Invalidations,
    _stop: tokio_util::sync::DropGuard,
}

async fn process(namespace: &RedisNamespace) -> Process {
    let redis = Redis::open(&redis_url(), namespace.prefix()).expect("a valid URL");
    let stop = CancellationToken::new();
    let bus = Invalidations::start(Some(redis.clone()), stop.clone());
    let cache = TwoTier::new(PRODUCT, 1_000, Some(redis), &bus);
    wait_until("subscribed", || bus.is_subscribed()).await;
    Process {
        cache,
        bus,
        _stop: stop.drop_guard(),
    }
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not {what} after 5 s");
}

/// A loader that counts its calls and answers `value`.
fn loader(
    calls: &Arc<AtomicUsize>,
    value: Option<&str>,
) -> impl FnOnce() -> std::future::Ready<Result<Option<String>, Infallible>> {
    let calls = calls.clone();
    let value = value.map(str::to_owned);
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(value))
    }
}

#[tokio::test]
async fn needs_redis_a_miss_loads_once_then_memory_then_redis_answer() {
    let namespace = testkit::redis().await;
    let a = process(&namespace).await;
    let b = process(&namespace).await;
    let calls = Arc::new(AtomicUsize::new(0));

    let first = a
        .cache
        .get_or_load(42, loader(&calls, Some("lamp")))
        .await
        .unwrap();
    assert_eq!(first.as_deref().map(String::as_str), Some("lamp"));
    let again = a
        .cache
        .get_or_load(42, loader(&calls, Some("other")))
        .await
        .unwrap();
    assert_eq!(
        again.as_deref().map(String::as_str),
        Some("lamp"),
        "from memory"
    );
    // The other process has nothing in memory, but Redis has the entry.
    let other = b
        .cache
        .get_or_load(42, loader(&calls, Some("other")))
        .await
        .unwrap();
    assert_eq!(
        other.as_deref().map(String::as_str),
        Some("lamp"),
        "from Redis"
    );

    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for three reads");
    assert_eq!(a.cache.stats().local_hits, 1);
    assert_eq!(a.cache.stats().loads, 1);
    assert_eq!(b.cache.stats().remote_hits, 1);
    assert_eq!(b.cache.stats().loads, 0);
}

#[tokio::test]
async fn needs_redis_an_invalidation_reaches_the_memory_of_every_process() {
    let namespace = testkit::redis().await;
    let a = process(&namespace).await;
    let b = process(&namespace).await;
    let calls = Arc::new(AtomicUsize::new(0));
    for process in [&a, &b] {
        process
            .cache
            .get_or_load(7, loader(&calls, Some("old")))
            .await
            .unwrap();
    }
    // Both hold "old" in memory now; the write happens, then A invalidates.
    a.cache.invalidate(7).await;
    wait_until("told", || b.bus.received() >= 1).await;

    let seen = b
        .cache
        .get_or_load(7, loader(&calls, Some("new")))
        .await
        .unwrap();
    assert_eq!(seen.as_deref().map(String::as_str), Some("new"));
    let seen = a
        .cache
        .get_or_load(7, loader(&calls, Some("newer")))
        .await
        .unwrap();
    assert_eq!(
        seen.as_deref().map(String::as_str),
        Some("new"),
        "A finds B's reload in Redis: the invalidation did not outlive the write"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn needs_redis_concurrent_misses_share_one_load() {
    let namespace = testkit::redis().await;
    let a = process(&namespace).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let cache = a.cache.clone();
            let calls = calls.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load(1, async move || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Ok::<_, Infallible>(Some("hot".to_owned()))
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    wait_until("loading", || calls.load(Ordering::SeqCst) >= 1).await;
    // Give every reader the time to reach the cache before the load finishes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.notify_waiters();
    gate.notify_one();
    for reader in readers {
        assert_eq!(
            reader.await.unwrap().as_deref().map(String::as_str),
            Some("hot")
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "fifty readers, one query");
}

#[tokio::test]
async fn needs_redis_not_found_is_remembered_and_an_error_is_not() {
    let namespace = testkit::redis().await;
    let a = process(&namespace).await;
    let b = process(&namespace).await;
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        a.cache
            .get_or_load(404, loader(&calls, None))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        a.cache
            .get_or_load(404, loader(&calls, Some("x")))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        b.cache
            .get_or_load(404, loader(&calls, Some("x")))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the miss is cached in both tiers"
    );

    let failed = a
        .cache
        .get_or_load(500, async || Err::<Option<String>, _>("database down"))
        .await;
    assert_eq!(failed.unwrap_err().as_ref(), &"database down");
    let after = a
        .cache
        .get_or_load(500, loader(&calls, Some("back")))
        .await
        .unwrap();
    assert_eq!(
        after.as_deref().map(String::as_str),
        Some("back"),
        "the error was not cached"
    );
}

#[tokio::test]
async fn needs_redis_a_process_that_cannot_reach_redis_still_answers_from_the_loader() {
    // A port nothing listens on: every Redis command fails at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let redis = Redis::open(&format!("redis://127.0.0.1:{port}"), "gone:").unwrap();
    let stop = CancellationToken::new();
    let bus = Invalidations::start(Some(redis.clone()), stop.clone());
    let cache: TwoTier<String> = TwoTier::new(PRODUCT, 100, Some(redis), &bus);
    let calls = Arc::new(AtomicUsize::new(0));
    let value = cache
        .get_or_load(1, loader(&calls, Some("db")))
        .await
        .unwrap();
    assert_eq!(value.as_deref().map(String::as_str), Some("db"));
    cache.invalidate(1).await;
    let value = cache
        .get_or_load(1, loader(&calls, Some("db2")))
        .await
        .unwrap();
    assert_eq!(
        value.as_deref().map(String::as_str),
        Some("db2"),
        "its own invalidation still reaches its memory"
    );
    assert!(cache.stats().redis_errors >= 2);
    assert!(!bus.is_subscribed());
    stop.cancel();
}

#[tokio::test]
async fn needs_redis_a_guest_cart_lives_in_a_hash_and_is_taken_once() {
    let namespace = testkit::redis().await;
    let redis = Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let carts = GuestCarts::new(Some(redis), Duration::from_secs(60));
    carts.set("c1", "p-b", 2).await.unwrap();
    carts.set("c1", "p-a", 1).await.unwrap();
    carts.set("c1", "p-b", 5).await.unwrap();
    assert!(carts.remove("c1", "p-a").await.unwrap());
    assert!(!carts.remove("c1", "p-a").await.unwrap());
    carts.set("c1", "p-c", 3).await.unwrap();
    let line = |product: &str, quantity| CartLine {
        product: product.to_owned(),
        quantity,
    };
    assert_eq!(
        carts.lines("c1").await.unwrap(),
        [line("p-b", 5), line("p-c", 3)]
    );

    let mut connection = namespace.connection();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(namespace.key("cart:guest:c1"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        (1..=60_000).contains(&ttl),
        "every write sets the expiry, ttl={ttl}"
    );

    let (first, second) = tokio::join!(carts.take("c1"), carts.take("c1"));
    let mut taken = [first.unwrap(), second.unwrap()];
    taken.sort_by_key(Vec::len);
    assert_eq!(taken[0], [], "two sign-ins cannot both merge the cart");
    assert_eq!(taken[1], [line("p-b", 5), line("p-c", 3)]);
    assert_eq!(carts.lines("c1").await.unwrap(), []);
}

#[tokio::test]
async fn guest_carts_without_redis_say_they_are_unavailable() {
    let carts = GuestCarts::new(None, Duration::from_secs(60));
    assert!(matches!(
        carts.set("c", "p", 1).await,
        Err(GuestCartError::Unavailable)
    ));
}

/// Writes only when told (or when the last handle goes): the tests decide when counts move.
const BY_HAND: Duration = Duration::from_secs(3_600);

#[tokio::test]
async fn needs_redis_trending_ranks_today_over_half_of_yesterday() {
    let namespace = testkit::redis().await;
    let redis = Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let trending = Trending::new(Some(redis), BY_HAND, CancellationToken::new());
    let today = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 3_600);
    let yesterday = today - Duration::from_secs(86_400);
    let long_ago = today - Duration::from_secs(5 * 86_400);
    for _ in 0..6 {
        trending.record_view("old-favourite", yesterday);
    }
    for _ in 0..4 {
        trending.record_view("rising", today);
    }
    trending.record_view("rising", yesterday);
    for _ in 0..100 {
        trending.record_view("forgotten", long_ago);
    }
    trending.record_view("quiet", today);
    assert_eq!(trending.pending(), 112);
    assert_eq!(trending.top(10, today).await, [], "nothing written yet");
    assert!(trending.flush().await);
    assert_eq!(trending.pending(), 0);
    let top = trending.top(2, today).await;
    assert_eq!(
        top,
        [
            ("rising".to_owned(), 4.5),
            ("old-favourite".to_owned(), 3.0)
        ]
    );
    assert_eq!(
        trending.top(10, today).await.len(),
        3,
        "days before yesterday do not count"
    );
    // A second batch adds to the first.
    trending.record_view("quiet", today);
    assert!(trending.flush().await);
    assert_eq!(trending.top(10, today).await[2], ("quiet".to_owned(), 2.0));
}

/// Polls `top` until it is `expected`, for at most 5 s.
async fn top_becomes(trending: &Trending, at: SystemTime, expected: &[(&str, f64)]) {
    let expected: Vec<(String, f64)> = expected
        .iter()
        .map(|(p, n)| ((*p).to_owned(), *n))
        .collect();
    for _ in 0..500 {
        if trending.top(10, at).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "trending is {:?}, not {expected:?}",
        trending.top(10, at).await
    );
}

#[tokio::test]
async fn needs_redis_trending_writes_views_by_itself_every_interval() {
    let namespace = testkit::redis().await;
    let redis = Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let trending = Trending::new(
        Some(redis),
        Duration::from_millis(50),
        CancellationToken::new(),
    );
    let now = SystemTime::now();
    for _ in 0..3 {
        trending.record_view("p", now);
    }
    top_becomes(&trending, now, &[("p", 3.0)]).await;
    assert_eq!(trending.pending(), 0);
}

#[tokio::test]
async fn needs_redis_trending_writes_what_is_pending_when_the_last_handle_goes() {
    let namespace = testkit::redis().await;
    let open = || Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let now = SystemTime::now();
    let trending = Trending::new(Some(open()), BY_HAND, CancellationToken::new());
    let clone = trending.clone();
    trending.record_view("p", now);
    clone.record_view("p", now);
    drop(trending);
    drop(clone);
    let reader = Trending::new(Some(open()), BY_HAND, CancellationToken::new());
    top_becomes(&reader, now, &[("p", 2.0)]).await;
}

#[tokio::test]
async fn needs_redis_trending_writes_what_is_pending_at_shutdown() {
    let namespace = testkit::redis().await;
    let open = || Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let now = SystemTime::now();
    let shutdown = CancellationToken::new();
    let trending = Trending::new(Some(open()), BY_HAND, shutdown.clone());
    trending.record_view("p", now);
    shutdown.cancel();
    top_becomes(&trending, now, &[("p", 1.0)]).await;
}

/// A Redis URL on a loopback port nothing listens on.
fn unreachable_redis() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    Redis::open(&format!("redis://127.0.0.1:{port}"), "t:").expect("a valid URL")
}

#[tokio::test]
async fn trending_keeps_the_views_a_failed_write_could_not_send() {
    let trending = Trending::new(Some(unreachable_redis()), BY_HAND, CancellationToken::new());
    let now = SystemTime::now();
    trending.record_view("p", now);
    trending.record_view("q", now);
    assert!(!trending.flush().await, "Redis is unreachable");
    assert_eq!(trending.pending(), 2, "kept for the next write");
    trending.record_view("p", now);
    assert_eq!(trending.pending(), 3);
}

#[tokio::test]
async fn trending_holds_at_most_max_pending_products_in_memory() {
    let trending = Trending::new(Some(unreachable_redis()), BY_HAND, CancellationToken::new());
    let now = SystemTime::now();
    for n in 0..shop_cache::trending::MAX_PENDING + 100 {
        trending.record_view(&format!("p{n}"), now);
    }
    // Nothing awaited yet, so on this one-thread runtime the writer has not run: exact counts.
    let max = shop_cache::trending::MAX_PENDING as u64;
    assert_eq!(
        trending.pending(),
        max,
        "the 100 past the limit are dropped"
    );
    trending.record_view("p0", now);
    assert_eq!(
        trending.pending(),
        max + 1,
        "a product already counted still counts"
    );
    trending.record_view("another", now);
    assert_eq!(trending.pending(), max + 1);
}

#[tokio::test]
async fn trending_without_redis_counts_nothing_and_ranks_nothing() {
    let trending = Trending::new(None, BY_HAND, CancellationToken::new());
    trending.record_view("p", SystemTime::now());
    assert_eq!(trending.pending(), 0);
    assert!(trending.flush().await);
    assert_eq!(trending.top(10, SystemTime::now()).await, []);
}

#[tokio::test]
async fn needs_redis_a_load_overtaken_by_an_invalidation_is_not_kept() {
    let namespace = testkit::redis().await;
    let a = process(&namespace).await;
    let b = process(&namespace).await;
    let calls = Arc::new(AtomicUsize::new(0));
    // The loader reads the row, then (before it returns) a writer changes the row and
    // invalidates: what the loader read is already old.
    let writer = b.cache.clone();
    let stale = a
        .cache
        .get_or_load(9, async || {
            writer.invalidate(9).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Infallible>(Some("read before the write".to_owned()))
        })
        .await
        .unwrap();
    assert_eq!(
        stale.as_deref().map(String::as_str),
        Some("read before the write")
    );
    let fresh = a
        .cache
        .get_or_load(9, loader(&calls, Some("after")))
        .await
        .unwrap();
    assert_eq!(
        fresh.as_deref().map(String::as_str),
        Some("after"),
        "neither memory nor Redis kept the overtaken answer"
    );
}

#[tokio::test]
async fn needs_redis_a_prefix_invalidation_forgets_every_matching_id_in_every_process() {
    let namespace = testkit::redis().await;
    let redis = Redis::open(&redis_url(), namespace.prefix()).unwrap();
    let stop = CancellationToken::new();
    let (bus_a, bus_b) = (
        Invalidations::start(Some(redis.clone()), stop.clone()),
        Invalidations::start(Some(redis.clone()), stop.clone()),
    );
    wait_until("subscribed", || {
        bus_a.is_subscribed() && bus_b.is_subscribed()
    })
    .await;
    // Memory only, as the session check is.
    let a: TwoTier<String> = TwoTier::new(PRODUCT, 100, None, &bus_a);
    let b: TwoTier<String> = TwoTier::new(PRODUCT, 100, None, &bus_b);
    let calls = Arc::new(AtomicUsize::new(0));
    for id in ["u1:s1", "u1:s2", "u2:s1"] {
        b.get_or_load(id, loader(&calls, Some("live")))
            .await
            .unwrap();
    }
    a.invalidate_prefix("u1:").await;
    wait_until("told", || bus_b.received() >= 1).await;
    for id in ["u1:s1", "u1:s2", "u2:s1"] {
        b.get_or_load(id, loader(&calls, Some("ended")))
            .await
            .unwrap();
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "u1's two entries reloaded, u2's kept"
    );
    stop.cancel();
}
