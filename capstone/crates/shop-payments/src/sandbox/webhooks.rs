//! Sending webhooks: after a change, the event goes into a queue, and one background task
//! delivers it, signed, retrying an answer other than 2xx with back-off a bounded number of
//! times.
//!
//! Never inside the request: the client that changed the intent gets its answer whether or not
//! the shop's webhook endpoint is up, and a slow receiver slows only this task. One task, one
//! event at a time, so a receiver sees events in the order they happened (unless one ran out
//! of attempts); real providers promise no order, and a receiver must not rely on it.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use shop_resilience::{RetryConfig, backoff_ceiling};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::provider::{Event, EventId, EventKind, IntentId};
use crate::signature::{self, WebhookSecret};

/// Events waiting to be sent: enough for any burst a test or a demonstration makes; past it
/// a request waits for room (back-pressure) rather than the queue growing without end.
pub(crate) const QUEUE: usize = 1024;

/// One event's delivery, once it is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event: EventId,
    pub kind: EventKind,
    pub intent: IntentId,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    pub outcome: DeliveryOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Every attempt failed; the last one's reason.
    Failed { last_error: String },
}

/// Where and how events are sent.
#[derive(Debug)]
pub(crate) struct Sender {
    pub url: Url,
    pub secret: WebhookSecret,
    pub retry: RetryConfig,
    pub timeout: Duration,
    pub client: reqwest::Client,
}

impl Sender {
    /// Delivers events from `queue` until it closes or `stop` is cancelled, publishing each
    /// finished delivery to `deliveries`.
    pub async fn run(
        self,
        mut queue: mpsc::Receiver<Event>,
        deliveries: watch::Sender<Vec<Delivery>>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                event = queue.recv() => match event {
                    Some(event) => event,
                    None => break,
                },
                () = stop.cancelled() => break,
            };
            let delivery = tokio::select! {
                delivery = self.deliver(&event) => delivery,
                () = stop.cancelled() => break,
            };
            match &delivery.outcome {
                DeliveryOutcome::Delivered { .. } => tracing::info!(
                    event = %delivery.event,
                    kind = delivery.kind.as_str(),
                    attempts = delivery.attempts,
                    "webhook delivered"
                ),
                DeliveryOutcome::Failed { last_error } => tracing::warn!(
                    event = %delivery.event,
                    kind = delivery.kind.as_str(),
                    attempts = delivery.attempts,
                    last_error,
                    "webhook not delivered: out of attempts"
                ),
            }
            deliveries.send_modify(|list| list.push(delivery));
        }
    }

    // ANCHOR: deliver
    async fn deliver(&self, event: &Event) -> Delivery {
        let finished = |attempts, outcome| Delivery {
            event: event.id.clone(),
            kind: event.kind,
            intent: event.data.id.clone(),
            attempts,
            outcome,
        };
        // Serialised once: every attempt sends the same bytes (the receiver may use the body's
        // hash), with a fresh timestamp and signature, as real providers do.
        let body = match serde_json::to_vec(event) {
            Ok(body) => Bytes::from(body),
            Err(error) => {
                let last_error = format!("cannot serialise the event: {error}");
                return finished(0, DeliveryOutcome::Failed { last_error });
            }
        };
        let attempts = self.retry.max_attempts.get();
        let mut last_error = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                // No jitter: one sender with one queue cannot stampede the receiver.
                tokio::time::sleep(backoff_ceiling(&self.retry, attempt - 1)).await;
            }
            let header = signature::sign(&self.secret, OffsetDateTime::now_utc(), &body);
            let sent = self
                .client
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(signature::HEADER, header)
                .body(body.clone())
                .timeout(self.timeout)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    let status = response.status().as_u16();
                    return finished(attempt + 1, DeliveryOutcome::Delivered { status });
                }
                Ok(response) => last_error = format!("answered {}", response.status()),
                Err(error) => last_error = error.to_string(),
            }
            tracing::debug!(event = %event.id, attempt = attempt + 1, last_error, "webhook attempt failed");
        }
        finished(attempts, DeliveryOutcome::Failed { last_error })
    }
    // ANCHOR_END: deliver
}
