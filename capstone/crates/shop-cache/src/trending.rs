//! Trending products: a sorted set of views per day, written in batches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::Redis;

/// How long a day's counts are kept: today's and yesterday's are read, a third day is slack.
const KEEP: Duration = Duration::from_secs(3 * 86_400);

/// Yesterday's views count for this much of today's: what is trending drifts with the days
/// instead of starting from nothing at midnight.
const YESTERDAY_WEIGHT: f64 = 0.5;

/// The most distinct (day, product) counts held in memory between two writes. Reaching it
/// writes at once; past it, a view of a product not yet counted is dropped until the write is
/// done (counting is best effort), so a flood of distinct ids cannot grow memory without bound.
pub const MAX_PENDING: usize = 10_000;

/// Product views counted in Redis: `trending:<day>` is a sorted set whose members are product
/// ids and whose scores are views that day. The ranking is today's views plus half of
/// yesterday's (`ZUNION ... WEIGHTS 1 0.5`), highest first.
///
/// Views are counted in memory and written every `flush_every` in one pipeline (a `ZINCRBY`
/// per product viewed since the last write, an `EXPIRE` per day): a thousand views of a popular
/// product cost one command, not a thousand round trips. The ranking is that much behind,
/// which nobody can see on a "trending" list. Counting is best effort: a write that fails is
/// retried with the next one (within [`MAX_PENDING`]), and what is still in memory when the
/// process is killed is lost. Dropping the last handle writes what is pending.
#[derive(Debug, Clone)]
pub struct Trending {
    inner: Option<Arc<Handle>>,
}

#[derive(Debug)]
struct Handle {
    batch: Arc<Batch>,
    /// Stops the writer (after a last write) when the last handle is dropped.
    _stop: DropGuard,
}

/// What the request path and the writer share.
#[derive(Debug)]
struct Batch {
    redis: Redis,
    /// Views not yet written: day → product → count.
    pending: Mutex<HashMap<u64, HashMap<String, u64>>>,
    /// Wakes the writer early, when `pending` is full.
    full: Notify,
}

impl Trending {
    /// Counts views into Redis (without it, counts nothing and ranks nothing), writing every
    /// `flush_every` until `shutdown` or until the last handle is dropped, with a last write
    /// then. Call it inside a tokio runtime.
    pub fn new(redis: Option<Redis>, flush_every: Duration, shutdown: CancellationToken) -> Self {
        let Some(redis) = redis else {
            return Trending { inner: None };
        };
        let stop = shutdown.child_token();
        let batch = Arc::new(Batch {
            redis,
            pending: Mutex::new(HashMap::new()),
            full: Notify::new(),
        });
        tokio::spawn(write_every(batch.clone(), flush_every, stop.clone()));
        Trending {
            inner: Some(Arc::new(Handle {
                batch,
                _stop: stop.drop_guard(),
            })),
        }
    }

    // ANCHOR: record_view
    /// Counts one view of `product` at `at`: an increment in memory, no I/O, no await.
    pub fn record_view(&self, product: &str, at: SystemTime) {
        let Some(inner) = &self.inner else { return };
        let batch = &inner.batch;
        let mut pending = batch.lock();
        let distinct: usize = pending.values().map(HashMap::len).sum();
        let day = pending.entry(day_of(at)).or_default();
        if let Some(count) = day.get_mut(product) {
            *count += 1;
        } else if distinct < MAX_PENDING {
            day.insert(product.to_owned(), 1);
            if distinct + 1 == MAX_PENDING {
                batch.full.notify_one();
            }
        } else {
            tracing::debug!("a product view was not counted: too many pending");
        }
    }
    // ANCHOR_END: record_view

    /// Writes the pending counts now (the writer does it every `flush_every` by itself).
    /// Returns whether everything pending reached Redis.
    pub async fn flush(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.batch.write().await,
            None => true,
        }
    }

    /// Views counted in memory and not yet in Redis.
    pub fn pending(&self) -> u64 {
        self.inner.as_ref().map_or(0, |inner| {
            inner.batch.lock().values().flat_map(HashMap::values).sum()
        })
    }

    fn key(redis: &Redis, day: u64) -> String {
        redis.key(&format!("trending:{day}"))
    }

    /// The `limit` most viewed products as of `at`, with their scores, highest first (ties by
    /// id): what Redis holds, so up to one `flush_every` behind. Empty without Redis.
    pub async fn top(&self, limit: usize, at: SystemTime) -> Vec<(String, f64)> {
        let Some(inner) = &self.inner else {
            return Vec::new();
        };
        let redis = &inner.batch.redis;
        let today = day_of(at);
        let mut connection = redis.connection();
        let ranked: redis::RedisResult<Vec<(String, f64)>> = redis::cmd("ZUNION")
            .arg(2)
            .arg(Self::key(redis, today))
            .arg(Self::key(redis, today.saturating_sub(1)))
            .arg("WEIGHTS")
            .arg(1)
            .arg(YESTERDAY_WEIGHT)
            .arg("WITHSCORES")
            .query_async(&mut connection)
            .await;
        let mut ranked = match ranked {
            Ok(ranked) => ranked,
            Err(error) => {
                tracing::debug!(%error, "trending products are unavailable");
                return Vec::new();
            }
        };
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked
    }
}

impl Batch {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, HashMap<String, u64>>> {
        // A panic while holding the lock leaves a map of counts, still good to use.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ANCHOR: write
    /// Takes what is pending and writes it in one round trip; on failure puts it back, to be
    /// added to what comes next (up to [`MAX_PENDING`] products).
    async fn write(&self) -> bool {
        let taken = std::mem::take(&mut *self.lock());
        if taken.is_empty() {
            return true;
        }
        let mut pipe = redis::pipe();
        for (day, counts) in &taken {
            let key = Trending::key(&self.redis, *day);
            for (product, count) in counts {
                pipe.zincr(&key, product, *count).ignore();
            }
            pipe.expire(&key, KEEP.as_secs() as i64).ignore();
        }
        let written: redis::RedisResult<()> = pipe.query_async(&mut self.redis.connection()).await;
        let Err(error) = written else { return true };
        tracing::debug!(%error, "product views were not written; retrying with the next batch");
        let mut pending = self.lock();
        let mut distinct: usize = pending.values().map(HashMap::len).sum();
        for (day, counts) in taken {
            let day = pending.entry(day).or_default();
            for (product, count) in counts {
                if let Some(existing) = day.get_mut(&product) {
                    *existing += count;
                } else if distinct < MAX_PENDING {
                    day.insert(product, count);
                    distinct += 1;
                }
            }
        }
        false
    }
    // ANCHOR_END: write
}

/// The writer: every `every` (or sooner when the batch is full), and once more when stopped.
async fn write_every(batch: Arc<Batch>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
            () = batch.full.notified() => {}
        }
        batch.write().await;
    }
    batch.write().await;
}

/// Days since 1970-01-01, UTC.
fn day_of(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400
}
