//! Exercise 07, logging and observability: `traceparent` parsed and propagated, a RED metrics
//! middleware with its Prometheus exposition, and a log layer that keeps secrets out.
//!
//! This is the reference solution. Read it after you have tried: `hints/` comes first. The
//! public API is the stub's, item for item; only the bodies and the private helpers differ.
//! The given code is not repeated here: it is the stub's own `src/given.rs`.

// The given code (types, helpers, the test writer): one file, shared with the stub.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderMap, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use serde_json::{Map, Value};
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;

// ---------------------------------------------------------------------------------------------
// Part (a): traceparent
// ---------------------------------------------------------------------------------------------

// ANCHOR: traceparent
/// The length of a version-00 header, and the least any version may have:
/// `2 + 1 + 32 + 1 + 16 + 1 + 2`.
const HEADER_LEN: usize = 55;

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
        let bytes = value.as_bytes();
        if bytes.len() < HEADER_LEN {
            return Err(TraceParentError::Malformed);
        }
        let [version] = decode_hex::<1>(&bytes[0..2]).ok_or(TraceParentError::Malformed)?;
        if version == 0xff {
            return Err(TraceParentError::InvalidVersion);
        }
        let ends_right = match bytes.get(HEADER_LEN) {
            None => true,
            Some(&next) => version != 0 && next == b'-',
        };
        let dashes = [2, 35, 52].iter().all(|&at| bytes[at] == b'-');
        if !ends_right || !dashes {
            return Err(TraceParentError::Malformed);
        }
        let trace_id = decode_hex::<16>(&bytes[3..35]).ok_or(TraceParentError::Malformed)?;
        let parent_id = decode_hex::<8>(&bytes[36..52]).ok_or(TraceParentError::Malformed)?;
        let [flags] = decode_hex::<1>(&bytes[53..55]).ok_or(TraceParentError::Malformed)?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(TraceParent {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// `N` bytes from exactly `2 * N` lower-case hex digits, or `None`.
fn decode_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = hex_value(pair[0])? * 16 + hex_value(pair[1])?;
    }
    Some(bytes)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// The header value: the four fields in lower-case hex, two digits per byte, separated by
/// dashes. For a parsed version-00 header, exactly the text it was parsed from.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}-", self.version)?;
        for byte in self.trace_id {
            write!(f, "{byte:02x}")?;
        }
        f.write_char('-')?;
        for byte in self.parent_id {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
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
    let mut outgoing = HeaderMap::new();
    let continued = the_one_traceparent(incoming);
    let (trace_id, flags) = match continued {
        Some(parent) => (parent.trace_id, parent.flags),
        None => (ids.new_trace_id(), SAMPLED),
    };
    let header = TraceParent {
        version: 0,
        trace_id,
        parent_id: span_id,
        flags,
    };
    let value = HeaderValue::try_from(header.to_string())
        .expect("a formatted traceparent is ASCII hex digits and dashes");
    outgoing.insert(TRACEPARENT, value);
    if continued.is_some() {
        for state in incoming.get_all(TRACESTATE) {
            outgoing.append(TRACESTATE, state.clone());
        }
    }
    outgoing
}

/// The incoming traceparent, if there is exactly one and it is valid.
fn the_one_traceparent(headers: &HeaderMap) -> Option<TraceParent> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let only = values.next()?;
    if values.next().is_some() {
        return None;
    }
    TraceParent::parse(only.to_str().ok()?).ok()
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
        let bounds = self.bounds();
        let bucket = bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(bounds.len());
        self.counts[bucket] += 1;
        self.sum += value;
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = method_label(request.method());
        let route = request
            .extensions()
            .get::<MatchedRoute>()
            .map_or(UNMATCHED, |matched| matched.0);
        let in_flight = InFlight::enter(&self.metrics);
        RedFuture {
            inner: self.inner.call(request),
            method,
            route,
            started: Instant::now(),
            in_flight,
        }
    }
}

/// One request in `in_flight`, for as long as this lives.
#[derive(Debug)]
struct InFlight(RedMetrics);

impl InFlight {
    fn enter(metrics: &RedMetrics) -> Self {
        metrics.lock().in_flight += 1;
        InFlight(metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

pin_project! {
    /// The response future of [`RedService`].
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        method: &'static str,
        route: &'static str,
        started: Instant,
        // Dropped with the future: once it is done, or when it is cancelled.
        in_flight: InFlight,
    }
}

impl<F, ResBody, E> Future for RedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let seconds = this.started.elapsed().as_secs_f64();
            let mut data = this.in_flight.0.lock();
            let labels = RequestLabels {
                method: this.method,
                route: (*this.route).to_owned(),
                status: response.status().as_u16(),
            };
            *data.requests.entry(labels).or_insert(0) += 1;
            data.durations
                .entry(RouteLabels {
                    method: this.method,
                    route: (*this.route).to_owned(),
                })
                .or_insert_with(|| Histogram::new(&DURATION_BUCKETS))
                .observe(seconds);
        }
        Poll::Ready(result)
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
        let data = self.lock();
        let [requests, durations, in_flight] = FAMILIES;
        let mut out = String::new();

        write_help_and_type(&mut out, requests);
        for (labels, count) in &data.requests {
            let RequestLabels {
                method,
                route,
                status,
            } = labels;
            let _ = writeln!(
                out,
                "{}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}",
                requests.0
            );
        }

        write_help_and_type(&mut out, durations);
        let name = durations.0;
        for (RouteLabels { method, route }, histogram) in &data.durations {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, count) in histogram.bounds().iter().zip(&histogram.counts) {
                cumulative += count;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let total = histogram.count();
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
        }

        write_help_and_type(&mut out, in_flight);
        let _ = writeln!(out, "{} {}", in_flight.0, data.in_flight);
        out
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
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|secret| name.contains(secret))
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
    let text = mask_bearer_tokens(text);
    let text = mask_emails(&text);
    mask_card_numbers(&text)
}

fn mask_bearer_tokens(text: &str) -> String {
    const WORD: &str = "bearer";
    // Lower-casing ASCII keeps every byte where it was, so offsets in `lower` are offsets
    // in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(WORD) {
        let word_end = from + found + WORD.len();
        let after = &text[word_end..];
        let token_start = word_end + (after.len() - after.trim_start().len());
        let token_len = text[token_start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - token_start);
        if token_start > word_end && token_len > 0 {
            out.push_str(&text[copied..token_start]);
            out.push_str(REDACTED);
            copied = token_start + token_len;
            from = copied;
        } else {
            from = word_end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn mask_card_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_digit() {
            at += 1;
            continue;
        }
        let start = at;
        let mut digits = 0;
        loop {
            // `bytes[at]` is a digit here: the run's first, or one a separator led to.
            digits += 1;
            at += 1;
            match (bytes.get(at), bytes.get(at + 1)) {
                (Some(b), _) if b.is_ascii_digit() => {}
                (Some(b' ' | b'-'), Some(b)) if b.is_ascii_digit() => at += 1,
                _ => break,
            }
        }
        if digits == 16 {
            out.push_str(&text[copied..start]);
            let mut seen = 0;
            for &b in &bytes[start..at] {
                if b.is_ascii_digit() {
                    seen += 1;
                    out.push(if seen > 12 { char::from(b) } else { '*' });
                } else {
                    out.push(char::from(b));
                }
            }
            copied = at;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The length of the domain at the start of `rest`: labels joined by single dots, at least
/// two of them; 0 if there is no such domain.
fn domain_len(rest: &[u8]) -> usize {
    let mut len = 0;
    let mut labels = 0;
    loop {
        let label = rest[len..]
            .iter()
            .take_while(|&&b| is_label_char(b))
            .count();
        if label == 0 {
            break;
        }
        labels += 1;
        len += label;
        let dot_then_label =
            rest.get(len) == Some(&b'.') && rest.get(len + 1).is_some_and(|&b| is_label_char(b));
        if !dot_then_label {
            break;
        }
        len += 1;
    }
    if labels >= 2 { len } else { 0 }
}

fn mask_emails(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    // A domain holds no `@`, so every `@` is at or after `copied`.
    for (at, _) in text.match_indices('@') {
        let local_start = bytes[copied..at]
            .iter()
            .rposition(|&b| !is_local_char(b))
            .map_or(copied, |i| copied + i + 1);
        let follows_at = local_start > 0 && bytes[local_start - 1] == b'@';
        let domain = domain_len(&bytes[at + 1..]);
        if local_start < at && !follows_at && domain > 0 {
            out.push_str(&text[copied..local_start]);
            out.push(char::from(bytes[local_start]));
            out.push_str("***@");
            let end = at + 1 + domain;
            out.push_str(&text[at + 1..end]);
            copied = end;
        }
    }
    out.push_str(&text[copied..]);
    out
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

/// A span's fields, redacted, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

/// Records fields into a JSON map, redacting as it goes, so nothing unredacted is kept.
struct Redacting<'a>(&'a mut Map<String, Value>);

impl Redacting<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let value = match value {
            _ if is_secret_name(field.name()) => Value::from(REDACTED),
            Value::String(text) => Value::String(redact_text(&text)),
            other => other,
        };
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for Redacting<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
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
        if let Some(span) = ctx.span(id) {
            let mut fields = Map::new();
            attrs.record(&mut Redacting(&mut fields));
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &Id,
        values: &Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id)
            && let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Redacting(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Map::new();
        event.record(&mut Redacting(&mut fields));
        let message = fields.remove("message");

        let mut context = Map::new();
        let mut names = Vec::new();
        for span in ctx
            .event_scope(event)
            .into_iter()
            .flat_map(|s| s.from_root())
        {
            names.push(Value::from(span.name()));
            if let Some(SpanFields(own)) = span.extensions().get::<SpanFields>() {
                context.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }

        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("level".into(), Value::from(metadata.level().as_str()));
        line.insert("target".into(), Value::from(metadata.target()));
        if let Some(message) = message {
            line.insert("message".into(), message);
        }
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if !context.is_empty() {
            line.insert("span".into(), Value::Object(context));
        }
        if !names.is_empty() {
            line.insert("spans".into(), Value::Array(names));
        }
        let mut bytes = Value::Object(line).to_string().into_bytes();
        bytes.push(b'\n');
        // A log line that cannot be written is lost; failing the work it describes would be
        // worse.
        let _ = self.make_writer.make_writer().write_all(&bytes);
    }
}
// ANCHOR_END: log_layer
