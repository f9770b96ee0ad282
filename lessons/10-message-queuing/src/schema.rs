//! Message formats and how they evolve: the same `order.placed` event in versioned JSON and in
//! protobuf, read by code older and newer than the writer.
//!
//! A queue decouples the writer's deploys from the reader's, so for a while the two run
//! different versions of the event: an old reader meets new messages, a new reader meets old
//! messages still queued (or replayed from a log). Both have to work.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a JSON event could not be read.
#[derive(Debug, Error)]
pub enum SchemaError {
    #[error("the event is not the JSON this reader expects")]
    Json(#[from] serde_json::Error),
    /// A version from the future: the reader must be upgraded (or the message parked).
    #[error("unknown schema version {0}")]
    UnknownVersion(u16),
}

// ANCHOR: json
/// Version 1 of `order.placed`, as the first release wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlacedV1 {
    pub version: u16,
    pub order_id: String,
    pub total_cents: i64,
}

/// Version 2 adds the currency and the customer's email. Additive changes only: no field
/// renamed, none removed, none changed in meaning, so a version 1 reader still works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlacedV2 {
    pub version: u16,
    pub order_id: String,
    pub total_cents: i64,
    /// Absent in a v2 event written by an early v2 build: serde fills in the default.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub customer_email: Option<String>,
}

fn default_currency() -> String {
    "EUR".to_owned()
}

/// A version 1 reader that refuses what it does not know: the strictness that turns an
/// additive change into an outage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictV1 {
    pub version: u16,
    pub order_id: String,
    pub total_cents: i64,
}

/// Reads any version this code knows as version 2, upcasting version 1 (the shop sold in
/// euros only before v2 existed, so that is what a v1 event's currency was).
pub fn read_as_v2(bytes: &[u8]) -> Result<OrderPlacedV2, SchemaError> {
    #[derive(Deserialize)]
    struct Version {
        version: u16,
    }
    match serde_json::from_slice::<Version>(bytes)?.version {
        1 => {
            let v1: OrderPlacedV1 = serde_json::from_slice(bytes)?;
            Ok(OrderPlacedV2 {
                version: 2,
                order_id: v1.order_id,
                total_cents: v1.total_cents,
                currency: default_currency(),
                customer_email: None,
            })
        }
        2 => Ok(serde_json::from_slice(bytes)?),
        other => Err(SchemaError::UnknownVersion(other)),
    }
}
// ANCHOR_END: json

// ANCHOR: proto
// The protobuf messages, written by hand with prost's derive (no protoc needed). They are
// what this .proto would generate:
//
//   syntax = "proto3";
//   message OrderPlacedV1 {
//     string order_id    = 1;
//     int64  total_cents = 2;
//   }
//   message OrderPlacedV2 {          // the same message, a release later
//     string order_id       = 1;
//     int64  total_cents    = 2;
//     string currency       = 3;     // new
//     optional string customer_email = 4;  // new
//   }
//
// On the wire a field is its tag number and its value, never its name: renaming a field is
// free, reusing a tag for another meaning is the one unforgivable change.

/// The old reader's view.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderPlacedProtoV1 {
    #[prost(string, tag = "1")]
    pub order_id: String,
    #[prost(int64, tag = "2")]
    pub total_cents: i64,
}

/// The new writer's view.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrderPlacedProtoV2 {
    #[prost(string, tag = "1")]
    pub order_id: String,
    #[prost(int64, tag = "2")]
    pub total_cents: i64,
    #[prost(string, tag = "3")]
    pub currency: String,
    #[prost(string, optional, tag = "4")]
    pub customer_email: Option<String>,
}
// ANCHOR_END: proto

/// The example event of the step, in both formats.
pub fn example_v2() -> OrderPlacedV2 {
    OrderPlacedV2 {
        version: 2,
        order_id: "0193a4f2-7c1e-7b3a-9d2e-5f1c8a6b4e21".to_owned(),
        total_cents: 12_900,
        currency: "EUR".to_owned(),
        customer_email: Some("ada@example.com".to_owned()),
    }
}

pub fn to_proto(event: &OrderPlacedV2) -> OrderPlacedProtoV2 {
    OrderPlacedProtoV2 {
        order_id: event.order_id.clone(),
        total_cents: event.total_cents,
        currency: event.currency.clone(),
        customer_email: event.customer_email.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_v1_reader_reads_a_v2_event_and_ignores_the_new_fields() {
        let bytes = serde_json::to_vec(&example_v2()).unwrap();
        let v1: OrderPlacedV1 = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v1.total_cents, 12_900);
        assert!(serde_json::from_slice::<StrictV1>(&bytes).is_err());
    }

    #[test]
    fn a_v2_reader_upcasts_v1_and_fills_defaults() {
        let v1 = br#"{"version":1,"order_id":"o-1","total_cents":500}"#;
        let v2 = read_as_v2(v1).unwrap();
        assert_eq!((v2.version, v2.currency.as_str()), (2, "EUR"));
        assert_eq!(v2.customer_email, None);
        let early_v2 = br#"{"version":2,"order_id":"o-2","total_cents":700}"#;
        assert_eq!(read_as_v2(early_v2).unwrap().currency, "EUR");
    }

    #[test]
    fn a_version_from_the_future_is_an_error_not_a_guess() {
        let v9 = br#"{"version":9,"order_id":"o-1","total_cents":500}"#;
        assert!(matches!(
            read_as_v2(v9),
            Err(SchemaError::UnknownVersion(9))
        ));
        assert!(matches!(read_as_v2(b"not json"), Err(SchemaError::Json(_))));
    }

    #[test]
    fn old_protobuf_readers_skip_new_fields_and_new_readers_see_defaults() {
        let v2 = to_proto(&example_v2());
        let old = OrderPlacedProtoV1::decode(v2.encode_to_vec().as_slice()).unwrap();
        assert_eq!(old.order_id, v2.order_id);
        assert_eq!(old.total_cents, v2.total_cents);
        let v1 = OrderPlacedProtoV1 {
            order_id: "o-1".into(),
            total_cents: 5,
        };
        let new = OrderPlacedProtoV2::decode(v1.encode_to_vec().as_slice()).unwrap();
        assert_eq!(new.currency, "", "proto3's default for a missing string");
        assert_eq!(new.customer_email, None, "optional tells absent from empty");
    }

    #[test]
    fn protobuf_is_smaller_than_json_for_the_same_event() {
        let event = example_v2();
        let json = serde_json::to_vec(&event).unwrap().len();
        let proto = to_proto(&event).encode_to_vec().len();
        assert!(proto < json, "{proto} vs {json}");
    }
}
