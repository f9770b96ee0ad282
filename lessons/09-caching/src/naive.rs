//! Cache-aside the way it is first written: look in Redis, on a miss ask the database, store
//! the answer with a time to live. Correct, short, and defenceless against a stampede: every
//! request that misses in the same moment runs its own query, so when a popular entry expires,
//! the database receives one query per waiting request. Step 3 of the demo measures that against
//! shop-cache's `TwoTier`, which coalesces the misses into one load.
//!
//! It also caches nothing for "not found" (no negative caching) and fails when Redis does:
//! the two other things `TwoTier` does differently.
//!
//! Tests: `cargo test -p lesson-09 naive` (with Redis).

use std::time::Duration;

use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shop_cache::Redis;

use crate::CacheError;

/// Where a read was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// Cache-aside in front of a loader, with entries under `name:` in Redis.
#[derive(Debug, Clone)]
pub struct NaiveCacheAside {
    redis: Redis,
    name: &'static str,
    ttl: Duration,
}

impl NaiveCacheAside {
    pub fn new(redis: Redis, name: &'static str, ttl: Duration) -> NaiveCacheAside {
        NaiveCacheAside { redis, name, ttl }
    }

    fn key(&self, id: i64) -> String {
        self.redis.key(&format!("{}:{id}", self.name))
    }

    // ANCHOR: naive_get
    /// The value of `id` and where it came from. Nothing stops two callers that miss at the
    /// same moment from both calling `load`: that is the point of this type.
    pub async fn get<T, E, F, Fut>(
        &self,
        id: i64,
        load: F,
    ) -> Result<(Option<T>, Source), CacheError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let key = self.key(id);
        let mut redis = self.redis.connection();
        let cached: Option<Vec<u8>> = redis.get(&key).await.map_err(CacheError::Redis)?;
        if let Some(bytes) = cached {
            let value = serde_json::from_slice(&bytes).map_err(CacheError::Decode)?;
            return Ok((Some(value), Source::Cache));
        }
        let loaded = load().await.map_err(CacheError::Load)?;
        if let Some(value) = &loaded {
            let bytes = serde_json::to_vec(value).map_err(CacheError::Decode)?;
            let ttl = u64::try_from(self.ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let () = redis
                .pset_ex(&key, bytes, ttl)
                .await
                .map_err(CacheError::Redis)?;
        }
        Ok((loaded, Source::Database))
    }
    // ANCHOR_END: naive_get

    /// Forgets `id` (an explicit delete).
    pub async fn invalidate(&self, id: i64) -> Result<(), redis::RedisError> {
        let mut redis = self.redis.connection();
        let _: i64 = redis.del(self.key(id)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod needs_redis {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn cache(namespace: &testkit::RedisNamespace, ttl: Duration) -> NaiveCacheAside {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = Redis::open(&url, namespace.prefix()).expect("a valid URL");
        NaiveCacheAside::new(redis, "naive", ttl)
    }

    #[tokio::test]
    async fn a_hit_skips_the_loader_and_an_expired_entry_loads_again() {
        let namespace = testkit::redis().await;
        let naive = cache(&namespace, Duration::from_millis(200));
        let calls = AtomicUsize::new(0);
        let load = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(Some("lamp".to_owned()))
        };
        assert_eq!(
            naive.get(1, load).await.unwrap(),
            (Some("lamp".into()), Source::Database)
        );
        assert_eq!(
            naive.get(1, load).await.unwrap(),
            (Some("lamp".into()), Source::Cache)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(naive.get(1, load).await.unwrap().1, Source::Database);
        naive.invalidate(1).await.unwrap();
        assert_eq!(naive.get(1, load).await.unwrap().1, Source::Database);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn concurrent_misses_each_run_the_loader_and_not_found_is_not_cached() {
        let namespace = testkit::redis().await;
        let naive = cache(&namespace, Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let reads = (0..10).map(|_| {
            let calls = calls.clone();
            naive.get(7, async move || {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Infallible>(Some(7_i64))
            })
        });
        for read in futures::future::join_all(reads).await {
            assert_eq!(read.unwrap().0, Some(7));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 10, "ten misses, ten loads");

        for _ in 0..3 {
            let missing = naive
                .get(404, async || Ok::<Option<i64>, Infallible>(None))
                .await
                .unwrap();
            assert_eq!(missing, (None, Source::Database), "every time");
        }
    }
}
