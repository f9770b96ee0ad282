//! Step 6: the same four hundred price changes written through and written behind; what a
//! crash does to write-behind; and the race that makes updating a cache on write risky, next
//! to the delete that the capstone does instead.

use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use sqlx::PgPool;
use tokio::time::Instant;

use super::{Demo, StepError};
use crate::catalog;
use crate::latency::percentile;
use crate::write_policies::{PriceCache, WriteBehind, WriteThrough};

const WRITES: i64 = 400;
/// The writes go to these products, twenty of them, round and round.
const FIRST: i64 = 101;
const PRODUCTS: i64 = 20;
/// The write-behind flusher's interval.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// The product of the two-writer race.
const RACED: i64 = 130;

fn product(n: i64) -> i64 {
    FIRST + n % PRODUCTS
}

pub async fn writes(demo: &Demo) -> Result<(), StepError> {
    heading(6, "Write-through and write-behind, and what each risks");
    let (pool, redis) = demo.services().await?;
    let cache = PriceCache::new(redis, Duration::from_secs(120));
    let ids: Vec<i64> = (FIRST..FIRST + PRODUCTS).collect();
    say(format_args!(
        "{WRITES} price changes over {PRODUCTS} products, one after the other, each policy in turn."
    ));

    let through = WriteThrough::new(pool.clone(), cache.clone());
    let mut through_took = Vec::new();
    for n in 0..WRITES {
        let started = Instant::now();
        through.set_price(product(n), 1_000 + n).await?;
        through_took.push(started.elapsed());
    }
    let through_behind = disagreeing(&pool, &cache, &ids).await?;

    let behind = WriteBehind::start(pool.clone(), cache.clone(), FLUSH_EVERY);
    let mut behind_took = Vec::new();
    for n in 0..WRITES {
        let started = Instant::now();
        behind.set_price(product(n), 2_000 + n).await?;
        behind_took.push(started.elapsed());
    }
    let behind_behind = disagreeing(&pool, &cache, &ids).await?;
    let flushed = behind.stop().await;
    let after_stop = disagreeing(&pool, &cache, &ids).await?;

    let mut table = Table::new([
        "policy",
        "median write>",
        "p99 write>",
        "statements>",
        "DB behind, just after>",
    ]);
    table.row([
        "write-through".to_owned(),
        duration(percentile(&through_took, 50)),
        duration(percentile(&through_took, 99)),
        WRITES.to_string(),
        format!("{through_behind} of {PRODUCTS}"),
    ]);
    table.row([
        format!("write-behind, flush every {}", duration(FLUSH_EVERY)),
        duration(percentile(&behind_took, 50)),
        duration(percentile(&behind_took, 99)),
        flushed.statements.to_string(),
        format!("{behind_behind} of {PRODUCTS}"),
    ]);
    print!("{table}");
    expect(
        through_behind == 0 && after_stop == 0 && flushed.failures == 0,
        "write-through never behind, and write-behind caught up once stopped",
        format!("{through_behind}, {after_stop}, {flushed:?}"),
    )?;
    expect(
        (flushed.statements as i64) < WRITES / 4,
        "write-behind to send a fraction of the statements",
        format!("{flushed:?}"),
    )?;
    say(format_args!(
        "Write-behind answered from Redis alone, and sent the database {} for {WRITES} writes",
        plural(flushed.statements, "statement")
    ));
    say(format_args!(
        "({} rows: only the last price of each product per flush). Until a flush, the",
        flushed.rows
    ));
    say(
        "database is behind: anything that reads it directly (a report, a checkout) sees old prices.",
    );

    crash(&pool, &cache, &ids).await?;
    race(&pool, &cache).await
}

/// `1 statement`, `3 statements`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How many of `ids` have a different price in the database than in the cache.
async fn disagreeing(pool: &PgPool, cache: &PriceCache, ids: &[i64]) -> Result<usize, StepError> {
    let mut differ = 0;
    for (id, price) in catalog::prices(pool, ids).await? {
        if cache.get(id).await? != Some(price) {
            differ += 1;
        }
    }
    Ok(differ)
}

async fn crash(pool: &PgPool, cache: &PriceCache, ids: &[i64]) -> Result<(), StepError> {
    let behind = WriteBehind::start(pool.clone(), cache.clone(), Duration::from_secs(1));
    for (n, &id) in ids.iter().enumerate() {
        behind.set_price(id, 3_000 + n as i64).await?;
    }
    let lost = behind.crash();
    let differ = disagreeing(pool, cache, ids).await?;
    show(format_args!(
        "A crash between flushes: {lost} products' last writes were pending; the cache has them,"
    ));
    show(format_args!(
        "the database never will ({differ} of {PRODUCTS} disagree now, until the cache entries expire)."
    ));
    expect(
        lost == ids.len() && differ == lost,
        "a crash to lose every write that was still pending",
        format!("{lost} lost, {differ} disagree"),
    )?;
    say("That is the price of write-behind: keep it for data whose loss is tolerable (view");
    say("counts, last-seen times), or make the queue durable (lesson 10), never for orders.");
    Ok(())
}

fn shown(price: Option<i64>) -> String {
    price.map_or_else(|| "empty".to_owned(), |p| p.to_string())
}

// ANCHOR: race
async fn race(pool: &PgPool, cache: &PriceCache) -> Result<(), StepError> {
    say("Two admins change one price at once, and the cache is updated on write. The order in");
    say("which the four steps land is the network's choice; this one is possible:");
    catalog::set_price(pool, RACED, 1_000).await?; // writer 1 commits 1000
    catalog::set_price(pool, RACED, 2_000).await?; // writer 2 commits 2000
    cache.set(RACED, 2_000).await?; // writer 2 updates the cache
    cache.set(RACED, 1_000).await?; // writer 1, delayed, updates it last
    let in_db = catalog::prices(pool, &[RACED]).await?;
    let cached = cache.get(RACED).await?;
    show(format_args!(
        "update on write: database {}, cache {}: wrong until the TTL ends",
        shown(in_db.first().map(|(_, p)| *p)),
        shown(cached)
    ));

    // The same interleaving, deleting instead of setting: nothing wrong is left to read.
    catalog::set_price(pool, RACED, 1_000).await?;
    catalog::set_price(pool, RACED, 2_000).await?;
    cache.delete(RACED).await?;
    cache.delete(RACED).await?;
    let reread = catalog::prices(pool, &[RACED]).await?;
    show(format_args!(
        "delete on write: cache {}; the next read loads {} from the database",
        shown(cache.get(RACED).await?),
        shown(reread.first().map(|(_, p)| *p))
    ));
    // ANCHOR_END: race
    expect(
        cached == Some(1_000) && in_db == [(RACED, 2_000)],
        "updating on write to leave the older price in the cache",
        format!("{cached:?} vs {in_db:?}"),
    )?;
    say("Deleting is idempotent and order-free: two deletes in any order leave the same empty");
    say("entry, and the next read fetches the truth. That is why shop-cache invalidates.");
    Ok(())
}
