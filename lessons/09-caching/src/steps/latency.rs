//! Step 2: the same product reads from PostgreSQL, from Redis, from memory and through
//! shop-cache's two tiers, interleaved in one run, so every source sees the same machine at
//! the same moment; medians, p99s and a histogram of each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show, thousands};
use redis::AsyncCommands;
use shop_cache::{Invalidations, Namespace, TwoTier};

use super::{Demo, StepError};
use crate::catalog::{self, Product};
use crate::latency::{percentile, picture};

/// Reads per source.
const READS: usize = 2_000;
/// The hot set the reads cycle through (a cache holds the popular products, not all of them).
const HOT: i64 = 100;

const PRODUCT: Namespace = Namespace {
    name: "latency-product",
    version: 1,
    local_ttl: Duration::from_secs(60),
    remote_ttl: Duration::from_secs(120),
    negative_ttl: Duration::from_secs(5),
};

/// The samples of one run, one vector per source.
#[derive(Default)]
struct Samples {
    postgres: Vec<Duration>,
    redis: Vec<Duration>,
    memory: Vec<Duration>,
    two_tier: Vec<Duration>,
}

pub async fn latency(demo: &Demo) -> Result<(), StepError> {
    heading(
        2,
        "Read latency: PostgreSQL, Redis and memory, side by side",
    );
    let (pool, redis) = demo.services().await?;
    say(format_args!(
        "{} reads of each, over {HOT} popular products, interleaved: a primary-key SELECT in",
        thousands(READS as i64)
    ));
    say("PostgreSQL (pooled connection, prepared statement), a GET of the product's JSON from");
    say("Redis, a lookup in an in-process moka cache, and shop-cache's TwoTier answering from");
    say("its memory tier. Each read includes turning the answer into a `Product`.");

    // Warm every tier with the hot products.
    let memory: moka::future::Cache<i64, Arc<Product>> =
        moka::future::Cache::builder().max_capacity(1_000).build();
    let bus = Invalidations::start(Some(redis.clone()), demo.shutdown.child_token());
    let two_tier: TwoTier<Product> = TwoTier::new(PRODUCT, 1_000, Some(redis.clone()), &bus);
    let mut connection = redis.connection();
    for id in 1..=HOT {
        let product = catalog::read(&pool, id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        let () = connection
            .set_ex(
                redis.key(&format!("json:product:{id}")),
                serde_json::to_vec(&product)?,
                120,
            )
            .await?;
        memory.insert(id, Arc::new(product)).await;
        two_tier
            .get_or_load(id, || catalog::read(&pool, id))
            .await?;
    }

    let mut samples = Samples::default();
    for n in 0..READS {
        if demo.shutdown.is_cancelled() {
            return Ok(());
        }
        let id = 1 + (n as i64 % HOT);
        // ANCHOR: measure
        let started = Instant::now();
        let from_postgres = catalog::read(&pool, id).await?;
        samples.postgres.push(started.elapsed());

        let started = Instant::now();
        let bytes: Vec<u8> = connection
            .get(redis.key(&format!("json:product:{id}")))
            .await?;
        let from_redis: Product = serde_json::from_slice(&bytes)?;
        samples.redis.push(started.elapsed());

        let started = Instant::now();
        let from_memory = memory.get(&id).await;
        samples.memory.push(started.elapsed());

        let started = Instant::now();
        let from_two_tier = two_tier
            .get_or_load(id, || catalog::read(&pool, id))
            .await?;
        samples.two_tier.push(started.elapsed());
        // ANCHOR_END: measure

        let all_agree = from_postgres.as_ref() == Some(&from_redis)
            && from_memory.as_deref() == Some(&from_redis)
            && from_two_tier.as_deref() == Some(&from_redis);
        expect(
            all_agree,
            "every source to return the same product",
            format!("{id}"),
        )?;
    }

    let mut table = Table::new(["source", "median>", "p99>", "max>", "median vs memory>"]);
    let base = percentile(&samples.memory, 50).as_secs_f64().max(1e-9);
    let rows = [
        ("PostgreSQL", &samples.postgres),
        ("Redis", &samples.redis),
        ("memory (moka)", &samples.memory),
        ("TwoTier, memory hit", &samples.two_tier),
    ];
    for (source, taken) in rows {
        let median = percentile(taken, 50);
        table.row([
            source.to_owned(),
            duration(median),
            duration(percentile(taken, 99)),
            duration(percentile(taken, 100)),
            format!("{:.0}×", median.as_secs_f64() / base),
        ]);
    }
    print!("{table}");
    println!();
    say("How the reads spread, on a log scale (each row scaled to its own tallest bar):");
    let picture_rows: Vec<(&str, &[Duration])> = rows
        .iter()
        .map(|(source, taken)| (*source, taken.as_slice()))
        .collect();
    for line in picture(&picture_rows) {
        show(line);
    }
    let stats = two_tier.stats();
    expect(
        stats.loads == HOT as u64 && stats.local_hits == READS as u64,
        "the two-tier cache to load each hot product once and answer the rest from memory",
        format!("{stats:?}"),
    )?;
    let (pg, rd, mem) = (
        percentile(&samples.postgres, 50),
        percentile(&samples.redis, 50),
        percentile(&samples.memory, 50),
    );
    expect(
        mem < rd && mem < pg,
        "memory to be the fastest tier",
        format!("memory {mem:?}, Redis {rd:?}, PostgreSQL {pg:?}"),
    )?;
    let times = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    say(format_args!(
        "Redis and PostgreSQL are both a round trip over loopback, and here they sit close"
    ));
    say(format_args!(
        "together (PostgreSQL {:.1}× Redis): the database's own work on a primary-key lookup is",
        times(pg, rd)
    ));
    say("small. Across a real network, with a product page's joins, and under load, the database");
    say(format_args!(
        "falls behind. Memory was {:.0}× faster than Redis: no socket, no parsing, just an `Arc`.",
        times(rd, mem)
    ));
    if cfg!(debug_assertions) {
        say("This is a debug build, in which moka and every other crate run unoptimised; `cargo");
        say("run --release -p lesson-09` shows every row faster, and the memory rows most.");
    }
    Ok(())
}
