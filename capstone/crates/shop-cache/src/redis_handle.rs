//! The shop's one Redis handle.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use thiserror::Error;

// ANCHOR: timeouts
/// How long a command may wait for Redis before the caller gives up on it. A cache that is
/// slower than the database it fronts is worse than none: past this, the read goes to the
/// loader and the write is skipped.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
// ANCHOR_END: timeouts

/// A Redis URL that cannot be used. The URL itself is not repeated: it may hold a password.
#[derive(Debug, Error)]
#[error("the Redis URL is not valid ({kind})")]
pub struct RedisUrlError {
    kind: String,
}

/// A client, a multiplexed connection that reconnects by itself, and the prefix every key and
/// channel of this deployment starts with (so that two deployments, or two tests, can share one
/// Redis without reading each other's keys).
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A handle on the Redis at `url`; call it inside a tokio runtime. Nothing is connected
    /// yet: a Redis that is down when the shop starts is not an error (the caches work without
    /// it, more slowly), and the connection is made, and remade, when a command needs it.
    pub fn open(url: &str, prefix: impl Into<String>) -> Result<Redis, RedisUrlError> {
        let client = redis::Client::open(url).map_err(|e| RedisUrlError {
            kind: format!("{:?}", e.kind()),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| {
                RedisUrlError {
                    kind: format!("{:?}", e.kind()),
                }
            })?;
        Ok(Redis {
            client,
            connection,
            prefix: prefix.into(),
        })
    }

    /// Whether `url` is a Redis URL [`Redis::open`] accepts, without opening anything (and
    /// without a runtime: configuration is checked before one starts).
    pub fn check_url(url: &str) -> Result<(), RedisUrlError> {
        redis::Client::open(url)
            .map(drop)
            .map_err(|e| RedisUrlError {
                kind: format!("{:?}", e.kind()),
            })
    }

    /// A connection for commands: cheap to clone, shared by every task.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `key` under this deployment's prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The prefix every key of this deployment starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}
