//! The inventory's own types, shared by the store, the service and the client: what the rest of
//! the shop sees instead of the generated protobuf messages.
//!
//! The protobuf messages are plain data (a SKU is any string, a quantity may be zero); these
//! types can only hold valid values, so the conversions from the wire ([`TryFrom`]) are where a
//! bad value is refused, once.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use shop_domain::Sku;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::proto;

/// A SKU's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub sku: Sku,
    /// Units in the warehouse, reserved ones included.
    pub on_hand: u32,
    /// Units held by reservations not yet committed, released or expired.
    pub reserved: u32,
    /// `on_hand - reserved`: what a new reservation can take.
    pub available: u32,
}

impl StockLevel {
    /// The level of `sku` from its two stored numbers; `available` is derived, never stored, so
    /// it cannot disagree with them.
    pub fn new(sku: Sku, on_hand: u32, reserved: u32) -> Self {
        StockLevel {
            sku,
            on_hand,
            reserved,
            available: on_hand.saturating_sub(reserved),
        }
    }
}

/// One line of a reservation: so many units of one SKU.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReserveLine {
    pub sku: Sku,
    pub quantity: NonZeroU32,
}

/// A reservation's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationId(pub Uuid);

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ReservationId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(ReservationId)
    }
}

/// Where a reservation is in its life: held, then exactly one of the other three for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    Held,
    Committed,
    Released,
    Expired,
}

impl ReservationStatus {
    /// The spelling of the `status` column (and of log lines).
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "held",
            ReservationStatus::Committed => "committed",
            ReservationStatus::Released => "released",
            ReservationStatus::Expired => "expired",
        }
    }

    /// The status a column holds; `None` for a value the CHECK constraint should have refused.
    pub fn from_db(value: &str) -> Option<Self> {
        [
            ReservationStatus::Held,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == value)
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reservation and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub status: ReservationStatus,
    /// Sorted by SKU.
    pub lines: Vec<ReserveLine>,
    /// When a held reservation expires (and when an expired one did).
    pub expires_at: OffsetDateTime,
}

// ---- to and from the wire --------------------------------------------------------------------

/// A message from the other side that these types cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct Malformed(pub String);

impl From<&StockLevel> for proto::StockLevel {
    fn from(level: &StockLevel) -> Self {
        proto::StockLevel {
            sku: level.sku.to_string(),
            on_hand: level.on_hand,
            reserved: level.reserved,
            available: level.available,
        }
    }
}

impl TryFrom<proto::StockLevel> for StockLevel {
    type Error = Malformed;

    fn try_from(level: proto::StockLevel) -> Result<Self, Self::Error> {
        // `available` is recomputed rather than trusted: it is a function of the other two.
        Ok(StockLevel::new(
            parse_sku(&level.sku)?,
            level.on_hand,
            level.reserved,
        ))
    }
}

impl From<&ReserveLine> for proto::Line {
    fn from(line: &ReserveLine) -> Self {
        proto::Line {
            sku: line.sku.to_string(),
            quantity: line.quantity.get(),
        }
    }
}

impl TryFrom<proto::Line> for ReserveLine {
    type Error = Malformed;

    fn try_from(line: proto::Line) -> Result<Self, Self::Error> {
        let quantity = NonZeroU32::new(line.quantity)
            .ok_or_else(|| Malformed(format!("line {}: quantity must be at least 1", line.sku)))?;
        Ok(ReserveLine {
            sku: parse_sku(&line.sku)?,
            quantity,
        })
    }
}

impl From<ReservationStatus> for proto::ReservationStatus {
    fn from(status: ReservationStatus) -> Self {
        match status {
            ReservationStatus::Held => proto::ReservationStatus::Held,
            ReservationStatus::Committed => proto::ReservationStatus::Committed,
            ReservationStatus::Released => proto::ReservationStatus::Released,
            ReservationStatus::Expired => proto::ReservationStatus::Expired,
        }
    }
}

impl From<&Reservation> for proto::Reservation {
    fn from(reservation: &Reservation) -> Self {
        let millis = reservation.expires_at.unix_timestamp_nanos() / 1_000_000;
        proto::Reservation {
            reservation_id: reservation.id.to_string(),
            status: proto::ReservationStatus::from(reservation.status).into(),
            lines: reservation.lines.iter().map(proto::Line::from).collect(),
            // Milliseconds since 1970 fit an i64 for the next 292 million years.
            expires_at_unix_ms: i64::try_from(millis).unwrap_or(i64::MAX),
        }
    }
}

impl TryFrom<proto::Reservation> for Reservation {
    type Error = Malformed;

    fn try_from(reservation: proto::Reservation) -> Result<Self, Self::Error> {
        let id = reservation.reservation_id.parse().map_err(|_| {
            Malformed(format!(
                "reservation id {:?} is not a UUID",
                reservation.reservation_id
            ))
        })?;
        let status = match proto::ReservationStatus::try_from(reservation.status) {
            Ok(proto::ReservationStatus::Held) => ReservationStatus::Held,
            Ok(proto::ReservationStatus::Committed) => ReservationStatus::Committed,
            Ok(proto::ReservationStatus::Released) => ReservationStatus::Released,
            Ok(proto::ReservationStatus::Expired) => ReservationStatus::Expired,
            Ok(proto::ReservationStatus::Unspecified) | Err(_) => {
                return Err(Malformed(format!(
                    "reservation status {} is not one of held, committed, released, expired",
                    reservation.status
                )));
            }
        };
        let lines = reservation
            .lines
            .into_iter()
            .map(ReserveLine::try_from)
            .collect::<Result<_, _>>()?;
        let nanos = i128::from(reservation.expires_at_unix_ms) * 1_000_000;
        let expires_at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| {
            Malformed(format!(
                "expiry {} ms is out of range",
                reservation.expires_at_unix_ms
            ))
        })?;
        Ok(Reservation {
            id,
            status,
            lines,
            expires_at,
        })
    }
}

fn parse_sku(sku: &str) -> Result<Sku, Malformed> {
    Sku::parse(sku).map_err(|error| Malformed(format!("SKU {sku:?}: {error}")))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn reservation() -> Reservation {
        Reservation {
            id: ReservationId(Uuid::from_u128(7)),
            status: ReservationStatus::Held,
            lines: vec![ReserveLine {
                sku: Sku::parse("MUG-RED-01").expect("a valid SKU"),
                quantity: NonZeroU32::new(2).expect("not zero"),
            }],
            expires_at: datetime!(2026-12-03 12:00:00.123 UTC),
        }
    }

    #[test]
    fn a_reservation_survives_the_wire() {
        let wire = proto::Reservation::from(&reservation());
        assert_eq!(wire.expires_at_unix_ms, 1_796_299_200_123);
        assert_eq!(Reservation::try_from(wire), Ok(reservation()));
    }

    #[test]
    fn a_bad_reply_is_refused_not_guessed() {
        let mut wire = proto::Reservation::from(&reservation());
        wire.status = 0;
        assert!(Reservation::try_from(wire).is_err());
        let mut wire = proto::Reservation::from(&reservation());
        wire.lines[0].quantity = 0;
        assert!(Reservation::try_from(wire).is_err());
        let mut wire = proto::Reservation::from(&reservation());
        wire.reservation_id = "rsv-1".into();
        assert!(Reservation::try_from(wire).is_err());
    }

    #[test]
    fn statuses_round_trip_through_their_column_spelling() {
        for status in [
            ReservationStatus::Held,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ] {
            assert_eq!(ReservationStatus::from_db(status.as_str()), Some(status));
        }
        assert_eq!(ReservationStatus::from_db("HELD"), None);
    }
}
