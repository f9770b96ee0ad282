//! Early probabilistic expiry ("XFetch", from Vattani, Chierichetti and Lowenstein, *Optimal
//! Probabilistic Cache Stampede Prevention*, VLDB 2015).
//!
//! An entry with a time to live expires for every reader at the same instant, and under load
//! many readers find it gone together. XFetch lets each reader decide, independently and at
//! random, to recompute the value *before* it expires, with a probability that grows as the
//! expiry nears and with how long the recomputation takes. One reader (or a few) refreshes it
//! early; everyone else keeps reading the old value, which is still valid; the entry never
//! expires under traffic at all.
//!
//! The entry stores how long its computation took (`delta`) next to the value, in one Redis
//! hash, and a read fetches the value, `delta` and the time left in one round trip.
//!
//! Tests: `cargo test -p lesson-09 xfetch` (the rule alone, and against Redis).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use shop_cache::Redis;

use crate::CacheError;

// ANCHOR: refresh_early
/// Should a reader that finds `time_left` before expiry recompute now? `delta` is how long the
/// last computation took, `beta` tunes eagerness (1 is the paper's choice; above 1 refreshes
/// earlier), and `draw` is a uniform random number in (0, 1].
///
/// The rule is `delta × beta × −ln(draw) ≥ time_left`. `−ln(draw)` is exponentially distributed
/// with mean 1, so the chance of an early refresh is `exp(−time_left / (delta × beta))`: nil while
/// the expiry is many `delta`s away, rising steeply over the last few, certain once it is due.
pub fn refresh_early(time_left: Duration, delta: Duration, beta: f64, draw: f64) -> bool {
    if time_left.is_zero() {
        return true;
    }
    // A draw of exactly 0 would be −ln(0) = ∞: treat it as the smallest positive number.
    let draw = draw.clamp(f64::MIN_POSITIVE, 1.0);
    delta.as_secs_f64() * beta * -draw.ln() >= time_left.as_secs_f64()
}
// ANCHOR_END: refresh_early

/// What a read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entry was there, and this reader let it be.
    Fresh,
    /// The entry was there, and this reader recomputed it, `early_by` before it would expire.
    Refreshed { early_by: Duration },
    /// There was no entry (cold, or expired): this reader waited for the loader.
    Missed,
}

/// A cache-aside cache over Redis with early probabilistic expiry.
#[derive(Debug, Clone)]
pub struct EarlyExpiry {
    redis: Redis,
    name: &'static str,
    ttl: Duration,
    beta: f64,
    /// Set while this process refreshes early: see [`EarlyExpiry::one_refresh_at_a_time`].
    refreshing: Option<Arc<AtomicBool>>,
}

impl EarlyExpiry {
    pub fn new(redis: Redis, name: &'static str, ttl: Duration, beta: f64) -> EarlyExpiry {
        EarlyExpiry {
            redis,
            name,
            ttl,
            beta,
            refreshing: None,
        }
    }

    /// Lets only one reader of this process (of this cache and its clones) refresh early at a
    /// time: a reader that draws a refresh while another is under way reads the entry instead,
    /// which is still valid. (One flag for every id: enough for a demo of one hot key.)
    pub fn one_refresh_at_a_time(self) -> EarlyExpiry {
        EarlyExpiry {
            refreshing: Some(Arc::default()),
            ..self
        }
    }

    fn key(&self, id: i64) -> String {
        self.redis.key(&format!("{}:{id}", self.name))
    }

    /// The value of `id`, recomputed early when [`refresh_early`] says so with `draw`.
    pub async fn get<T, E, F, Fut>(
        &self,
        id: i64,
        load: F,
        draw: f64,
    ) -> Result<(Option<T>, Outcome), CacheError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let key = self.key(id);
        let mut redis = self.redis.connection();
        // The value, its computation time and the time left: one round trip.
        let ((value, delta_us), time_left_ms): ((Option<Vec<u8>>, Option<u64>), i64) =
            redis::pipe()
                .cmd("HMGET")
                .arg(&key)
                .arg("value")
                .arg("delta_us")
                .pttl(&key)
                .query_async(&mut redis)
                .await
                .map_err(CacheError::Redis)?;
        // Held while this reader refreshes early; released when it is dropped.
        let mut refreshing = None;
        let outcome = match (value, u64::try_from(time_left_ms)) {
            (Some(bytes), Ok(left)) => {
                let time_left = Duration::from_millis(left);
                let delta = Duration::from_micros(delta_us.unwrap_or(0));
                let refresh = refresh_early(time_left, delta, self.beta, draw);
                refreshing = refresh.then(|| self.claim_refresh()).flatten();
                if refreshing.is_none() {
                    let value = serde_json::from_slice(&bytes).map_err(CacheError::Decode)?;
                    return Ok((Some(value), Outcome::Fresh));
                }
                Outcome::Refreshed {
                    early_by: time_left,
                }
            }
            // No value, or no expiry (PTTL -1, which this cache never writes): recompute.
            _ => Outcome::Missed,
        };
        let started = Instant::now();
        let loaded = load().await.map_err(CacheError::Load)?;
        let delta = started.elapsed();
        if let Some(value) = &loaded {
            let bytes = serde_json::to_vec(value).map_err(CacheError::Decode)?;
            let delta_us = u64::try_from(delta.as_micros()).unwrap_or(u64::MAX);
            let ttl_ms = i64::try_from(self.ttl.as_millis())
                .unwrap_or(i64::MAX)
                .max(1);
            // MULTI/EXEC: the entry never exists without its expiry.
            let () = redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("value", bytes),
                        ("delta_us", delta_us.to_string().into_bytes()),
                    ],
                )
                .ignore()
                .pexpire(&key, ttl_ms)
                .ignore()
                .query_async(&mut redis)
                .await
                .map_err(CacheError::Redis)?;
        }
        drop(refreshing);
        Ok((loaded, outcome))
    }

    /// The right to refresh early: always without the flag; with it, only when no other
    /// reader holds it.
    fn claim_refresh(&self) -> Option<Refreshing> {
        match &self.refreshing {
            None => Some(Refreshing(None)),
            Some(flag) if !flag.swap(true, Ordering::AcqRel) => {
                Some(Refreshing(Some(flag.clone())))
            }
            Some(_) => None,
        }
    }
}

/// An early refresh under way; dropping it (the load finished, failed or was cancelled) lets
/// the next reader refresh.
struct Refreshing(Option<Arc<AtomicBool>>);

impl Drop for Refreshing {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_entry_due_now_is_always_refreshed() {
        assert!(refresh_early(Duration::ZERO, MS, 1.0, 1.0));
        assert!(refresh_early(Duration::ZERO, Duration::ZERO, 0.0, 0.5));
    }

    #[test]
    fn a_draw_of_one_never_refreshes_early_and_a_draw_of_zero_nearly_always_does() {
        // −ln(1) = 0: no head start, however slow the computation.
        assert!(!refresh_early(MS, 1_000 * MS, 1.0, 1.0));
        // −ln(0) is infinite; the clamp keeps it finite: about 708 times delta.
        assert!(refresh_early(700 * MS, MS, 1.0, 0.0));
        assert!(!refresh_early(710 * MS, MS, 1.0, 0.0));
    }

    #[test]
    fn the_head_start_is_delta_times_beta_times_minus_ln_draw() {
        let draw = (-2.0_f64).exp(); // −ln(draw) = 2
        let delta = 50 * MS;
        assert!(
            refresh_early(99 * MS, delta, 1.0, draw),
            "2 × 50 ms ≥ 99 ms"
        );
        assert!(
            !refresh_early(101 * MS, delta, 1.0, draw),
            "2 × 50 ms < 101 ms"
        );
        assert!(
            refresh_early(199 * MS, delta, 2.0, draw),
            "beta 2 doubles the head start"
        );
    }

    #[test]
    fn the_chance_of_an_early_refresh_is_exp_of_minus_time_left_over_delta() {
        // Over evenly spread draws, the share that refreshes is the chance itself.
        let delta = 100 * MS;
        for (time_left, expected) in [(100 * MS, (-1.0_f64).exp()), (300 * MS, (-3.0_f64).exp())] {
            let n = 100_000;
            let refreshed = (1..=n)
                .filter(|i| refresh_early(time_left, delta, 1.0, *i as f64 / n as f64))
                .count();
            let share = refreshed as f64 / n as f64;
            assert!((share - expected).abs() < 0.001, "{share} vs {expected}");
        }
    }
}

#[cfg(test)]
mod needs_redis {
    use std::convert::Infallible;

    use super::*;

    #[tokio::test]
    async fn a_read_refreshes_early_only_when_the_rule_says_so() {
        let namespace = testkit::redis().await;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = Redis::open(&url, namespace.prefix()).unwrap();
        // Five seconds to live; a draw of 0 gives a 20 ms load a head start of 14 s.
        let cache = EarlyExpiry::new(redis, "x", Duration::from_secs(5), 1.0);
        let slow = async || {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Infallible>(Some(1_i64))
        };
        assert_eq!(
            cache.get(1, slow, 1.0).await.unwrap(),
            (Some(1), Outcome::Missed)
        );
        // Seconds to go and a 20 ms computation: only a tiny draw refreshes.
        let never = async || Ok::<Option<i64>, Infallible>(Some(2));
        assert_eq!(
            cache.get(1, never, 0.5).await.unwrap(),
            (Some(1), Outcome::Fresh)
        );
        let (value, outcome) = cache
            .get(1, async || Ok::<_, Infallible>(Some(3_i64)), 0.0)
            .await
            .unwrap();
        assert_eq!(value, Some(3));
        let Outcome::Refreshed { early_by } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(early_by > Duration::from_secs(4), "{early_by:?}");

        // The stored computation time is the last load's: microseconds now, not 20 ms.
        let mut connection = namespace.connection();
        let delta_us: u64 = redis::cmd("HGET")
            .arg(namespace.key("x:1"))
            .arg("delta_us")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(delta_us < 20_000, "{delta_us}");
    }

    #[tokio::test]
    async fn with_one_refresh_at_a_time_a_second_early_reader_reads_instead() {
        let namespace = testkit::redis().await;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = Redis::open(&url, namespace.prefix()).unwrap();
        let cache =
            EarlyExpiry::new(redis, "y", Duration::from_secs(5), 1.0).one_refresh_at_a_time();
        let value = |v: i64| async move || Ok::<_, Infallible>(Some(v));
        // A 20 ms load: a draw of 0 then refreshes anything under 14 s from expiry.
        let slow_one = async || {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Infallible>(Some(1_i64))
        };
        cache.get(1, slow_one, 1.0).await.unwrap();
        // Two readers draw a refresh (draw 0) at once; the first loads slowly.
        let gate = tokio::sync::Notify::new();
        let slow = async || {
            gate.notified().await;
            Ok::<_, Infallible>(Some(2_i64))
        };
        let first = cache.get(1, slow, 0.0);
        let second = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let seen = cache.get(1, value(3), 0.0).await;
            gate.notify_one();
            seen
        };
        let (first, second) = tokio::join!(first, second);
        assert!(matches!(
            first.unwrap(),
            (Some(2), Outcome::Refreshed { .. })
        ));
        assert_eq!(
            second.unwrap(),
            (Some(1), Outcome::Fresh),
            "it read the entry"
        );
        // The flag is free again.
        assert!(matches!(
            cache.get(1, value(4), 0.0).await.unwrap(),
            (Some(4), Outcome::Refreshed { .. })
        ));
    }
}
