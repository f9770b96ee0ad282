//! W3C trace context across services: one request, one trace.
//!
//! What this module shows (chapter 07):
//! - A `traceparent` header (`00-<trace id>-<parent span id>-<flags>`) carries the caller's
//!   position in a trace; the callee makes its server span a child of it, and every call it
//!   makes in turn carries *its* span as the new parent. `tracestate` rides along.
//! - The spans are `tracing` spans; `tracing-opentelemetry` gives each an OpenTelemetry
//!   identity, which is what these functions read and write. [`crate::setup`] always installs
//!   that layer, so ids exist and propagate even when nothing is exported.
//! - The same two functions serve HTTP and gRPC: gRPC metadata travels as HTTP/2 headers, and
//!   tonic hands its metadata over as an [`http::HeaderMap`].
//!
//! Run its tests with `cargo test -p shop-telemetry propagation`.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{method_label, route_label};

/// Reads header values for the propagator.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes header values for the propagator.
struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes only its own well-formed names and values; anything else
        // is skipped rather than sent malformed.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

// ANCHOR: extract_inject
/// The remote context the caller sent in `traceparent`/`tracestate`, or an empty context when
/// it sent none or a malformed one (the propagator validates: wrong length, upper-case hex,
/// all-zero ids and version `ff` are all refused, and a new trace starts).
pub fn extract(headers: &HeaderMap) -> Context {
    // The SDK's parser accepts ids shorter than the standard's 32 and 16 digits (it reads
    // them as numbers), so the header's shape is checked here first.
    let shaped = headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .is_some_and(well_formed);
    if !shaped {
        return Context::new();
    }
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// The shape W3C Trace Context gives a `traceparent`: `vv-<32 hex>-<16 hex>-ff`, lower-case
/// hex, version `ff` forbidden; version `00` ends there, a later version may carry more
/// after another `-`.
fn well_formed(value: &str) -> bool {
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let value = value.trim();
    let (Some(version), Some(rest)) = (value.get(..2), value.get(2..)) else {
        return false;
    };
    if !hex(version, 2) || version == "ff" {
        return false;
    }
    let fields = rest.get(..53).unwrap_or("");
    let mut parts = fields.split('-').skip(1);
    let shaped = fields.starts_with('-')
        && parts.next().is_some_and(|p| hex(p, 32))
        && parts.next().is_some_and(|p| hex(p, 16))
        && parts.next().is_some_and(|p| hex(p, 2))
        && parts.next().is_none();
    let tail = &rest[fields.len()..];
    shaped && (tail.is_empty() || (version != "00" && tail.starts_with('-')))
}

/// Writes `cx`'s span as the parent of an outgoing call. Writes nothing for a context without
/// a valid span.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeadersMut(headers));
}

/// Writes the current `tracing` span as the parent of an outgoing call.
pub fn inject_current(headers: &mut HeaderMap) {
    inject(&Span::current().context(), headers);
}
// ANCHOR_END: extract_inject

/// The headers to add to an outgoing request so the callee joins the current trace, e.g.
/// `client.get(url).headers(propagation::outgoing())`.
pub fn outgoing() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    headers
}

// ANCHOR: server_span
/// The span of one request a server answers, as a child of the caller's span when the
/// request carries a valid `traceparent`. Its OpenTelemetry name is `"{METHOD} {route}"`
/// (the template, so traces group by endpoint); `user_id` and the response status are filled
/// in later with `Span::record`. Use it with tower-http's
/// `TraceLayer::new_for_http().make_span_with(server_span)`.
///
/// Its target is `shop_telemetry::propagation`, so a service's log filter must let
/// `shop_telemetry=info` through: a filtered-out span is not created at all, and the request
/// then has no trace and its log lines no `request_id`.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = method_label(request.method());
    let route = route_label(request);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = request.uri().path(),
        request_id,
        user_id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    adopt_remote_parent(&span, request.headers());
    span
}
// ANCHOR_END: server_span

/// What the request span records once the response head is ready: the status (the trace
/// shows it, and every later log line of the request carries it) and one INFO line with the
/// status and the latency. The other half of [`server_span`], for tower-http's
/// `TraceLayer::on_response(record_response)`.
pub fn record_response<B>(response: &http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    tracing::info!(
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "answered"
    );
}

/// Makes `span` a child of the trace the caller sent, if it sent a valid one.
pub fn adopt_remote_parent(span: &Span, headers: &HeaderMap) {
    let parent = extract(headers);
    if parent.span().span_context().is_valid() {
        // Fails only if the span is already closed or has no OpenTelemetry layer under it
        // (telemetry not set up, as in some unit tests): then there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

/// The trace id of `span` as 32 hex digits, when it has one (that is, when the OpenTelemetry
/// layer is installed).
pub fn trace_id(span: &Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(INCOMING));
        headers.insert("tracestate", HeaderValue::from_static("shop=1"));
        let cx = extract(&headers);
        let span = cx.span().span_context().clone();
        assert!(span.is_remote());
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );

        let mut out = HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(out["traceparent"], INCOMING);
        assert_eq!(out["tracestate"], "shop=1");
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
            "garbage",
            "",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("traceparent", HeaderValue::from_static(bad));
            let cx = extract(&headers);
            assert!(!cx.span().span_context().is_valid(), "accepted {bad}");
            let mut out = HeaderMap::new();
            inject(&cx, &mut out);
            assert!(out.is_empty(), "propagated {bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static(
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next",
            ),
        );
        assert!(extract(&headers).span().span_context().is_valid());
    }

    #[test]
    fn an_outgoing_call_names_our_span_as_its_parent() {
        let ours = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(ours);
        let mut out = HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(
            out["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
        );
    }
}
