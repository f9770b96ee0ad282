//! What the shop keeps in Redis (lesson 09).
//!
//! - [`TwoTier`]: a cache-aside cache with two tiers in front of the database. Each process
//!   keeps the hottest entries in memory ([moka]); every process shares Redis behind it. A read
//!   tries memory, then Redis, then calls the loader (the database query) once, however many
//!   requests missed at the same moment (request coalescing), and stores the answer in both
//!   tiers. "Not found" is cached too, for less time (negative caching), so a stream of requests
//!   for an id that does not exist does not reach the database each time.
//! - [`Namespace`]: what is cached under a name, with a schema version in every key
//!   (`product:v1:42`). Changing what a cached value looks like bumps the version, so no process
//!   reads an entry written in the old shape.
//! - [`Invalidations`]: one Redis pub/sub channel per deployment. A write deletes the entry from
//!   Redis and publishes its key; every process, itself included, drops its in-memory copy on
//!   receipt. While the subscription is down, messages are lost, so a process that reconnects
//!   empties its memory tier. The memory tier's time to live is therefore the bound on staleness
//!   when everything else fails.
//! - [`Redis`]: the one connection handle, lazy and with short timeouts: Redis being down makes
//!   the cache slower (every read goes to the loader), never the request fail.
//! - [`GuestCarts`] and [`Trending`]: state that lives in Redis only, a hash per guest cart with
//!   a time to live, and a sorted set of product views per day (counted in memory, written in
//!   one pipeline a second).

mod bus;
mod guest_cart;
mod keys;
mod redis_handle;
mod tiered;
pub mod trending;

pub use bus::Invalidations;
pub use guest_cart::{CartLine, GuestCartError, GuestCarts};
pub use keys::Namespace;
pub use redis_handle::{Redis, RedisUrlError};
pub use tiered::{Stats, TwoTier};
pub use trending::Trending;
