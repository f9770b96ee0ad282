//! The relay: outbox rows to the broker, at least once, in commit order.
//!
//! Each pass claims the oldest unsent rows with `FOR UPDATE SKIP LOCKED` (a second relay
//! skips them and takes the next ones instead of waiting), publishes each as a persistent,
//! `mandatory` message with the event id as `message_id`, waits for the broker's confirms, and
//! marks sent only the rows the broker acknowledged, in the same transaction that claimed them.
//!
//! What can go wrong, and what happens:
//! - broker unreachable, nack, or unroutable (returned): the row stays unsent with `attempts`
//!   incremented and `last_error` set, and the next pass tries it again;
//! - the relay dies after the broker's ack but before its commit: the claim rolls back and the
//!   row is published again later. Consumers deduplicate by event id, which makes that harmless.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::Envelope;

/// Tuning for [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows claimed and published per pass.
    pub batch: i64,
    /// Pause between passes when the outbox is drained.
    pub poll_interval: Duration,
    /// Longest pause after a failed pass (the pause doubles from `poll_interval` up to this).
    pub max_backoff: Duration,
    /// How long a connection attempt may take before it counts as a failure.
    pub connect_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 100,
            poll_interval: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a pass did not publish everything it claimed. The text never contains the broker URL
/// (it may hold a password), so it is safe for logs and for the outbox's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker unavailable: {0}")]
    Broker(String),
    #[error("{failed} of {claimed} events were not confirmed by the broker (first: {first})")]
    Unconfirmed {
        failed: usize,
        claimed: usize,
        first: String,
    },
}

/// Publishes the outbox to one topic exchange.
pub struct Relay {
    pool: PgPool,
    amqp_url: String,
    exchange: String,
    config: RelayConfig,
    link: Option<(Connection, Channel)>,
}

type Row = (Uuid, String, i32, String, serde_json::Value, OffsetDateTime);

impl Relay {
    /// A relay that connects lazily, on its first pass.
    pub fn new(
        pool: PgPool,
        amqp_url: impl Into<String>,
        exchange: impl Into<String>,
        config: RelayConfig,
    ) -> Self {
        Self {
            pool,
            amqp_url: amqp_url.into(),
            exchange: exchange.into(),
            config,
            link: None,
        }
    }

    /// One pass: claims up to `batch` unsent rows, publishes them, records the outcome.
    /// Returns how many were confirmed and marked sent.
    ///
    /// # Errors
    /// [`RelayError::Broker`] when no connection could be made (every claimed row then has
    /// one more attempt and the reason), [`RelayError::Unconfirmed`] when some rows were not
    /// confirmed (the others were marked sent), [`RelayError::Database`] from PostgreSQL.
    pub async fn run_once(&mut self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, kind, version, key, payload, occurred_at FROM outbox_events
             WHERE sent_at IS NULL ORDER BY created_seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let claimed = rows.len();

        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(reason) => {
                let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
                record_failure(&mut tx, &ids, &reason).await?;
                tx.commit().await?;
                return Err(RelayError::Broker(reason));
            }
        };

        // Publish the whole batch, then collect the confirms: the broker confirms in order on
        // one channel, so this costs one round trip per batch rather than one per event.
        let mut pending = Vec::with_capacity(claimed);
        for (id, kind, version, key, payload, occurred_at) in rows {
            let envelope = Envelope {
                id,
                kind,
                version: u16::try_from(version).unwrap_or(u16::MAX),
                key,
                occurred_at,
                payload,
            };
            let published = match envelope.to_json() {
                Ok(body) => channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        envelope.kind.as_str().into(),
                        BasicPublishOptions {
                            mandatory: true,
                            immediate: false,
                        },
                        &body,
                        properties(&envelope),
                    )
                    .await
                    .map_err(|e| describe(&e, &self.amqp_url)),
                Err(e) => Err(format!("the event does not serialize: {e}")),
            };
            pending.push((id, published));
        }

        let mut sent = Vec::with_capacity(claimed);
        let mut failed: Vec<(Uuid, String)> = Vec::new();
        for (id, published) in pending {
            let outcome = match published {
                Ok(confirm) => match confirm.await {
                    Ok(Confirmation::Ack(None)) => Ok(()),
                    Ok(Confirmation::Ack(Some(_))) => Err(format!(
                        "returned by the broker: no queue is bound to exchange {}",
                        self.exchange
                    )),
                    Ok(Confirmation::Nack(_)) => Err("rejected (nack) by the broker".to_owned()),
                    Ok(Confirmation::NotRequested) => {
                        Err("publisher confirms are off on this channel".to_owned())
                    }
                    Err(e) => Err(describe(&e, &self.amqp_url)),
                },
                Err(reason) => Err(reason),
            };
            match outcome {
                Ok(()) => sent.push(id),
                Err(reason) => failed.push((id, reason)),
            }
        }

        sqlx::query(
            "UPDATE outbox_events SET sent_at = now(), attempts = attempts + 1, last_error = NULL
             WHERE id = ANY($1)",
        )
        .bind(&sent)
        .execute(&mut *tx)
        .await?;
        for (id, reason) in &failed {
            record_failure(&mut tx, std::slice::from_ref(id), reason).await?;
        }
        tx.commit().await?;

        if let Some((_, first)) = failed.first() {
            // Something on the link went wrong: start the next pass on a fresh connection.
            self.disconnect().await;
            return Err(RelayError::Unconfirmed {
                failed: failed.len(),
                claimed,
                first: first.clone(),
            });
        }
        Ok(sent.len())
    }

    /// Passes until `shutdown` is cancelled: at once while there is a full batch's backlog,
    /// every `poll_interval` when drained, backing off (doubling, up to `max_backoff`) while
    /// the broker or the database fails.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = self.config.poll_interval;
        loop {
            let pause = match self.run_once().await {
                Ok(n) => {
                    backoff = self.config.poll_interval;
                    if n > 0 {
                        tracing::debug!(published = n, "outbox relay pass");
                    }
                    if i64::try_from(n).unwrap_or(i64::MAX) >= self.config.batch {
                        Duration::ZERO
                    } else {
                        self.config.poll_interval
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay pass failed");
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        self.disconnect().await;
    }

    async fn channel(&mut self) -> Result<Channel, String> {
        if let Some((connection, channel)) = &self.link
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.disconnect().await;
        let connect = Connection::connect(&self.amqp_url, ConnectionProperties::default());
        let connection = match tokio::time::timeout(self.config.connect_timeout, connect).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(describe(&e, &self.amqp_url)),
            Err(_) => return Err("connecting to the broker timed out".to_owned()),
        };
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| describe(&e, &self.amqp_url))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| describe(&e, &self.amqp_url))?;
        crate::topology::declare_exchange(&channel, &self.exchange)
            .await
            .map_err(|e| describe(&e, &self.amqp_url))?;
        self.link = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn disconnect(&mut self) {
        if let Some((connection, _)) = self.link.take() {
            let _ = connection.close(200, "relay reconnecting".into()).await;
        }
    }
}

/// Whether `url` is an AMQP URL lapin can connect with, for a configuration check that
/// says so before the first pass (without quoting the URL, which may hold a password).
pub fn check_url(url: &str) -> bool {
    url.parse::<lapin::uri::AMQPUri>().is_ok()
}

/// An error as text fit for logs and `last_error`: an I/O error by its kind only, and
/// nothing that repeats the URL (which may hold a password).
pub(crate) fn describe(error: &lapin::Error, amqp_url: &str) -> String {
    let text = match error.kind() {
        lapin::ErrorKind::IOError(io) => format!("i/o error: {}", io.kind()),
        _ => error.to_string(),
    };
    if text.contains(amqp_url) {
        "the broker connection failed (details withheld: they contain the URL)".to_owned()
    } else {
        text
    }
}

async fn record_failure(
    tx: &mut sqlx::PgConnection,
    ids: &[Uuid],
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(reason)
    .execute(tx)
    .await?;
    Ok(())
}

fn properties(envelope: &Envelope) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "x-event-version".into(),
        AMQPValue::LongInt(i32::from(envelope.version)),
    );
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(envelope.id.to_string().into())
        .with_type(envelope.kind.as_str().into())
        .with_headers(headers)
}
