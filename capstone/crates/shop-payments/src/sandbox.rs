//! The sandbox provider: a small HTTP service that behaves like a card provider's test mode.
//!
//! What this module shows:
//! - the HTTP API a provider offers (`POST /v1/payment_intents` and friends), with the
//!   `Idempotency-Key` header that makes a retried POST safe: the same key and body answer the
//!   stored intent (with `Idempotent-Replayed: true`), the same key with another body is a 422;
//! - test cards that decide the outcome (see the crate's documentation for the table),
//!   including one that fails twice with a 503 so a client's retries are exercised;
//! - webhooks after every change, signed ([`crate::signature`]), sent from a background task;
//! - the service started in-process ([`Sandbox::start`], port 0) by the tests and the
//!   demonstration, and by the `payments-sandbox` binary, shutdown as a parameter.
//!
//! Errors are problem details ([`shop_http::Problem`]). Tests: `tests/payments.rs`,
//! `tests/webhooks.rs`.

mod store;
mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shop_domain::Money;
use shop_http::{FieldError, Problem, RunningServer, ServeError, Server};
use shop_resilience::RetryConfig;
use thiserror::Error;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::card::{CardNumber, CardNumberError};
use crate::provider::{Event, EventId, EventKind, IntentId, PaymentIntent};
use crate::signature::WebhookSecret;
use store::{Done, NewIntent, Store};
pub use store::{NETWORK_FAILURES, test_cards};
pub use webhooks::{Delivery, DeliveryOutcome};

/// The request header that names one attempt to create something.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// On an answer stored under an idempotency key and given again.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The problem types the sandbox answers with; a client matches on these, not on titles.
pub mod problem_type {
    pub const INVALID_REQUEST: &str = "tag:backend-rs,2026:payments/invalid-request";
    pub const VALIDATION: &str = "tag:backend-rs,2026:payments/validation";
    pub const KEY_REUSED: &str = "tag:backend-rs,2026:payments/idempotency-key-reused";
    pub const UNKNOWN_INTENT: &str = "tag:backend-rs,2026:payments/unknown-intent";
    pub const CONFLICT: &str = "tag:backend-rs,2026:payments/conflict";
    pub const NETWORK_FAILURE: &str = "tag:backend-rs,2026:payments/simulated-network-failure";
}

// ANCHOR: config
/// How the sandbox runs.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where to send webhook events; `None` sends none.
    pub webhook_url: Option<Url>,
    pub webhook_secret: WebhookSecret,
    /// Attempts per event, and the back-off between them (doubling from `base` up to `cap`).
    pub webhook_retry: RetryConfig,
    /// How long one delivery attempt may take.
    pub webhook_timeout: Duration,
}

impl SandboxConfig {
    /// On 127.0.0.1, any free port, no webhooks; five attempts per event, 100 ms to 2 s apart.
    pub fn new(webhook_secret: WebhookSecret) -> Self {
        SandboxConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            webhook_url: None,
            webhook_secret,
            webhook_retry: RetryConfig {
                max_attempts: NonZeroU32::new(5).expect("5 is not zero"),
                base: Duration::from_millis(100),
                cap: Duration::from_secs(2),
            },
            webhook_timeout: Duration::from_secs(5),
        }
    }
}
// ANCHOR_END: config

/// Why the sandbox did not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot build the webhook client")]
    WebhookClient(#[source] reqwest::Error),
}

/// What every handler shares.
#[derive(Debug)]
struct Shared {
    base_url: Url,
    // A std Mutex: the store is synchronous and no handler holds it across an `.await`.
    store: Mutex<Store>,
    /// `None` without a webhook URL: events are then dropped.
    outbox: Option<mpsc::Sender<Event>>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic inside the store leaves at worst one half-made intent, harmless in a sandbox.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the webhook announcing `changed`, if there was a change and there is a receiver.
    async fn announce(&self, changed: Option<PaymentIntent>) {
        let (Some(outbox), Some(intent)) = (&self.outbox, changed) else {
            return;
        };
        let event = Event {
            id: EventId::generate(),
            kind: EventKind::for_status(&intent.status),
            created: OffsetDateTime::now_utc().unix_timestamp(),
            data: intent,
        };
        if outbox.send(event).await.is_err() {
            tracing::debug!("the webhook sender has stopped; event dropped");
        }
    }
}

// ANCHOR: sandbox
/// The sandbox, bound and not yet serving.
#[derive(Debug)]
pub struct Sandbox {
    server: Server,
    shared: Arc<Shared>,
    sender: Option<(webhooks::Sender, mpsc::Receiver<Event>)>,
}

/// The sandbox serving on a background task.
#[derive(Debug)]
pub struct RunningSandbox {
    base_url: Url,
    shutdown: CancellationToken,
    server: RunningServer,
    sender: Option<JoinHandle<()>>,
    deliveries: watch::Receiver<Vec<Delivery>>,
}

impl Sandbox {
    /// Binds the listener and prepares the webhook sender.
    pub async fn bind(config: SandboxConfig) -> Result<Sandbox, StartError> {
        let server = Server::bind(config.listen).await?;
        let base_url = Url::parse(&format!("http://{}/", server.local_addr()))
            .expect("http://<socket address>/ is a URL");
        let (outbox, sender) = match config.webhook_url {
            None => (None, None),
            Some(url) => {
                let client = reqwest::Client::builder()
                    .build()
                    .map_err(StartError::WebhookClient)?;
                let sender = webhooks::Sender {
                    url,
                    secret: config.webhook_secret,
                    retry: config.webhook_retry,
                    timeout: config.webhook_timeout,
                    client,
                };
                let (outbox, queue) = mpsc::channel(webhooks::QUEUE);
                (Some(outbox), Some((sender, queue)))
            }
        };
        let shared = Arc::new(Shared {
            base_url,
            store: Mutex::new(Store::default()),
            outbox,
        });
        Ok(Sandbox {
            server,
            shared,
            sender,
        })
    }

    /// [`Sandbox::bind`] then [`Sandbox::spawn`], stopped by [`RunningSandbox::stop`].
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, StartError> {
        Ok(Sandbox::bind(config).await?.spawn(CancellationToken::new()))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// Serves until `shutdown` is cancelled; the webhook sender stops with it.
    pub fn spawn(self, shutdown: CancellationToken) -> RunningSandbox {
        let (published, deliveries) = watch::channel(Vec::new());
        let sender = self.sender.map(|(sender, queue)| {
            tokio::spawn(sender.run(queue, published, shutdown.child_token()))
        });
        let base_url = self.shared.base_url.clone();
        let server = self.server.spawn(router(self.shared), shutdown.clone());
        RunningSandbox {
            base_url,
            shutdown,
            server,
            sender,
            deliveries,
        }
    }
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT/`: give it to [`crate::HttpProvider::new`].
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// The webhook deliveries finished so far (delivered, or out of attempts), in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.borrow().clone()
    }

    /// Waits until at least `count` deliveries have finished (put a timeout around it), and
    /// returns them all; fewer if the sender stopped first.
    pub async fn wait_for_deliveries(&self, count: usize) -> Vec<Delivery> {
        let mut deliveries = self.deliveries.clone();
        match deliveries.wait_for(|list| list.len() >= count).await {
            Ok(list) => list.clone(),
            Err(_stopped) => self.deliveries(),
        }
    }

    /// Stops serving (requests in flight finish), then the webhook sender: events not yet
    /// delivered are dropped.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        let served = self.server.stopped().await;
        if let Some(sender) = self.sender
            && let Err(error) = sender.await
        {
            tracing::error!(%error, "the webhook sender panicked");
        }
        served
    }
}
// ANCHOR_END: sandbox

// ANCHOR: router
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/{id}", get(get_intent))
        .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/v1/payment_intents/{id}/refunds", post(create_refund))
        .route("/3ds/{id}", get(challenge))
        // The router's own 404 and 405 become problem documents too.
        .layer(middleware::from_fn(shop_http::problem_details))
        .with_state(shared)
}
// ANCHOR_END: router

/// Everything a request to the sandbox can fail with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum SandboxError {
    #[error("the Idempotency-Key header is required: 1 to 255 visible ASCII characters")]
    MissingKey,
    #[error("the body is not valid JSON of the expected shape (line {line}, column {column})")]
    InvalidBody { line: usize, column: usize },
    #[error("{0}")]
    InvalidCard(CardNumberError),
    #[error("{0}")]
    Invalid(String),
    #[error("this idempotency key was used before with a different request")]
    KeyReused,
    #[error("no such payment intent")]
    UnknownIntent,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("simulated network failure: attempt {attempt} of this key, of {NETWORK_FAILURES}")]
    NetworkFailure { attempt: u32 },
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        use problem_type as t;
        let detail = self.to_string();
        let problem = match self {
            SandboxError::MissingKey | SandboxError::InvalidBody { .. } => Problem::new(
                t::INVALID_REQUEST,
                "Invalid request",
                StatusCode::BAD_REQUEST,
            ),
            SandboxError::InvalidCard(_) => Problem::new(
                t::VALIDATION,
                "Invalid card number",
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .with_errors(vec![FieldError::body("card_number", detail.clone())]),
            SandboxError::Invalid(_) => Problem::new(
                t::VALIDATION,
                "Invalid request",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            SandboxError::KeyReused => Problem::new(
                t::KEY_REUSED,
                "Idempotency key reused",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            SandboxError::UnknownIntent => Problem::new(
                t::UNKNOWN_INTENT,
                "Unknown payment intent",
                StatusCode::NOT_FOUND,
            ),
            SandboxError::Conflict(_) => {
                Problem::new(t::CONFLICT, "Conflict", StatusCode::CONFLICT)
            }
            SandboxError::NetworkFailure { .. } => Problem::new(
                t::NETWORK_FAILURE,
                "Service unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        };
        problem.with_detail(detail).into_response()
    }
}

/// The key of a POST that creates something.
fn idempotency_key(headers: &HeaderMap) -> Result<String, SandboxError> {
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|value| value.to_str().ok())
        .ok_or(SandboxError::MissingKey)?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > 255 || !visible {
        return Err(SandboxError::MissingKey);
    }
    Ok(key.to_owned())
}

/// The body as `T`. By hand rather than axum's `Json`, whose rejections are plain text and
/// would quote the input: a card number sent in the wrong shape would come back in the error.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SandboxError> {
    serde_json::from_slice(body).map_err(|error| SandboxError::InvalidBody {
        line: error.line(),
        column: error.column(),
    })
}

/// An id from the path: one that cannot exist is simply not found.
fn intent_id(id: &str) -> Result<IntentId, SandboxError> {
    IntentId::parse(id).map_err(|_| SandboxError::UnknownIntent)
}

fn answer<T: serde::Serialize>(done: &Done<T>) -> Response {
    let mut response = Json(&done.value).into_response();
    if done.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIntentBody {
    amount: Money,
    // A string here, parsed below: a parse error then names the field without quoting it.
    card_number: String,
    reference: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    amount: Money,
}

// ANCHOR: create_intent
async fn create_intent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let key = idempotency_key(&headers)?;
    let body: CreateIntentBody = parse_body(&body)?;
    let card = CardNumber::parse(&body.card_number).map_err(SandboxError::InvalidCard)?;
    let request = NewIntent {
        amount: body.amount,
        card,
        reference: body.reference,
    };
    // The card's Display is its last four digits: safe to log, and enough to tell test cards
    // apart.
    let card = request.card.to_string();
    let done = shared.store().authorise(&key, request, &shared.base_url);
    let done = done.inspect_err(|error| {
        tracing::info!(card, %error, "payment intent refused");
    })?;
    let intent = &done.value;
    tracing::info!(
        intent = %intent.id,
        status = ?intent.status,
        amount = %intent.amount,
        card,
        replayed = done.replayed,
        "payment intent"
    );
    let response = answer(&done);
    shared.announce(done.changed).await;
    Ok(response)
}
// ANCHOR_END: create_intent

async fn get_intent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<PaymentIntent>, SandboxError> {
    let id = intent_id(&id)?;
    Ok(Json(shared.store().get(&id)?))
}

async fn confirm_intent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, SandboxError> {
    let id = intent_id(&id)?;
    let done = shared.store().confirm(&id)?;
    tracing::info!(intent = %id, status = ?done.value.status, "payment intent confirmed");
    let response = answer(&done);
    shared.announce(done.changed).await;
    Ok(response)
}

async fn create_refund(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let id = intent_id(&id)?;
    let key = idempotency_key(&headers)?;
    let body: RefundBody = parse_body(&body)?;
    let done = shared.store().refund(&id, &key, body.amount)?;
    tracing::info!(intent = %id, refund = %done.value.id, amount = %body.amount, "refund");
    let response = answer(&done);
    shared.announce(done.changed).await;
    Ok(response)
}

/// Where `redirect_url` points. A real provider shows the bank's challenge here; the sandbox
/// says how to pass it.
async fn challenge(Path(id): Path<String>) -> Result<String, SandboxError> {
    let id = intent_id(&id)?;
    Ok(format!(
        "3-D Secure challenge for {id} (sandbox): the customer passes it when the shop calls \
         POST /v1/payment_intents/{id}/confirm\n"
    ))
}
