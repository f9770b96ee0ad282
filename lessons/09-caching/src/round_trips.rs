//! Counting round trips: a connection that wraps another and counts what it sends.
//!
//! redis-rs sends everything through one trait, `redis::aio::ConnectionLike`: a command is one
//! `req_packed_command` (write it, wait for its reply), a pipeline is one
//! `req_packed_commands` (write them all, then wait for all the replies). Wrapping a connection
//! in [`Counted`] therefore counts requests exactly, and, because it also tracks how many are
//! waiting at once, tells a run of sequential round trips from a burst of concurrent ones.
//!
//! ```no_run
//! # async fn demo(redis: shop_cache::Redis) -> redis::RedisResult<()> {
//! use redis::AsyncCommands;
//! let mut connection = lesson_09::round_trips::Counted::new(redis.connection());
//! let _: () = connection.set("k", 1).await?;
//! let _: i64 = connection.get("k").await?;
//! assert_eq!(connection.counts().requests, 2);
//! # Ok(()) }
//! ```
//!
//! Tests: `cargo test -p lesson-09 round_trips` (with Redis).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// What a [`Counted`] connection (and every clone of it) has sent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Writes that waited for replies: a command, or a whole pipeline.
    pub requests: u64,
    /// The most requests that were waiting for their replies at the same moment.
    pub most_in_flight: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
}

// ANCHOR: counted
/// A connection that counts its requests; clones share the counts.
#[derive(Clone)]
pub struct Counted<C> {
    inner: C,
    counters: Arc<Counters>,
}

impl<C> Counted<C> {
    pub fn new(inner: C) -> Counted<C> {
        Counted {
            inner,
            counters: Arc::default(),
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.counters.requests.load(Ordering::Relaxed),
            most_in_flight: self.counters.most_in_flight.load(Ordering::Relaxed),
        }
    }

    /// Starts counting from zero again.
    pub fn reset(&self) {
        self.counters.requests.store(0, Ordering::Relaxed);
        self.counters.most_in_flight.store(0, Ordering::Relaxed);
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for Counted<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        track(self.counters.clone(), self.inner.req_packed_command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let replies = self.inner.req_packed_commands(pipeline, offset, count);
        track(self.counters.clone(), replies)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
// ANCHOR_END: counted

/// Counts one request around `reply`, the future that waits for its answer.
fn track<'a, T: Send + 'a>(
    counters: Arc<Counters>,
    reply: RedisFuture<'a, T>,
) -> RedisFuture<'a, T> {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let now = counters.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
    counters.most_in_flight.fetch_max(now, Ordering::AcqRel);
    let waiting = InFlight(counters);
    async move {
        let _waiting = waiting;
        reply.await
    }
    .boxed()
}

/// One request waiting for its reply, until it has it or is given up (dropped).
struct InFlight(Arc<Counters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod needs_redis {
    use super::*;
    use redis::AsyncCommands;

    #[tokio::test]
    async fn a_command_is_a_request_and_a_pipeline_is_one() {
        let namespace = testkit::redis().await;
        let mut connection = Counted::new(namespace.connection());
        let key = namespace.key("n");
        let _: () = connection.set(&key, 1).await.unwrap();
        let _: i64 = connection.incr(&key, 1).await.unwrap();
        assert_eq!(connection.counts().requests, 2);
        assert_eq!(connection.counts().most_in_flight, 1, "one after the other");

        connection.reset();
        let mut pipe = redis::pipe();
        for _ in 0..10 {
            pipe.incr(&key, 1).ignore();
        }
        pipe.get(&key);
        let (n,): (i64,) = pipe.query_async(&mut connection).await.unwrap();
        assert_eq!(n, 12);
        assert_eq!(
            connection.counts().requests,
            1,
            "eleven commands, one request"
        );
    }

    #[tokio::test]
    async fn concurrent_commands_on_clones_are_in_flight_together() {
        let namespace = testkit::redis().await;
        let connection = Counted::new(namespace.connection());
        let key = namespace.key("c");
        let gets = (0..20).map(|_| {
            let mut connection = connection.clone();
            let key = key.clone();
            async move { connection.get::<_, Option<i64>>(&key).await }
        });
        for answer in futures::future::join_all(gets).await {
            assert_eq!(answer.unwrap(), None);
        }
        let counts = connection.counts();
        assert_eq!(counts.requests, 20);
        assert!(counts.most_in_flight > 1, "{counts:?}");
    }
}
