//! Structured logs that keep secrets and personal data out.
//!
//! What this module shows (chapter 07):
//! - One JSON object per line: timestamp, level, target, message, the event's own fields, and
//!   the fields of every span the event happened in (`request_id`, `user_id`, `order_id`), so
//!   a log search for one order finds every line about it without each line repeating them.
//!   With OpenTelemetry set up, each line also names its `trace_id`, the link from a log line
//!   to its trace.
//! - Redaction as a layer, not as discipline: [`Redactor`] sees every field of every event and
//!   span before anything is written. A field whose *name* says secret (password, token,
//!   authorization, cookie, api key, card number) is replaced whole; any *value* is scrubbed of
//!   what looks like an email address, a bearer token, a JWT or a card number, wherever it
//!   appears, the message text included. It errs towards redacting: a log line missing a
//!   detail costs a minute; a token in a log index costs an incident.
//! - The same layer writes a readable line on a terminal ([`Format::Text`]), so development
//!   logs are redacted too.
//!
//! Run its tests with `cargo test -p shop-telemetry logs`.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// What replaces a value the [`Redactor`] withholds.
pub const REDACTED: &str = "[redacted]";

// ANCHOR: redactor
/// Decides what of a field may be written.
#[derive(Clone, Debug)]
pub struct Redactor {
    /// Lower-case fragments; a field whose lower-cased name contains one is withheld whole.
    sensitive_names: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::with_names([
            "password",
            "passwd",
            "secret",
            "token",
            "authorization",
            "cookie",
            "api_key",
            "apikey",
            "card_number",
            "cvc",
            "otp",
        ])
    }
}

impl Redactor {
    /// A redactor withholding fields whose names contain any of `names` (case-insensitive),
    /// and scrubbing every value.
    pub fn with_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            sensitive_names: names
                .into_iter()
                .map(|name| name.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a field of this name is withheld whole.
    pub fn is_sensitive_name(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.sensitive_names
            .iter()
            .any(|fragment| name.contains(fragment.as_str()))
    }

    /// The text with every email address, bearer token, JWT and card number in it masked.
    /// Borrowed when there was nothing to mask, which is nearly always.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        // Every pattern needs an `@` (email), a digit (card), `eyJ` (JWT) or the word bearer:
        // a text with none of them, most log messages, is passed through without a copy.
        let may_hold_secret = text.contains('@')
            || text.contains("eyJ")
            || text.bytes().any(|b| b.is_ascii_digit())
            || text.to_ascii_lowercase().contains("bearer ");
        if !may_hold_secret {
            return Cow::Borrowed(text);
        }
        let scrubbed = mask_cards(&mask_jwts(&mask_bearer(&mask_emails(text))));
        if scrubbed == text {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(scrubbed)
        }
    }
}
// ANCHOR_END: redactor

/// `jane.doe@example.com` → `j***@example.com`: enough to tell two users apart in a log, not
/// enough to mail either.
fn mask_emails(text: &str) -> String {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = text[at..].find('@') {
        let sign = at + offset;
        let start = (0..sign)
            .rev()
            .take_while(|&i| local(bytes[i]))
            .last()
            .unwrap_or(sign);
        let end = (sign + 1..bytes.len())
            .take_while(|&i| domain(bytes[i]))
            .last()
            .map_or(sign + 1, |i| i + 1);
        let host = text[sign + 1..end].trim_end_matches(['.', '-']);
        if start < sign && host.contains('.') && start >= copied {
            out.push_str(&text[copied..start]);
            out.push_str(&text[start..start + 1]);
            out.push_str("***@");
            out.push_str(host);
            copied = sign + 1 + host.len();
        }
        at = sign + 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// `Bearer abc.def` → `Bearer [redacted]` (any case of "bearer").
fn mask_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = lower[at..].find("bearer ") {
        let keyword = at + offset;
        let token_start = keyword + "bearer ".len();
        let token_end = text[token_start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .map_or(text.len(), |i| token_start + i);
        if token_end > token_start {
            out.push_str(&text[copied..token_start]);
            out.push_str(REDACTED);
            copied = token_end;
        }
        at = token_end.max(token_start);
    }
    out.push_str(&text[copied..]);
    out
}

/// Three base64url segments joined by dots, the first starting `eyJ` (`{"` encoded): a JWT.
fn mask_jwts(text: &str) -> String {
    let segment = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = text[at..].find("eyJ") {
        let start = at + offset;
        let mut end = start;
        let mut dots = 0;
        while end < bytes.len() && (segment(bytes[end]) || bytes[end] == b'.') {
            dots += usize::from(bytes[end] == b'.');
            end += 1;
        }
        let preceded_by_word = start > 0 && segment(bytes[start - 1]);
        if dots == 2 && !preceded_by_word {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        at = end.max(start + 3);
    }
    out.push_str(&text[copied..]);
    out
}

/// A run of 13 to 19 digits (spaces and dashes allowed between them) that passes the Luhn
/// check is a card number: all but its last four digits are masked.
fn mask_cards(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = Vec::new();
        let mut end = i;
        while end < bytes.len() {
            match bytes[end] {
                b @ b'0'..=b'9' => digits.push(b - b'0'),
                b' ' | b'-' if end + 1 < bytes.len() && bytes[end + 1].is_ascii_digit() => {}
                _ => break,
            }
            end += 1;
        }
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            out.push_str(&text[copied..start]);
            let last4: String = digits[digits.len() - 4..]
                .iter()
                .map(|d| char::from(b'0' + d))
                .collect();
            let _ = write!(out, "[card ending {last4}]");
            copied = end;
        }
        i = end.max(start + 1);
    }
    out.push_str(&text[copied..]);
    out
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let digit = u32::from(digit);
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Collects fields into a JSON map, redacting as it goes.
struct Fields<'a> {
    redactor: &'a Redactor,
    map: &'a mut Map<String, Value>,
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let value = if self.redactor.is_sensitive_name(field.name()) {
            Value::String(REDACTED.to_owned())
        } else {
            match value {
                Value::String(text) => Value::String(self.redactor.scrub(&text).into_owned()),
                other => other,
            }
        };
        self.map.insert(field.name().to_owned(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
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
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// The redacted fields of one span, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

/// How each line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, for machines (log shippers, `jq`).
    Json,
    /// One readable line, for a person at a terminal.
    Text,
}

// ANCHOR: layer
/// The log layer: redacts, then writes each event as one line.
pub struct LogLayer<W> {
    make_writer: W,
    redactor: Arc<Redactor>,
    format: Format,
    trace_ids: bool,
    /// The subscriber this layer is part of, through which the OpenTelemetry layer beneath it
    /// is asked for a span's trace id. Weak: the subscriber owns the layer, not the reverse.
    dispatch: OnceLock<WeakDispatch>,
}

impl<W> LogLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    pub fn new(make_writer: W, format: Format, redactor: Redactor) -> Self {
        Self {
            make_writer,
            redactor: Arc::new(redactor),
            format,
            trace_ids: false,
            dispatch: OnceLock::new(),
        }
    }

    /// Adds the current OpenTelemetry trace id to every line (set when the OpenTelemetry
    /// layer is installed beneath this one).
    pub fn with_trace_ids(mut self) -> Self {
        self.trace_ids = true;
        self
    }
}

impl<S, W> Layer<S> for LogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut map = Map::new();
        attrs.record(&mut Fields {
            redactor: &self.redactor,
            map: &mut map,
        });
        span.extensions_mut().insert(SpanFields(map));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(map)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Fields {
                redactor: &self.redactor,
                map,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        event.record(&mut Fields {
            redactor: &self.redactor,
            map: &mut fields,
        });
        let message = fields.remove("message");
        // The fields of every span around the event, outermost first, so an inner span's
        // field of the same name wins.
        let mut context = Map::new();
        let mut names = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                names.push(Value::String(span.name().to_owned()));
                if let Some(SpanFields(map)) = span.extensions().get::<SpanFields>() {
                    // OpenTelemetry's naming fields are for the trace, not the log line.
                    for (key, value) in map.iter().filter(|(key, _)| !key.starts_with("otel.")) {
                        context.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now()));
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
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
        if self.trace_ids
            && let Some(span) = ctx.event_span(event)
            && let Some(trace_id) = self.trace_id_of(&span.id())
        {
            line.insert("trace_id".into(), Value::String(trace_id));
        }
        let mut bytes = match self.format {
            Format::Json => serde_json::to_vec(&Value::Object(line)).unwrap_or_default(),
            Format::Text => text_line(&line).into_bytes(),
        };
        bytes.push(b'\n');
        // A log line that cannot be written is lost; failing the request over it would be worse.
        let _ = self.make_writer.make_writer().write_all(&bytes);
    }
}
// ANCHOR_END: layer

impl<W> LogLayer<W> {
    /// The OpenTelemetry trace id of span `id`, asked of the subscriber this layer belongs to
    /// (not of the thread's current dispatcher, which a scoped subscriber may hide while its
    /// own layers run).
    fn trace_id_of(&self, id: &Id) -> Option<String> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = cx.span();
        let span_context = span.span_context();
        span_context
            .is_valid()
            .then(|| span_context.trace_id().to_string())
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "-".to_owned())
}

/// `2026-12-02T10:00:00.123Z  INFO shop_api: signed in user_id=… {request_id=…}`.
fn text_line(line: &Map<String, Value>) -> String {
    let plain = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let get = |key: &str| line.get(key).map(plain).unwrap_or_default();
    let mut text = format!(
        "{} {:>5} {}: {}",
        get("timestamp"),
        get("level"),
        get("target"),
        get("message")
    );
    for key in ["fields", "span"] {
        if let Some(Value::Object(map)) = line.get(key) {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", plain(v)))
                .collect();
            if key == "span" {
                let _ = write!(text, " {{{}}}", pairs.join(" "));
            } else {
                for pair in pairs {
                    let _ = write!(text, " {pair}");
                }
            }
        }
    }
    if let Some(trace_id) = line.get("trace_id") {
        let _ = write!(text, " trace_id={}", plain(trace_id));
    }
    text
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::capture::Captured;

    fn log(body: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(LogLayer::new(
            captured.clone(),
            Format::Json,
            Redactor::default(),
        ));
        tracing::subscriber::with_default(subscriber, body);
        captured
            .lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn a_line_carries_the_fields_of_every_span_around_it() {
        let lines = log(|| {
            let request = tracing::info_span!("request", request_id = "req-1", user_id = 7);
            let _request = request.enter();
            let checkout = tracing::info_span!("checkout", order_id = "ord-9");
            let _checkout = checkout.enter();
            tracing::info!(items = 3, "order placed");
        });
        let line = &lines[0];
        assert_eq!(line["message"], "order placed");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["items"], 3);
        assert_eq!(line["span"]["request_id"], "req-1");
        assert_eq!(line["span"]["user_id"], 7);
        assert_eq!(line["span"]["order_id"], "ord-9");
        assert_eq!(line["spans"], serde_json::json!(["request", "checkout"]));
    }

    #[test]
    fn secrets_are_withheld_by_field_name_in_events_and_spans() {
        let lines = log(|| {
            let span = tracing::info_span!("login", Authorization = "Basic dXNlcjpwYXNz");
            let _entered = span.enter();
            tracing::warn!(
                password = "hunter2",
                new_api_key = "k_live_1",
                "sign-in failed"
            );
        });
        let text = serde_json::to_string(&lines).unwrap();
        for secret in ["hunter2", "k_live_1", "dXNlcjpwYXNz"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(lines[0]["fields"]["password"], REDACTED);
        assert_eq!(lines[0]["span"]["Authorization"], REDACTED);
    }

    #[test]
    fn values_are_scrubbed_wherever_they_appear_the_message_included() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJl";
        let lines = log(|| {
            let span = tracing::info_span!("request", header = "Bearer abc.def-123");
            let _entered = span.enter();
            tracing::info!(
                note = format!("paid with 4242 4242 4242 4242 by jane.doe@example.com"),
                "token {jwt} seen for jane.doe@example.com"
            );
        });
        let text = serde_json::to_string(&lines).unwrap();
        for leak in ["jane.doe", "4242 4242 4242 4242", "abc.def-123", jwt] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
        assert_eq!(
            lines[0]["message"],
            "token [redacted] seen for j***@example.com"
        );
        assert_eq!(
            lines[0]["fields"]["note"],
            "paid with [card ending 4242] by j***@example.com"
        );
        assert_eq!(lines[0]["span"]["header"], "Bearer [redacted]");
    }

    #[test]
    fn fields_recorded_later_are_redacted_too() {
        let lines = log(|| {
            let span = tracing::info_span!(
                "request",
                token = tracing::field::Empty,
                user = tracing::field::Empty
            );
            span.record("token", "t-123");
            span.record("user", "bob@shop.example");
            let _entered = span.enter();
            tracing::info!("done");
        });
        assert_eq!(lines[0]["span"]["token"], REDACTED);
        assert_eq!(lines[0]["span"]["user"], "b***@shop.example");
    }

    #[test]
    fn lines_of_a_scoped_subscriber_name_their_trace() {
        let captured = Captured::default();
        let (subscriber, _telemetry) = crate::setup::subscriber(
            &crate::setup::Settings {
                service: "test".into(),
                format: Format::Json,
                default_filter: "info".into(),
                otlp_endpoint: None,
            },
            captured.clone(),
        )
        .unwrap();
        let mut expected = None;
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            expected = crate::propagation::trace_id(&span);
            span.in_scope(|| tracing::info!("inside"));
            tracing::info!("outside");
        });
        let text = captured.lines().join("\n");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let expected = expected.expect("the span has a trace id");
        assert_eq!(lines[0]["trace_id"], expected.as_str(), "{text}");
        assert!(lines[1].get("trace_id").is_none(), "{text}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let redactor = Redactor::default();
        for text in [
            "GET /products/42 answered 200 in 3 ms",
            "order 1234567890 placed",
            "an @ sign alone, and user@localhost",
            "version 1.2.3",
            "4242 4242 4242 4241 fails the Luhn check",
        ] {
            assert_eq!(redactor.scrub(text), text);
        }
        assert!(matches!(redactor.scrub("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_token_of_letters_alone_is_still_masked() {
        let redactor = Redactor::default();
        assert_eq!(
            redactor.scrub("authorization: bearer abcdefXYZ"),
            "authorization: bearer [redacted]"
        );
    }

    #[test]
    fn the_text_format_is_redacted_as_well() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(LogLayer::new(
            captured.clone(),
            Format::Text,
            Redactor::default(),
        ));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(secret = "s3cr3t", email = "amy@example.org", "hello");
        });
        let text = captured.lines().join("\n");
        assert!(text.contains("INFO"), "{text}");
        assert!(text.contains(": hello "), "{text}");
        assert!(text.contains(" secret=[redacted]"), "{text}");
        assert!(text.contains(" email=a***@example.org"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
