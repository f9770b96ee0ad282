//! A private key namespace per test on a shared Redis.
//!
//! Redis has no cheap "fresh database" (only 16 numbered ones), so isolation is by key prefix:
//! every key a test touches goes through [`RedisNamespace::key`], and dropping the namespace
//! deletes every key under its prefix.

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use crate::discover::Service;
use crate::isolate::{cleanup_blocking, endpoint, unique_name};

pub struct RedisNamespace {
    client: redis::Client,
    connection: MultiplexedConnection,
    prefix: String,
}

impl RedisNamespace {
    /// A multiplexed connection: cheap to clone, safe to share across tasks.
    pub fn connection(&self) -> MultiplexedConnection {
        self.connection.clone()
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The prefix that makes this test's keys its own (ends with `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `key("cart:42")` -> `testkit_<test>_<random>:cart:42`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Connects to Redis and reserves a key prefix for the calling test, whose name must contain
/// `needs_redis`.
pub async fn redis() -> RedisNamespace {
    let endpoint = endpoint(Service::Redis).await;
    let client = match redis::Client::open(endpoint.url.as_str()) {
        Ok(client) => client,
        Err(e) => panic!("{endpoint} is not a Redis URL: {e}"),
    };
    let connection = match client.get_multiplexed_async_connection().await {
        Ok(connection) => connection,
        Err(e) => panic!("Redis at {endpoint} refused the connection: {e}"),
    };
    RedisNamespace {
        client,
        connection,
        prefix: format!("{}:", unique_name()),
    }
}

impl Drop for RedisNamespace {
    fn drop(&mut self) {
        let client = self.client.clone();
        let pattern = format!("{}*", self.prefix);
        cleanup_blocking(&format!("Redis keys {pattern}"), move || async move {
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            // SCAN, not KEYS: KEYS blocks the whole server while it walks every key.
            let keys: Vec<String> = {
                let mut iter = conn
                    .scan_match::<_, String>(&pattern)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut keys = Vec::new();
                while let Some(key) = iter.next_item().await {
                    keys.push(key.map_err(|e| e.to_string())?);
                }
                keys
            };
            if !keys.is_empty() {
                let _: () = conn.del(keys).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        });
    }
}
