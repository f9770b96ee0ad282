//! Trending products: a sorted set of views per day.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Redis;

/// How long a day's counts are kept: today's and yesterday's are read, a third day is slack.
const KEEP: Duration = Duration::from_secs(3 * 86_400);

/// Yesterday's views count for this much of today's: what is trending drifts with the days
/// instead of starting from nothing at midnight.
const YESTERDAY_WEIGHT: f64 = 0.5;

/// Product views counted in Redis: `trending:<day>` is a sorted set whose members are product
/// ids and whose scores are views that day (`ZINCRBY`, one round trip per view). The ranking
/// is today's views plus half of yesterday's (`ZUNION ... WEIGHTS 1 0.5`), highest first.
/// Counting is best effort: a view that finds Redis down is not counted, and says so at debug
/// level only.
#[derive(Debug, Clone)]
pub struct Trending {
    redis: Option<Redis>,
}

impl Trending {
    pub fn new(redis: Option<Redis>) -> Trending {
        Trending { redis }
    }

    fn key(redis: &Redis, day: u64) -> String {
        redis.key(&format!("trending:{day}"))
    }

    // ANCHOR: record_view
    /// Counts one view of `product` at `at`.
    pub async fn record_view(&self, product: &str, at: SystemTime) {
        let Some(redis) = &self.redis else { return };
        let key = Self::key(redis, day_of(at));
        let mut connection = redis.connection();
        let counted: redis::RedisResult<()> = redis::pipe()
            .zincr(&key, product, 1)
            .ignore()
            .expire(&key, KEEP.as_secs() as i64)
            .ignore()
            .query_async(&mut connection)
            .await;
        if let Err(error) = counted {
            tracing::debug!(%error, "a product view was not counted");
        }
    }
    // ANCHOR_END: record_view

    /// The `limit` most viewed products as of `at`, with their scores, highest first (ties by
    /// id). Empty without Redis.
    pub async fn top(&self, limit: usize, at: SystemTime) -> Vec<(String, f64)> {
        let Some(redis) = &self.redis else {
            return Vec::new();
        };
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

/// Days since 1970-01-01, UTC.
fn day_of(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400
}
