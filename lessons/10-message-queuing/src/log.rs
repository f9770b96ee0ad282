//! The log model, on Redis Streams: an append-only sequence of entries that consumers read at
//! their own position, instead of a queue that deletes what it has delivered.
//!
//! A consumer group is Kafka's consumer group in miniature: the group has one position (the
//! last entry handed out), each entry goes to one consumer of the group, and an entry handed
//! out but not yet acknowledged sits in the group's pending list under that consumer's name.
//! Acknowledging removes it from the pending list, never from the stream: another group, or a
//! replay from an id, still reads it.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamPendingId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, RedisResult};

/// One stream, by its full key.
#[derive(Debug, Clone)]
pub struct Log {
    pub key: String,
}

impl Log {
    pub fn new(key: String) -> Self {
        Log { key }
    }

    /// XADD: appends an entry and returns its id (`<milliseconds>-<sequence>`), which is also
    /// its offset: ids only grow.
    pub async fn append(
        &self,
        c: &mut MultiplexedConnection,
        fields: &[(&str, &str)],
    ) -> RedisResult<String> {
        c.xadd(&self.key, "*", fields).await
    }

    /// XGROUP CREATE at `start` (`0` for the whole history, `$` for new entries only).
    pub async fn create_group(
        &self,
        c: &mut MultiplexedConnection,
        group: &str,
        start: &str,
    ) -> RedisResult<()> {
        c.xgroup_create_mkstream(&self.key, group, start).await
    }

    // ANCHOR: read_group
    /// XREADGROUP ... `>`: up to `count` entries no consumer of `group` has been given yet.
    /// They stay pending under `consumer` until it acknowledges them.
    pub async fn read_group(
        &self,
        c: &mut MultiplexedConnection,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> RedisResult<Vec<StreamId>> {
        let options = StreamReadOptions::default()
            .group(group, consumer)
            .count(count);
        let reply: StreamReadReply = c.xread_options(&[&self.key], &[">"], &options).await?;
        Ok(reply.keys.into_iter().flat_map(|k| k.ids).collect())
    }
    // ANCHOR_END: read_group

    /// XACK: the group is done with these entries (they stay in the stream).
    pub async fn ack(
        &self,
        c: &mut MultiplexedConnection,
        group: &str,
        ids: &[String],
    ) -> RedisResult<usize> {
        c.xack(&self.key, group, ids).await
    }

    /// XPENDING: entries given out and not acknowledged, with whom and how many times.
    pub async fn pending(
        &self,
        c: &mut MultiplexedConnection,
        group: &str,
    ) -> RedisResult<Vec<StreamPendingId>> {
        let reply: redis::streams::StreamPendingCountReply =
            c.xpending_count(&self.key, group, "-", "+", 100).await?;
        Ok(reply.ids)
    }

    // ANCHOR: take_over
    /// What a surviving consumer does about a crashed one: XPENDING finds the entries idle for
    /// longer than `min_idle`, XCLAIM moves them to `consumer`, who processes them as its own.
    /// The idle time guards against stealing from a consumer that is merely slow.
    pub async fn take_over(
        &self,
        c: &mut MultiplexedConnection,
        group: &str,
        consumer: &str,
        min_idle: Duration,
    ) -> RedisResult<Vec<StreamId>> {
        let min_idle_ms = usize::try_from(min_idle.as_millis()).unwrap_or(usize::MAX);
        let stale: Vec<String> = self
            .pending(c, group)
            .await?
            .into_iter()
            .filter(|p| p.last_delivered_ms >= min_idle_ms && p.consumer != consumer)
            .map(|p| p.id)
            .collect();
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        let claimed: redis::streams::StreamClaimReply = c
            .xclaim(&self.key, group, consumer, min_idle_ms, &stale)
            .await?;
        Ok(claimed.ids)
    }
    // ANCHOR_END: take_over

    /// XRANGE from `start` (inclusive) to the end: a replay from an offset, which any reader
    /// may do at any time, whatever the groups have acknowledged.
    pub async fn replay_from(
        &self,
        c: &mut MultiplexedConnection,
        start: &str,
    ) -> RedisResult<Vec<StreamId>> {
        let reply: redis::streams::StreamRangeReply = c.xrange(&self.key, start, "+").await?;
        Ok(reply.ids)
    }

    pub async fn len(&self, c: &mut MultiplexedConnection) -> RedisResult<usize> {
        c.xlen(&self.key).await
    }
}

/// A field of an entry as text ("" when absent).
pub fn field(entry: &StreamId, name: &str) -> String {
    entry.get::<String>(name).unwrap_or_default()
}
