//! The payment provider interface: what the shop's checkout asks of whoever takes the money.
//!
//! What this module shows:
//! - the provider as a trait ([`PaymentProvider`]) the checkout holds as `Arc<dyn
//!   PaymentProvider>`: the sandbox client ([`crate::HttpProvider`]) in development and tests,
//!   a real provider's client in production, a fake in a unit test;
//! - the outcomes a checkout must handle, in types: a payment succeeds, needs the customer to
//!   pass a 3-D Secure challenge first ([`IntentStatus::RequiresAction`]), or is declined for a
//!   reason; a decline is an answer (`Ok`), not an error;
//! - errors split by what the caller should do ([`ProviderError`]): `Unavailable` is worth
//!   another attempt with the same idempotency key, `Rejected` fails the same way every time;
//!   [`shop_resilience::Retryable`] says which is which;
//! - the webhook event the provider sends after each change ([`Event`]).

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shop_domain::Money;
use shop_resilience::Retryable;
use thiserror::Error;
use uuid::Uuid;

use crate::card::CardNumber;

/// An id is not of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a {kind} id: expected {prefix} and up to 64 lower-case letters and digits")]
pub struct ParseIdError {
    kind: &'static str,
    prefix: &'static str,
}

/// `prefix` and 1 to 64 of `[a-z0-9]`: a shape that is safe inside a URL path as it is.
fn check_id(text: &str, kind: &'static str, prefix: &'static str) -> Result<(), ParseIdError> {
    let rest = text.strip_prefix(prefix).unwrap_or_default();
    let ok = (1..=64).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some(()).ok_or(ParseIdError { kind, prefix })
}

macro_rules! provider_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, ParseIdError> {
                check_id(text, $kind, $prefix)?;
                Ok($name(text.to_owned()))
            }

            /// A new id; UUID v7, so ids sort by creation time.
            pub fn generate() -> Self {
                $name(format!("{}{}", $prefix, Uuid::now_v7().simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseIdError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                check_id(&text, $kind, $prefix)?;
                Ok($name(text))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

provider_id!(
    /// A payment intent's id at the provider, `pi_...`.
    IntentId,
    "payment intent",
    "pi_"
);
provider_id!(
    /// A refund's id at the provider, `re_...`.
    RefundId,
    "refund",
    "re_"
);
provider_id!(
    /// A webhook event's id, `evt_...`: the same on every delivery attempt of one event, so a
    /// receiver that stores the ids it processed handles a redelivery once.
    EventId,
    "event",
    "evt_"
);

// ANCHOR: types
/// A request to take `amount` from `card` for the order `reference`.
///
/// `idempotency_key` names this attempt to pay: the provider answers every request with the
/// same key with the same intent, so a request retried after a timeout cannot charge twice.
/// The checkout derives it from the order (one key per order and attempt), never at random per
/// HTTP call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthoriseRequest {
    pub idempotency_key: String,
    pub amount: Money,
    pub card: CardNumber,
    /// The shop's order id, so that a webhook can be matched to its order.
    pub reference: String,
}

/// One attempt to take a payment, as the provider sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: IntentId,
    #[serde(flatten)]
    pub status: IntentStatus,
    pub amount: Money,
    /// What has been refunded so far: zero, part (the intent still `Succeeded`), or all of
    /// `amount` (`Refunded`).
    pub amount_refunded: Money,
    pub reference: String,
}

/// Where a payment intent is. On the wire: `"status": "succeeded"`, and the variant's fields
/// beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntentStatus {
    /// The money is taken.
    Succeeded,
    /// The card's bank wants the customer to authenticate (3-D Secure): send them to
    /// `redirect_url`, then [`PaymentProvider::confirm`].
    RequiresAction { redirect_url: String },
    /// The bank said no; the customer may try another card.
    Declined { reason: DeclineReason },
    /// Every minor unit of the amount went back.
    Refunded,
}

/// Why the bank declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    CardDeclined,
    InsufficientFunds,
}

impl DeclineReason {
    /// The label value for metrics, `shop_payment_failures_total{reason="card_declined"}`:
    /// a closed set, so the series count stays small.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::CardDeclined => "card_declined",
            DeclineReason::InsufficientFunds => "insufficient_funds",
        }
    }
}

/// Money given back for a succeeded intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: RefundId,
    pub intent: IntentId,
    pub amount: Money,
}
// ANCHOR_END: types

// ANCHOR: provider_error
/// Why a provider call gave no answer about the payment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// Unreachable, too slow, or answering 5xx: the same request may succeed later, and with
    /// the same idempotency key it is safe to send again.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (invalid, conflicting, a key reused for another
    /// body): sending it again fails again.
    #[error("the payment provider refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the payment provider knows no such payment intent")]
    UnknownIntent,
}

impl Retryable for ProviderError {
    fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_))
    }
}
// ANCHOR_END: provider_error

// ANCHOR: provider
/// A payment provider. Every method is safe to call again after a failure: `authorise` and
/// `refund` through their idempotency keys, `confirm` and `get` by their nature.
#[async_trait]
pub trait PaymentProvider: Send + Sync + fmt::Debug {
    /// Creates (or, for a key seen before, returns) the payment intent for `request`.
    async fn authorise(&self, request: AuthoriseRequest) -> Result<PaymentIntent, ProviderError>;

    /// Completes the customer-action step of an intent that `RequiresAction`.
    async fn confirm(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError>;

    /// Gives `amount` (at most what is left of the captured amount) back.
    async fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        idempotency_key: String,
    ) -> Result<Refund, ProviderError>;

    /// The intent as the provider has it now.
    async fn get(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError>;
}
// ANCHOR_END: provider

// ANCHOR: event
/// A webhook event: `{"id": "evt_...", "type": "payment_intent.succeeded", "created": <unix
/// seconds>, "data": <the intent after the change>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub created: i64,
    pub data: PaymentIntent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "payment_intent.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment_intent.payment_failed")]
    PaymentFailed,
    #[serde(rename = "payment_intent.requires_action")]
    RequiresAction,
    #[serde(rename = "charge.refunded")]
    Refunded,
}
// ANCHOR_END: event

impl EventKind {
    /// The event a change to `status` announces.
    pub fn for_status(status: &IntentStatus) -> EventKind {
        match status {
            IntentStatus::Succeeded => EventKind::PaymentSucceeded,
            IntentStatus::RequiresAction { .. } => EventKind::RequiresAction,
            IntentStatus::Declined { .. } => EventKind::PaymentFailed,
            IntentStatus::Refunded => EventKind::Refunded,
        }
    }

    /// The `type` as it is on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentSucceeded => "payment_intent.succeeded",
            EventKind::PaymentFailed => "payment_intent.payment_failed",
            EventKind::RequiresAction => "payment_intent.requires_action",
            EventKind::Refunded => "charge.refunded",
        }
    }
}

#[cfg(test)]
mod tests {
    use shop_domain::Currency;

    use super::*;

    #[test]
    fn an_intent_reads_as_providers_write_it() {
        let intent = PaymentIntent {
            id: IntentId::parse("pi_0123abc").expect("a valid id"),
            status: IntentStatus::Declined {
                reason: DeclineReason::InsufficientFunds,
            },
            amount: Money::from_minor(1999, Currency::Eur),
            amount_refunded: Money::zero(Currency::Eur),
            reference: "order-7".into(),
        };
        let json = serde_json::to_value(&intent).expect("serialisable");
        assert_eq!(json["status"], "declined");
        assert_eq!(json["reason"], "insufficient_funds");
        assert_eq!(json["amount"]["amount_minor"], 1999);
        let back: PaymentIntent = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, intent);
    }

    #[test]
    fn ids_refuse_what_would_not_be_safe_in_a_path() {
        assert!(IntentId::parse("pi_abc123").is_ok());
        for bad in ["pi_", "re_abc", "pi_../x", "pi_ABC", "pi_a/b", ""] {
            assert!(IntentId::parse(bad).is_err(), "{bad:?} accepted");
        }
        let generated = IntentId::generate();
        assert_eq!(IntentId::parse(generated.as_str()), Ok(generated));
    }

    #[test]
    fn event_kinds_are_spelled_as_on_the_wire() {
        for kind in [
            EventKind::PaymentSucceeded,
            EventKind::PaymentFailed,
            EventKind::RequiresAction,
            EventKind::Refunded,
        ] {
            let json = serde_json::to_value(kind).expect("serialisable");
            assert_eq!(json, kind.as_str());
        }
    }
}
