//! Taking the shop's money: a payment provider interface, a local sandbox provider, and the
//! signed webhooks that tell the shop what happened.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`signature`] | `Payment-Signature`: HMAC-SHA256 over timestamp and body, a tolerance window, replay protection |
//! | [`provider`] | the [`PaymentProvider`] trait, payment intents, refunds, webhook events, errors |
//! | [`card`] | [`CardNumber`]: parsed (Luhn), shown only as its last four digits |
//! | [`sandbox`] | the sandbox provider, an HTTP service started in-process or as `payments-sandbox` |
//! | [`client`] | [`HttpProvider`]: the provider trait over the sandbox's HTTP API, retried safely |
//!
//! The shop's checkout authorises through `Arc<dyn PaymentProvider>` and learns the final
//! outcome from webhooks at `POST /webhooks/payments`, verified with [`signature::Verifier`].
//!
//! # Test cards
//!
//! As in real providers' test modes, the card number decides what happens (all pass the Luhn
//! check; any expiry date and CVC would do, so the sandbox asks for neither):
//!
//! | card number | outcome |
//! | --- | --- |
//! | `4111 1111 1111 1111` | succeeds |
//! | `4000 0000 0000 0002` | declined: `card_declined` |
//! | `4000 0000 0000 9995` | declined: `insufficient_funds` |
//! | `4000 0000 0000 3220` | `requires_action` (3-D Secure); confirming it succeeds |
//! | `4000 0000 0000 0119` | network failure: 503 for the first two attempts of an idempotency key, then succeeds |
//! | any other valid number | succeeds |
//!
//! The numbers are in [`sandbox::test_cards`].
//!
//! # The sandbox's API
//!
//! JSON bodies; amounts in minor units with their currency (`{"amount_minor": 1999,
//! "currency": "EUR"}`); errors as `application/problem+json`.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /v1/payment_intents` + `Idempotency-Key` `{"amount", "card_number", "reference"}` | the intent; the same key with another body is 422 |
//! | `GET /v1/payment_intents/{id}` | the intent |
//! | `POST /v1/payment_intents/{id}/confirm` | the intent, succeeded (after a `requires_action`) |
//! | `POST /v1/payment_intents/{id}/refunds` + `Idempotency-Key` `{"amount"}` | the refund; more than is left to refund is 422 |
//!
//! After each change it POSTs an event (`payment_intent.succeeded`,
//! `payment_intent.payment_failed`, `payment_intent.requires_action`, `charge.refunded`) to
//! its webhook URL, signed, from a background task, retrying with back-off.
//!
//! Run the tests with `cargo test -p shop-payments` (no external service: the sandbox runs
//! in-process), the sandbox with `cargo run -p shop-payments --bin payments-sandbox`.

pub mod card;
pub mod client;
pub mod provider;
pub mod sandbox;
pub mod signature;

pub use card::{CardNumber, CardNumberError};
pub use client::{HttpProvider, HttpProviderConfig, InvalidBaseUrl};
pub use provider::{
    AuthoriseRequest, DeclineReason, Event, EventId, EventKind, IntentId, IntentStatus,
    ParseIdError, PaymentIntent, PaymentProvider, ProviderError, Refund, RefundId,
};
pub use sandbox::{Delivery, DeliveryOutcome, RunningSandbox, Sandbox, SandboxConfig, StartError};
pub use signature::{ReplayGuard, SignatureError, Verified, Verifier, WeakSecret, WebhookSecret};
