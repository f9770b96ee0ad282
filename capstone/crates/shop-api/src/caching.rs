//! The shop's caches and what else it keeps in Redis (chapter 09), built once at start-up.
//!
//! What is cached, and why there:
//! - **a product's JSON body**, the answer of `GET /products/{id}`, in [`Caches::products`]: the
//!   most read and least written thing in a shop. The body is cached rather than the row, so a
//!   hit costs no query, no conversion and no serialization. Every admin write (create, change,
//!   archive, import) invalidates the product after its transaction commits; the memory TTL
//!   bounds how stale an instance may be if the invalidation never reaches it;
//! - **the session check** of every authenticated request (see
//!   [`crate::auth::SessionCheck`]), in memory only;
//! - **guest carts** and **trending products**, which live in Redis alone.
//!
//! Redis is optional ([`crate::config::CacheSettings::redis_url`]) and may fail at any time:
//! the caches then answer from PostgreSQL, guest carts answer 503, and trending is empty.

use std::fmt;

use shop_cache::{GuestCarts, Invalidations, Namespace, Redis, RedisUrlError, Trending, TwoTier};
use shop_domain::ProductId;
use tokio_util::sync::CancellationToken;

use crate::config::CacheSettings;

/// Bump `version` whenever [`crate::routes::catalog::ProductBody`] changes shape: the new
/// release then never reads a body the old one cached.
const PRODUCT_BODY_VERSION: u32 = 1;

/// Everything cached or kept in Redis. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct Caches {
    /// Every instance's subscription to invalidations.
    pub invalidations: Invalidations,
    /// `GET /products/{id}`'s JSON body by product id; `None` cached for "no such product".
    pub products: TwoTier<String>,
    pub guest_carts: GuestCarts,
    pub trending: Trending,
}

impl fmt::Debug for Caches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caches")
            .field("products", self.products.namespace())
            .finish_non_exhaustive()
    }
}

impl Caches {
    /// Opens Redis (lazily: nothing connects yet) and starts listening for invalidations.
    /// Call it inside the runtime.
    pub fn new(settings: &CacheSettings) -> Result<Caches, RedisUrlError> {
        use secrecy::ExposeSecret;
        let redis = settings
            .redis_url
            .as_ref()
            .map(|url| Redis::open(url.expose_secret(), settings.key_prefix.clone()))
            .transpose()?;
        // Dropped with the last clone of the state: the subscription ends with the server.
        let invalidations = Invalidations::start(redis.clone(), CancellationToken::new());
        let products = TwoTier::new(
            Namespace {
                name: "product",
                version: PRODUCT_BODY_VERSION,
                local_ttl: settings.product_memory_ttl,
                remote_ttl: settings.product_redis_ttl,
                // A product created just after a miss of its id shows within this time at the
                // latest (the create also invalidates, so normally at once).
                negative_ttl: settings.product_memory_ttl.min(NEGATIVE_TTL),
            },
            u64::from(settings.product_memory_entries),
            redis.clone(),
            &invalidations,
        );
        Ok(Caches {
            invalidations,
            products,
            guest_carts: GuestCarts::new(redis.clone(), settings.guest_cart_ttl),
            trending: Trending::new(redis, TRENDING_WRITE_EVERY, CancellationToken::new()),
        })
    }

    /// After a write to products has committed: every instance forgets them.
    pub async fn products_changed(&self, ids: impl IntoIterator<Item = ProductId>) {
        for id in ids {
            self.products.invalidate(id).await;
        }
    }
}

/// How often the views counted in memory are written to the trending sorted sets: the
/// ranking is at most this much behind, and the product page does no Redis write of its own.
const TRENDING_WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest "no such product" is remembered.
const NEGATIVE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
