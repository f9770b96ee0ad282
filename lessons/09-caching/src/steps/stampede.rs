//! Step 3: fifty readers arrive together at a hot product whose entry has just expired. The
//! naive cache-aside sends each of them to the database; shop-cache's TwoTier sends one per
//! process. The database counts the queries itself (`product_loads`).

use std::sync::Arc;
use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say};
use shop_cache::{Invalidations, Namespace, Redis, TwoTier};
use sqlx::PgPool;
use tokio::sync::Barrier;
use tokio::time::Instant;

use super::{Demo, StepError};
use crate::catalog::{self, Product};
use crate::latency::percentile;
use crate::naive::NaiveCacheAside;

/// Concurrent readers of the hot product.
const READERS: usize = 50;
/// The product everyone wants.
const HOT: i64 = 7;
/// How long a load takes: the query's `pg_sleep`, standing for a real page's joins.
const LOAD: Duration = Duration::from_millis(50);
/// Short enough to wait out in a demo.
const TTL: Duration = Duration::from_millis(300);

const PRODUCT: Namespace = Namespace {
    name: "stampede-product",
    version: 1,
    local_ttl: TTL,
    remote_ttl: TTL,
    negative_ttl: TTL,
};

/// One round: how many queries reached the database, and how long the readers waited.
#[derive(Debug)]
struct Round {
    queries: i64,
    waits: Vec<Duration>,
    wall: Duration,
}

pub async fn stampede(demo: &Demo) -> Result<(), StepError> {
    heading(
        3,
        "A stampede on an expired hot key, with and without coalescing",
    );
    let (pool, redis) = demo.services().await?;
    say(format_args!(
        "Product {HOT} is hot. Its entry expires ({} TTL), and {READERS} readers arrive in the same",
        duration(TTL)
    ));
    say(format_args!(
        "instant. A load is a query that takes {} (pg_sleep); the pool has 5 connections.",
        duration(LOAD)
    ));

    let naive = naive_round(&pool, &redis).await?;
    let bus = Invalidations::start(Some(redis.clone()), demo.shutdown.child_token());
    let one = two_tier_round(&pool, &redis, &[&bus], "two-tier-1").await?;
    // A second process: its own memory tier and its own subscription.
    let other_bus = Invalidations::start(Some(redis.clone()), demo.shutdown.child_token());
    let two = two_tier_round(&pool, &redis, &[&bus, &other_bus], "two-tier-2").await?;

    let mut table = Table::new([
        "cache",
        "readers>",
        "queries (counted by PostgreSQL)>",
        "median wait>",
        "slowest>",
    ]);
    for (name, round) in [
        ("naive cache-aside", &naive),
        ("TwoTier, one process", &one),
        ("TwoTier, two processes", &two),
    ] {
        table.row([
            name.to_owned(),
            READERS.to_string(),
            round.queries.to_string(),
            duration(percentile(&round.waits, 50)),
            duration(round.wall),
        ]);
    }
    print!("{table}");
    expect(
        one.queries == 1 && two.queries <= 2 && naive.queries > 10 * one.queries,
        "one query per process with coalescing, and one per reader without",
        format!(
            "naive {}, one {}, two {}",
            naive.queries, one.queries, two.queries
        ),
    )?;
    say("Without coalescing, every reader that missed ran the query: the pool queued them five");
    say("at a time, so the last reader waited for ten loads in a row, and the database did the");
    say("same work fifty times at the moment it was busiest. TwoTier's memory tier (moka's");
    say("`try_get_with`) lets the first miss load and parks the others on that one future.");
    say("Coalescing is per process: two processes load twice. That is the bound it gives, and");
    say("it is usually enough; a lock in Redis could make it one, at the price of a round trip.");
    Ok(())
}

async fn naive_round(pool: &PgPool, redis: &Redis) -> Result<Round, StepError> {
    let naive = NaiveCacheAside::new(redis.clone(), "stampede-naive", TTL);
    // Cached once, then left to expire: the moment of a stampede.
    naive
        .get(HOT, || catalog::load(pool, HOT, "naive-warm", LOAD))
        .await?;
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;

    let barrier = Arc::new(Barrier::new(READERS));
    let started = Instant::now();
    let readers = (0..READERS).map(|_| {
        let (naive, pool, barrier) = (naive.clone(), pool.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let asked = Instant::now();
            let (product, _) = naive
                .get(HOT, || catalog::load(&pool, HOT, "naive", LOAD))
                .await?;
            Ok::<_, StepError>((product, asked.elapsed()))
        })
    });
    let waits = collect(readers).await?;
    Ok(Round {
        queries: catalog::loads(pool, "naive").await?,
        waits,
        wall: started.elapsed(),
    })
}

/// The same stampede through TwoTier, the readers spread evenly over one cache per bus (one
/// per simulated process).
async fn two_tier_round(
    pool: &PgPool,
    redis: &Redis,
    buses: &[&Invalidations],
    tag: &'static str,
) -> Result<Round, StepError> {
    let caches: Vec<TwoTier<Product>> = buses
        .iter()
        .map(|bus| TwoTier::new(PRODUCT, 100, Some(redis.clone()), bus))
        .collect();
    for cache in &caches {
        cache
            .get_or_load(HOT, || catalog::load(pool, HOT, "two-tier-warm", LOAD))
            .await?;
    }
    // Both tiers' entries expire (memory and Redis had the same TTL).
    tokio::time::sleep(TTL + Duration::from_millis(50)).await;

    let barrier = Arc::new(Barrier::new(READERS));
    let started = Instant::now();
    let readers = (0..READERS).map(|n| {
        let cache = caches[n % caches.len()].clone();
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            let asked = Instant::now();
            let product = cache
                .get_or_load(HOT, || catalog::load(&pool, HOT, tag, LOAD))
                .await?;
            Ok::<_, StepError>((product.as_deref().cloned(), asked.elapsed()))
        })
    });
    let waits = collect(readers).await?;
    Ok(Round {
        queries: catalog::loads(pool, tag).await?,
        waits,
        wall: started.elapsed(),
    })
}

/// Every reader's wait, after checking that each got the product.
async fn collect(
    readers: impl Iterator<
        Item = tokio::task::JoinHandle<Result<(Option<Product>, Duration), StepError>>,
    >,
) -> Result<Vec<Duration>, StepError> {
    let mut waits = Vec::new();
    for reader in futures::future::join_all(readers).await {
        let (product, waited) = reader??;
        expect(
            product.is_some_and(|p| p.id == HOT),
            "every reader to get the hot product",
            "a reader got nothing",
        )?;
        waits.push(waited);
    }
    Ok(waits)
}
