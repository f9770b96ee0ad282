//! Step 5: schema evolution in versioned JSON and in protobuf, with no service at all.

use narrate::demo::expect;
use narrate::{Table, heading, say, show};
use prost::Message;

use super::{Demo, StepError};
use crate::schema::{
    OrderPlacedProtoV1, OrderPlacedProtoV2, OrderPlacedV1, StrictV1, example_v2, read_as_v2,
    to_proto,
};

pub async fn schemas(_demo: &Demo) -> Result<(), StepError> {
    heading(5, "Schema evolution: versioned JSON and protobuf");
    let v2 = example_v2();
    let json = serde_json::to_vec(&v2)?;
    say("Version 2 of order.placed adds currency and customer_email. The writer is deployed");
    say("first, so old readers meet new events; queued and replayed events meet new readers.");
    show(format_args!("v2 JSON: {}", String::from_utf8_lossy(&json)));

    let tolerant: OrderPlacedV1 = serde_json::from_slice(&json)?;
    show(format_args!(
        "v1 reader (ignores unknown fields): order {}…, {} cents",
        &tolerant.order_id[..8],
        tolerant.total_cents
    ));
    let strict = serde_json::from_slice::<StrictV1>(&json);
    show(format_args!(
        "v1 reader with deny_unknown_fields: {}",
        match &strict {
            Ok(_) => "read it".to_owned(),
            Err(e) => narrate::truncate(&format!("refused: {e}"), 70),
        }
    ));
    let v1_json = br#"{"version":1,"order_id":"o-1","total_cents":500}"#;
    let upcast = read_as_v2(v1_json)?;
    show(format_args!(
        "v2 reader meeting v1 {}: upcast to currency {:?}, customer_email {:?}",
        String::from_utf8_lossy(v1_json),
        upcast.currency,
        upcast.customer_email
    ));
    let future = read_as_v2(br#"{"version":3,"order_id":"o-1","total_cents":500}"#);
    show(format_args!(
        "v2 reader meeting v3: {}",
        match &future {
            Ok(_) => "read it".to_owned(),
            Err(e) => format!("{e}: park it, do not guess"),
        }
    ));

    // ANCHOR: proto_compat
    let proto = to_proto(&v2).encode_to_vec();
    let old = OrderPlacedProtoV1::decode(proto.as_slice())?;
    let from_old = OrderPlacedProtoV2::decode(
        OrderPlacedProtoV1 {
            order_id: "o-1".into(),
            total_cents: 500,
        }
        .encode_to_vec()
        .as_slice(),
    )?;
    // ANCHOR_END: proto_compat
    show(format_args!(
        "protobuf v1 reader meeting v2 bytes: order {}…, {} cents (tags 3 and 4 skipped)",
        &old.order_id[..8],
        old.total_cents
    ));
    show(format_args!(
        "protobuf v2 reader meeting v1 bytes: currency {:?} (proto3's empty default), email {:?}",
        from_old.currency, from_old.customer_email
    ));

    let mut table = Table::new(["encoding of the same v2 event", "bytes>"]);
    let pretty = serde_json::to_vec_pretty(&v2)?;
    table
        .row(["JSON, pretty-printed".to_owned(), pretty.len().to_string()])
        .row(["JSON, compact".to_owned(), json.len().to_string()])
        .row(["protobuf".to_owned(), proto.len().to_string()]);
    print!("{table}");
    expect(
        tolerant.total_cents == v2.total_cents
            && strict.is_err()
            && upcast.currency == "EUR"
            && future.is_err()
            && old.total_cents == v2.total_cents
            && from_old.currency.is_empty()
            && proto.len() < json.len(),
        "tolerant readers in both formats, a refused future version, protobuf smaller",
        "a reader behaved otherwise".to_owned(),
    )?;
    say("Protobuf carries tag numbers instead of field names, and integers in as few bytes as");
    say("they need: smaller, but unreadable without the schema. In both formats the rule is the");
    say("same: add optional fields, never reuse or repurpose one, and let a reader with a default");
    say("fill in what an older writer did not send.");
    Ok(())
}
