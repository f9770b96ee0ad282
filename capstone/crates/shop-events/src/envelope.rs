use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One event, as written to the outbox and published to the broker (as JSON).
///
/// `kind` and `version` together name the payload's schema: a consumer matches on both and
/// treats a version it does not know as a poison message rather than guessing at its fields.
/// Adding an optional field keeps the version; removing or changing a field bumps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The event's own id (UUIDv7, so ids sort by creation time). Consumers deduplicate by it.
    pub id: Uuid,
    /// What happened, e.g. `order.placed`; also the routing key on the topic exchange.
    pub kind: String,
    /// The schema version of `payload`.
    pub version: u16,
    /// The aggregate the event is about, e.g. the order id.
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub payload: serde_json::Value,
}

impl Envelope {
    /// A new event with a fresh id, occurring now.
    ///
    /// # Errors
    /// When `payload` cannot be represented as JSON (a map with non-string keys, say).
    pub fn new(
        kind: impl Into<String>,
        version: u16,
        key: impl Into<String>,
        payload: &impl Serialize,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            version,
            key: key.into(),
            occurred_at: OffsetDateTime::now_utc(),
            payload: serde_json::to_value(payload)?,
        })
    }

    /// The payload as the type its consumer expects.
    ///
    /// # Errors
    /// When the payload does not have that type's shape.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, DecodeError> {
        serde_json::from_value(self.payload.clone()).map_err(DecodeError)
    }

    /// The bytes put on the wire.
    ///
    /// # Errors
    /// Never in practice (every field is plain JSON); the error is passed on, not unwrapped.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads an envelope from the wire.
    ///
    /// # Errors
    /// When the bytes are not an envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError)
    }
}

/// A message or a payload that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("the message does not decode: {0}")]
pub struct DecodeError(#[source] serde_json::Error);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Placed {
        order: u32,
    }

    #[test]
    fn round_trips_through_json_with_an_rfc3339_time() {
        let event = Envelope::new("order.placed", 1, "o-1", &Placed { order: 7 }).unwrap();
        let bytes = event.to_json().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""kind":"order.placed""#), "{text}");
        assert!(text.contains(r#""occurred_at":""#), "{text}");
        let back = Envelope::from_json(&bytes).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.payload_as::<Placed>().unwrap(), Placed { order: 7 });
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Envelope::from_json(b"not json").is_err());
        assert!(Envelope::from_json(br#"{"id":"x"}"#).is_err());
    }
}
