//! The order events: what the shop tells the rest of the world about an order, and the one
//! place their kinds and versions are written.
//!
//! Two shapes cover an order's life:
//! - [`OrderPlaced`] (`order.placed`), written in the checkout's transaction with the order: who
//!   bought what at which price, so a consumer needs no query to describe the order;
//! - [`StatusChanged`] (`order.paid`, `order.shipped`, `order.refunded`, … one kind per status
//!   reached), written in the transaction of shop-db's `OrderRepo::transition`, the one
//!   function every status change goes through.
//!
//! Events carry ids, not personal data: the notification worker reads the customer's address
//! when it sends, so an address changed in between is the one used, and an event stream kept
//! for months holds no email addresses to erase.

use serde::{Deserialize, Serialize};
use shop_domain::order::{OrderAction, OrderStatus};
use shop_domain::{Money, OrderId, Sku, UserId};

use crate::{DecodeError, Envelope};

/// The kind of [`OrderPlaced`].
pub const PLACED: &str = "order.placed";
/// The schema version of both payloads. A field added as optional keeps it; a field removed or
/// changed in meaning bumps it, and consumers treat a version they do not know as poison.
pub const VERSION: u16 = 1;
/// The binding key that selects every order event on the topic exchange.
pub const ALL: &str = "order.#";

/// A cart became an order, awaiting payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order: OrderId,
    pub customer: UserId,
    pub total: Money,
    pub lines: Vec<PlacedLine>,
}

/// One line of a placed order, at the price it was bought at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedLine {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Money,
}

/// An order moved through its state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub order: OrderId,
    pub customer: UserId,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub action: OrderAction,
    /// The staff member who made the change; `None` for the shop itself (a webhook) or the
    /// customer cancelling their own order.
    pub actor: Option<UserId>,
    /// The transition's number in the order's history (1 for the first change).
    pub seq: i32,
}

/// The kind of a [`StatusChanged`] that reached `status`: `order.paid`, `order.refunded`.
pub fn status_kind(status: OrderStatus) -> String {
    format!("order.{}", status.as_str())
}

// ANCHOR: events
impl OrderPlaced {
    /// This event in its envelope, keyed by the order.
    ///
    /// # Errors
    /// When the payload cannot be represented as JSON (it always can: the error is passed on
    /// rather than unwrapped).
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        Envelope::new(PLACED, VERSION, self.order.to_string(), self)
    }
}

impl StatusChanged {
    /// This event in its envelope, keyed by the order: its kind names the status reached.
    ///
    /// # Errors
    /// As [`OrderPlaced::envelope`].
    pub fn envelope(&self) -> Result<Envelope, serde_json::Error> {
        Envelope::new(status_kind(self.to), VERSION, self.order.to_string(), self)
    }
}

/// An order event as a consumer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    Placed(OrderPlaced),
    StatusChanged(StatusChanged),
}

/// Why an envelope is not an order event this code understands. Never worth a retry: the same
/// bytes will not decode any better later, so a consumer dead-letters them.
#[derive(Debug, thiserror::Error)]
pub enum UnknownEvent {
    #[error("{kind} is not an order event")]
    Kind { kind: String },
    #[error("{kind} version {version} is not known here (this code reads version {VERSION})")]
    Version { kind: String, version: u16 },
    #[error("{kind}: {source}")]
    Payload {
        kind: String,
        #[source]
        source: DecodeError,
    },
    #[error("{kind} says it reached {to}, which its kind does not name")]
    Mismatch { kind: String, to: &'static str },
}

impl OrderEvent {
    /// Reads an envelope as an order event, checking kind, version and payload.
    ///
    /// # Errors
    /// [`UnknownEvent`] for another kind, an unknown version, a payload without the fields of
    /// its kind, or a status change whose payload contradicts its kind.
    pub fn decode(envelope: &Envelope) -> Result<OrderEvent, UnknownEvent> {
        let kind = envelope.kind.clone();
        if !kind.starts_with("order.") {
            return Err(UnknownEvent::Kind { kind });
        }
        if envelope.version != VERSION {
            let version = envelope.version;
            return Err(UnknownEvent::Version { kind, version });
        }
        let payload_error = |source| UnknownEvent::Payload {
            kind: envelope.kind.clone(),
            source,
        };
        if kind == PLACED {
            return envelope
                .payload_as()
                .map(OrderEvent::Placed)
                .map_err(payload_error);
        }
        let changed: StatusChanged = envelope.payload_as().map_err(payload_error)?;
        if status_kind(changed.to) != kind {
            let to = changed.to.as_str();
            return Err(UnknownEvent::Mismatch { kind, to });
        }
        Ok(OrderEvent::StatusChanged(changed))
    }

    /// The order the event is about.
    pub fn order(&self) -> OrderId {
        match self {
            OrderEvent::Placed(placed) => placed.order,
            OrderEvent::StatusChanged(changed) => changed.order,
        }
    }

    /// The customer whose order it is.
    pub fn customer(&self) -> UserId {
        match self {
            OrderEvent::Placed(placed) => placed.customer,
            OrderEvent::StatusChanged(changed) => changed.customer,
        }
    }
}
// ANCHOR_END: events

#[cfg(test)]
mod tests {
    use shop_domain::Currency;

    use super::*;

    fn placed() -> OrderPlaced {
        let eur = |minor| Money::from_minor(minor, Currency::Eur);
        OrderPlaced {
            order: OrderId::generate(),
            customer: UserId::generate(),
            total: eur(2_500),
            lines: vec![PlacedLine {
                sku: Sku::parse("MUG-001").unwrap(),
                quantity: 2,
                unit_price: eur(1_250),
            }],
        }
    }

    fn refunded() -> StatusChanged {
        StatusChanged {
            order: OrderId::generate(),
            customer: UserId::generate(),
            from: OrderStatus::Paid,
            to: OrderStatus::Refunded,
            action: OrderAction::Refund,
            actor: None,
            seq: 2,
        }
    }

    #[test]
    fn each_event_round_trips_through_its_envelope() {
        let placed = placed();
        let envelope = placed.envelope().unwrap();
        assert_eq!((envelope.kind.as_str(), envelope.version), (PLACED, 1));
        assert_eq!(envelope.key, placed.order.to_string());
        let wire = Envelope::from_json(&envelope.to_json().unwrap()).unwrap();
        assert_eq!(
            OrderEvent::decode(&wire).unwrap(),
            OrderEvent::Placed(placed)
        );

        let refunded = refunded();
        let envelope = refunded.envelope().unwrap();
        assert_eq!(envelope.kind, "order.refunded");
        let event = OrderEvent::decode(&envelope).unwrap();
        assert_eq!(event.order(), refunded.order);
        assert_eq!(event.customer(), refunded.customer);
        assert_eq!(event, OrderEvent::StatusChanged(refunded));
    }

    #[test]
    fn what_this_code_does_not_understand_is_refused_with_the_reason() {
        let mut other = placed().envelope().unwrap();
        other.kind = "user.registered".to_owned();
        assert!(matches!(
            OrderEvent::decode(&other),
            Err(UnknownEvent::Kind { .. })
        ));

        let mut newer = placed().envelope().unwrap();
        newer.version = 2;
        let error = OrderEvent::decode(&newer).unwrap_err();
        assert!(
            matches!(error, UnknownEvent::Version { version: 2, .. }),
            "{error}"
        );

        let mut hollow = placed().envelope().unwrap();
        hollow.payload = serde_json::json!({"order": "not an id"});
        assert!(matches!(
            OrderEvent::decode(&hollow),
            Err(UnknownEvent::Payload { .. })
        ));

        // A status change under the wrong kind: a bug in the producer, not a fact to act on.
        let mut lying = refunded().envelope().unwrap();
        lying.kind = "order.shipped".to_owned();
        let error = OrderEvent::decode(&lying).unwrap_err();
        assert!(matches!(error, UnknownEvent::Mismatch { .. }), "{error}");
    }
}
