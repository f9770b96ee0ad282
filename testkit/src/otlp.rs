//! An OTLP/HTTP trace receiver for tests and demonstrations: the other end of an
//! OpenTelemetry exporter, so a test can check which spans a service really exported.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! let receiver = testkit::otlp::Receiver::start().await?;
//! // Point the service's exporter at receiver.endpoint() (http://127.0.0.1:<port>/v1/traces),
//! // make it do some work, then:
//! let spans = receiver.wait_for_spans(2, Duration::from_secs(10)).await?;
//! println!("{}", testkit::otlp::render_tree(&spans));
//! # Ok(())
//! # }
//! ```
//!
//! It speaks the protocol of the telemetry contract (lesson 07): `POST /v1/traces` with a
//! protobuf `ExportTraceServiceRequest` body (content type `application/x-protobuf`),
//! answered with an empty `ExportTraceServiceResponse`. A body that does not decode is a 400,
//! another content type (OTLP's JSON flavour) or a compressed body is a 415, so an exporter
//! configured differently fails loudly instead of losing spans. Every span received is kept,
//! as a plain owned [`ReceivedSpan`], until the [`Receiver`] is dropped, which stops the
//! server. Nothing here needs a service, so no `needs_` marker is involved.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status};
use prost::Message;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The path OTLP/HTTP exporters post traces to.
pub const TRACES_PATH: &str = "/v1/traces";
const PROTOBUF: &str = "application/x-protobuf";

/// One span as received, with everything a test asserts on as plain strings and numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSpan {
    /// The resource attribute `service.name` of the process that exported it ("" if unset).
    pub service: String,
    /// For an HTTP server span, "{METHOD} {route}" (the telemetry contract).
    pub name: String,
    /// 32 lowercase hex digits, as in a W3C `traceparent` header.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id; `None` for a trace's root span.
    pub parent_span_id: Option<String>,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// The span's attributes, values rendered as text (`42`, `true`, `[a, b]`).
    pub attributes: Vec<(String, String)>,
    pub status: SpanStatus,
}

impl ReceivedSpan {
    /// The value of attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// How long the span lasted, in milliseconds (0 if its clock ran backwards).
    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e6
    }
}

/// The role of a span in a request's path (OTLP's `SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn from_otlp(kind: i32) -> Self {
        match kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// A span's outcome (OTLP's `Status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    /// Failed, with the description the instrumentation gave (may be empty).
    Error(String),
}

/// A running receiver. Dropping it stops the server and forgets the spans.
pub struct Receiver {
    endpoint: String,
    spans: watch::Receiver<Vec<ReceivedSpan>>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (sender, spans) = watch::channel(Vec::new());
        let app = Router::new()
            .route(TRACES_PATH, post(export))
            .with_state(Arc::new(sender));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("testkit: the OTLP receiver stopped: {e}");
            }
        });
        Ok(Receiver {
            endpoint: format!("http://{address}{TRACES_PATH}"),
            spans,
            server,
        })
    }

    /// The full URL to export traces to: `http://127.0.0.1:<port>/v1/traces`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every span received so far, in the order they arrived.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.borrow().clone()
    }

    /// Waits until at least `count` spans have arrived and returns all of them. Exporters
    /// send in batches, after a delay, so a test waits for what it expects rather than
    /// sleeping; `ceiling` bounds the wait when they never come.
    pub async fn wait_for_spans(
        &self,
        count: usize,
        ceiling: Duration,
    ) -> Result<Vec<ReceivedSpan>, NotEnoughSpans> {
        let mut spans = self.spans.clone();
        let arrived = tokio::time::timeout(ceiling, spans.wait_for(|spans| spans.len() >= count))
            .await
            .map(|outcome| outcome.map(|spans| spans.clone()));
        match arrived {
            Ok(Ok(spans)) => Ok(spans),
            // The sender lives in the server task, which only ends with the receiver.
            _ => Err(NotEnoughSpans {
                wanted: count,
                waited: ceiling,
                received: self.spans(),
            }),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// [`Receiver::wait_for_spans`] gave up: what came, as a tree, to see what is missing.
#[derive(Debug)]
pub struct NotEnoughSpans {
    pub wanted: usize,
    pub waited: Duration,
    pub received: Vec<ReceivedSpan>,
}

impl fmt::Display for NotEnoughSpans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected at least {} span(s) within {:?}, received {}",
            self.wanted,
            self.waited,
            self.received.len()
        )?;
        if !self.received.is_empty() {
            write!(f, ":\n{}", render_tree(&self.received))?;
        }
        Ok(())
    }
}

impl std::error::Error for NotEnoughSpans {}

/// `POST /v1/traces`.
async fn export(
    State(sink): State<Arc<watch::Sender<Vec<ReceivedSpan>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with(PROTOBUF) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("this receiver takes {PROTOBUF} bodies, not {content_type:?}"),
        );
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING)
        && encoding.as_bytes() != b"identity"
    {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("this receiver takes uncompressed bodies, not {encoding:?}"),
        );
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("the body is not an OTLP ExportTraceServiceRequest: {e}"),
            );
        }
    };
    let spans = received_spans(request);
    sink.send_modify(|all| all.extend(spans));
    (
        [(header::CONTENT_TYPE, PROTOBUF)],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn refuse(status: StatusCode, why: String) -> Response {
    (status, why).into_response()
}

/// Flattens a request (resources, then instrumentation scopes, then spans) into spans that
/// each carry their service's name.
fn received_spans(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| {
                resource
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
            })
            .map(|kv| text_of(kv.value.as_ref()))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            spans.extend(
                scope_spans
                    .spans
                    .into_iter()
                    .map(|span| received(&service, span)),
            );
        }
    }
    spans
}

fn received(service: &str, span: Span) -> ReceivedSpan {
    let status = match span.status {
        Some(s) if s.code == status::StatusCode::Error as i32 => SpanStatus::Error(s.message),
        Some(s) if s.code == status::StatusCode::Ok as i32 => SpanStatus::Ok,
        _ => SpanStatus::Unset,
    };
    ReceivedSpan {
        service: service.to_owned(),
        name: span.name,
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex(&span.parent_span_id)),
        kind: SpanKind::from_otlp(span.kind),
        start_unix_nanos: span.start_time_unix_nano,
        end_unix_nanos: span.end_time_unix_nano,
        attributes: span.attributes.iter().map(key_and_text).collect(),
        status,
    }
}

fn key_and_text(kv: &KeyValue) -> (String, String) {
    (kv.key.clone(), text_of(kv.value.as_ref()))
}

/// An attribute value as text: strings as they are, numbers and booleans as Rust prints
/// them, bytes in hex, lists and maps bracketed.
fn text_of(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => hex(bytes),
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(|v| text_of(Some(v))).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| format!("{}: {}", kv.key, text_of(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        // An index into a profiles' string table: meaningless for traces.
        Some(any_value::Value::StringValueStrindex(_)) => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The spans as a tree per trace: each span under its parent, indented two spaces per level,
/// with its service and duration; siblings in the order they started.
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736
/// GET /orders/{id}  [shop-api]  12.0 ms
///   SELECT orders  [shop-api]  3.5 ms
///   GET /stock/{sku}  [inventory]  6.2 ms
/// ```
///
/// A span whose parent was not received (it belongs to a caller that exports elsewhere, or
/// its batch has not arrived) is shown at the top, saying so.
pub fn render_tree(spans: &[ReceivedSpan]) -> String {
    // Traces in the order their first span started; a stable order for equal times.
    let mut traces: Vec<(&str, Vec<&ReceivedSpan>)> = Vec::new();
    for span in spans {
        match traces.iter_mut().find(|(id, _)| *id == span.trace_id) {
            Some((_, members)) => members.push(span),
            None => traces.push((&span.trace_id, vec![span])),
        }
    }
    let earliest = |members: &Vec<&ReceivedSpan>| {
        members
            .iter()
            .map(|s| s.start_unix_nanos)
            .min()
            .unwrap_or(0)
    };
    traces.sort_by_key(|(_, members)| earliest(members));

    let mut out = String::new();
    for (trace_id, mut members) in traces {
        members.sort_by_key(|s| s.start_unix_nanos);
        let _ = writeln!(out, "trace {trace_id}");
        let ids: HashSet<&str> = members.iter().map(|s| s.span_id.as_str()).collect();
        let mut children: HashMap<&str, Vec<&ReceivedSpan>> = HashMap::new();
        let mut roots = Vec::new();
        for span in &members {
            match span.parent_span_id.as_deref() {
                Some(parent) if ids.contains(parent) => {
                    children.entry(parent).or_default().push(span)
                }
                _ => roots.push(*span),
            }
        }
        let mut shown = HashSet::new();
        for root in roots {
            write_subtree(&mut out, root, 0, &children, &mut shown);
        }
        // Spans whose parents form a cycle have no root to hang from; show them anyway.
        for span in members {
            if !shown.contains(span.span_id.as_str()) {
                write_subtree(&mut out, span, 0, &children, &mut shown);
            }
        }
    }
    out
}

fn write_subtree<'a>(
    out: &mut String,
    span: &'a ReceivedSpan,
    depth: usize,
    children: &HashMap<&str, Vec<&'a ReceivedSpan>>,
    shown: &mut HashSet<&'a str>,
) {
    if !shown.insert(span.span_id.as_str()) {
        return;
    }
    let service = if span.service.is_empty() {
        "no service.name"
    } else {
        &span.service
    };
    let _ = write!(
        out,
        "{:indent$}{}  [{service}]  {:.1} ms",
        "",
        span.name,
        span.duration_ms(),
        indent = depth * 2
    );
    if depth == 0
        && let Some(parent) = &span.parent_span_id
    {
        let _ = write!(out, "  (parent {parent} not received)");
    }
    out.push('\n');
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        write_subtree(out, child, depth + 1, children, shown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        name: &str,
        id: &str,
        parent: Option<&str>,
        start_ms: u64,
        end_ms: u64,
    ) -> ReceivedSpan {
        ReceivedSpan {
            service: "shop-api".to_owned(),
            name: name.to_owned(),
            trace_id: "0af7651916cd43dd8448eb211c80319c".to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.map(str::to_owned),
            kind: SpanKind::Internal,
            start_unix_nanos: start_ms * 1_000_000,
            end_unix_nanos: end_ms * 1_000_000,
            attributes: Vec::new(),
            status: SpanStatus::Unset,
        }
    }

    #[test]
    fn children_are_indented_under_their_parent_in_start_order() {
        let mut stock = span("GET /stock/{sku}", "c", Some("a"), 14, 20);
        stock.service = "inventory".to_owned();
        // Received out of order, as batches from two services would be.
        let spans = vec![
            span("SELECT stock", "d", Some("c"), 15, 19),
            stock,
            span("GET /orders/{id}", "a", None, 10, 22),
            span("SELECT orders", "b", Some("a"), 11, 13),
        ];
        assert_eq!(
            render_tree(&spans),
            "trace 0af7651916cd43dd8448eb211c80319c\n\
             GET /orders/{id}  [shop-api]  12.0 ms\n\
             \x20 SELECT orders  [shop-api]  2.0 ms\n\
             \x20 GET /stock/{sku}  [inventory]  6.0 ms\n\
             \x20   SELECT stock  [shop-api]  4.0 ms\n"
        );
    }

    #[test]
    fn a_span_whose_parent_is_missing_is_shown_and_said_to_be() {
        let spans = vec![span("handle", "b", Some("ffff"), 0, 1)];
        assert_eq!(
            render_tree(&spans),
            "trace 0af7651916cd43dd8448eb211c80319c\n\
             handle  [shop-api]  1.0 ms  (parent ffff not received)\n"
        );
    }

    #[test]
    fn each_trace_gets_its_own_tree_and_cycles_do_not_loop() {
        let mut other = span("second", "x", None, 50, 51);
        other.trace_id = "1".repeat(32);
        let spans = vec![
            other,
            span("first", "a", None, 5, 6),
            // A broken exporter: two spans each claiming the other as parent.
            span("p", "p", Some("q"), 7, 8),
            span("q", "q", Some("p"), 7, 8),
        ];
        let tree = render_tree(&spans);
        let first = tree.find("trace 0af7").unwrap();
        let second = tree.find(&format!("trace {}", "1".repeat(32))).unwrap();
        assert!(first < second, "traces in start order:\n{tree}");
        assert_eq!(tree.matches("  [shop-api]").count(), 4, "{tree}");
    }

    #[test]
    fn attribute_values_render_as_text() {
        let any = |value| AnyValue { value: Some(value) };
        assert_eq!(text_of(Some(&any(any_value::Value::IntValue(404)))), "404");
        assert_eq!(
            text_of(Some(&any(any_value::Value::BoolValue(true)))),
            "true"
        );
        assert_eq!(
            text_of(Some(&any(any_value::Value::BytesValue(vec![0, 171])))),
            "00ab"
        );
        let list =
            any_value::Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: vec![
                    any(any_value::Value::StringValue("a".to_owned())),
                    any(any_value::Value::DoubleValue(0.5)),
                ],
            });
        assert_eq!(text_of(Some(&any(list))), "[a, 0.5]");
        assert_eq!(text_of(None), "");
    }
}
