//! Step 5: two instances of the shop in one process (two `TwoTier`s, two subscriptions, one
//! Redis), an admin's price change, and the invalidation that reaches both; an instance that
//! missed it, bounded by its memory TTL; versioned keys; and negative caching.

use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shop_cache::{Invalidations, Namespace, Redis, Stats, TwoTier};
use sqlx::PgPool;
use tokio::time::Instant;

use super::{Demo, StepError};
use crate::catalog::{self, Product};

/// The shop's product namespace, with TTLs short enough to watch.
const PRODUCT: Namespace = Namespace {
    name: "product",
    version: 1,
    local_ttl: Duration::from_millis(1_500),
    remote_ttl: Duration::from_secs(60),
    negative_ttl: Duration::from_millis(700),
};

/// Products the step changes (no other step touches them).
const CHANGED: i64 = 11;
const UNHEARD: i64 = 12;
const MISSING: i64 = 5_001;
const CREATED_LATE: i64 = 5_002;

/// The next release's product: one field more, so version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ProductV2 {
    id: i64,
    name: String,
    price_cents: i64,
    currency: String,
}

/// How long to wait for pub/sub before deciding it is not coming.
const PATIENCE: Duration = Duration::from_secs(5);

pub async fn invalidation(demo: &Demo) -> Result<(), StepError> {
    heading(
        5,
        "Invalidation across two instances, versioned keys, negative caching",
    );
    let (pool, redis) = demo.services().await?;
    let stop = demo.shutdown.child_token();
    // ANCHOR: two_instances
    // Two instances: each its own subscription and memory tier, one Redis between them.
    let bus_a = Invalidations::start(Some(redis.clone()), stop.clone());
    let bus_b = Invalidations::start(Some(redis.clone()), stop.clone());
    let a: TwoTier<Product> = TwoTier::new(PRODUCT, 10_000, Some(redis.clone()), &bus_a);
    let b: TwoTier<Product> = TwoTier::new(PRODUCT, 10_000, Some(redis.clone()), &bus_b);
    // ANCHOR_END: two_instances
    wait_for(
        || bus_a.is_subscribed() && bus_b.is_subscribed(),
        "both subscribed",
    )
    .await?;
    say("Instances A and B: a TwoTier each, a subscription each to the invalidation channel.");

    fan_out(&pool, &a, &b, &bus_b).await?;
    // C's subscription is down: it will not hear the next invalidation.
    let bus_c = Invalidations::start(None, stop.clone());
    let c: TwoTier<Product> = TwoTier::new(PRODUCT, 10_000, Some(redis.clone()), &bus_c);
    bounded_by_ttl(&pool, &a, &c).await?;
    versioned_keys(&pool, &redis, &bus_a).await?;
    negative(&pool, &a).await?;

    let mut table = Table::new(["instance", "memory hits>", "Redis hits>", "loads>"]);
    for (name, cache) in [("A", &a), ("B", &b), ("C (not subscribed)", &c)] {
        let Stats {
            local_hits,
            remote_hits,
            loads,
            ..
        } = cache.stats();
        table.row([
            name.to_owned(),
            local_hits.to_string(),
            remote_hits.to_string(),
            loads.to_string(),
        ]);
    }
    print!("{table}");
    stop.cancel();
    Ok(())
}

async fn read(
    cache: &TwoTier<Product>,
    pool: &PgPool,
    id: i64,
) -> Result<Option<Product>, StepError> {
    let product = cache.get_or_load(id, || catalog::read(pool, id)).await?;
    Ok(product.as_deref().cloned())
}

fn price(product: &Option<Product>) -> String {
    match product {
        Some(product) => format!("{} cents", product.price_cents),
        None => "not found".to_owned(),
    }
}

async fn fan_out(
    pool: &PgPool,
    a: &TwoTier<Product>,
    b: &TwoTier<Product>,
    bus_b: &Invalidations,
) -> Result<(), StepError> {
    let before = (a.stats().loads, b.stats().remote_hits);
    let first = read(a, pool, CHANGED).await?;
    let second = read(b, pool, CHANGED).await?;
    show(format_args!(
        "A reads product {CHANGED}: {} (loaded); B reads it: {} (from Redis)",
        price(&first),
        price(&second)
    ));
    expect(
        (a.stats().loads, b.stats().remote_hits) == (before.0 + 1, before.1 + 1),
        "A to load and B to find A's entry in Redis",
        format!("{:?} {:?}", a.stats(), b.stats()),
    )?;

    // An admin changes the price; after the commit, the write invalidates.
    let new_price = first.as_ref().map_or(0, |p| p.price_cents) + 100;
    catalog::set_price(pool, CHANGED, new_price).await?;
    let heard = bus_b.received();
    let sent = Instant::now();
    a.invalidate(CHANGED).await;
    wait_for(|| bus_b.received() > heard, "B to hear the invalidation").await?;
    let fan_out = sent.elapsed();
    let after = read(b, pool, CHANGED).await?;
    show(format_args!(
        "UPDATE, then A.invalidate({CHANGED}): DEL in Redis, PUBLISH; B heard it in {}",
        duration(fan_out)
    ));
    show(format_args!("B reads product {CHANGED}: {}", price(&after)));
    expect(
        after.as_ref().map(|p| p.price_cents) == Some(new_price),
        "B to see the new price as soon as it heard the invalidation",
        price(&after),
    )?;
    Ok(())
}

async fn bounded_by_ttl(
    pool: &PgPool,
    a: &TwoTier<Product>,
    c: &TwoTier<Product>,
) -> Result<(), StepError> {
    let old = read(c, pool, UNHEARD).await?;
    let new_price = old.as_ref().map_or(0, |p| p.price_cents) + 100;
    catalog::set_price(pool, UNHEARD, new_price).await?;
    a.invalidate(UNHEARD).await;
    let changed = Instant::now();
    let mut stale_reads = 0;
    let seen = loop {
        let now = read(c, pool, UNHEARD).await?;
        if now.as_ref().map(|p| p.price_cents) == Some(new_price) {
            break changed.elapsed();
        }
        stale_reads += 1;
        if changed.elapsed() > PRODUCT.local_ttl * 2 {
            break changed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    show(format_args!(
        "Instance C, not subscribed, kept the old price of product {UNHEARD} for {} ({stale_reads} reads),",
        duration(seen)
    ));
    show(format_args!(
        "then its memory entry expired (local TTL {}) and it read the new one from the database.",
        duration(PRODUCT.local_ttl)
    ));
    expect(
        stale_reads > 0 && seen <= PRODUCT.local_ttl + Duration::from_millis(300),
        "an instance that missed the invalidation to be stale for at most its memory TTL",
        format!("{stale_reads} stale reads over {seen:?}"),
    )?;
    Ok(())
}

async fn versioned_keys(
    pool: &PgPool,
    redis: &Redis,
    bus: &Invalidations,
) -> Result<(), StepError> {
    say("A new release adds `currency` to the cached product and bumps the version to 2. Both");
    say("releases run side by side during the deploy, each reading its own keys:");
    let v2 = Namespace {
        version: 2,
        ..PRODUCT
    };
    let next: TwoTier<ProductV2> = TwoTier::new(v2, 1_000, Some(redis.clone()), bus);
    let loaded = next
        .get_or_load(CHANGED, || async {
            let product = catalog::read(pool, CHANGED).await?;
            Ok::<_, sqlx::Error>(product.map(|p| ProductV2 {
                id: p.id,
                name: p.name,
                price_cents: p.price_cents,
                currency: "EUR".to_owned(),
            }))
        })
        .await?;
    let mut connection = redis.connection();
    for namespace in [PRODUCT, v2] {
        let key = redis.key(&namespace.key(CHANGED));
        let value: Option<Vec<u8>> = connection.get(&key).await?;
        let text = value.map(|v| String::from_utf8_lossy(&v).into_owned());
        show(format_args!(
            "{:<18} {}",
            namespace.key(CHANGED),
            narrate::truncate(text.as_deref().unwrap_or("(none)"), 80)
        ));
    }
    expect(
        loaded.is_some_and(|p| p.currency == "EUR") && next.stats().loads == 1,
        "version 2 to load its own entry instead of decoding version 1's",
        format!("{:?}", next.stats()),
    )?;
    say("(The `+` before the JSON is shop-cache's: a value follows; a lone `-` is \"not found\".)");
    Ok(())
}

async fn negative(pool: &PgPool, a: &TwoTier<Product>) -> Result<(), StepError> {
    let loads = a.stats().loads;
    for _ in 0..100 {
        read(a, pool, MISSING).await?;
    }
    show(format_args!(
        "100 reads of product {MISSING}, which does not exist: {} query; \"not found\" is cached",
        a.stats().loads - loads
    ));
    expect(
        a.stats().loads - loads == 1,
        "one query for a hundred reads of a missing product",
        format!("{:?}", a.stats()),
    )?;

    // A create that invalidates is seen at once...
    catalog::insert(pool, MISSING, "Brass desk lamp", 5_900).await?;
    a.invalidate(MISSING).await;
    let found = read(a, pool, MISSING).await?;
    show(format_args!(
        "INSERT product {MISSING}, then invalidate: the next read finds it ({})",
        price(&found)
    ));
    // ...one that does not, after the negative TTL.
    read(a, pool, CREATED_LATE).await?;
    catalog::insert(pool, CREATED_LATE, "Cedar shelf", 7_900).await?;
    let created = Instant::now();
    let visible = loop {
        if read(a, pool, CREATED_LATE).await?.is_some() || created.elapsed() > PATIENCE {
            break created.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    show(format_args!(
        "INSERT product {CREATED_LATE} without invalidating: visible after {} (negative TTL {})",
        duration(visible),
        duration(PRODUCT.negative_ttl)
    ));
    expect(
        found.is_some() && visible <= PRODUCT.negative_ttl + Duration::from_millis(300),
        "a created product to show at once when invalidated, else within the negative TTL",
        format!("{found:?}, {visible:?}"),
    )?;
    say("The negative TTL is kept short for that reason: a cached \"no\" hides a new row.");
    Ok(())
}

/// Polls `done` until it is true, or fails the step after [`PATIENCE`].
async fn wait_for(mut done: impl FnMut() -> bool, what: &'static str) -> Result<(), StepError> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > PATIENCE {
            return Err(narrate::demo::Unexpected {
                expected: what,
                got: format!("nothing after {}", duration(PATIENCE)),
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
