//! Webhooks end to end: the sandbox signs and sends an event after each change, a tiny axum
//! receiver (what the shop's `POST /webhooks/payments` does, in a few lines) verifies it with
//! [`Verifier`], and a tampered copy or a replay is refused with 400 and changes nothing.
//! Deliveries that fail are retried with back-off, a bounded number of times.
//!
//! `cargo test -p shop-payments --test webhooks`

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use shop_domain::{Currency, Money};
use shop_http::{RunningServer, Server};
use shop_payments::sandbox::test_cards;
use shop_payments::signature::{self, ReplayGuard, Verifier, WebhookSecret};
use shop_payments::{
    AuthoriseRequest, CardNumber, DeliveryOutcome, Event, EventKind, HttpProvider,
    HttpProviderConfig, IntentStatus, PaymentProvider, RunningSandbox, Sandbox, SandboxConfig,
};
use shop_resilience::RetryConfig;
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use url::Url;

/// A request the receiver accepted, as it arrived.
#[derive(Debug, Clone)]
struct Received {
    header: String,
    body: Bytes,
    event: Event,
}

#[derive(Clone)]
struct Receiver {
    verifier: Arc<Verifier>,
    accepted: mpsc::UnboundedSender<Received>,
    /// Requests to answer 500 before verifying anything: a receiver that is down.
    fail_next: Arc<AtomicU32>,
}

// ANCHOR: receiver
async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let down = receiver
        .fail_next
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    if down.is_ok() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = headers
        .get(signature::HEADER)
        .and_then(|value| value.to_str().ok());
    // The raw bytes are verified before they are parsed: parsing first would trust them.
    match receiver
        .verifier
        .verify(header, &body, OffsetDateTime::now_utc())
    {
        Ok(_) => {}
        Err(error) if error.is_bad_request() => return StatusCode::BAD_REQUEST,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE,
    }
    let Ok(event) = serde_json::from_slice::<Event>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let header = header.unwrap_or_default().to_owned();
    let _ = receiver.accepted.send(Received {
        header,
        body,
        event,
    });
    StatusCode::NO_CONTENT
}
// ANCHOR_END: receiver

/// The receiver, the sandbox that sends to it, and a provider client for the sandbox.
struct World {
    receiver: RunningServer,
    url: Url,
    accepted: Mutex<mpsc::UnboundedReceiver<Received>>,
    fail_next: Arc<AtomicU32>,
    sandbox: RunningSandbox,
    provider: HttpProvider,
}

impl World {
    async fn start(max_attempts: u32) -> World {
        let secret = WebhookSecret::generate();
        let verifier = Verifier::new(
            secret.clone(),
            Duration::from_secs(300),
            ReplayGuard::default(),
        );
        let (accepted, inbox) = mpsc::unbounded_channel();
        let fail_next = Arc::new(AtomicU32::new(0));
        let state = Receiver {
            verifier: Arc::new(verifier),
            accepted,
            fail_next: Arc::clone(&fail_next),
        };
        let app = Router::new()
            .route("/webhooks/payments", post(receive))
            .with_state(state);
        let receiver = Server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("a free port")
            .spawn(app, CancellationToken::new());
        let url = Url::parse(&format!("{}/webhooks/payments", receiver.base_url())).expect("a URL");

        let config = SandboxConfig {
            webhook_url: Some(url.clone()),
            webhook_retry: RetryConfig {
                max_attempts: NonZeroU32::new(max_attempts).expect("at least one attempt"),
                base: Duration::from_millis(10),
                cap: Duration::from_millis(40),
            },
            ..SandboxConfig::new(secret)
        };
        let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
        let provider = HttpProvider::new(
            sandbox.base_url(),
            reqwest::Client::new(),
            HttpProviderConfig::default(),
        )
        .expect("an http URL");
        World {
            receiver,
            url,
            accepted: Mutex::new(inbox),
            fail_next,
            sandbox,
            provider,
        }
    }

    async fn pay(&self, card: &str, key: &str) -> shop_payments::PaymentIntent {
        self.provider
            .authorise(AuthoriseRequest {
                idempotency_key: key.to_owned(),
                amount: Money::from_minor(4_200, Currency::Eur),
                card: CardNumber::parse(card).expect("a test card"),
                reference: format!("order-{key}"),
            })
            .await
            .expect("an answer")
    }

    /// The next event the receiver accepted.
    async fn next(&self) -> Received {
        let mut inbox = self.accepted.lock().await;
        tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .expect("an event within 10 s")
            .expect("the receiver is running")
    }

    /// Sends `body` with `header` to the receiver, as an attacker would.
    async fn post(&self, header: &str, body: impl Into<reqwest::Body>) -> StatusCode {
        reqwest::Client::new()
            .post(self.url.clone())
            .header(signature::HEADER, header)
            .body(body)
            .send()
            .await
            .expect("the receiver answers")
            .status()
    }

    /// The first `count` finished deliveries, or a failure after 10 s.
    async fn deliveries(&self, count: usize) -> Vec<shop_payments::Delivery> {
        tokio::time::timeout(
            Duration::from_secs(10),
            self.sandbox.wait_for_deliveries(count),
        )
        .await
        .expect("deliveries finished within 10 s")
    }

    async fn stop(self) {
        self.sandbox.stop().await.expect("a clean stop");
        self.receiver.begin_shutdown();
        self.receiver.stopped().await.expect("a clean stop");
    }
}

#[tokio::test]
async fn an_event_arrives_signed_and_verifies() {
    let world = World::start(5).await;
    let intent = world.pay(test_cards::SUCCEEDS, "paid").await;
    let received = world.next().await;
    assert_eq!(received.event.kind, EventKind::PaymentSucceeded);
    assert_eq!(received.event.data, intent);
    assert!(received.event.id.as_str().starts_with("evt_"));
    let json: serde_json::Value = serde_json::from_slice(&received.body).expect("JSON");
    assert_eq!(json["type"], "payment_intent.succeeded");
    assert_eq!(json["data"]["id"], intent.id.as_str());
    assert!(json["created"].is_i64());

    let deliveries = world.deliveries(1).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event, received.event.id);
    assert_eq!(deliveries[0].attempts, 1);
    assert_eq!(
        deliveries[0].outcome,
        DeliveryOutcome::Delivered { status: 204 }
    );
    world.stop().await;
}

#[tokio::test]
async fn a_tampered_copy_and_a_replay_are_refused_and_change_nothing() {
    let world = World::start(5).await;
    world.pay(test_cards::SUCCEEDS, "genuine").await;
    let genuine = world.next().await;

    let tampered = String::from_utf8(genuine.body.to_vec())
        .expect("JSON is UTF-8")
        .replace("4200", "1");
    assert_ne!(tampered.as_bytes(), genuine.body.as_ref());
    assert_eq!(
        world.post(&genuine.header, tampered).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        world.post(&genuine.header, genuine.body.clone()).await,
        StatusCode::BAD_REQUEST,
        "a replay"
    );
    assert_eq!(
        world.post("t=1,v1=00", genuine.body.clone()).await,
        StatusCode::BAD_REQUEST
    );
    let forged = signature::sign(
        &WebhookSecret::generate(),
        OffsetDateTime::now_utc(),
        &genuine.body,
    );
    assert_eq!(
        world.post(&forged, genuine.body.clone()).await,
        StatusCode::BAD_REQUEST
    );

    // None of them was accepted: the next event the receiver takes is the next real one.
    world.pay(test_cards::DECLINED, "next").await;
    let next = world.next().await;
    assert_eq!(next.event.kind, EventKind::PaymentFailed);
    world.stop().await;
}

#[tokio::test]
async fn every_change_is_announced() {
    let world = World::start(5).await;
    let declined = world.pay(test_cards::INSUFFICIENT_FUNDS, "poor").await;
    let event = world.next().await.event;
    assert_eq!(
        (event.kind, event.data.status),
        (
            EventKind::PaymentFailed,
            IntentStatus::Declined {
                reason: shop_payments::DeclineReason::InsufficientFunds
            }
        )
    );
    assert_eq!(event.data.id, declined.id);

    let challenged = world.pay(test_cards::REQUIRES_ACTION, "3ds").await;
    assert_eq!(world.next().await.event.kind, EventKind::RequiresAction);
    world
        .provider
        .confirm(&challenged.id)
        .await
        .expect("confirmed");
    let confirmed = world.next().await.event;
    assert_eq!(confirmed.kind, EventKind::PaymentSucceeded);
    assert_eq!(confirmed.data.id, challenged.id);

    world
        .provider
        .refund(
            &challenged.id,
            Money::from_minor(4_200, Currency::Eur),
            "refund".into(),
        )
        .await
        .expect("refunded");
    let refunded = world.next().await.event;
    assert_eq!(refunded.kind, EventKind::Refunded);
    assert_eq!(refunded.data.status, IntentStatus::Refunded);

    // A replayed request changes nothing, so it announces nothing.
    world
        .provider
        .confirm(&challenged.id)
        .await
        .expect_err("a refunded intent cannot be confirmed");
    world.pay(test_cards::INSUFFICIENT_FUNDS, "poor").await;
    // Events go out in order, so if either had announced something, it would come first.
    let last = world.pay(test_cards::SUCCEEDS, "last").await;
    assert_eq!(world.next().await.event.data.id, last.id);
    let deliveries = world.deliveries(5).await;
    assert_eq!(deliveries.len(), 5);
    assert_eq!(deliveries[4].intent, last.id);
    world.stop().await;
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_when_it_is_back() {
    let world = World::start(5).await;
    world.fail_next.store(2, Ordering::Relaxed);
    let intent = world.pay(test_cards::SUCCEEDS, "retried").await;
    let received = world.next().await;
    assert_eq!(received.event.data.id, intent.id);
    let deliveries = world.deliveries(1).await;
    assert_eq!(deliveries[0].attempts, 3);
    assert!(matches!(
        deliveries[0].outcome,
        DeliveryOutcome::Delivered { .. }
    ));
    world.stop().await;
}

#[tokio::test]
async fn a_delivery_gives_up_after_its_attempts() {
    let world = World::start(3).await;
    world.fail_next.store(u32::MAX, Ordering::Relaxed);
    world.pay(test_cards::SUCCEEDS, "lost").await;
    let deliveries = world.deliveries(1).await;
    assert_eq!(deliveries[0].attempts, 3);
    assert_eq!(
        deliveries[0].outcome,
        DeliveryOutcome::Failed {
            last_error: "answered 500 Internal Server Error".into()
        }
    );
    world.stop().await;
}
