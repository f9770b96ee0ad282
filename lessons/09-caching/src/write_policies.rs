//! Two ways for a write to reach a cache and the database: write-through and write-behind.
//!
//! - **Write-through** writes the database, then the cache, before it answers. Every write pays
//!   for both; in return the database is never behind, and the cache holds what was written.
//! - **Write-behind** (write-back) writes the cache and answers; a background task flushes the
//!   writes to the database later, in batches, keeping only the last write of each key. Writes
//!   cost a Redis round trip and the database sees a fraction of them; in return the database
//!   is behind by up to one flush interval, and whatever is still pending when the process dies
//!   is lost.
//!
//! The value written here is a product's price, cached as `price:<id>` in Redis.
//!
//! Tests: `cargo test -p lesson-09 write_policies` (the batching alone, and against both
//! services).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::AsyncCommands;
use shop_cache::Redis;
use sqlx::PgPool;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog;

/// A write did not reach one of the stores.
#[derive(Debug, Error)]
pub enum WriteError {
    #[error("the database refused the write")]
    Database(#[from] sqlx::Error),
    #[error("Redis did not take the write")]
    Redis(#[from] redis::RedisError),
}

/// Prices in Redis, each with a time to live.
#[derive(Debug, Clone)]
pub struct PriceCache {
    redis: Redis,
    ttl: Duration,
}

impl PriceCache {
    pub fn new(redis: Redis, ttl: Duration) -> PriceCache {
        PriceCache { redis, ttl }
    }

    fn key(&self, id: i64) -> String {
        self.redis.key(&format!("price:{id}"))
    }

    pub async fn get(&self, id: i64) -> Result<Option<i64>, redis::RedisError> {
        self.redis.connection().get(self.key(id)).await
    }

    pub async fn set(&self, id: i64, price_cents: i64) -> Result<(), redis::RedisError> {
        let millis = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.redis
            .connection()
            .pset_ex(self.key(id), price_cents, millis)
            .await
    }

    pub async fn delete(&self, id: i64) -> Result<(), redis::RedisError> {
        let _: i64 = self.redis.connection().del(self.key(id)).await?;
        Ok(())
    }
}

// ANCHOR: write_through
/// Write-through: the database, then the cache, then the answer.
#[derive(Debug, Clone)]
pub struct WriteThrough {
    pool: PgPool,
    cache: PriceCache,
}

impl WriteThrough {
    pub fn new(pool: PgPool, cache: PriceCache) -> WriteThrough {
        WriteThrough { pool, cache }
    }

    pub async fn set_price(&self, id: i64, price_cents: i64) -> Result<(), WriteError> {
        // The database first: it is the truth, and a write it refuses must not be cached.
        catalog::set_price(&self.pool, id, price_cents).await?;
        // If this fails, the database has the new price and the cache the old one until its
        // TTL ends: the write reports the error, but cannot take back the commit.
        self.cache.set(id, price_cents).await?;
        Ok(())
    }
}
// ANCHOR_END: write_through

/// The writes a write-behind cache has not flushed yet: the last price per product, since only
/// the last one matters to the database.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingWrites {
    latest: BTreeMap<i64, i64>,
}

impl PendingWrites {
    /// Records a write, replacing an earlier unflushed one of the same product.
    pub fn record(&mut self, id: i64, price_cents: i64) {
        self.latest.insert(id, price_cents);
    }

    /// Everything pending, by product id, leaving nothing behind.
    pub fn take(&mut self) -> Vec<(i64, i64)> {
        std::mem::take(&mut self.latest).into_iter().collect()
    }

    /// Puts back a batch whose flush failed, except where a newer write arrived meanwhile.
    pub fn restore(&mut self, batch: Vec<(i64, i64)>) {
        for (id, price_cents) in batch {
            self.latest.entry(id).or_insert(price_cents);
        }
    }

    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

/// What a write-behind cache has flushed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Statements sent to the database: one per non-empty flush.
    pub statements: u64,
    /// Rows those statements updated.
    pub rows: u64,
    /// Flushes that failed (their writes were put back for the next one).
    pub failures: u64,
}

#[derive(Debug, Default)]
struct FlushCounters {
    statements: AtomicU64,
    rows: AtomicU64,
    failures: AtomicU64,
}

impl FlushCounters {
    fn snapshot(&self) -> Flushed {
        Flushed {
            statements: self.statements.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// Write-behind: the cache now, the database at the next flush.
#[derive(Debug)]
pub struct WriteBehind {
    cache: PriceCache,
    // A std Mutex, not tokio's: it is held for a map insert or a swap, never across an
    // `.await`, and std's is the faster of the two for that (tokio's docs say the same).
    pending: Arc<Mutex<PendingWrites>>,
    counters: Arc<FlushCounters>,
    stop: CancellationToken,
    flusher: JoinHandle<()>,
}

impl WriteBehind {
    /// Starts the flusher, which sends what is pending every `every`, in one statement.
    pub fn start(pool: PgPool, cache: PriceCache, every: Duration) -> WriteBehind {
        let pending = Arc::new(Mutex::new(PendingWrites::default()));
        let counters = Arc::new(FlushCounters::default());
        let stop = CancellationToken::new();
        let flusher = tokio::spawn(flusher(
            pool,
            pending.clone(),
            counters.clone(),
            every,
            stop.clone(),
        ));
        WriteBehind {
            cache,
            pending,
            counters,
            stop,
            flusher,
        }
    }

    // ANCHOR: write_behind
    /// Caches the price and queues it for the database; the answer does not wait for it.
    pub async fn set_price(&self, id: i64, price_cents: i64) -> Result<(), WriteError> {
        self.cache.set(id, price_cents).await?;
        lock(&self.pending).record(id, price_cents);
        Ok(())
    }
    // ANCHOR_END: write_behind

    /// How many products have a write the database has not seen.
    pub fn pending(&self) -> usize {
        lock(&self.pending).len()
    }

    pub fn flushed(&self) -> Flushed {
        self.counters.snapshot()
    }

    /// A graceful stop: one last flush, then the flusher ends. What it could not flush stays
    /// unwritten, and is counted in the answer's `failures`.
    pub async fn stop(self) -> Flushed {
        self.stop.cancel();
        // The flusher does not panic; a JoinError would mean it did, and its writes are gone.
        let _ = self.flusher.await;
        self.counters.snapshot()
    }

    /// The process dies: the flusher stops where it is, and the pending writes with it. Returns
    /// how many products lost their last write (the cache has them, the database never will).
    pub fn crash(self) -> usize {
        self.flusher.abort();
        lock(&self.pending).len()
    }
}

fn lock(pending: &Mutex<PendingWrites>) -> MutexGuard<'_, PendingWrites> {
    // A panic while holding the lock cannot leave the map half-changed (each change is one
    // insert or one swap), so a poisoned lock is still a good one.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn flusher(
    pool: PgPool,
    pending: Arc<Mutex<PendingWrites>>,
    counters: Arc<FlushCounters>,
    every: Duration,
    stop: CancellationToken,
) {
    // The first flush one interval from now (a plain `interval` would tick at once).
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            () = stop.cancelled() => true,
            _ = ticks.tick() => false,
        };
        let batch = lock(&pending).take();
        if !batch.is_empty() {
            match flush(&pool, &batch).await {
                Ok(rows) => {
                    counters.statements.fetch_add(1, Ordering::Relaxed);
                    counters.rows.fetch_add(rows, Ordering::Relaxed);
                }
                Err(_) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    lock(&pending).restore(batch);
                }
            }
        }
        if last {
            return;
        }
    }
}

// ANCHOR: flush
/// One statement for the whole batch: two arrays, unnested into rows, joined to the table.
async fn flush(pool: &PgPool, batch: &[(i64, i64)]) -> Result<u64, sqlx::Error> {
    let (ids, prices): (Vec<i64>, Vec<i64>) = batch.iter().copied().unzip();
    let done = sqlx::query(
        "UPDATE products AS p SET price_cents = u.price_cents
         FROM unnest($1::bigint[], $2::bigint[]) AS u(id, price_cents)
         WHERE p.id = u.id",
    )
    .bind(ids)
    .bind(prices)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
// ANCHOR_END: flush

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_write_of_each_product_is_pending() {
        let mut pending = PendingWrites::default();
        pending.record(2, 100);
        pending.record(1, 50);
        pending.record(2, 300);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.take(), [(1, 50), (2, 300)]);
        assert!(pending.is_empty(), "taking leaves nothing behind");
    }

    #[test]
    fn a_failed_batch_comes_back_without_overwriting_newer_writes() {
        let mut pending = PendingWrites::default();
        pending.record(1, 10);
        pending.record(2, 20);
        let batch = pending.take();
        pending.record(2, 99); // arrived while the flush was failing
        pending.restore(batch);
        assert_eq!(pending.take(), [(1, 10), (2, 99)]);
    }
}

#[cfg(test)]
mod needs_postgres {
    mod needs_redis {
        use super::super::*;

        async fn setup(namespace: &testkit::RedisNamespace) -> (testkit::PgDatabase, PriceCache) {
            let db = testkit::postgres().await;
            catalog::create(db.pool()).await.unwrap();
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let redis = Redis::open(&url, namespace.prefix()).unwrap();
            (db, PriceCache::new(redis, Duration::from_secs(60)))
        }

        #[tokio::test]
        async fn write_through_has_both_stores_agree_when_it_answers() {
            let namespace = testkit::redis().await;
            let (db, cache) = setup(&namespace).await;
            let through = WriteThrough::new(db.pool().clone(), cache.clone());
            through.set_price(3, 1_234).await.unwrap();
            assert_eq!(
                catalog::prices(db.pool(), &[3]).await.unwrap(),
                [(3, 1_234)]
            );
            assert_eq!(cache.get(3).await.unwrap(), Some(1_234));
            assert!(
                through.set_price(3, -1).await.is_err(),
                "the CHECK constraint refuses it"
            );
            assert_eq!(
                cache.get(3).await.unwrap(),
                Some(1_234),
                "and it is not cached"
            );
        }

        #[tokio::test]
        async fn write_behind_batches_the_last_writes_and_a_crash_loses_the_pending_ones() {
            let namespace = testkit::redis().await;
            let (db, cache) = setup(&namespace).await;
            let behind =
                WriteBehind::start(db.pool().clone(), cache.clone(), Duration::from_secs(3600));
            for price in [10, 20, 30] {
                behind.set_price(1, price).await.unwrap();
            }
            behind.set_price(2, 40).await.unwrap();
            assert_eq!(behind.pending(), 2);
            assert_eq!(
                cache.get(1).await.unwrap(),
                Some(30),
                "the cache has it at once"
            );
            let flushed = behind.stop().await;
            assert_eq!(
                (flushed.statements, flushed.rows),
                (1, 2),
                "four writes, one statement"
            );
            assert_eq!(
                catalog::prices(db.pool(), &[1, 2]).await.unwrap(),
                [(1, 30), (2, 40)]
            );

            let behind =
                WriteBehind::start(db.pool().clone(), cache.clone(), Duration::from_secs(3600));
            behind.set_price(1, 77).await.unwrap();
            assert_eq!(behind.crash(), 1);
            assert_eq!(cache.get(1).await.unwrap(), Some(77));
            assert_eq!(
                catalog::prices(db.pool(), &[1]).await.unwrap(),
                [(1, 30)],
                "the database never saw it"
            );
        }
    }
}
