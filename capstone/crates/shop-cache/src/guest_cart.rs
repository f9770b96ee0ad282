//! Guest carts: a Redis hash per cart, gone when nobody touched it for a while.

use std::time::Duration;

use redis::AsyncCommands;
use thiserror::Error;

use crate::Redis;

/// One product in a guest cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product: String,
    pub quantity: u8,
}

/// A guest cart could not be read or written.
#[derive(Debug, Error)]
pub enum GuestCartError {
    /// No Redis is configured, or it did not answer: guest carts live nowhere else.
    #[error("guest carts are unavailable: Redis does not answer")]
    Unavailable,
}

/// Carts of visitors who have not signed in, kept in Redis: `cart:guest:<id>` is a hash from
/// product id to quantity, and every write pushes its expiry `ttl` into the future, so an
/// abandoned cart disappears on its own and no job has to clean up after guests. A guest's
/// cart id is a random token the API hands out; at sign-in [`GuestCarts::take`] empties the
/// cart atomically so it is merged into the account's cart exactly once.
#[derive(Debug, Clone)]
pub struct GuestCarts {
    redis: Option<Redis>,
    ttl: Duration,
}

impl GuestCarts {
    pub fn new(redis: Option<Redis>, ttl: Duration) -> GuestCarts {
        GuestCarts { redis, ttl }
    }

    /// Whether a Redis is configured at all (whether it answers shows on the first command).
    pub fn is_configured(&self) -> bool {
        self.redis.is_some()
    }

    /// How long an untouched guest cart lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn key(redis: &Redis, cart: &str) -> String {
        redis.key(&format!("cart:guest:{cart}"))
    }

    fn redis(&self) -> Result<&Redis, GuestCartError> {
        self.redis.as_ref().ok_or(GuestCartError::Unavailable)
    }

    /// Sets the quantity of `product` (replacing what was there) and renews the cart's life,
    /// in one transaction (MULTI/EXEC): a cart never exists without its expiry.
    pub async fn set(&self, cart: &str, product: &str, quantity: u8) -> Result<(), GuestCartError> {
        let redis = self.redis()?;
        let key = Self::key(redis, cart);
        let mut connection = redis.connection();
        redis::pipe()
            .atomic()
            .hset(&key, product, quantity)
            .ignore()
            .pexpire(&key, millis(self.ttl))
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(unavailable)
    }

    /// Removes `product`; `false` if it was not in the cart.
    pub async fn remove(&self, cart: &str, product: &str) -> Result<bool, GuestCartError> {
        let redis = self.redis()?;
        let mut connection = redis.connection();
        let removed: i64 = connection
            .hdel(Self::key(redis, cart), product)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    /// The cart's lines, sorted by product id; empty for an unknown or expired cart.
    pub async fn lines(&self, cart: &str) -> Result<Vec<CartLine>, GuestCartError> {
        let redis = self.redis()?;
        let mut connection = redis.connection();
        let fields: Vec<(String, u8)> = connection
            .hgetall(Self::key(redis, cart))
            .await
            .map_err(unavailable)?;
        Ok(sorted(fields))
    }

    // ANCHOR: take
    /// Reads and deletes the cart in one transaction: two sign-ins racing with the same cart
    /// id cannot both merge it.
    pub async fn take(&self, cart: &str) -> Result<Vec<CartLine>, GuestCartError> {
        let redis = self.redis()?;
        let key = Self::key(redis, cart);
        let mut connection = redis.connection();
        let (fields,): (Vec<(String, u8)>,) = redis::pipe()
            .atomic()
            .hgetall(&key)
            .del(&key)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(sorted(fields))
    }
    // ANCHOR_END: take
}

fn sorted(fields: Vec<(String, u8)>) -> Vec<CartLine> {
    let mut lines: Vec<CartLine> = fields
        .into_iter()
        .map(|(product, quantity)| CartLine { product, quantity })
        .collect();
    lines.sort_by(|a, b| a.product.cmp(&b.product));
    lines
}

fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn unavailable(error: redis::RedisError) -> GuestCartError {
    tracing::warn!(%error, "Redis did not answer a guest cart command");
    GuestCartError::Unavailable
}
