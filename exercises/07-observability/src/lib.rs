//! Exercise 07, logging and observability: `traceparent` parsed and propagated, a RED metrics
//! middleware with its Prometheus exposition, and a log layer that keeps secrets out.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-07`
//! passes; run one part at a time with `cargo test -p exercise-07 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 07, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 07 a` (or `b`, `c`) shows that part's hints one level at a time.
//!
//! Three parts, independent of each other:
//! - (a) [`TraceParent::parse`], its `Display` and [`propagate`]: the W3C `traceparent`
//!   header read strictly, written back, and carried from an incoming request to the calls
//!   it makes, or a new trace started when it is missing or invalid.
//! - (b) [`Histogram::observe`], [`RedLayer`]/[`RedService`] and [`RedMetrics::render`]: a
//!   tower middleware counting requests by method, route and status, timing them into a
//!   histogram and keeping a gauge of requests in flight, and the text Prometheus scrapes.
//! - (c) [`is_secret_name`], [`redact_text`] and [`RedactingJsonLayer`]: a `tracing` layer
//!   writing one JSON object per event, with the fields of its spans, and nothing that must
//!   not be logged.
//!
//! The given code (the types, the shared metrics, the test writer) is in `src/given.rs`: read
//! it, it is part of the brief. Here, besides the `todo!()`s, the structs' fields are a
//! starting point: add private helpers and change private fields as you like; the tests use
//! only the public API. The crates at hand: `http` (`HeaderMap`, `Request`, `Response`),
//! `tower` (`Layer`, `Service`), `pin-project-lite`, `tokio` (`tokio::time::Instant`),
//! `tracing`, `tracing-subscriber` and `serde_json`.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (types, helpers, the test writer): one file, shared with the reference
// solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;

// ---------------------------------------------------------------------------------------------
// Part (a): traceparent
// ---------------------------------------------------------------------------------------------

// ANCHOR: traceparent
impl TraceParent {
    /// Parses a `traceparent` header value (W3C Trace Context, level 1), strictly:
    ///
    /// - The shape is `vv-tttttttttttttttttttttttttttttttt-pppppppppppppppp-ff`: a version of 2
    ///   hex digits, a trace id of 32, a parent id of 16 and flags of 2, separated by single
    ///   dashes. Hex digits are lower case only (`0-9`, `a-f`); anything else is
    ///   `Malformed`, and so is any other length or separator.
    /// - Version `00` is exactly 55 characters.
    /// - Version `ff` is `InvalidVersion`.
    /// - A higher version (`01` to `fe`) may have more after those 55 characters, which this
    ///   parser does not know and skips, but only after a dash: the 56th character, if there
    ///   is one, must be `-`. Its first four fields are read as above.
    /// - A trace id or parent id of all zeros is `ZeroTraceId` or `ZeroParentId`.
    ///
    /// A value with more than one fault may be refused for any of them. Never panics,
    /// whatever the input.
    pub fn parse(value: &str) -> Result<TraceParent, TraceParentError> {
        todo!("exercise 07, part a, TraceParent::parse: see book chapter 07, section 'Exercise'")
    }
}

/// The header value: the four fields in lower-case hex, two digits per byte, separated by
/// dashes. For a parsed version-00 header, exactly the text it was parsed from.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!(
            "exercise 07, part a, Display for TraceParent: see book chapter 07, section 'Exercise'"
        )
    }
}

/// The trace headers of a call this service makes while handling a request that came with
/// `incoming`, from the span with the id `span_id`.
///
/// - If `incoming` has exactly one `traceparent` and it parses (any version), the call
///   continues that trace: version `00`, the same trace id, `span_id` as the parent, the same
///   flags. Every `tracestate` header of `incoming` goes along unchanged, in order.
/// - Otherwise (none, several, not text, or not valid) a new trace starts: version `00`, a
///   trace id from `ids`, `span_id` as the parent, flags [`SAMPLED`]. `tracestate` belongs
///   to the trace it came with, so none is sent.
///
/// The answer holds only those headers, for the caller to add to its request.
pub fn propagate(incoming: &HeaderMap, span_id: [u8; 8], ids: &dyn IdSource) -> HeaderMap {
    todo!("exercise 07, part a, propagate: see book chapter 07, section 'Exercise'")
}
// ANCHOR_END: traceparent

// ---------------------------------------------------------------------------------------------
// Part (b): RED metrics
// ---------------------------------------------------------------------------------------------

// ANCHOR: observe
impl Histogram {
    /// Counts `value` in its bucket: the first whose bound is at least `value` (a value equal
    /// to a bound is in that bound's bucket: `le` means "less than or equal"), or the last
    /// entry of `counts` when it is above every bound. Adds it to `sum`.
    pub fn observe(&mut self, value: f64) {
        todo!("exercise 07, part b, Histogram::observe: see book chapter 07, section 'Exercise'")
    }
}
// ANCHOR_END: observe

// ANCHOR: layer
/// A tower layer recording the RED metrics of every request through it into a
/// [`RedMetrics`].
#[derive(Debug, Clone)]
pub struct RedLayer {
    metrics: RedMetrics,
}

impl RedLayer {
    pub fn new(metrics: RedMetrics) -> Self {
        RedLayer { metrics }
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RedService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`RedLayer`] wraps around another. For every request:
///
/// - On the way in (in `call`): `in_flight` goes up by one, and the labels are taken from
///   the request: the method through [`method_label`], the route from its [`MatchedRoute`]
///   extension, or [`UNMATCHED`] without one.
/// - When the inner service's response is ready: `requests` counts one for (method, route,
///   status), with the response's status code, and the request's duration, in seconds from
///   `call` to that moment, is observed in the `durations` histogram of (method, route), one
///   made with [`DURATION_BUCKETS`] the first time. A 5xx is an error through its status;
///   nothing else marks it. When the inner service fails instead (in this exercise it never
///   does), nothing is recorded.
/// - `in_flight` goes down by one when the response is ready, or when the response future is
///   dropped before that: a client that hangs up cancels the request, and a cancelled
///   request must not stay in flight for ever. It is then not counted in `requests` or
///   `durations` either: it has no status.
///
/// Time is `tokio::time::Instant`, so a test on a paused clock measures exactly. Readiness is
/// the inner service's.
#[derive(Debug, Clone)]
pub struct RedService<S> {
    inner: S,
    metrics: RedMetrics,
}

impl<S, B, ResBody> Service<Request<B>> for RedService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        todo!(
            "exercise 07, part b, RedService::poll_ready: see book chapter 07, section 'Exercise'"
        )
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        todo!("exercise 07, part b, RedService::call: see book chapter 07, section 'Exercise'")
    }
}

pin_project! {
    /// The response future of [`RedService`].
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        metrics: RedMetrics,
        method: &'static str,
        route: &'static str,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for RedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        todo!("exercise 07, part b, RedFuture::poll: see book chapter 07, section 'Exercise'")
    }
}
// ANCHOR_END: layer

// ANCHOR: render
impl RedMetrics {
    /// Every series in Prometheus's text format (version 0.0.4), the three families in the
    /// order of [`FAMILIES`], each opened by [`write_help_and_type`] even when it has no
    /// series yet, then one line per series, in the order of the `BTreeMap`s:
    ///
    /// ```text
    /// http_server_requests_total{method="GET",route="/products/{id}",status="200"} 3
    /// http_server_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="0.005"} 0
    /// ... one line per bound, then:
    /// http_server_request_duration_seconds_bucket{method="GET",route="/products/{id}",le="+Inf"} 3
    /// http_server_request_duration_seconds_sum{method="GET",route="/products/{id}"} 0.09
    /// http_server_request_duration_seconds_count{method="GET",route="/products/{id}"} 3
    /// http_server_requests_in_flight 0
    /// ```
    ///
    /// A bucket's count is cumulative: every observation at most its `le`, so the counts
    /// never go down and `+Inf` equals `_count`. Numbers are written with Rust's `{}` (`le="1"`,
    /// `le="0.025"`, a sum of `0.09`). Every line ends with `\n`. Label values need no
    /// escaping here: methods are tokens and routes are templates, neither with quotes.
    pub fn render(&self) -> String {
        todo!("exercise 07, part b, RedMetrics::render: see book chapter 07, section 'Exercise'")
    }
}
// ANCHOR_END: render

// ---------------------------------------------------------------------------------------------
// Part (c): the redacting log layer
// ---------------------------------------------------------------------------------------------

// ANCHOR: redaction
/// Does a field of this name hold a secret? When its name contains one of [`SECRET_NAMES`],
/// compared without regard to case: `Password`, `new_password` and `X_API_KEY` all do.
pub fn is_secret_name(name: &str) -> bool {
    todo!("exercise 07, part c, is_secret_name: see book chapter 07, section 'Exercise'")
}

/// `text` with what must not be logged masked, by three rules applied in this order:
///
/// 1. **Bearer tokens.** The word `Bearer`, in any case, then whitespace, then a token (the
///    characters up to the next whitespace or the end): the token becomes [`REDACTED`],
///    the rest stays. `Authorization: Bearer eyJ.x.y done` is
///    `Authorization: Bearer [redacted] done`.
/// 2. **Email addresses.** A local part of the characters `A-Z a-z 0-9 . _ % + -` (as many as
///    precede the `@`), an `@`, and a domain: two or more labels of `A-Z a-z 0-9 -`
///    separated by single dots. It becomes the local part's first character, `***@` and the
///    domain: `grace.hopper@navy.mil` is `g***@navy.mil`. `user@localhost` (one label) and a
///    lone `@` are left alone. Addresses are found left to right and never overlap: a local
///    part right after an `@` is none, so in `a@b.io@c.io` only `a@b.io` is an address.
/// 3. **Card numbers.** A run of digits in which one space or one dash may stand between two
///    digits (`4111 1111 1111 1111`, `4111-1111-1111-1111`, `4111111111111111`), taken as
///    long as it goes: when it holds exactly 16 digits, every digit but the last four
///    becomes `*` and the separators stay (`**** **** **** 1111`). Runs of other lengths
///    (an order number, a timestamp) are left alone.
///
/// Masking what is already masked changes nothing. Never panics, whatever the text.
pub fn redact_text(text: &str) -> String {
    todo!("exercise 07, part c, redact_text: see book chapter 07, section 'Exercise'")
}
// ANCHOR_END: redaction

// ANCHOR: log_layer
/// A `tracing_subscriber` layer writing every event as one line of JSON to `make_writer`,
/// redacted. Use it on a registry:
/// `tracing_subscriber::registry().with(RedactingJsonLayer::new(writer))`.
///
/// A line is one JSON object and a `\n`, written with a single `write_all`:
///
/// ```json
/// {"level":"INFO","target":"shop::orders","message":"order placed",
///  "fields":{"order_id":"o-7","items":3},
///  "span":{"request_id":"r-1","user_id":"u-42"},"spans":["request","checkout"]}
/// ```
///
/// - `level` as `tracing` writes it (`"INFO"`), `target` the event's target.
/// - `message`: the event's message (its field named `message`), absent if it has none.
/// - `fields`: the event's other fields. `span`: the fields of the span the event is in and
///   of every span around it, an inner span's field winning over an outer one's of the same
///   name, including fields recorded after the span was made (`Span::record`). `spans`: the
///   names of those spans, outermost first. Each of the three is left out when empty.
/// - Values: a `&str` or `String` field is a JSON string, integers and floats are numbers,
///   booleans booleans; anything recorded with `?` or `%` (Debug, Display) or as an error is
///   the string it formats to.
/// - Redaction, of the message and of every field, the spans' included: a field whose name
///   [`is_secret_name`] is [`REDACTED`] whatever its type; every other string (the message
///   too) goes through [`redact_text`]; numbers and booleans are written as they are.
///
/// A span's fields can be kept in the span's extensions (`ctx.span(id)`, then
/// `extensions_mut().insert(..)`); `ctx.event_scope(event)` walks the spans around an event.
/// `tracing::field::Visit` is how fields are read: one method per kind of value.
pub struct RedactingJsonLayer<W> {
    make_writer: W,
}

impl<W> RedactingJsonLayer<W> {
    pub fn new(make_writer: W) -> Self {
        RedactingJsonLayer { make_writer }
    }
}

impl<S, W> tracing_subscriber::Layer<S> for RedactingJsonLayer<W>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        todo!(
            "exercise 07, part c, RedactingJsonLayer::on_new_span: see book chapter 07, section 'Exercise'"
        )
    }

    fn on_record(
        &self,
        id: &Id,
        values: &Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        todo!(
            "exercise 07, part c, RedactingJsonLayer::on_record: see book chapter 07, section 'Exercise'"
        )
    }

    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        todo!(
            "exercise 07, part c, RedactingJsonLayer::on_event: see book chapter 07, section 'Exercise'"
        )
    }
}
// ANCHOR_END: log_layer
