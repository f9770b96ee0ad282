//! `testkit::otlp::Receiver` driven with hand-built OTLP/HTTP requests, as an exporter sends
//! them: protobuf `ExportTraceServiceRequest` bodies posted to `/v1/traces`.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use prost::Message;
use testkit::otlp::{Receiver, SpanKind, SpanStatus, render_tree};

const TRACE: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const CEILING: Duration = Duration::from_secs(10);

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn span(name: &str, id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: parent.map_or_else(Vec::new, |p| vec![0, 0, 0, 0, 0, 0, 0, p]),
        name: name.to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + end_ms * 1_000_000,
        ..Span::default()
    }
}

/// One export from `service` carrying `spans`.
fn export(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

async fn post(receiver: &Receiver, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(receiver.endpoint())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the receiver answers on loopback")
}

#[tokio::test]
async fn an_export_is_acknowledged_and_its_spans_kept() {
    let receiver = Receiver::start().await.unwrap();
    assert!(
        receiver.endpoint().starts_with("http://127.0.0.1:")
            && receiver.endpoint().ends_with("/v1/traces"),
        "{}",
        receiver.endpoint()
    );

    let mut server = span("GET /products/{id}", 1, None, 0, 12);
    server.attributes = vec![
        text("http.route", "/products/{id}"),
        KeyValue {
            key: "http.response.status_code".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(500)),
            }),
            ..KeyValue::default()
        },
    ];
    server.status = Some(Status {
        message: "database unavailable".to_owned(),
        code: status::StatusCode::Error as i32,
    });
    let response = post(
        &receiver,
        "application/x-protobuf",
        export("shop-api", vec![server]).encode_to_vec(),
    )
    .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let body = response.bytes().await.unwrap();
    assert_eq!(
        ExportTraceServiceResponse::decode(body).unwrap(),
        ExportTraceServiceResponse::default(),
        "a full success is an empty response"
    );

    let spans = receiver.wait_for_spans(1, CEILING).await.unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.service, "shop-api");
    assert_eq!(span.name, "GET /products/{id}");
    assert_eq!(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.span_id, "0000000000000001");
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.duration_ms(), 12.0);
    assert_eq!(span.attribute("http.route"), Some("/products/{id}"));
    assert_eq!(span.attribute("http.response.status_code"), Some("500"));
    assert_eq!(
        span.status,
        SpanStatus::Error("database unavailable".to_owned())
    );
}

#[tokio::test]
async fn spans_from_two_services_form_one_tree() {
    let receiver = Receiver::start().await.unwrap();
    // The inventory service exports first: its batch left earlier.
    let inventory = export(
        "inventory",
        vec![span("GET /stock/{sku}", 3, Some(2), 4, 9)],
    );
    let shop = export(
        "shop-api",
        vec![
            span("POST /orders", 1, None, 0, 15),
            span("reserve stock", 2, Some(1), 3, 10),
        ],
    );
    for request in [inventory, shop] {
        let response = post(&receiver, "application/x-protobuf", request.encode_to_vec()).await;
        assert_eq!(response.status(), 200);
    }
    let spans = receiver.wait_for_spans(3, CEILING).await.unwrap();
    assert_eq!(
        render_tree(&spans),
        "trace 4bf92f3577b34da6a3ce929d0e0e4736\n\
         POST /orders  [shop-api]  15.0 ms\n\
         \x20 reserve stock  [shop-api]  7.0 ms\n\
         \x20   GET /stock/{sku}  [inventory]  5.0 ms\n"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_export_request_is_a_400_and_keeps_nothing() {
    let receiver = Receiver::start().await.unwrap();
    // Field 1 claims a 100-byte message and the body ends after three.
    let response = post(
        &receiver,
        "application/x-protobuf",
        vec![0x0a, 100, 1, 2, 3],
    )
    .await;
    assert_eq!(response.status(), 400);
    let why = response.text().await.unwrap();
    assert!(why.contains("ExportTraceServiceRequest"), "{why}");
    assert!(receiver.spans().is_empty());
}

#[tokio::test]
async fn json_or_compressed_bodies_are_refused_as_unsupported() {
    let receiver = Receiver::start().await.unwrap();
    let body = export("shop-api", vec![span("x", 1, None, 0, 1)]).encode_to_vec();

    let json = post(&receiver, "application/json", b"{}".to_vec()).await;
    assert_eq!(json.status(), 415);

    let gzip = reqwest::Client::new()
        .post(receiver.endpoint())
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.status(), 415);
    assert!(receiver.spans().is_empty());
}

#[tokio::test]
async fn waiting_for_spans_that_never_come_says_what_did() {
    let receiver = Receiver::start().await.unwrap();
    let one = export("shop-api", vec![span("GET /health", 9, None, 0, 2)]);
    post(&receiver, "application/x-protobuf", one.encode_to_vec()).await;
    let err = receiver
        .wait_for_spans(2, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.received.len(), 1);
    let message = err.to_string();
    assert!(message.contains("expected at least 2 span(s)"), "{message}");
    assert!(message.contains("GET /health  [shop-api]"), "{message}");
}
