//! Exercise 07, a second correct solution, written differently from `lib.rs` on purpose:
//! `cargo xtask verify` runs the shared tests against it, so a test that accepts only the
//! reference's way of getting the answer is caught.
//!
//! Where it differs: (a) splits the header at its dashes and reads the ids as one `u128` and
//! one `u64`; (b) finds a bucket by binary search, keeps what a request will record in an
//! `Option` that a `PinnedDrop` settles, and renders line by line from a list; (c) keeps
//! spans' fields as recorded and redacts when a line is written, walks the spans innermost
//! first, and masks text word by word.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

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

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A field of exactly `digits` lower-case hex digits, as a number.
fn hex_number(text: &str, digits: usize) -> Result<u128, TraceParentError> {
    // from_str_radix alone would take "+f" and upper case: check the digits first.
    if text.len() != digits || !is_lower_hex(text) {
        return Err(TraceParentError::Malformed);
    }
    u128::from_str_radix(text, 16).map_err(|_| TraceParentError::Malformed)
}

impl TraceParent {
    pub fn parse(value: &str) -> Result<TraceParent, TraceParentError> {
        use TraceParentError::{InvalidVersion, Malformed, ZeroParentId, ZeroTraceId};
        let mut fields = value.splitn(5, '-');
        let mut next = || fields.next().ok_or(Malformed);
        let version = u8::try_from(hex_number(next()?, 2)?).map_err(|_| Malformed)?;
        if version == u8::MAX {
            return Err(InvalidVersion);
        }
        let trace = hex_number(next()?, 32)?;
        let parent = u64::try_from(hex_number(next()?, 16)?).map_err(|_| Malformed)?;
        let flags = u8::try_from(hex_number(next()?, 2)?).map_err(|_| Malformed)?;
        // Something after a fifth dash: the future's fields, which version 00 has none of.
        if version == 0 && fields.next().is_some() {
            return Err(Malformed);
        }
        match (trace, parent) {
            (0, _) => Err(ZeroTraceId),
            (_, 0) => Err(ZeroParentId),
            _ => Ok(TraceParent {
                version,
                trace_id: trace.to_be_bytes(),
                parent_id: parent.to_be_bytes(),
                flags,
            }),
        }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}-{:032x}-{:016x}-{:02x}",
            self.version,
            u128::from_be_bytes(self.trace_id),
            u64::from_be_bytes(self.parent_id),
            self.flags
        )
    }
}

pub fn propagate(incoming: &HeaderMap, span_id: [u8; 8], ids: &dyn IdSource) -> HeaderMap {
    let sent: Vec<&HeaderValue> = incoming.get_all(TRACEPARENT).iter().collect();
    let caller = match sent.as_slice() {
        [one] => one
            .to_str()
            .ok()
            .and_then(|text| TraceParent::parse(text).ok()),
        _ => None,
    };
    let mut outgoing = HeaderMap::new();
    let ours = match caller {
        Some(caller) => {
            for state in incoming.get_all(TRACESTATE) {
                outgoing.append(TRACESTATE, state.clone());
            }
            TraceParent {
                version: 0,
                parent_id: span_id,
                ..caller
            }
        }
        None => TraceParent {
            version: 0,
            trace_id: ids.new_trace_id(),
            parent_id: span_id,
            flags: SAMPLED,
        },
    };
    if let Ok(value) = HeaderValue::from_str(&ours.to_string()) {
        outgoing.insert(TRACEPARENT, value);
    }
    outgoing
}

// ---------------------------------------------------------------------------------------------
// Part (b): RED metrics
// ---------------------------------------------------------------------------------------------

impl Histogram {
    pub fn observe(&mut self, value: f64) {
        // The bounds are ascending: the first bound >= value, by binary search.
        let bucket = self.bounds().partition_point(|&bound| bound < value);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum += value;
    }
}

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
        let started = Started {
            metrics: self.metrics.clone(),
            method: method_label(request.method()),
            route: match request.extensions().get::<MatchedRoute>() {
                Some(MatchedRoute(route)) => (*route).to_owned(),
                None => UNMATCHED.to_owned(),
            },
            at: Instant::now(),
        };
        self.metrics.lock().in_flight += 1;
        RedFuture {
            inner: self.inner.call(request),
            started: Some(started),
        }
    }
}

/// A request under way: what its future records when it is answered.
struct Started {
    metrics: RedMetrics,
    method: &'static str,
    route: String,
    at: Instant,
}

pin_project! {
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        // `Some` while the request is in flight; taken when it is answered.
        started: Option<Started>,
    }

    impl<F> PinnedDrop for RedFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while still in flight: cancelled, so it leaves without a record.
            if let Some(started) = this.project().started.take() {
                started.metrics.lock().in_flight -= 1;
            }
        }
    }
}

impl<F, ResBody, E> Future for RedFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(result) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        if let Some(started) = this.started.take() {
            let elapsed = started.at.elapsed();
            let mut data = started.metrics.lock();
            data.in_flight -= 1;
            if let Ok(response) = &result {
                let status = response.status().as_u16();
                let requests = RequestLabels {
                    method: started.method,
                    route: started.route.clone(),
                    status,
                };
                data.requests
                    .entry(requests)
                    .and_modify(|n| *n += 1)
                    .or_insert(1);
                let route = RouteLabels {
                    method: started.method,
                    route: started.route,
                };
                let histogram = data
                    .durations
                    .entry(route)
                    .or_insert_with(|| Histogram::new(&DURATION_BUCKETS));
                histogram.observe(elapsed.as_secs_f64());
            }
        }
        Poll::Ready(result)
    }
}

impl RedMetrics {
    pub fn render(&self) -> String {
        let data = self.lock();
        let mut lines: Vec<String> = Vec::new();
        let header = |lines: &mut Vec<String>, family| {
            let mut text = String::new();
            write_help_and_type(&mut text, family);
            lines.extend(text.lines().map(str::to_owned));
        };

        let (requests, _, _) = FAMILIES[0];
        header(&mut lines, FAMILIES[0]);
        lines.extend(data.requests.iter().map(|(l, n)| {
            format!(
                r#"{requests}{{method="{}",route="{}",status="{}"}} {n}"#,
                l.method, l.route, l.status
            )
        }));

        let (duration, _, _) = FAMILIES[1];
        header(&mut lines, FAMILIES[1]);
        for (l, histogram) in &data.durations {
            let labels = format!(r#"method="{}",route="{}""#, l.method, l.route);
            let running = histogram.counts.iter().scan(0, |total, n| {
                *total += n;
                Some(*total)
            });
            let les = histogram
                .bounds()
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_owned()]);
            for (le, total) in les.zip(running) {
                lines.push(format!(
                    r#"{duration}_bucket{{{labels},le="{le}"}} {total}"#
                ));
            }
            lines.push(format!("{duration}_sum{{{labels}}} {}", histogram.sum));
            lines.push(format!(
                "{duration}_count{{{labels}}} {}",
                histogram.count()
            ));
        }

        let (in_flight, _, _) = FAMILIES[2];
        header(&mut lines, FAMILIES[2]);
        lines.push(format!("{in_flight} {}", data.in_flight));

        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Part (c): the redacting log layer
// ---------------------------------------------------------------------------------------------

pub fn is_secret_name(name: &str) -> bool {
    let lower: String = name.chars().flat_map(char::to_lowercase).collect();
    SECRET_NAMES
        .into_iter()
        .any(|secret| lower.contains(secret))
}

pub fn redact_text(text: &str) -> String {
    cards(&emails(&bearer(text)))
}

/// Splits `text` into runs of whitespace and runs of anything else, in order.
fn runs(text: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut prev: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if prev.is_some_and(|p| p != space) {
            runs.push(&text[start..i]);
            start = i;
        }
        prev = Some(space);
    }
    if start < text.len() {
        runs.push(&text[start..]);
    }
    runs
}

fn bearer(text: &str) -> String {
    let runs = runs(text);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < runs.len() {
        let word = runs[i];
        out.push_str(word);
        let ends_in_bearer = word.len() >= 6
            && word.is_char_boundary(word.len() - 6)
            && word[word.len() - 6..].eq_ignore_ascii_case("bearer");
        // A word ending in "bearer", then whitespace, then the token.
        if ends_in_bearer && i + 2 < runs.len() {
            out.push_str(runs[i + 1]);
            out.push_str(REDACTED);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_label(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// How much of `after` is a domain of two or more labels; 0 if none starts it.
fn domain_length(after: &str) -> usize {
    let mut len = 0;
    let mut labels = 0;
    for (i, label) in after.split('.').enumerate() {
        let n = label.find(|c: char| !is_label(c)).unwrap_or(label.len());
        if n == 0 {
            break;
        }
        len = if i == 0 { n } else { len + 1 + n };
        labels += 1;
        if n < label.len() {
            break;
        }
    }
    if labels >= 2 { len } else { 0 }
}

fn emails(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // What is not written out yet; an email's local part is at the end of what precedes
    // its `@` there.
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (before, after) = (&rest[..at], &rest[at + 1..]);
        let local_start = before.trim_end_matches(is_local).len();
        let offset = text.len() - rest.len();
        let follows_at = text[..offset + local_start].ends_with('@');
        let domain = domain_length(after);
        if local_start < before.len() && !follows_at && domain > 0 {
            out.push_str(&before[..local_start]);
            out.push_str(&before[local_start..=local_start]);
            out.push_str("***@");
            out.push_str(&after[..domain]);
            rest = &after[domain..];
        } else {
            out.push_str(&rest[..=at]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn cards(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i;
        let mut digit_at = Vec::new();
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digit_at.push(j);
                j += 1;
            } else if matches!(chars[j], ' ' | '-')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        let keep_from = if digit_at.len() == 16 {
            digit_at[12]
        } else {
            i
        };
        for (k, &c) in chars.iter().enumerate().take(j).skip(i) {
            out.push(if k < keep_from && c.is_ascii_digit() {
                '*'
            } else {
                c
            });
        }
        i = j;
    }
    out.into_iter().collect()
}

pub struct RedactingJsonLayer<W> {
    make_writer: W,
}

impl<W> RedactingJsonLayer<W> {
    pub fn new(make_writer: W) -> Self {
        RedactingJsonLayer { make_writer }
    }
}

/// A span's fields as they were recorded, in order; redacted when a line is written.
#[derive(Default)]
struct Recorded(Vec<(&'static str, Value)>);

impl Recorded {
    fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for Recorded {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Value::String(format!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), Value::String(format!("{value:?}")));
    }
}

fn redacted(name: &str, value: &Value) -> Value {
    if is_secret_name(name) {
        return Value::String(REDACTED.to_owned());
    }
    match value {
        Value::String(text) => Value::String(redact_text(text)),
        other => other.clone(),
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
        let mut recorded = Recorded::default();
        attrs.record(&mut recorded);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(recorded);
        }
    }

    fn on_record(
        &self,
        id: &Id,
        values: &Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<Recorded>() {
            Some(recorded) => values.record(recorded),
            None => {
                let mut recorded = Recorded::default();
                values.record(&mut recorded);
                extensions.insert(recorded);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let mut own = Recorded::default();
        event.record(&mut own);

        let mut line = Map::new();
        line.insert(
            "level".to_owned(),
            Value::String(event.metadata().level().to_string()),
        );
        line.insert(
            "target".to_owned(),
            Value::String(event.metadata().target().to_owned()),
        );
        let mut fields = Map::new();
        for (name, value) in &own.0 {
            let value = redacted(name, value);
            if *name == "message" {
                line.insert("message".to_owned(), value);
            } else {
                fields.insert((*name).to_owned(), value);
            }
        }

        // Innermost first: the first span to name a field wins.
        let mut context = Map::new();
        let mut names = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                names.push(Value::String(span.name().to_owned()));
                if let Some(recorded) = span.extensions().get::<Recorded>() {
                    for (name, value) in &recorded.0 {
                        context
                            .entry((*name).to_owned())
                            .or_insert_with(|| redacted(name, value));
                    }
                }
            }
        }
        names.reverse();

        if !fields.is_empty() {
            line.insert("fields".to_owned(), Value::Object(fields));
        }
        if !context.is_empty() {
            line.insert("span".to_owned(), Value::Object(context));
        }
        if !names.is_empty() {
            line.insert("spans".to_owned(), Value::Array(names));
        }
        if let Ok(mut bytes) = serde_json::to_vec(&Value::Object(line)) {
            bytes.push(b'\n');
            let mut writer = self.make_writer.make_writer();
            let _ = writer.write_all(&bytes);
        }
    }
}
