//! Private queue and exchange names per test on a shared RabbitMQ.
//!
//! A broker is shared state: two tests declaring `orders` would steal each other's messages.
//! Each test names its queues and exchanges through [`AmqpScope::name`], which prefixes them and
//! remembers them, and dropping the scope deletes every one it handed out.

use std::sync::Mutex;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

use crate::discover::Service;
use crate::isolate::{cleanup_blocking, endpoint, unique_name};

pub struct AmqpScope {
    connection: Connection,
    url: String,
    prefix: String,
    // A std Mutex is right here: it is held for a push, never across an `.await`.
    names: Mutex<Vec<String>>,
}

impl AmqpScope {
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The broker URL, for code under test that opens its own connection.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `name("orders")` -> `testkit_<test>_<random>.orders`; deleted (as a queue and as an
    /// exchange, whichever it became) when the scope is dropped.
    pub fn name(&self, name: &str) -> String {
        let full = format!("{}.{name}", self.prefix);
        self.names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(full.clone());
        full
    }
}

/// Connects to RabbitMQ for the calling test, whose name must contain `needs_rabbitmq`.
pub async fn rabbitmq() -> AmqpScope {
    let endpoint = endpoint(Service::RabbitMq).await;
    let connection = match Connection::connect(&endpoint.url, ConnectionProperties::default()).await
    {
        Ok(connection) => connection,
        Err(e) => panic!("RabbitMQ at {endpoint} refused the connection: {e}"),
    };
    AmqpScope {
        connection,
        url: endpoint.url,
        prefix: unique_name(),
        names: Mutex::new(Vec::new()),
    }
}

impl Drop for AmqpScope {
    fn drop(&mut self) {
        let names = std::mem::take(
            &mut *self
                .names
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if names.is_empty() {
            return;
        }
        let url = self.url.clone();
        cleanup_blocking("RabbitMQ queues and exchanges", move || async move {
            let connection = Connection::connect(&url, ConnectionProperties::default())
                .await
                .map_err(|e| e.to_string())?;
            for name in names {
                // Deleting what does not exist closes the channel with 404, so each attempt
                // gets a fresh channel and its outcome is ignored: the name was one or the other.
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
            }
            connection
                .close(200, "testkit clean-up done".into())
                .await
                .map_err(|e| e.to_string())
        });
    }
}
