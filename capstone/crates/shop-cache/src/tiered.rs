//! The two-tier cache: memory, then Redis, then the loader.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use moka::Expiry;
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Invalidations, Namespace, Redis};

/// What an entry holds: the value, or `None` for "the loader found nothing" (a negative entry).
type Entry<T> = Option<Arc<T>>;

/// The first byte of a value in Redis: a value follows, or there is none.
const PRESENT: u8 = b'+';
const ABSENT: u8 = b'-';

/// An invalidation whose key ends with this forgets every key it is a prefix of.
const PREFIX_WILDCARD: char = '*';

/// A cache-aside cache for one [`Namespace`], shared by every request of a process (clone it:
/// the clones share the entries).
///
/// [`TwoTier::get_or_load`] looks in memory, then in Redis, and only then calls the loader;
/// concurrent misses of one key in one process wait for one load (moka's `try_get_with`
/// coalesces them), so a popular entry expiring sends one query to the database, not one per
/// waiting request. The answer is kept in both tiers, "not found" included (for the
/// namespace's shorter negative TTL). [`TwoTier::invalidate`] deletes the entry from Redis and
/// has every process drop its memory copy ([`Invalidations`]).
///
/// Redis is optional and may fail at any moment: a Redis error is logged and treated as a miss
/// (on read) or skipped (on write), so the cache can make requests slower, never fail them.
pub struct TwoTier<T> {
    namespace: Namespace,
    local: moka::future::Cache<String, Entry<T>>,
    redis: Option<Redis>,
    bus: Invalidations,
    counters: Arc<Counters>,
    /// Bumped by every invalidation this process hears of, for this namespace: a load that saw
    /// it change may have read the row before the write, so its answer is not kept.
    generation: Arc<AtomicU64>,
}

impl<T> Clone for TwoTier<T> {
    fn clone(&self) -> Self {
        TwoTier {
            namespace: self.namespace,
            local: self.local.clone(),
            redis: self.redis.clone(),
            bus: self.bus.clone(),
            counters: self.counters.clone(),
            generation: self.generation.clone(),
        }
    }
}

/// Where reads were answered, since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Answered from this process's memory.
    pub local_hits: u64,
    /// Answered from Redis (and then kept in memory).
    pub remote_hits: u64,
    /// Calls of the loader: the reads that reached the database.
    pub loads: u64,
    /// Redis commands that failed or timed out (each treated as a miss or skipped).
    pub redis_errors: u64,
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    remote_hits: AtomicU64,
    loads: AtomicU64,
    redis_errors: AtomicU64,
}

// ANCHOR: per_entry
/// The memory tier's time to live, per entry: negative entries go sooner.
struct PerEntry(Namespace);

impl<T> Expiry<String, Entry<T>> for PerEntry {
    fn expire_after_create(&self, _: &String, value: &Entry<T>, _: Instant) -> Option<Duration> {
        Some(match value {
            Some(_) => self.0.local_ttl,
            None => self.0.negative_ttl.min(self.0.local_ttl),
        })
    }
}
// ANCHOR_END: per_entry

impl<T> TwoTier<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A cache of at most `capacity` entries in memory (the least recently and frequently used
    /// go first), with Redis behind it when there is one, listening on `bus`.
    pub fn new(
        namespace: Namespace,
        capacity: u64,
        redis: Option<Redis>,
        bus: &Invalidations,
    ) -> TwoTier<T> {
        let local = moka::future::Cache::builder()
            .max_capacity(capacity)
            .expire_after(PerEntry(namespace))
            .support_invalidation_closures()
            .build();
        let generation = Arc::new(AtomicU64::new(0));
        let forget = {
            let local: moka::future::Cache<String, Entry<T>> = local.clone();
            let generation = generation.clone();
            Arc::new(move |key: Option<String>| {
                generation.fetch_add(1, Ordering::AcqRel);
                let local = local.clone();
                async move {
                    match key {
                        Some(key) => match key.strip_suffix(PREFIX_WILDCARD) {
                            Some(prefix) => {
                                let prefix = prefix.to_owned();
                                // moka stops answering matching entries at once and removes
                                // them in the background.
                                if let Err(error) = local
                                    .invalidate_entries_if(move |key, _| key.starts_with(&prefix))
                                {
                                    tracing::warn!(%error, "could not invalidate by prefix");
                                    local.invalidate_all();
                                }
                            }
                            None => local.invalidate(&key).await,
                        },
                        None => local.invalidate_all(),
                    }
                }
                .boxed()
            })
        };
        bus.register(namespace.key_prefix(), forget);
        TwoTier {
            namespace,
            local,
            redis,
            bus: bus.clone(),
            counters: Arc::default(),
            generation,
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    // ANCHOR: get_or_load
    /// The value of `id`: from memory, from Redis, or from `load` (called at most once per
    /// process for concurrent misses of the same id). `Ok(None)` is "`load` found nothing",
    /// possibly remembered. A loader error is not cached; every request that was waiting for
    /// that load gets it (shared, hence the `Arc`), and the next read loads again.
    pub async fn get_or_load<E, F, Fut>(
        &self,
        id: impl std::fmt::Display,
        load: F,
    ) -> Result<Option<Arc<T>>, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
        E: Send + Sync + 'static,
    {
        let key = self.namespace.key(id);
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
        let started = self.generation.load(Ordering::Acquire);
        let entry = self
            .local
            .try_get_with_by_ref(&key, async {
                if let Some(entry) = self.remote_get(&key).await {
                    self.counters.remote_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(entry);
                }
                self.counters.loads.fetch_add(1, Ordering::Relaxed);
                let loaded = load().await?.map(Arc::new);
                // An invalidation during the load: the row may have changed after we read it,
                // so this answer goes to the waiting requests but is not shared in Redis.
                if self.generation.load(Ordering::Acquire) == started {
                    self.remote_set(&key, loaded.as_deref()).await;
                }
                Ok(loaded)
            })
            .await?;
        if self.generation.load(Ordering::Acquire) != started {
            // ... nor kept in memory.
            self.local.invalidate(&key).await;
        }
        Ok(entry)
    }
    // ANCHOR_END: get_or_load

    // ANCHOR: invalidate
    /// Forgets `id` everywhere: deletes it from Redis, then tells every process to drop its
    /// memory copy. Call it after the write that made the entry wrong has committed.
    pub async fn invalidate(&self, id: impl std::fmt::Display) {
        let key = self.namespace.key(id);
        if let Some(redis) = &self.redis {
            let mut connection = redis.connection();
            let deleted: redis::RedisResult<i64> = connection.del(redis.key(&key)).await;
            if let Err(error) = deleted {
                self.redis_error(&error, "DEL");
            }
        }
        self.bus.publish(&key).await;
    }
    // ANCHOR_END: invalidate

    /// Forgets, in every process's memory, every id that starts with `id_prefix` (with the
    /// key layout `user:session`, every session of one user). Redis is not searched: use it
    /// for namespaces kept in memory only (a [`TwoTier`] made without Redis), or let the Redis
    /// entries expire.
    pub async fn invalidate_prefix(&self, id_prefix: impl std::fmt::Display) {
        let key = format!("{}{PREFIX_WILDCARD}", self.namespace.key(id_prefix));
        self.bus.publish(&key).await;
    }

    /// Where reads were answered, so far.
    pub fn stats(&self) -> Stats {
        let reads = self.counters.reads.load(Ordering::Relaxed);
        let remote_hits = self.counters.remote_hits.load(Ordering::Relaxed);
        let loads = self.counters.loads.load(Ordering::Relaxed);
        Stats {
            // Every read is a memory hit, a Redis hit or a load, except those that waited for
            // another read's load (coalesced), which count as memory hits.
            local_hits: reads.saturating_sub(remote_hits + loads),
            remote_hits,
            loads,
            redis_errors: self.counters.redis_errors.load(Ordering::Relaxed),
        }
    }

    async fn remote_get(&self, key: &str) -> Option<Entry<T>> {
        let redis = self.redis.as_ref()?;
        let mut connection = redis.connection();
        let bytes: Option<Vec<u8>> = match connection.get(redis.key(key)).await {
            Ok(bytes) => bytes,
            Err(error) => {
                self.redis_error(&error, "GET");
                return None;
            }
        };
        match bytes.as_deref()? {
            [ABSENT] => Some(None),
            [PRESENT, json @ ..] => match serde_json::from_slice(json) {
                Ok(value) => Some(Some(Arc::new(value))),
                Err(error) => {
                    // Written by a release whose value had another shape under the same
                    // version: a missed version bump. Reload, and overwrite it.
                    tracing::warn!(%error, key, "a cached value that does not decode");
                    None
                }
            },
            _ => None,
        }
    }

    async fn remote_set(&self, key: &str, value: Option<&T>) {
        let Some(redis) = &self.redis else { return };
        let (bytes, ttl) = match value {
            Some(value) => {
                let mut bytes = vec![PRESENT];
                if let Err(error) = serde_json::to_writer(&mut bytes, value) {
                    tracing::warn!(%error, key, "a value that does not serialize is not cached");
                    return;
                }
                (bytes, self.namespace.remote_ttl)
            }
            None => (vec![ABSENT], self.namespace.negative_ttl),
        };
        let mut connection = redis.connection();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(redis.key(key))
            .arg(bytes)
            .arg("PX")
            .arg(millis)
            .query_async(&mut connection)
            .await;
        if let Err(error) = set {
            self.redis_error(&error, "SET");
        }
    }

    fn redis_error(&self, error: &redis::RedisError, command: &str) {
        self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%error, command, namespace = self.namespace.name, "Redis did not answer; going without it");
    }
}
